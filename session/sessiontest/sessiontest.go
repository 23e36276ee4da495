// Package sessiontest is the conformance suite of session.Store: every
// store (session.MemoryStore, pgstore/pgsessions) runs Run.
package sessiontest

import (
	"context"
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/auth"
	"github.com/trail-audit/trail/session"
)

// Run checks the Store contract on stores made by open, each fresh.
func Run(t *testing.T, open func(t *testing.T) session.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	sess := func(h string, seen, exp time.Time) session.Session {
		return session.Session{IDHash: h, CSRFToken: "csrf-" + h, Method: session.MethodOIDC, KeyHash: "kh", Subject: "https://idp sub",
			Principal: auth.Principal{KeyID: "oidc:sub", Name: "Ada", Role: auth.Auditor, Tenant: "acme"},
			CreatedAt: t0, LastSeenAt: seen, ExpiresAt: exp}
	}

	t.Run("create and get", func(t *testing.T) {
		st := open(t)
		want := sess("h1", t0, t0.Add(time.Hour))
		if err := st.Create(ctx, want); err != nil {
			t.Fatal(err)
		}
		got, err := st.Get(ctx, "h1")
		if err != nil {
			t.Fatal(err)
		}
		if !equal(got, want) {
			t.Errorf("Get = %+v, want %+v", got, want)
		}
		if err := st.Create(ctx, want); trail.ErrorCode(err) != trail.ECONFLICT {
			t.Errorf("second Create of h1: got %v, want ECONFLICT", err)
		}
		if _, err := st.Get(ctx, "nope"); trail.ErrorCode(err) != trail.ENOTFOUND {
			t.Errorf("Get of a missing session: got %v, want ENOTFOUND", err)
		}
	})

	t.Run("touch", func(t *testing.T) {
		st := open(t)
		st.Create(ctx, sess("h1", t0, t0.Add(time.Hour)))
		if err := st.Touch(ctx, "h1", t0.Add(5*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := st.Touch(ctx, "h1", t0.Add(time.Minute)); err != nil { // earlier: ignored
			t.Fatal(err)
		}
		got, _ := st.Get(ctx, "h1")
		if !got.LastSeenAt.Equal(t0.Add(5 * time.Minute)) {
			t.Errorf("LastSeenAt = %v, want %v", got.LastSeenAt, t0.Add(5*time.Minute))
		}
		if err := st.Touch(ctx, "missing", t0); err != nil {
			t.Errorf("Touch of a missing session: %v", err)
		}
	})

	t.Run("delete", func(t *testing.T) {
		st := open(t)
		st.Create(ctx, sess("h1", t0, t0.Add(time.Hour)))
		st.Create(ctx, sess("h2", t0, t0.Add(time.Hour)))
		if err := st.Delete(ctx, "h1"); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Get(ctx, "h1"); trail.ErrorCode(err) != trail.ENOTFOUND {
			t.Errorf("after Delete: %v", err)
		}
		if _, err := st.Get(ctx, "h2"); err != nil {
			t.Errorf("another session after Delete: %v", err)
		}
		if err := st.Delete(ctx, "h1"); err != nil {
			t.Errorf("Delete twice: %v", err)
		}
	})

	t.Run("delete expired", func(t *testing.T) {
		st := open(t)
		st.Create(ctx, sess("idle", t0, t0.Add(time.Hour)))
		st.Create(ctx, sess("old", t0.Add(50*time.Minute), t0.Add(55*time.Minute)))
		st.Create(ctx, sess("live", t0.Add(50*time.Minute), t0.Add(2*time.Hour)))
		now := t0.Add(55 * time.Minute)
		n, err := st.DeleteExpired(ctx, now.Add(-30*time.Minute), now)
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Errorf("DeleteExpired removed %d, want 2 (idle and old)", n)
		}
		if _, err := st.Get(ctx, "live"); err != nil {
			t.Errorf("the live session: %v", err)
		}
	})
}

func equal(a, b session.Session) bool {
	return a.IDHash == b.IDHash && a.CSRFToken == b.CSRFToken && a.Principal == b.Principal && a.Method == b.Method &&
		a.KeyHash == b.KeyHash && a.Subject == b.Subject && a.CreatedAt.Equal(b.CreatedAt) && a.LastSeenAt.Equal(b.LastSeenAt) && a.ExpiresAt.Equal(b.ExpiresAt)
}
