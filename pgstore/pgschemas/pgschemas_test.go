package pgschemas_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/trail-audit/trail"
	"github.com/trail-audit/trail/pgstore"
	"github.com/trail-audit/trail/pgstore/pgschemas"
	"github.com/trail-audit/trail/pgstore/pgtest"
	"github.com/trail-audit/trail/pgstore/pgwatch"
	"github.com/trail-audit/trail/schema"
)

func pool(t *testing.T, dsn string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// migrated returns a connection string of a fresh, migrated schema.
func migrated(t *testing.T) string {
	t.Helper()
	_, dsn := pgtest.Schema(t)
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := pgstore.Migrate(t.Context(), conn); err != nil {
		t.Fatal(err)
	}
	return dsn
}

// TestTwoNodes adds schema versions through one node's registry and
// expects the other node's registry to follow through the notification
// and to enforce the latest version.
func TestTwoNodes(t *testing.T) {
	dsn := migrated(t)
	var regs [2]*schema.Registry
	listening := make(chan struct{}, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{}, 2)
	for i := range regs {
		st := pgschemas.New(pool(t, dsn))
		r, err := schema.New(t.Context(), st, nil)
		if err != nil {
			t.Fatal(err)
		}
		regs[i] = r
		first := true
		go func() {
			st.Watch(ctx, r, pgwatch.Options{OnReload: func(error) {
				if first {
					first = false
					listening <- struct{}{}
				}
			}})
			done <- struct{}{}
		}()
	}
	<-listening
	<-listening

	e := &trail.Event{Tenant: "acme", Action: "invoice.paid", Actor: trail.Actor{ID: "u"}, Metadata: map[string]any{"amount": -1.0}}
	v1, err := regs[0].Put(t.Context(), "acme", "invoice.paid", []byte(`{"properties": {"amount": {"type": "number"}}}`))
	if err != nil || v1.Version != 1 {
		t.Fatalf("Put: %+v, %v", v1, err)
	}
	v2, err := regs[0].Put(t.Context(), "acme", "invoice.paid", []byte(`{"properties": {"amount": {"type": "number", "minimum": 0}}}`))
	if err != nil || v2.Version != 2 {
		t.Fatalf("second Put: %+v, %v", v2, err)
	}
	waitFor(t, "node 2 to see version 2", func() bool { return len(regs[1].Versions("acme", "invoice.paid")) == 2 })
	err = regs[1].Validate("acme", e)
	if te, ok := err.(*trail.Error); !ok || te.Field != "metadata.amount" || te.Message != "minimum: must be >= 0" {
		t.Fatalf("node 2 validates with %v, want version 2's minimum", err)
	}
	got, err := regs[1].Get("acme", "invoice.paid", 1)
	if err != nil || !got.CreatedAt.Equal(v1.CreatedAt) || got.Version != 1 {
		t.Fatalf("node 2 reads version 1 as %+v, %v; want created at %v", got, err, v1.CreatedAt)
	}

	// Node 2 adds the next version: numbering continues across nodes.
	v3, err := regs[1].Put(t.Context(), "acme", "invoice.paid", []byte(`{}`))
	if err != nil || v3.Version != 3 {
		t.Fatalf("Put through node 2: %+v, %v", v3, err)
	}
	waitFor(t, "node 1 to see version 3", func() bool {
		v, err := regs[0].Get("acme", "invoice.paid", 0)
		return err == nil && v.Version == 3
	})
	if err := regs[0].Validate("acme", e); err != nil {
		t.Fatalf("node 1 still applies version 2: %v", err)
	}
	cancel()
	<-done
	<-done
}

// TestConcurrentAdds: nodes adding versions of one action at the same
// moment each get a distinct version, 1..n.
func TestConcurrentAdds(t *testing.T) {
	dsn := migrated(t)
	const nodes, each = 4, 5
	var wg sync.WaitGroup
	for i := range nodes {
		st := pgschemas.New(pool(t, dsn))
		wg.Go(func() {
			for j := range each {
				v := schema.Version{Tenant: "acme", Action: "a", Schema: []byte(fmt.Sprintf(`{"maximum": %d}`, i*each+j)), CreatedAt: time.Now()}
				if _, err := st.Add(t.Context(), v); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	r, err := schema.New(t.Context(), pgschemas.New(pool(t, dsn)), nil)
	if err != nil {
		t.Fatal(err)
	}
	vs := r.Versions("acme", "a")
	if len(vs) != nodes*each {
		t.Fatalf("%d versions, want %d", len(vs), nodes*each)
	}
	for i, v := range vs {
		if v.Version != i+1 {
			t.Fatalf("version %d at index %d", v.Version, i)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
