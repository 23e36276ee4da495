// Package auth holds trail's API keys, roles and permissions: who a caller
// is (Keys.Authenticate turns a bearer token into a Principal) and what it
// may do (Principal.Authorize checks a Permission on a tenant).
//
// # Model
//
// A key has a role and a scope. The role (operator, admin, auditor, viewer,
// writer) fixes which permissions it has; Role.Allows holds the one matrix
// (DESIGN.md §7). The scope is one tenant or AllTenants ("*"): a scoped key
// acts only on its tenant, so a cross-tenant read fails in Authorize before
// any store is touched. Operators act on every tenant.
//
// A key's secret is a token of 256 random bits with a visible id prefix:
//
//	trl_3f2a9c0d1e4b5a6c_q1V0uG3b3Wn9…(43 characters of base64url, no padding)
//
// Only the hex SHA-256 of the whole token is stored; the token is returned
// once, by Create, Rotate or Bootstrap, and never logged. Authentication
// hashes the presented token and looks the hash up in memory; since the hash
// of a 256-bit secret reveals nothing, the lookup need not be constant-time.
// Keys may expire, are revoked at once, and are rotated with an overlap
// during which the previous secret still works. Every change is written to a
// Store (FileStore: one 0600 JSON file replaced atomically) before it takes
// effect; the last-used time is written at most once a minute per key.
//
// # Several nodes
//
// Nodes that share one database share their keys through a ChangeStore
// (pgstore/pgkeys on PostgreSQL). Each change is then a read-modify-write
// of the one stored key it concerns, decided on the stored state, so two
// nodes changing different keys at once lose neither change and a node
// with stale memory cannot undo a revocation. Every node keeps its index in
// memory and replaces it with Keys.Reload when the store reports a change;
// a revocation on one node is refused on the others once their reload has
// run, which pgkeys.Watch starts as soon as the change is committed.
//
// On first start the server calls Bootstrap, which creates an operator key
// from TRAIL_BOOTSTRAP_KEY or at random and returns the token to print once.
package auth
