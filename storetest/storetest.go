// Package storetest is the conformance suite of trail.Store: every storage
// engine (logstore, pgstore) runs Run against a Harness that opens it on
// fresh storage, and must pass every sub-test.
//
// The suite checks the contract documented on trail.Store: all-or-nothing
// batches with receipts in request order and gapless per-tenant seqs; leaf
// hashes that are SHA-256(0x00‖leaf) of the canonical JSON (RFC 8785) of the
// event read back; signed C2SP checkpoints whose roots agree with RFC 6962
// inclusion and consistency proofs, checked with the independent verifier
// github.com/transparency-dev/merkle; idempotent ids; queries and stats equal
// to a brute-force evaluation of trail.Expr.Compile over every stored event;
// following the log with Read and Wait; restart; retention that keeps leaf
// hashes; and tamper detection by Verify.
//
// Time is injected: each sub-test drives the store's clock through
// Options.Now, so a store must never call time.Now for received_at, ids or
// retention.
//
// A store's tests call it with a Harness over a real engine:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, harness{dir: t.TempDir()})
//	}
//
// The package also exports Gen, a deterministic generator of realistic
// events that tests and benchmarks reuse.
package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/trail-audit/trail"
	"golang.org/x/mod/sumdb/note"
)

// Harness opens the store under test. Sub-tests run in parallel, each on
// its own store, so its methods must be safe for concurrent use.
type Harness interface {
	// New opens a store on fresh, empty storage. Its clock is opts.Now
	// (never time.Now directly).
	New(t *testing.T, opts Options) trail.Store
	// Reopen closes s and opens the same storage again (same clock).
	Reopen(t *testing.T, s trail.Store) trail.Store
	// Tamper closes s, changes the stored content of tenant's event seq
	// behind the store's back (a different leaf, same length if the engine
	// cares), and returns the store reopened without failing t. If opening
	// itself refuses, it returns nil: the suite accepts a refusal to open
	// as detection.
	Tamper(t *testing.T, s trail.Store, tenant string, seq int64) trail.Store
	// Verifier checks checkpoint signatures.
	Verifier() note.Verifier
	// Origin returns the checkpoint origin the store uses for tenant.
	Origin(tenant string) string
}

// Options configure a store opened by Harness.New.
type Options struct {
	// Now is the store's clock: received_at, UUIDv7 ids and anything else
	// time-dependent must come from it.
	Now func() time.Time
}

// Run runs every conformance sub-test against stores opened by h. Each
// sub-test opens its own store; they run in parallel.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"Receipts", testReceipts},
		{"Validation", testValidation},
		{"Concurrency", testConcurrency},
		{"Idempotency", testIdempotency},
		{"Query", testQuery},
		{"QueryWhileAppending", testQueryWhileAppending},
		{"BadQueries", testBadQueries},
		{"Stats", testStats},
		{"ReadWait", testReadWait},
		{"Proofs", testProofs},
		{"Restart", testRestart},
		{"Retention", testRetention},
		{"Erasure", testErasure},
		{"Verify", testVerify},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, h)
		})
	}
}

// epoch is where every sub-test's clock starts.
var epoch = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// clock is an injected, manually advanced clock. It is safe for concurrent
// use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fixture is one sub-test's store, its clock and its harness.
type fixture struct {
	t   *testing.T
	h   Harness
	s   trail.Store
	clk *clock
	ctx context.Context
}

// newFixture opens a fresh store whose clock starts at epoch. The store is
// closed when the test ends.
func newFixture(t *testing.T, h Harness) *fixture {
	t.Helper()
	f := &fixture{t: t, h: h, clk: newClock(epoch), ctx: t.Context()}
	f.s = h.New(t, Options{Now: f.clk.Now})
	if f.s == nil {
		t.Fatal("Harness.New returned nil")
	}
	t.Cleanup(func() {
		if f.s != nil {
			if err := f.s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
	})
	return f
}

// with returns a copy of f that reports to t, for use inside t.Run: a
// sub-test must not fail its parent from its own goroutine.
func (f *fixture) with(t *testing.T) *fixture {
	c := *f
	c.t = t
	return &c
}

// reopen closes the store and opens the same storage again.
func (f *fixture) reopen() {
	f.t.Helper()
	s := f.s
	f.s = nil
	f.s = f.h.Reopen(f.t, s)
	if f.s == nil {
		f.t.Fatal("Harness.Reopen returned nil")
	}
}

// append appends events and fails the test on error.
func (f *fixture) append(events ...*trail.Event) *trail.AppendResult {
	f.t.Helper()
	res, err := f.s.Append(f.ctx, events)
	if err != nil {
		f.t.Fatalf("Append(%d events): %v", len(events), err)
	}
	if len(res.Receipts) != len(events) {
		f.t.Fatalf("Append(%d events): got %d receipts, want %d", len(events), len(res.Receipts), len(events))
	}
	return res
}

// sizes returns every tenant's size as listed by Tenants, checking that the
// list is sorted by name.
func (f *fixture) sizes() map[string]int64 {
	f.t.Helper()
	list, err := f.s.Tenants(f.ctx)
	if err != nil {
		f.t.Fatalf("Tenants: %v", err)
	}
	m := make(map[string]int64, len(list))
	for i, tn := range list {
		if i > 0 && list[i-1].Name >= tn.Name {
			f.t.Errorf("Tenants: %q listed after %q, want sorted unique names", tn.Name, list[i-1].Name)
		}
		m[tn.Name] = tn.Size
	}
	return m
}

// readAll returns every record of tenant, checking seqs and leaf hashes.
func (f *fixture) readAll(tenant string) []trail.Record {
	f.t.Helper()
	var out []trail.Record
	for {
		recs, err := f.s.Read(f.ctx, tenant, int64(len(out)), 500)
		if err != nil {
			f.t.Fatalf("Read(%s, %d, 500): %v", tenant, len(out), err)
		}
		if len(recs) == 0 {
			return out
		}
		if len(recs) > 500 {
			f.t.Fatalf("Read(%s, %d, 500): got %d records, want at most 500", tenant, len(out), len(recs))
		}
		for _, r := range recs {
			if want := int64(len(out)); r.Seq != want || r.Tenant != tenant {
				f.t.Fatalf("Read(%s): got record %s/%d, want %s/%d", tenant, r.Tenant, r.Seq, tenant, want)
			}
			if r.Data != nil && trail.Hash(leafHash(r.Data)) != r.LeafHash {
				f.t.Errorf("Read(%s): record %d: leaf hash %v is not SHA-256(0x00‖data) = %v", tenant, r.Seq, r.LeafHash, trail.Hash(leafHash(r.Data)))
			}
			out = append(out, r)
		}
	}
}

// stored is one event read back through Read: Event is nil when erased.
type stored struct {
	Seq        int64
	LeafHash   trail.Hash
	Event      *trail.Event
	ReceivedAt time.Time // of an erased event (Event nil)
}

// storedEvents reads and decodes every event of tenant.
func (f *fixture) storedEvents(tenant string) []stored {
	f.t.Helper()
	recs := f.readAll(tenant)
	out := make([]stored, len(recs))
	for i, r := range recs {
		out[i] = stored{Seq: r.Seq, LeafHash: r.LeafHash}
		if r.Data == nil {
			out[i].ReceivedAt = r.ReceivedAt
			continue
		}
		e, err := trail.DecodeEvent(r.Data)
		if err != nil {
			f.t.Fatalf("DecodeEvent(%s/%d): %v", tenant, r.Seq, err)
		}
		if e.Seq != r.Seq || e.Tenant != tenant {
			f.t.Fatalf("record %s/%d holds event %s/%d", tenant, r.Seq, e.Tenant, e.Seq)
		}
		out[i].Event = e
	}
	return out
}

// checkpoint returns tenant's latest checkpoint, verified.
func (f *fixture) checkpoint(tenant string) *trail.Checkpoint {
	f.t.Helper()
	cp, err := f.s.Checkpoint(f.ctx, tenant)
	if err != nil {
		f.t.Fatalf("Checkpoint(%s): %v", tenant, err)
	}
	verifyCheckpoint(f.t, f.h, tenant, cp)
	return cp
}

// wantError checks that err is a trail error with the code and, when field
// is not empty, a Field equal to field or starting with field followed by
// "." or "[".
func wantError(t *testing.T, what string, err error, code, field string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: got no error, want %s", what, code)
		return
	}
	if got := trail.ErrorCode(err); got != code {
		t.Errorf("%s: got error code %q (%v), want %q", what, got, err, code)
		return
	}
	if field == "" {
		return
	}
	got := fieldOf(err)
	if got != field && !hasFieldPrefix(got, field) {
		t.Errorf("%s: got error field %q (%v), want %q or a path under it", what, got, err, field)
	}
}

func hasFieldPrefix(f, prefix string) bool {
	return len(f) > len(prefix) && f[:len(prefix)] == prefix && (f[len(prefix)] == '.' || f[len(prefix)] == '[')
}

func fieldOf(err error) string {
	var e *trail.Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}
