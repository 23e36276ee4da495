// Package pgsessions keeps the dashboard's sign-in sessions (package
// session) in PostgreSQL, so that every node of a cluster knows every
// session: a browser signed in through one node is signed in on all, and a
// sign-out on one ends the session on all at once.
//
// Store is a session.Store on the table that pgstore's migration 4 creates:
//
//	CREATE TABLE trail_sessions (
//		id_hash      text COLLATE "C" PRIMARY KEY,  -- hex SHA-256 of the session id
//		session      jsonb NOT NULL,
//		last_seen_at timestamptz NOT NULL,
//		expires_at   timestamptz NOT NULL
//	);
//
// The session id itself is never stored. The jsonb holds the rest of the
// session:
//
//	{"csrf_token": "…", "method": "key|oidc", "key_hash"?: "<64 hex>", "subject"?: "<iss> <sub>",
//	 "principal": {"key_id", "name", "role", "tenant", "filter"?, "events_only"?},
//	 "created_at": "2026-11-22T10:00:00Z"}
//
// Every method is one statement, so it is atomic and safe for any number
// of nodes at once.
package pgsessions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/auth"
	"github.com/trail-audit/trail/session"
)

// Store is a session.Store in the table trail_sessions. It is safe for
// concurrent use by any number of goroutines and processes.
type Store struct {
	pool *pgxpool.Pool
}

var _ session.Store = (*Store)(nil)

// New returns a Store on pool, whose connections must use the schema that
// holds trail_sessions (pgstore.Migrate creates it).
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

type principal struct {
	KeyID      string    `json:"key_id"`
	Name       string    `json:"name"`
	Role       auth.Role `json:"role"`
	Tenant     string    `json:"tenant"`
	Filter     string    `json:"filter,omitempty"`
	EventsOnly bool      `json:"events_only,omitempty"`
}

type row struct {
	CSRFToken string    `json:"csrf_token"`
	Method    string    `json:"method"`
	KeyHash   string    `json:"key_hash,omitempty"`
	Subject   string    `json:"subject,omitempty"`
	Principal principal `json:"principal"`
	CreatedAt time.Time `json:"created_at"`
}

// Create implements session.Store.
func (s *Store) Create(ctx context.Context, sess session.Session) error {
	p := sess.Principal
	data, err := json.Marshal(row{CSRFToken: sess.CSRFToken, Method: sess.Method, KeyHash: sess.KeyHash, Subject: sess.Subject, CreatedAt: sess.CreatedAt.UTC(),
		Principal: principal{KeyID: p.KeyID, Name: p.Name, Role: p.Role, Tenant: p.Tenant, Filter: p.Filter, EventsOnly: p.EventsOnly}})
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO trail_sessions (id_hash, session, last_seen_at, expires_at) VALUES ($1, $2, $3, $4)`,
		sess.IDHash, data, sess.LastSeenAt.UTC(), sess.ExpiresAt.UTC())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return trail.Errorf(trail.ECONFLICT, "session exists")
	}
	if err != nil {
		return fmt.Errorf("pgsessions: create: %w", err)
	}
	return nil
}

// Get implements session.Store.
func (s *Store) Get(ctx context.Context, idHash string) (session.Session, error) {
	var data []byte
	var seen, exp time.Time
	err := s.pool.QueryRow(ctx, `SELECT session, last_seen_at, expires_at FROM trail_sessions WHERE id_hash = $1`, idHash).Scan(&data, &seen, &exp)
	if errors.Is(err, pgx.ErrNoRows) {
		return session.Session{}, trail.Errorf(trail.ENOTFOUND, "no such session")
	}
	if err != nil {
		return session.Session{}, fmt.Errorf("pgsessions: get: %w", err)
	}
	var r row
	if err := json.Unmarshal(data, &r); err != nil {
		return session.Session{}, fmt.Errorf("pgsessions: session %.16s…: %w", idHash, err)
	}
	p := r.Principal
	return session.Session{IDHash: idHash, CSRFToken: r.CSRFToken, Method: r.Method, KeyHash: r.KeyHash, Subject: r.Subject,
		Principal: auth.Principal{KeyID: p.KeyID, Name: p.Name, Role: p.Role, Tenant: p.Tenant, Filter: p.Filter, EventsOnly: p.EventsOnly},
		CreatedAt: r.CreatedAt, LastSeenAt: seen.UTC(), ExpiresAt: exp.UTC()}, nil
}

// Touch implements session.Store.
func (s *Store) Touch(ctx context.Context, idHash string, at time.Time) error {
	if _, err := s.pool.Exec(ctx, `UPDATE trail_sessions SET last_seen_at = $2 WHERE id_hash = $1 AND last_seen_at < $2`, idHash, at.UTC()); err != nil {
		return fmt.Errorf("pgsessions: touch: %w", err)
	}
	return nil
}

// Delete implements session.Store.
func (s *Store) Delete(ctx context.Context, idHash string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM trail_sessions WHERE id_hash = $1`, idHash); err != nil {
		return fmt.Errorf("pgsessions: delete: %w", err)
	}
	return nil
}

// DeleteExpired implements session.Store.
func (s *Store) DeleteExpired(ctx context.Context, idleBefore, now time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM trail_sessions WHERE last_seen_at < $1 OR expires_at <= $2`, idleBefore.UTC(), now.UTC())
	if err != nil {
		return 0, fmt.Errorf("pgsessions: delete expired: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
