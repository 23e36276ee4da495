package storetest

import (
	"slices"
	"testing"

	"github.com/trail-audit/trail"
)

// testErasure erases chosen events and checks that exactly they lose their
// content, keep their ids, leaf hashes and proofs, stay out of queries,
// count as erased (not tampered) in Verify, and stay erased after a
// restart; erasing is idempotent and a seq past the log is refused.
func testErasure(t *testing.T, h Harness) {
	f := newFixture(t, h)
	g := NewGen(21, 1)
	const tenant = "erase"
	var batch []*trail.Event
	for range 40 {
		batch = append(batch, g.Event(tenant, f.clk.Now()))
	}
	f.append(batch...)
	f.append(g.Event("other", f.clk.Now()))
	before := f.storedEvents(tenant)
	cpBefore := f.checkpoint(tenant)

	res, err := f.s.Erase(f.ctx, tenant, []int64{30, 3, 7, 7})
	if err != nil {
		t.Fatalf("Erase: %v", err)
	}
	want := []int64{3, 7, 30}
	if res.Tenant != tenant || res.Erased != 3 || !slices.Equal(res.Seqs, want) {
		t.Fatalf("Erase: %+v, want seqs %v erased", *res, want)
	}
	if res, err := f.s.Erase(f.ctx, tenant, []int64{3}); err != nil || res.Erased != 0 || len(res.Seqs) != 0 {
		t.Errorf("Erase again: %+v, %v; want nothing erased", res, err)
	}
	_, err = f.s.Erase(f.ctx, tenant, []int64{5, 41})
	wantError(t, "Erase past the log", err, trail.EINVALID, "seqs")
	_, err = f.s.Erase(f.ctx, "nobody", []int64{0})
	wantError(t, "Erase in an unknown tenant", err, trail.ENOTFOUND, "")

	check := func(t *testing.T) {
		f := f.with(t)
		recs := f.readAll(tenant)
		for _, b := range before {
			erased := slices.Contains(want, b.Seq)
			r := recs[b.Seq]
			if r.LeafHash != b.LeafHash || (r.Data == nil) != erased {
				t.Errorf("record %d: leaf hash kept %v, data present %v; want erased = %v", b.Seq, r.LeafHash == b.LeafHash, r.Data != nil, erased)
			}
			if erased && (r.ID != b.Event.ID || !r.ReceivedAt.Equal(b.Event.ReceivedAt)) {
				t.Errorf("record %d: erased record carries id %q received %v, want %q %v", b.Seq, r.ID, r.ReceivedAt, b.Event.ID, b.Event.ReceivedAt)
			}
			e, err := f.s.Get(f.ctx, tenant, b.Event.ID)
			if err != nil {
				t.Errorf("Get(%d): %v", b.Seq, err)
				continue
			}
			if e.Erased != erased || *e.LeafHash != b.LeafHash {
				t.Errorf("Get(%d): erased %v, want %v", b.Seq, e.Erased, erased)
			}
			if erased && (e.ID != b.Event.ID || e.Seq != b.Seq || e.Tenant != tenant || !e.ReceivedAt.Equal(b.Event.ReceivedAt) ||
				e.Action != "" || e.Actor.ID != "" || e.Metadata != nil) {
				t.Errorf("Get(%d): erased event %+v, want only id, seq, tenant, received_at and leaf hash", b.Seq, e)
			}
		}
		// Without a filter the erased events are listed, as erased; any
		// filter leaves them out.
		var all, live []int64
		for _, b := range before {
			all = append(all, b.Seq)
			if !slices.Contains(want, b.Seq) {
				live = append(live, b.Seq)
			}
		}
		if got := f.pageAll(trail.Query{Tenant: tenant, Order: trail.OrderAsc, Limit: 7}, nil); !slices.Equal(got, all) {
			t.Errorf("Query without a filter after erasure: %v", diffSeqs(got, all))
		}
		p, err := f.s.Query(f.ctx, &trail.Query{Tenant: tenant, Order: trail.OrderAsc, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Events {
			if erased := slices.Contains(want, e.Seq); e.Erased != erased || (erased && (e.ID != before[e.Seq].Event.ID || e.Action != "")) {
				t.Errorf("Query: event %d erased %v (%+v), want erased %v with only server fields", e.Seq, e.Erased, e, erased)
			}
		}
		notNobody := trail.Not(trail.Term(trail.FieldActor, "nobody"))
		if got := f.pageAll(trail.Query{Tenant: tenant, Filter: notNobody, Order: trail.OrderAsc, Limit: 7}, nil); !slices.Equal(got, live) {
			t.Errorf("Query with a filter after erasure: %v", diffSeqs(got, live))
		}
		cp := f.checkpoint(tenant)
		for _, s := range want {
			f.checkInclusion(tenant, s, before[s].LeafHash, cp)
		}
		f.checkConsistency(tenant, cpBefore, cp)
		rep, err := f.s.Verify(f.ctx)
		if err != nil || rep.Erased != int64(len(want)) {
			t.Errorf("Verify: %+v, %v; want %d erased and no damage", rep, err, len(want))
		}
	}
	t.Run("Erased", check)
	f.reopen()
	t.Run("AfterRestart", check)
}
