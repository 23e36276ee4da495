// Package session holds the dashboard's server-side sign-in sessions: who
// signed in (the principal a key or an OIDC identity maps to), since when,
// and the CSRF token that every state-changing request of the session must
// carry.
//
// # Model
//
// A session is named by a random 256-bit id, sent to the browser once as
// the value of an HttpOnly cookie and never stored: the Store keys
// sessions by the hex SHA-256 of the id (Session.IDHash), so reading the
// store does not let anyone act as a signed-in user. The id travels as 43
// characters of unpadded base64url:
//
//	trail_session=q1V0uG3b3Wn9…(43 characters)
//
// A session ends at the first of: sign-out (Manager.End), its idle timeout
// (no request for Idle), its absolute timeout (Max after sign-in, however
// busy), or, for a session made from an API key, the key being revoked or
// expiring — that last check is the caller's (package api), which knows the
// keys. The last use is written to the store at most once per touchEvery,
// so the idle timeout is exact to within that.
//
// The CSRF token is a second random 256-bit value, kept with the session
// (it is useless without the cookie) and compared in constant time by
// CheckCSRF.
//
// Stores: MemoryStore for one node; pgstore/pgsessions for several nodes
// sharing one PostgreSQL database.
package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/auth"
)

// Defaults for Config.
const (
	DefaultIdle = 30 * time.Minute
	DefaultMax  = 12 * time.Hour
)

// Methods of sign-in, in Session.Method.
const (
	MethodKey  = "key"
	MethodOIDC = "oidc"
)

// idBytes is the size of a session id and of a CSRF token.
const idBytes = 32

// Session is one signed-in browser as stored.
type Session struct {
	IDHash    string         // hex SHA-256 of the session id; the store's key
	CSRFToken string         // base64url, 43 characters
	Principal auth.Principal // who acts: role, tenant, key id (key sign-in) or OIDC identity
	Method    string         // MethodKey or MethodOIDC
	// KeyHash is, for a key sign-in, the hex SHA-256 of the secret signed
	// in with, so that the caller can end the session when that secret
	// stops working (revocation, expiry, rotation past its grace period).
	KeyHash    string
	Subject    string    // OIDC: "issuer subject" identity; key: empty
	CreatedAt  time.Time // sign-in
	LastSeenAt time.Time // last request, written at most once per touchEvery
	ExpiresAt  time.Time // absolute end: CreatedAt + Config.Max
}

// Store keeps sessions. Every method is safe for concurrent use; stores
// shared by several nodes (pgsessions) make each change visible to every
// node when it returns.
type Store interface {
	// Create stores s. An IDHash already stored is an ECONFLICT error.
	Create(ctx context.Context, s Session) error
	// Get returns the session with the given IDHash, or an ENOTFOUND
	// *trail.Error.
	Get(ctx context.Context, idHash string) (Session, error)
	// Touch sets the LastSeenAt of the session to at when that is later;
	// a missing session is not an error.
	Touch(ctx context.Context, idHash string, at time.Time) error
	// Delete removes the session; a missing session is not an error.
	Delete(ctx context.Context, idHash string) error
	// DeleteExpired removes every session last seen before idleBefore or
	// whose ExpiresAt is not after now, and returns how many it removed.
	DeleteExpired(ctx context.Context, idleBefore, now time.Time) (int, error)
}

// Config configures a Manager. Store is required.
type Config struct {
	Store Store
	Idle  time.Duration // 0: DefaultIdle
	Max   time.Duration // 0: DefaultMax
	Now   func() time.Time
	Rand  io.Reader // source of ids and CSRF tokens; nil: crypto/rand
}

// Validate reports a negative or inconsistent timeout, naming the flag.
func (c Config) Validate() error {
	switch {
	case c.Store == nil:
		return trail.FieldError("store", "required")
	case c.Idle < 0:
		return trail.FieldError("session-idle", "must not be negative")
	case c.Max < 0:
		return trail.FieldError("session-max", "must not be negative")
	case c.Idle != 0 && c.Idle < time.Minute:
		return trail.FieldError("session-idle", "must be at least 1m")
	case c.Max != 0 && c.Max < time.Minute:
		return trail.FieldError("session-max", "must be at least 1m")
	}
	return nil
}

// Manager creates, looks up and ends sessions. It is safe for concurrent
// use.
type Manager struct {
	store Store
	idle  time.Duration
	max   time.Duration
	now   func() time.Time
	rand  io.Reader
}

// NewManager returns a Manager, or the error of cfg.Validate.
func NewManager(cfg Config) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Manager{store: cfg.Store, idle: cfg.Idle, max: cfg.Max, now: cfg.Now, rand: cfg.Rand}
	if m.idle == 0 {
		m.idle = DefaultIdle
	}
	if m.max == 0 {
		m.max = DefaultMax
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.rand == nil {
		m.rand = rand.Reader
	}
	return m, nil
}

// Idle is the idle timeout.
func (m *Manager) Idle() time.Duration { return m.idle }

// Max is the absolute timeout.
func (m *Manager) Max() time.Duration { return m.max }

// touchEvery is how stale LastSeenAt may get before a request writes it:
// a tenth of the idle timeout, at most a minute.
func (m *Manager) touchEvery() time.Duration { return min(time.Minute, m.idle/10) }

// HashID returns the hex SHA-256 of a session id, the form stored.
func HashID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

func (m *Manager) random() (string, error) {
	b := make([]byte, idBytes)
	if _, err := io.ReadFull(m.rand, b); err != nil {
		return "", fmt.Errorf("session: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Create starts a session for p, signed in by method (with, for a key,
// the hash of the secret, and for OIDC the subject), and returns the new
// session id — the cookie value, returned only here — and the session.
// Sessions past their timeouts are removed from the store on the way.
func (m *Manager) Create(ctx context.Context, p auth.Principal, method, keyHash, subject string) (string, Session, error) {
	now := m.now().UTC()
	if _, err := m.store.DeleteExpired(ctx, now.Add(-m.idle), now); err != nil {
		return "", Session{}, fmt.Errorf("session: sweep: %w", err)
	}
	id, err := m.random()
	if err != nil {
		return "", Session{}, err
	}
	csrf, err := m.random()
	if err != nil {
		return "", Session{}, err
	}
	s := Session{IDHash: HashID(id), CSRFToken: csrf, Principal: p, Method: method, KeyHash: keyHash, Subject: subject,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(m.max)}
	if err := m.store.Create(ctx, s); err != nil {
		return "", Session{}, fmt.Errorf("session: create: %w", err)
	}
	return id, s, nil
}

// Errors of Lookup, all EUNAUTHENTICATED *trail.Error values.
var (
	ErrNoSession = trail.Errorf(trail.EUNAUTHENTICATED, "not signed in")
	ErrIdle      = trail.Errorf(trail.EUNAUTHENTICATED, "session ended after being idle; sign in again")
	ErrExpired   = trail.Errorf(trail.EUNAUTHENTICATED, "session reached its maximum age; sign in again")
)

// Lookup returns the live session named by id (the cookie value) and
// records its use. An empty, malformed or unknown id is ErrNoSession; a
// session past its idle or absolute timeout is deleted and returned with
// ErrIdle or ErrExpired (so the caller can record its end). Store failures
// are returned wrapped.
func (m *Manager) Lookup(ctx context.Context, id string) (Session, error) {
	if len(id) != 43 {
		return Session{}, ErrNoSession
	}
	h := HashID(id)
	s, err := m.store.Get(ctx, h)
	if trail.ErrorCode(err) == trail.ENOTFOUND {
		return Session{}, ErrNoSession
	}
	if err != nil {
		return Session{}, fmt.Errorf("session: get: %w", err)
	}
	now := m.now()
	var end error
	switch {
	case !now.Before(s.ExpiresAt):
		end = ErrExpired
	case !now.Before(s.LastSeenAt.Add(m.idle)):
		end = ErrIdle
	}
	if end != nil {
		if err := m.store.Delete(ctx, h); err != nil {
			return Session{}, fmt.Errorf("session: delete: %w", err)
		}
		return s, end
	}
	if now.Sub(s.LastSeenAt) >= m.touchEvery() {
		if err := m.store.Touch(ctx, h, now.UTC()); err != nil {
			return Session{}, fmt.Errorf("session: touch: %w", err)
		}
		s.LastSeenAt = now.UTC()
	}
	return s, nil
}

// End deletes the session named by id; an unknown id is not an error.
func (m *Manager) End(ctx context.Context, id string) error {
	if err := m.store.Delete(ctx, HashID(id)); err != nil {
		return fmt.Errorf("session: delete: %w", err)
	}
	return nil
}

// IdleDeadline is when s ends unless it is used again: the earlier of its
// idle and absolute deadlines.
func (m *Manager) IdleDeadline(s Session) time.Time {
	d := s.LastSeenAt.Add(m.idle)
	if s.ExpiresAt.Before(d) {
		return s.ExpiresAt
	}
	return d
}

// CheckCSRF reports whether token is the session's CSRF token, comparing
// in constant time. An empty token never matches.
func (s Session) CheckCSRF(token string) bool {
	if token == "" || s.CSRFToken == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(token), []byte(s.CSRFToken)) == 1
}
