package storetest

import (
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/trail-audit/trail"
)

// testRestart checks that a reopened store serves the same logs, trees and
// ids, and continues them.
func testRestart(t *testing.T, h Harness) {
	f := newFixture(t, h)
	g := NewGen(12, 1)
	tenants := []string{"r1", "r2"}
	for i := range 4 {
		batch := make([]*trail.Event, 0, 40)
		for j := range 40 {
			batch = append(batch, g.Event(tenants[(i+j)%2], time.Time{}))
		}
		f.append(batch...)
		f.clk.Advance(time.Minute)
	}
	keep := g.Event("r1", time.Time{})
	keep.ID = "keep-1"
	kr := f.append(keep).Receipts[0]

	sizes := f.sizes()
	cps := map[string]*trail.Checkpoint{}
	recs := map[string][]trail.Record{}
	for _, tn := range tenants {
		cps[tn] = f.checkpoint(tn)
		recs[tn] = f.readAll(tn)
	}

	check := func(t *testing.T, f *fixture, grown map[string]int64) {
		t.Helper()
		if got := f.sizes(); !maps.Equal(got, grown) {
			t.Errorf("Tenants after reopen: %v, want %v", got, grown)
		}
		for _, tn := range tenants {
			old := cps[tn]
			cp := f.checkpoint(tn)
			if grown[tn] == old.Size && (cp.Size != old.Size || cp.Root != old.Root) {
				t.Errorf("Checkpoint(%s) after reopen: size %d root %v, want %d %v", tn, cp.Size, cp.Root, old.Size, old.Root)
			}
			got := f.readAll(tn)
			for i, r := range recs[tn] {
				if i >= len(got) || got[i].LeafHash != r.LeafHash || string(got[i].Data) != string(r.Data) {
					t.Errorf("Read(%s) after reopen: record %d differs", tn, i)
					break
				}
			}
			for _, seq := range []int64{0, old.Size / 2, old.Size - 1} {
				f.checkInclusion(tn, seq, recs[tn][seq].LeafHash, old)
				f.checkInclusion(tn, seq, recs[tn][seq].LeafHash, cp)
			}
			f.checkConsistency(tn, old, cp)
		}
		e, err := f.s.Get(f.ctx, "r1", "keep-1")
		if err != nil || e.Seq != kr.Seq || e.LeafHash == nil || *e.LeafHash != kr.LeafHash {
			t.Errorf("Get(keep-1) after reopen: %v, %v; want seq %d leaf hash %v", e, err, kr.Seq, kr.LeafHash)
		}
	}

	t.Run("Reopen", func(t *testing.T) {
		ff := f.with(t)
		ff.reopen()
		f.s = ff.s
		check(t, ff, sizes)
	})

	t.Run("Continue", func(t *testing.T) {
		f := f.with(t)
		f.clk.Advance(time.Hour)
		res := f.append(g.Event("r1", time.Time{}), g.Event("r2", time.Time{}), g.Event("r3", time.Time{}))
		for i, want := range []int64{sizes["r1"], sizes["r2"], 0} {
			if r := res.Receipts[i]; r.Seq != want {
				t.Errorf("append after reopen: receipt %d has %s/%d, want seq %d", i, r.Tenant, r.Seq, want)
			}
		}
		dup := g.Event("r1", time.Time{})
		dup.ID = "keep-1"
		r := f.append(dup).Receipts[0]
		if !r.Duplicate || r.Seq != kr.Seq || r.LeafHash != kr.LeafHash {
			t.Errorf("re-sending an id accepted before the restart: receipt seq %d duplicate %v, want the original seq %d", r.Seq, r.Duplicate, kr.Seq)
		}
		sizes["r1"]++
		sizes["r2"]++
		sizes["r3"] = 1
		check(t, f, sizes)
	})

	t.Run("ReopenAgain", func(t *testing.T) {
		ff := f.with(t)
		ff.reopen()
		f.s = ff.s
		check(t, ff, sizes)
		rep, err := ff.s.Verify(ff.ctx)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		var total int64
		for _, n := range sizes {
			total += n
		}
		if rep.Tenants != 3 || rep.Events != total || rep.Erased != 0 {
			t.Errorf("Verify: %+v, want 3 tenants, %d events, 0 erased", *rep, total)
		}
	})
}

// testVerify checks that Verify passes on a clean store and names the
// damaged event after the harness tampers with it.
func testVerify(t *testing.T, h Harness) {
	f := newFixture(t, h)
	g := NewGen(13, 1)
	want := map[string]int64{"v0": 30, "v1": 60, "v2": 90}
	for tn, n := range want {
		for i := int64(0); i < n; i += 30 {
			batch := make([]*trail.Event, 30)
			for j := range batch {
				batch[j] = g.Event(tn, time.Time{})
			}
			f.append(batch...)
			f.clk.Advance(time.Second)
		}
	}
	rep, err := f.s.Verify(f.ctx)
	if err != nil {
		t.Fatalf("Verify on a clean store: %v", err)
	}
	if rep.Tenants != 3 || rep.Events != 180 || rep.Erased != 0 || rep.Checkpoints < 3 {
		t.Errorf("Verify: %+v, want 3 tenants, 180 events, 0 erased, at least 3 checkpoints", *rep)
	}

	const tenant, seq = "v1", 37
	s := f.s
	f.s = nil
	f.s = h.Tamper(t, s, tenant, seq)
	if f.s == nil {
		t.Logf("the store refused to open after tampering with %s/%d: accepted as detection", tenant, seq)
		return
	}
	_, err = f.s.Verify(f.ctx)
	var te *trail.TamperError
	if !errors.As(err, &te) {
		t.Fatalf("Verify after tampering with %s/%d: got %v, want a *trail.TamperError", tenant, seq, err)
	}
	if te.Tenant != tenant || te.Seq != seq {
		t.Errorf("Verify after tampering with %s/%d: TamperError names %s/%d (%v)", tenant, seq, te.Tenant, te.Seq, te)
	}
}
