// Package pgschemas stores action schemas (schema.Store) in the
// trail_schemas table that pgstore's schema creates (migration 2), one row
// per version, and announces every new version so that every node's
// schema.Registry reloads (Watch).
package pgschemas

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/trail-audit/trail/pgstore/pgwatch"
	"github.com/trail-audit/trail/schema"
)

// channelSQL is the NOTIFY channel of schema changes: per schema, and
// short enough for any schema name.
const channelSQL = `'trail_schemas.' || md5(current_schema())`

// Store is a schema.Store on PostgreSQL. It is safe for concurrent use,
// also by several nodes.
type Store struct {
	pool *pgxpool.Pool
}

var _ schema.Store = (*Store)(nil)

// New returns a Store on pool (a pgstore.Store's Pool, so the schema is
// migrated).
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Load implements schema.Store.
func (s *Store) Load(ctx context.Context) ([]schema.Version, error) {
	rows, err := s.pool.Query(ctx, `SELECT tenant, action, version, schema, created_at FROM trail_schemas ORDER BY tenant, action, version`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []schema.Version
	for rows.Next() {
		var v schema.Version
		var raw []byte
		if err := rows.Scan(&v.Tenant, &v.Action, &v.Version, &raw, &v.CreatedAt); err != nil {
			return nil, err
		}
		v.Schema = raw
		v.CreatedAt = v.CreatedAt.UTC()
		out = append(out, v)
	}
	return out, rows.Err()
}

// lockKey is the first key of the advisory lock that serialises the
// versions of one action (the second is a hash of schema, tenant and
// action).
const lockKey = 0x74736368 // "tsch"

// Add implements schema.Store: it inserts the next version of the tenant's
// action and notifies every node in the same transaction. Nodes adding a
// version of the same action at once take turns on an advisory lock, so
// each gets the next number.
func (s *Store) Add(ctx context.Context, v schema.Version) (schema.Version, error) {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(current_schema() || '/' || $2 || '/' || $3))`,
			int32(lockKey), v.Tenant, v.Action); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO trail_schemas (tenant, action, version, schema, created_at)
			SELECT $1, $2, coalesce(max(version), 0) + 1, $3, $4 FROM trail_schemas WHERE tenant = $1 AND action = $2
			RETURNING version`, v.Tenant, v.Action, []byte(v.Schema), v.CreatedAt).Scan(&v.Version); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `SELECT pg_notify(`+channelSQL+`, $1)`, v.Tenant)
		return err
	})
	if err != nil {
		return schema.Version{}, fmt.Errorf("trail_schemas: %w", err)
	}
	return v, nil
}

// Watch keeps r in step with the table until ctx is done (see
// pgwatch.Watch); run it in a goroutine.
func (s *Store) Watch(ctx context.Context, r *schema.Registry, opts pgwatch.Options) error {
	opts.Name = "schemas"
	return pgwatch.Watch(ctx, s.pool, channelSQL, r, opts)
}
