package pgstore_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/note"

	"github.com/trail-audit/trail"
	"github.com/trail-audit/trail/checkpoint"
	"github.com/trail-audit/trail/pgstore"
	"github.com/trail-audit/trail/pgstore/pgtest"
	"github.com/trail-audit/trail/storetest"
)

// testKey returns a deterministic signer and verifier.
func testKey(t testing.TB) (note.Signer, note.Verifier) {
	t.Helper()
	skey, vkey, err := checkpoint.GenerateKey("trail.test", bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	s, err := checkpoint.NewSigner(skey) // batch signing, as trail serve's key file gives
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

// open opens a store on dsn with the test key.
func open(t testing.TB, dsn string, now func() time.Time) *pgstore.Store {
	t.Helper()
	signer, verifier := testKey(t)
	s, err := pgstore.Open(t.Context(), pgstore.Options{DSN: dsn, Signer: signer, Verifier: verifier,
		ServerName: "trail.test", Now: now, PartitionInterval: 24 * time.Hour})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

// harness runs the conformance suite against pgstore, each store in a
// schema of its own.
type harness struct {
	mu   sync.Mutex
	dsns map[trail.Store]string
	nows map[trail.Store]func() time.Time
	cur  map[string]*pgstore.Store // the open store of each schema
}

func newHarness() *harness {
	return &harness{dsns: map[trail.Store]string{}, nows: map[trail.Store]func() time.Time{}, cur: map[string]*pgstore.Store{}}
}

func (h *harness) track(s *pgstore.Store, dsn string, now func() time.Time) {
	h.mu.Lock()
	h.dsns[s], h.nows[s], h.cur[dsn] = dsn, now, s
	h.mu.Unlock()
}

func (h *harness) New(t *testing.T, o storetest.Options) trail.Store {
	_, dsn := pgtest.Schema(t)
	now := o.Now
	if now == nil {
		now = time.Now
	}
	s := open(t, dsn, now)
	h.track(s, dsn, now)
	// Reopened stores outlive the sub-test that reopened them: close
	// whichever store is current when the test that created it ends
	// (before the schema is dropped: cleanups run last-in first-out).
	t.Cleanup(func() {
		h.mu.Lock()
		cur := h.cur[dsn]
		h.mu.Unlock()
		cur.Close()
	})
	return s
}

func (h *harness) Reopen(t *testing.T, s trail.Store) trail.Store {
	h.mu.Lock()
	dsn, now := h.dsns[s], h.nows[s]
	h.mu.Unlock()
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	ns := open(t, dsn, now)
	h.track(ns, dsn, now)
	return ns
}

// Tamper changes one letter of the stored event's action with SQL, as
// someone with write access to the database could.
func (h *harness) Tamper(t *testing.T, s trail.Store, tenant string, seq int64) trail.Store {
	h.mu.Lock()
	dsn, now := h.dsns[s], h.nows[s]
	h.mu.Unlock()
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	tamperSQL(t, dsn, `UPDATE trail_events SET data = overlay(data placing
		(CASE WHEN get_byte(data, position('"action":"'::bytea in data) + 10) = 122 THEN 'y' ELSE 'z' END)::bytea
		from position('"action":"'::bytea in data) + 10 for 1)
		WHERE tenant = $1 AND seq = $2`, tenant, seq)
	ns := open(t, dsn, now)
	h.track(ns, dsn, now)
	return ns
}

// tamperSQL runs one statement that must change exactly one row.
func tamperSQL(t testing.TB, dsn, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tag, err := conn.Exec(ctx, sql, args...)
	if err != nil {
		t.Fatalf("tamper: %v", err)
	}
	if tag.RowsAffected() != 1 {
		t.Fatalf("tamper: %d rows changed, want 1", tag.RowsAffected())
	}
}

func (h *harness) Verifier() note.Verifier {
	_, v, err := verifierKey()
	if err != nil {
		panic(err)
	}
	return v
}

func verifierKey() (note.Signer, note.Verifier, error) {
	skey, vkey, err := checkpoint.GenerateKey("trail.test", bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err != nil {
		return nil, nil, err
	}
	s, err := checkpoint.NewSigner(skey)
	if err != nil {
		return nil, nil, err
	}
	v, err := note.NewVerifier(vkey)
	return s, v, err
}

func (h *harness) Origin(tenant string) string { return "trail.test/" + tenant }

func TestConformance(t *testing.T) {
	storetest.Run(t, newHarness())
}
