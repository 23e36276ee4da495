package retention_test

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/trail-audit/trail"
	"github.com/trail-audit/trail/checkpoint"
	"github.com/trail-audit/trail/export"
	"github.com/trail-audit/trail/gen"
	"github.com/trail-audit/trail/logstore"
	"github.com/trail-audit/trail/pgstore"
	"github.com/trail-audit/trail/pgstore/pgtest"
	"github.com/trail-audit/trail/retention"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func keys(t *testing.T) (note.Signer, note.Verifier, string) {
	skey, vkey, err := checkpoint.GenerateKey("retention.test", bytes.NewReader(bytes.Repeat([]byte{3}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := note.NewSigner(skey)
	v, _ := note.NewVerifier(vkey)
	return s, v, vkey
}

// stores runs fn against the embedded store and, when TRAIL_TEST_POSTGRES
// is set, the PostgreSQL store.
func stores(t *testing.T, fn func(t *testing.T, open func(now func() time.Time) trail.Store, vkey string)) {
	signer, verifier, vkey := keys(t)
	t.Run("logstore", func(t *testing.T) {
		fn(t, func(now func() time.Time) trail.Store {
			s, err := logstore.Open(logstore.Options{Dir: t.TempDir(), Signer: signer, Verifier: verifier, ServerName: "retention.test", Now: now})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}, vkey)
	})
	t.Run("pgstore", func(t *testing.T) {
		_, dsn := pgtest.Schema(t)
		fn(t, func(now func() time.Time) trail.Store {
			s, err := pgstore.Open(t.Context(), pgstore.Options{DSN: dsn, Signer: signer, Verifier: verifier, ServerName: "retention.test", Now: now, PartitionInterval: 24 * time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}, vkey)
	})
}

func TestRetention(t *testing.T) {
	stores(t, func(t *testing.T, open func(func() time.Time) trail.Store, vkey string) {
		ctx := t.Context()
		clk := &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
		s := open(clk.Now)
		g := gen.New(7, 3)
		add := func(tenant string, n int) *trail.AppendResult {
			evs := make([]*trail.Event, n)
			for i := range evs {
				evs[i] = g.Event(tenant, clk.Now())
			}
			res, err := s.Append(ctx, evs)
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		old := add("acme", 10)
		add("held", 5)
		add("forever", 5)
		clk.Advance(100 * 24 * time.Hour)
		add("acme", 10)
		clk.Advance(100 * 24 * time.Hour) // day 200: acme's first 10 are past 180 days
		before, err := s.Checkpoint(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		policies := map[string]trail.Settings{
			"acme":    {RetentionDays: 180},
			"held":    {RetentionDays: 1, LegalHold: true},
			"forever": {RetentionDays: 0},
		}
		archive := t.TempDir()
		job := &retention.Job{Store: s, Now: clk.Now, Settings: func(tn string) trail.Settings { return policies[tn] },
			Archive: &retention.BundleArchiver{Store: s, Dir: archive, VerifierKey: vkey, Now: clk.Now}}
		res, err := job.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]retention.Result{}
		for _, r := range res {
			got[r.Tenant] = r
		}
		if r := got["acme"]; r.Purged != 10 || r.FirstSeq != 0 || r.LastSeq != 9 {
			t.Fatalf("acme: %+v, want seqs 0–9 purged", r)
		}
		if r := got["held"]; !r.Held || r.Purged != 0 {
			t.Fatalf("held: %+v, want held and nothing purged", r)
		}
		if _, ok := got["forever"]; ok {
			t.Fatalf("forever (retention 0) was processed: %+v", got["forever"])
		}

		// The purge is recorded in the tenant's log.
		recs, err := s.Read(ctx, "acme", 20, 10)
		if err != nil || len(recs) != 1 {
			t.Fatalf("read the purge record: %d records, %v", len(recs), err)
		}
		ev, err := trail.DecodeEvent(recs[0].Data)
		if err != nil || ev.Action != retention.ActionPurged || ev.Metadata["purged"] != float64(10) {
			t.Fatalf("purge record: %+v, %v", ev, err)
		}

		// Every purged event reads back erased, and its original receipt
		// still proves inclusion in the latest tree, checked by an
		// independent verifier; the old tree is consistent with the new.
		after, err := s.Checkpoint(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range old.Receipts {
			e, err := s.Get(ctx, "acme", r.ID)
			if err != nil || !e.Erased || *e.LeafHash != r.LeafHash {
				t.Fatalf("purged event %d: %+v, %v", r.Seq, e, err)
			}
			p, err := s.InclusionProof(ctx, "acme", r.Seq, after.Size)
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(r.Seq), uint64(after.Size), r.LeafHash[:], hashes(p.Hashes), after.Root[:]); err != nil {
				t.Fatalf("inclusion of purged seq %d: %v", r.Seq, err)
			}
		}
		cp, err := s.ConsistencyProof(ctx, "acme", before.Size, after.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(before.Size), uint64(after.Size), hashes(cp.Hashes), before.Root[:], after.Root[:]); err != nil {
			t.Fatalf("consistency across the purge: %v", err)
		}
		rep, err := s.Verify(ctx)
		if err != nil || rep.Erased != 10 {
			t.Fatalf("Verify: %+v, %v; want 10 erased", rep, err)
		}

		// The archive is a bundle that verifies with the log's key and holds
		// exactly the purged events.
		files, _ := filepath.Glob(filepath.Join(archive, "acme", "*.zip"))
		if len(files) != 1 {
			t.Fatalf("archive files %v, want one", files)
		}
		data, err := os.ReadFile(files[0])
		if err != nil {
			t.Fatal(err)
		}
		br, err := export.VerifyBundle(bytes.NewReader(data), int64(len(data)), vkey)
		if err != nil || br.Events != 10 || br.FirstSeq != 0 || br.LastSeq != 9 || !br.KeyTrusted {
			t.Fatalf("archive bundle: %+v, %v", br, err)
		}

		// Nothing left to purge: nothing recorded, nothing archived.
		if res, err := job.RunOnce(ctx); err != nil || len(res) != 2 {
			t.Fatalf("second run: %+v, %v", res, err)
		}
		if size := func() int64 { c, _ := s.Checkpoint(ctx, "acme"); return c.Size }(); size != after.Size {
			t.Fatalf("second run appended to acme: size %d, want %d", size, after.Size)
		}
		// Lifting the hold purges the held tenant.
		policies["held"] = trail.Settings{RetentionDays: 1}
		res, err = job.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Tenant == "held" && r.Purged != 5 {
				t.Fatalf("held after the hold is lifted: %+v, want 5 purged", r)
			}
		}
	})
}

func hashes(hs []trail.Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}
