package pgkeys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/trail-audit/trail/auth"
)

// channelSQL is the SQL expression of the NOTIFY channel of key changes:
// one per schema, since channels are database-wide, and hashed so that any
// schema name fits PostgreSQL's 63-byte limit on channel names.
const channelSQL = `'trail_keys.' || md5(current_schema())`

// maxInsertRetries bounds the retries of Update when a concurrent insert of
// the same id wins.
const maxInsertRetries = 3

// Store is an auth.ChangeStore in the table trail_keys. It is safe for
// concurrent use, and any number of Stores in any number of processes may
// share one schema.
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

var _ auth.ChangeStore = (*Store)(nil)

// New returns a Store on pool, whose connections must use the schema that
// holds trail_keys (pgstore.Migrate creates it). now stamps updated_at;
// nil means time.Now.
func New(pool *pgxpool.Pool, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{pool: pool, now: now}
}

// storedKey is auth.Key with the hashes in its JSON: the jsonb of a row, in
// the format of auth.FileStore. The fields match Key's one for one, so each
// converts to the other.
type storedKey struct {
	ID             string     `json:"id"`
	Name           string     `json:"name"`
	Role           auth.Role  `json:"role"`
	Tenant         string     `json:"tenant"`
	CreatedAt      time.Time  `json:"created_at"`
	ExpiresAt      *time.Time `json:"expires_at,omitempty"`
	RevokedAt      *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt     *time.Time `json:"last_used_at,omitempty"`
	Hash           string     `json:"hash"`
	PrevHash       string     `json:"prev_hash,omitempty"`
	PrevValidUntil *time.Time `json:"prev_valid_until,omitempty"`
}

func encodeKey(k auth.Key) ([]byte, error) { return json.Marshal(storedKey(k)) }

// decodeKey decodes the jsonb of row id. The id column is authoritative.
func decodeKey(id string, data []byte) (auth.Key, error) {
	var s storedKey
	if err := json.Unmarshal(data, &s); err != nil {
		return auth.Key{}, fmt.Errorf("key %s: %w", id, err)
	}
	s.ID = id
	return auth.Key(s), nil
}

// Load returns every stored key, ordered by id. A row whose jsonb does not
// decode as a key is an error naming its id; keys that decode but are
// invalid are returned for auth.Keys to judge.
func (s *Store) Load(ctx context.Context) ([]auth.Key, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, key FROM trail_keys ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("pgkeys: load: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (auth.Key, error) {
		var (
			id   string
			data []byte
		)
		if err := row.Scan(&id, &data); err != nil {
			return auth.Key{}, err
		}
		return decodeKey(id, data)
	})
	if err != nil {
		return nil, fmt.Errorf("pgkeys: load: %w", err)
	}
	return keys, nil
}

// Save replaces every stored key with keys in one transaction (keys not in
// keys are deleted) and notifies every node with the payload '*'. auth.Keys
// never calls it on a ChangeStore; it is for importing a set of keys, such
// as a keys.json read with auth.FileStore.Load, into an empty database. It
// needs DELETE on trail_keys, which the serving role of pgstore.RolesSQL
// does not have: import as the owner.
func (s *Store) Save(ctx context.Context, keys []auth.Key) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgkeys: save: %w", err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `LOCK TABLE trail_keys IN EXCLUSIVE MODE`); err != nil {
		return fmt.Errorf("pgkeys: save: %w", err)
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	if _, err := tx.Exec(ctx, `DELETE FROM trail_keys WHERE id <> ALL($1::text[])`, ids); err != nil {
		return fmt.Errorf("pgkeys: save: %w", err)
	}
	now := s.now()
	var b pgx.Batch
	for _, k := range keys {
		data, err := encodeKey(k)
		if err != nil {
			return fmt.Errorf("pgkeys: save: key %s: %w", k.ID, err)
		}
		b.Queue(`INSERT INTO trail_keys (id, key, updated_at) VALUES ($1, $2, $3)
			ON CONFLICT (id) DO UPDATE SET key = excluded.key, updated_at = excluded.updated_at`, k.ID, data, now)
	}
	b.Queue(`SELECT pg_notify(` + channelSQL + `, '*')`)
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return fmt.Errorf("pgkeys: save: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgkeys: save: commit: %w", err)
	}
	return nil
}

// Update implements auth.ChangeStore: in one transaction it locks and reads
// row id, calls change, writes its result and notifies every node with the
// key's id. change runs again (at most three more times) when a concurrent
// insert of the same id commits first. An error of change is returned as it
// is and writes nothing; database errors are wrapped.
func (s *Store) Update(ctx context.Context, id string, change func(stored *auth.Key) (auth.Key, error)) (auth.Key, error) {
	for range 1 + maxInsertRetries {
		key, done, err := s.update(ctx, id, change)
		if err != nil || done {
			return key, err
		}
	}
	return auth.Key{}, fmt.Errorf("pgkeys: update %s: concurrent inserts of this id keep winning", id)
}

// update is one attempt of Update. It reports whether it is done: false,
// with no error, when a concurrent insert of id won and it should be
// retried.
func (s *Store) update(ctx context.Context, id string, change func(*auth.Key) (auth.Key, error)) (auth.Key, bool, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return auth.Key{}, false, fmt.Errorf("pgkeys: update %s: %w", id, err)
	}
	defer tx.Rollback(context.Background())
	var (
		data []byte
		cur  *auth.Key
	)
	switch err := tx.QueryRow(ctx, `SELECT key FROM trail_keys WHERE id = $1 FOR UPDATE`, id).Scan(&data); {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return auth.Key{}, false, fmt.Errorf("pgkeys: update %s: %w", id, err)
	default:
		k, err := decodeKey(id, data)
		if err != nil {
			return auth.Key{}, false, fmt.Errorf("pgkeys: update: %w", err)
		}
		cur = &k
	}
	next, err := change(cur)
	if err != nil {
		return auth.Key{}, false, err
	}
	if next.ID != id {
		return auth.Key{}, false, fmt.Errorf("pgkeys: update %s: change returned key %q", id, next.ID)
	}
	if data, err = encodeKey(next); err != nil {
		return auth.Key{}, false, fmt.Errorf("pgkeys: update %s: %w", id, err)
	}
	if cur == nil {
		tag, err := tx.Exec(ctx, `INSERT INTO trail_keys (id, key, updated_at) VALUES ($1, $2, $3)
			ON CONFLICT (id) DO NOTHING`, id, data, s.now())
		if err != nil {
			return auth.Key{}, false, fmt.Errorf("pgkeys: update %s: %w", id, err)
		}
		if tag.RowsAffected() == 0 {
			return auth.Key{}, false, nil // inserted by another transaction meanwhile: read it and retry
		}
	} else if _, err := tx.Exec(ctx, `UPDATE trail_keys SET key = $2, updated_at = $3 WHERE id = $1`, id, data, s.now()); err != nil {
		return auth.Key{}, false, fmt.Errorf("pgkeys: update %s: %w", id, err)
	}
	if err := notify(ctx, tx, id); err != nil {
		return auth.Key{}, false, fmt.Errorf("pgkeys: update %s: %w", id, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return auth.Key{}, false, fmt.Errorf("pgkeys: update %s: commit: %w", id, err)
	}
	return next, true, nil
}

// CreateFirst implements auth.ChangeStore: it inserts key when trail_keys
// is empty, under a lock that excludes every other change of the table, and
// notifies every node.
func (s *Store) CreateFirst(ctx context.Context, key auth.Key) (bool, error) {
	data, err := encodeKey(key)
	if err != nil {
		return false, fmt.Errorf("pgkeys: create first key: %w", err)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("pgkeys: create first key: %w", err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `LOCK TABLE trail_keys IN EXCLUSIVE MODE`); err != nil {
		return false, fmt.Errorf("pgkeys: create first key: %w", err)
	}
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM trail_keys)`).Scan(&exists); err != nil {
		return false, fmt.Errorf("pgkeys: create first key: %w", err)
	}
	if exists {
		return false, nil
	}
	if _, err := tx.Exec(ctx, `INSERT INTO trail_keys (id, key, updated_at) VALUES ($1, $2, $3)`, key.ID, data, s.now()); err != nil {
		return false, fmt.Errorf("pgkeys: create first key: %w", err)
	}
	if err := notify(ctx, tx, key.ID); err != nil {
		return false, fmt.Errorf("pgkeys: create first key: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("pgkeys: create first key: commit: %w", err)
	}
	return true, nil
}

// Touch implements auth.ChangeStore: one UPDATE that sets last_used_at in
// the jsonb of row id when usedAt is later than the stored time (compared
// to the microsecond). It notifies nobody.
func (s *Store) Touch(ctx context.Context, id string, usedAt time.Time) error {
	usedAt = usedAt.UTC()
	stamp, err := json.Marshal(usedAt) // the form encoding/json gives every other time in the row
	if err != nil {
		return fmt.Errorf("pgkeys: touch %s: %w", id, err)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE trail_keys
		SET key = jsonb_set(key, '{last_used_at}', $2::jsonb), updated_at = $3
		WHERE id = $1 AND (key->>'last_used_at' IS NULL OR (key->>'last_used_at')::timestamptz < $4)`,
		id, stamp, s.now(), usedAt); err != nil {
		return fmt.Errorf("pgkeys: touch %s: %w", id, err)
	}
	return nil
}

// notify tells every node listening on this schema's channel that key id
// changed, when tx commits.
func notify(ctx context.Context, tx pgx.Tx, id string) error {
	_, err := tx.Exec(ctx, `SELECT pg_notify(`+channelSQL+`, $1)`, id)
	return err
}
