package pgsessions_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/trail-audit/trail/auth"
	"github.com/trail-audit/trail/pgstore"
	"github.com/trail-audit/trail/pgstore/pgsessions"
	"github.com/trail-audit/trail/pgstore/pgtest"
	"github.com/trail-audit/trail/session"
	"github.com/trail-audit/trail/session/sessiontest"
)

// newPool migrates a fresh schema and returns a pool on it.
func newPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	_, dsn := pgtest.Schema(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := pgstore.Migrate(ctx, conn); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func TestStore(t *testing.T) {
	sessiontest.Run(t, func(t *testing.T) session.Store { return pgsessions.New(newPool(t)) })
}

// TestTwoNodes: two managers (two nodes) over one database share their
// sessions: signed in on one, known on the other; signed out on the other,
// gone on both.
func TestTwoNodes(t *testing.T) {
	pool := newPool(t)
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	a, err := session.NewManager(session.Config{Store: pgsessions.New(pool), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	b, err := session.NewManager(session.Config{Store: pgsessions.New(pool), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p := auth.Principal{KeyID: "0123456789abcdef", Name: "ops", Role: auth.Admin, Tenant: "acme"}
	id, created, err := a.Create(ctx, p, session.MethodKey, auth.HashToken("k"), "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.Lookup(ctx, id)
	if err != nil || got.Principal != p || got.CSRFToken != created.CSRFToken {
		t.Fatalf("lookup on the other node: %+v, %v", got, err)
	}
	if err := b.End(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Lookup(ctx, id); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("after sign-out on the other node: %v, want ErrNoSession", err)
	}
	// The idle timeout counts uses on either node.
	id, _, _ = a.Create(ctx, p, session.MethodKey, "", "")
	for range 3 {
		now = now.Add(20 * time.Minute)
		if _, err := b.Lookup(ctx, id); err != nil {
			t.Fatalf("used every 20 minutes on node b: %v", err)
		}
	}
	now = now.Add(31 * time.Minute)
	if _, err := a.Lookup(ctx, id); !errors.Is(err, session.ErrIdle) {
		t.Errorf("idle on both nodes: %v, want ErrIdle", err)
	}
}

// BenchmarkLookup is the cost a session adds to each dashboard request on
// PostgreSQL: one primary-key read (the last use is written at most once a
// minute, so not within the run).
func BenchmarkLookup(b *testing.B) {
	pool := newPool(b)
	m, err := session.NewManager(session.Config{Store: pgsessions.New(pool)})
	if err != nil {
		b.Fatal(err)
	}
	id, _, err := m.Create(context.Background(), auth.Principal{KeyID: "k", Role: auth.Viewer, Tenant: "acme"}, session.MethodKey, "", "")
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

// TestStoreAsServingRole runs the conformance suite as the serving role of
// pgstore.RolesSQL, which must be granted what sessions need.
func TestStoreAsServingRole(t *testing.T) {
	sessiontest.Run(t, func(t *testing.T) session.Store {
		schema, dsn := pgtest.Schema(t)
		ctx := context.Background()
		owner, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer owner.Close(ctx)
		if _, err := pgstore.Migrate(ctx, owner); err != nil {
			t.Fatal(err)
		}
		app, ret := "trail_app_"+strings.TrimPrefix(schema, "trail_test_"), "trail_ret_"+strings.TrimPrefix(schema, "trail_test_")
		for _, r := range []string{app, ret} {
			if _, err := owner.Exec(ctx, "CREATE ROLE "+pgx.Identifier{r}.Sanitize()+" LOGIN"); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				c, err := pgx.Connect(context.Background(), dsn)
				if err != nil {
					return
				}
				defer c.Close(context.Background())
				c.Exec(context.Background(), "DROP OWNED BY "+pgx.Identifier{r}.Sanitize())
				c.Exec(context.Background(), "DROP ROLE "+pgx.Identifier{r}.Sanitize())
			})
		}
		for _, q := range pgstore.RolesSQL(schema, app, ret) {
			if _, err := owner.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("TRAIL_TEST_POSTGRES must be a URL for this test: %v", err)
		}
		u.User = url.User(app)
		pool, err := pgxpool.New(ctx, u.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		return pgsessions.New(pool)
	})
}
