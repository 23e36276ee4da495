// Package pgkeys keeps trail's API keys in PostgreSQL, shared by every
// node of a cluster (DESIGN.md §5 and §7).
//
// Store is an auth.ChangeStore on the table that pgstore's migrations
// create:
//
//	CREATE TABLE trail_keys (
//		id         text COLLATE "C" PRIMARY KEY,
//		key        jsonb NOT NULL,
//		updated_at timestamptz NOT NULL
//	);
//
// One row holds one key. The jsonb has the fields of a key in keys.json
// (auth.FileStore), secret hashes included, never a secret:
//
//	{"id": "3f2a9c0d1e4b5a6c", "name": "ci", "role": "writer", "tenant": "acme",
//	 "created_at": "2025-01-02T03:04:05Z", "hash": "<64 hex digits>",
//	 "expires_at"?, "revoked_at"?, "last_used_at"?, "prev_hash"?, "prev_valid_until"?}
//
// Each change is one transaction that locks the row it reads (SELECT … FOR
// UPDATE), so changes by different nodes to one key are serialised and
// changes to different keys never touch each other. Every change that
// matters to authentication (create, rotate, revoke, bootstrap, a whole-set
// Save) sends, in the same transaction,
//
//	NOTIFY "trail_keys.<md5 of current_schema()>", '<key id>'
//
// ('*' after Save), so it is delivered exactly when the change commits and
// only to nodes using the same schema. Recording a last use (Touch) changes
// only last_used_at and notifies nobody.
//
// Watch listens on that channel on a connection of its own and calls
// auth.Keys.Reload after every notification, so a key revoked through one
// node is refused by every other node within a round trip of the commit.
// When the connection drops it reconnects with backoff and reloads once
// listening again, since notifications sent in between are lost.
package pgkeys
