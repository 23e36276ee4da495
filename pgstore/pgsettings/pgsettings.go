// Package pgsettings stores tenant settings (settings.Store) in the
// trail_settings table that pgstore's schema creates, and announces every
// change so that every node's settings.Registry reloads (Watch).
package pgsettings

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/trail-audit/trail"
	"github.com/trail-audit/trail/pgstore/pgwatch"
	"github.com/trail-audit/trail/settings"
)

// channelSQL is the NOTIFY channel of settings changes: per schema, and
// short enough for any schema name.
const channelSQL = `'trail_settings.' || md5(current_schema())`

// Store is a settings.Store on PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

var _ settings.Store = (*Store)(nil)

// New returns a Store on pool (a pgstore.Store's Pool, so the schema is
// migrated). now stamps updated_at; nil means time.Now.
func New(pool *pgxpool.Pool, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{pool: pool, now: now}
}

// Load implements settings.Store.
func (s *Store) Load(ctx context.Context) (map[string]trail.Settings, error) {
	rows, err := s.pool.Query(ctx, `SELECT tenant, settings FROM trail_settings`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]trail.Settings{}
	for rows.Next() {
		var tenant string
		var raw []byte
		if err := rows.Scan(&tenant, &raw); err != nil {
			return nil, err
		}
		var st trail.Settings
		if err := json.Unmarshal(raw, &st); err != nil {
			return nil, fmt.Errorf("trail_settings: tenant %s: %w", tenant, err)
		}
		if err := st.Validate(); err != nil {
			return nil, fmt.Errorf("trail_settings: tenant %s: %w", tenant, err)
		}
		out[tenant] = st
	}
	return out, rows.Err()
}

// Put implements settings.Store: it upserts the tenant's row and notifies
// every node in the same transaction.
func (s *Store) Put(ctx context.Context, tenant string, st trail.Settings) error {
	raw, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO trail_settings (tenant, settings, updated_at) VALUES ($1, $2, $3)
			ON CONFLICT (tenant) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at`,
			tenant, raw, s.now()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `SELECT pg_notify(`+channelSQL+`, $1)`, tenant)
		return err
	})
}

// Watch keeps r in step with the table until ctx is done (see
// pgwatch.Watch); run it in a goroutine.
func (s *Store) Watch(ctx context.Context, r *settings.Registry, opts pgwatch.Options) error {
	opts.Name = "settings"
	return pgwatch.Watch(ctx, s.pool, channelSQL, r, opts)
}
