package session_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/auth"
	"github.com/trail-audit/trail/session"
	"github.com/trail-audit/trail/session/sessiontest"
)

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time          { return c.t }
func (c *clock) Advance(d time.Duration) { c.t = c.t.Add(d) }

func newManager(t *testing.T, idle, max time.Duration) (*session.Manager, *session.MemoryStore, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	st := &session.MemoryStore{}
	m, err := session.NewManager(session.Config{Store: st, Idle: idle, Max: max, Now: c.Now, Rand: rand.NewChaCha8([32]byte{3})})
	if err != nil {
		t.Fatal(err)
	}
	return m, st, c
}

var admin = auth.Principal{KeyID: "0123456789abcdef", Name: "ops", Role: auth.Admin, Tenant: "acme"}

func TestCreateAndLookup(t *testing.T) {
	m, st, _ := newManager(t, 0, 0)
	ctx := context.Background()
	id, s, err := m.Create(ctx, admin, session.MethodKey, "kh", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(id) != 43 || len(s.CSRFToken) != 43 || id == s.CSRFToken {
		t.Fatalf("id %q, csrf %q: want two different 43-character tokens", id, s.CSRFToken)
	}
	if s.IDHash != session.HashID(id) || bytes.Contains([]byte(s.IDHash), []byte(id)) {
		t.Errorf("IDHash = %q, want the hash of the id", s.IDHash)
	}
	if got := s.ExpiresAt.Sub(s.CreatedAt); got != session.DefaultMax {
		t.Errorf("absolute timeout %v, want %v", got, session.DefaultMax)
	}
	got, err := m.Lookup(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Principal != admin || got.CSRFToken != s.CSRFToken || got.KeyHash != "kh" {
		t.Errorf("Lookup = %+v, want the created session", got)
	}
	// Only the hash is stored: looking the hash up as an id finds nothing.
	if _, err := m.Lookup(ctx, s.IDHash[:43]); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("lookup by hash: got %v, want ErrNoSession", err)
	}
	if st.Len() != 1 {
		t.Errorf("store holds %d sessions, want 1", st.Len())
	}
}

func TestLookupRejects(t *testing.T) {
	m, _, _ := newManager(t, 0, 0)
	for _, id := range []string{"", "short", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", string(make([]byte, 5000))} {
		if _, err := m.Lookup(context.Background(), id); !errors.Is(err, session.ErrNoSession) || trail.ErrorCode(err) != trail.EUNAUTHENTICATED {
			t.Errorf("Lookup(%.10q): got %v, want ErrNoSession (unauthenticated)", id, err)
		}
	}
}

func TestIdleTimeout(t *testing.T) {
	m, st, c := newManager(t, 30*time.Minute, 12*time.Hour)
	ctx := context.Background()
	id, _, err := m.Create(ctx, admin, session.MethodKey, "", "")
	if err != nil {
		t.Fatal(err)
	}
	// Used every 20 minutes, it lives past the idle timeout many times over.
	for i := range 10 {
		c.Advance(20 * time.Minute)
		if _, err := m.Lookup(ctx, id); err != nil {
			t.Fatalf("use %d after %v: %v", i, 20*time.Minute*time.Duration(i+1), err)
		}
	}
	c.Advance(30 * time.Minute)
	if ended, err := m.Lookup(ctx, id); !errors.Is(err, session.ErrIdle) || ended.Principal != admin {
		t.Fatalf("after 30m idle: got %+v, %v; want the ended session and ErrIdle", ended, err)
	}
	if st.Len() != 0 {
		t.Errorf("an idle session is still stored")
	}
	if _, err := m.Lookup(ctx, id); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("after it ended: got %v, want ErrNoSession", err)
	}
}

func TestIdleTimeoutWithinTouchInterval(t *testing.T) {
	// Uses closer together than the touch interval (a tenth of idle, at
	// most a minute) are not written; the idle timeout still counts from
	// the last written use, so it is exact to within that interval.
	m, _, c := newManager(t, 10*time.Minute, time.Hour)
	ctx := context.Background()
	id, _, _ := m.Create(ctx, admin, session.MethodKey, "", "")
	for range 20 {
		c.Advance(30 * time.Second)
		if _, err := m.Lookup(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	c.Advance(10*time.Minute - time.Second)
	if _, err := m.Lookup(ctx, id); err != nil {
		t.Errorf("9m59s after the last use: %v", err)
	}
	c.Advance(10 * time.Minute)
	if _, err := m.Lookup(ctx, id); !errors.Is(err, session.ErrIdle) {
		t.Errorf("10m after: got %v, want ErrIdle", err)
	}
}

func TestAbsoluteTimeout(t *testing.T) {
	m, st, c := newManager(t, 30*time.Minute, 2*time.Hour)
	ctx := context.Background()
	id, _, _ := m.Create(ctx, admin, session.MethodOIDC, "", "https://idp ada")
	// Busy every 10 minutes: never idle, alive until 11:59.
	for range 11 {
		c.Advance(10 * time.Minute)
		if _, err := m.Lookup(ctx, id); err != nil {
			t.Fatalf("at %v: %v", c.t, err)
		}
	}
	c.t = time.Date(2026, 11, 22, 11, 59, 59, 0, time.UTC)
	if _, err := m.Lookup(ctx, id); err != nil {
		t.Fatalf("at %v: %v", c.t, err)
	}
	c.t = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	if _, err := m.Lookup(ctx, id); !errors.Is(err, session.ErrExpired) {
		t.Fatalf("at the absolute deadline: got %v, want ErrExpired", err)
	}
	if st.Len() != 0 {
		t.Errorf("an expired session is still stored")
	}
}

func TestEnd(t *testing.T) {
	m, _, _ := newManager(t, 0, 0)
	ctx := context.Background()
	id, _, _ := m.Create(ctx, admin, session.MethodKey, "", "")
	other, _, _ := m.Create(ctx, admin, session.MethodKey, "", "")
	if err := m.End(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Lookup(ctx, id); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("after End: got %v, want ErrNoSession", err)
	}
	if _, err := m.Lookup(ctx, other); err != nil {
		t.Errorf("another session after End: %v", err)
	}
	if err := m.End(ctx, id); err != nil {
		t.Errorf("End twice: %v", err)
	}
}

func TestCreateSweepsExpired(t *testing.T) {
	m, st, c := newManager(t, 30*time.Minute, time.Hour)
	ctx := context.Background()
	for range 5 {
		m.Create(ctx, admin, session.MethodKey, "", "")
	}
	c.Advance(31 * time.Minute)
	if _, _, err := m.Create(ctx, admin, session.MethodKey, "", ""); err != nil {
		t.Fatal(err)
	}
	if st.Len() != 1 {
		t.Errorf("after a sign-in past the idle timeout of 5 others: %d stored, want 1", st.Len())
	}
}

func TestCheckCSRF(t *testing.T) {
	m, _, _ := newManager(t, 0, 0)
	_, s, _ := m.Create(context.Background(), admin, session.MethodKey, "", "")
	wrong := "x" + s.CSRFToken[1:] // another first character than the token's
	if s.CSRFToken[0] == 'x' {
		wrong = "y" + s.CSRFToken[1:]
	}
	tests := []struct {
		name, token string
		want        bool
	}{
		{"right", s.CSRFToken, true},
		{"missing", "", false},
		{"wrong", wrong, false},
		{"prefix", s.CSRFToken[:42], false},
		{"longer", s.CSRFToken + "A", false},
	}
	for _, tt := range tests {
		if got := s.CheckCSRF(tt.token); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
	if (session.Session{}).CheckCSRF("") {
		t.Error("a session without a token accepts the empty token")
	}
}

func TestConfigValidate(t *testing.T) {
	st := &session.MemoryStore{}
	tests := []struct {
		name  string
		cfg   session.Config
		field string
	}{
		{"no store", session.Config{}, "store"},
		{"negative idle", session.Config{Store: st, Idle: -1}, "session-idle"},
		{"tiny max", session.Config{Store: st, Max: time.Second}, "session-max"},
	}
	for _, tt := range tests {
		_, err := session.NewManager(tt.cfg)
		var e *trail.Error
		if !errors.As(err, &e) || e.Field != tt.field {
			t.Errorf("%s: got %v, want an error on %s", tt.name, err, tt.field)
		}
	}
}

func TestMemoryStore(t *testing.T) {
	sessiontest.Run(t, func(*testing.T) session.Store { return &session.MemoryStore{} })
}

// BenchmarkLookup is the cost a session adds to each dashboard request on
// the memory store: hash the id, read the session, check the timeouts.
func BenchmarkLookup(b *testing.B) {
	m, err := session.NewManager(session.Config{Store: &session.MemoryStore{}})
	if err != nil {
		b.Fatal(err)
	}
	id, _, err := m.Create(context.Background(), admin, session.MethodKey, "", "")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Lookup(context.Background(), id); err != nil {
			b.Fatal(err)
		}
	}
}
