package storetest

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/trail-audit/trail"
)

// testRetention receives events over ten days of the injected clock,
// retains from day five, and checks that exactly the older events lose
// their content but keep their leaf hashes and proofs.
func testRetention(t *testing.T, h Harness) {
	f := newFixture(t, h)
	g := NewGen(11, 1)
	const tenant, other = "ret", "keep"
	cutoff := epoch.Add(5 * 24 * time.Hour)
	for range 10 * 6 { // every 4 hours for 10 days; one batch lands exactly on the cut-off
		now := f.clk.Now()
		batch := []*trail.Event{g.Event(other, now.Add(-time.Minute)), g.Event(other, time.Time{})}
		for range 6 {
			batch = append(batch, g.Event(tenant, g.TimeIn(now.Add(-2*time.Hour), now)))
		}
		f.append(batch...)
		f.clk.Advance(4 * time.Hour)
	}
	before := f.storedEvents(tenant)
	otherBefore := f.readAll(other)
	cpBefore := f.checkpoint(tenant)
	var wantPurged int64
	for _, s := range before {
		if s.Event.ReceivedAt.Before(cutoff) {
			if s.Seq != wantPurged {
				t.Fatalf("test setup: received_at not increasing with seq at %d", s.Seq)
			}
			wantPurged++
		}
	}
	if wantPurged != 5*36 {
		t.Fatalf("test setup: %d events received before the cut-off, want 180", wantPurged)
	}

	res, err := f.s.Retain(f.ctx, tenant, cutoff)
	if err != nil {
		t.Fatalf("Retain: %v", err)
	}
	if res.Tenant != tenant || res.Purged != wantPurged || res.FirstSeq != 0 || res.LastSeq != wantPurged-1 {
		t.Errorf("Retain: %+v, want tenant %s purged %d seqs 0..%d", *res, tenant, wantPurged, wantPurged-1)
	}

	// checkRetained checks every record and event after retention.
	checkRetained := func(t *testing.T) {
		t.Helper()
		f := f.with(t)
		recs := f.readAll(tenant)
		if len(recs) < len(before) {
			t.Fatalf("Read: %d records, want at least %d", len(recs), len(before))
		}
		for _, b := range before {
			r := recs[b.Seq]
			purged := b.Seq < wantPurged
			if r.LeafHash != b.LeafHash {
				t.Errorf("record %d: leaf hash %v, want the original %v", b.Seq, r.LeafHash, b.LeafHash)
			}
			if purged != (r.Data == nil) {
				t.Errorf("record %d (received %v, cut-off %v): data present = %v, want %v", b.Seq, b.Event.ReceivedAt, cutoff, r.Data != nil, !purged)
			}
			e, err := f.s.Get(f.ctx, tenant, b.Event.ID)
			if err != nil {
				t.Errorf("Get(%d): %v", b.Seq, err)
				continue
			}
			if e.Erased != purged || e.LeafHash == nil || *e.LeafHash != b.LeafHash {
				t.Errorf("Get(%d): erased %v leaf hash %v, want %v %v", b.Seq, e.Erased, e.LeafHash, purged, b.LeafHash)
				continue
			}
			if !purged {
				if got := canonical(t, e); !bytes.Equal(got, r.Data) {
					t.Errorf("Get(%d) of a retained event: %s, want %s", b.Seq, got, r.Data)
				}
				continue
			}
			if e.ID != b.Event.ID || e.Seq != b.Seq || e.Tenant != tenant || !e.ReceivedAt.Equal(b.Event.ReceivedAt) {
				t.Errorf("Get(%d) of a purged event: server fields %s %d %s %v, want %s %d %s %v", b.Seq,
					e.ID, e.Seq, e.Tenant, e.ReceivedAt, b.Event.ID, b.Seq, tenant, b.Event.ReceivedAt)
			}
			if e.Action != "" || e.Actor != (trail.Actor{}) || e.Resource != nil || e.Source != nil || e.Request != nil ||
				e.Reason != "" || e.Changes != nil || e.Metadata != nil {
				t.Errorf("Get(%d) of a purged event still holds content: %+v", b.Seq, e)
			}
		}
		for i, r := range f.readAll(other) {
			if i < len(otherBefore) && (r.Data == nil || !bytes.Equal(r.Data, otherBefore[i].Data)) {
				t.Errorf("tenant %s, record %d: changed by retention of %s", other, i, tenant)
			}
		}
	}
	t.Run("Records", checkRetained)

	t.Run("Queries", func(t *testing.T) {
		f := f.with(t)
		purged := before[:wantPurged]
		after := f.storedEvents(tenant)
		words := trail.Words(pick(purged, func(e *trail.Event) string { return e.Reason }))
		filters := []*trail.Expr{
			nil,
			trail.Term(trail.FieldActor, purged[17].Event.Actor.ID),
			trail.Term(trail.FieldAction, purged[3].Event.Action),
			trail.Term(trail.FieldRequestID, pick(purged, func(e *trail.Event) string { return trail.FieldValue(e, trail.FieldRequestID) })),
			trail.Term(trail.FieldText, words[len(words)-1]),
			trail.Term("metadata.plan", "pro"),
			trail.Not(trail.Term(trail.FieldOutcome, trail.OutcomeSuccess)),
		}
		for _, x := range filters {
			for _, order := range []trail.Order{trail.OrderDesc, trail.OrderAsc} {
				q := trail.Query{Tenant: tenant, Filter: x, Order: order, Limit: 50}
				got := f.pageAll(q, nil)
				want, _ := bruteForce(after, &q)
				if !slices.Equal(got, want) {
					t.Errorf("Query(%v, %s) after retention: %s", x, order, diffSeqs(got, want))
				}
			}
		}
		st, err := f.s.Stats(f.ctx, &trail.StatsQuery{Query: trail.Query{Tenant: tenant, Filter: trail.Term(trail.FieldActor, purged[17].Event.Actor.ID)}, GroupBy: trail.FieldActor})
		if err != nil {
			t.Fatalf("Stats: %v", err)
		}
		want, _ := bruteStats(after, &trail.StatsQuery{Query: trail.Query{Tenant: tenant, Filter: trail.Term(trail.FieldActor, purged[17].Event.Actor.ID)}, GroupBy: trail.FieldActor})
		if d := diffStats(st, want); d != "" {
			t.Errorf("Stats after retention: %s", d)
		}
	})

	// Grow the log after retention, then check old and new proofs.
	grow := make([]*trail.Event, 10)
	for i := range grow {
		grow[i] = g.Event(tenant, time.Time{})
	}
	f.append(grow...)
	checkProofs := func(t *testing.T) {
		t.Helper()
		f := f.with(t)
		cpAfter := f.checkpoint(tenant)
		if cpAfter.Size != int64(len(before))+10 {
			t.Fatalf("checkpoint after retention and 10 appends: size %d, want %d", cpAfter.Size, len(before)+10)
		}
		for _, seq := range []int64{0, 1, 90, wantPurged - 1, wantPurged, int64(len(before)) - 1} {
			f.checkInclusion(tenant, seq, before[seq].LeafHash, cpBefore)
			f.checkInclusion(tenant, seq, before[seq].LeafHash, cpAfter)
		}
		f.checkConsistency(tenant, cpBefore, cpAfter)
		recs := f.readAll(tenant)
		leaves := make([]trail.Hash, len(recs))
		for i, r := range recs {
			leaves[i] = r.LeafHash
		}
		if got := treeRoot(leaves); got != cpAfter.Root {
			t.Errorf("root of the leaf hashes read back %v, want checkpoint's %v", got, cpAfter.Root)
		}
	}
	t.Run("Proofs", checkProofs)

	checkVerify := func(t *testing.T) {
		t.Helper()
		f := f.with(t)
		rep, err := f.s.Verify(f.ctx)
		if err != nil {
			t.Fatalf("Verify after retention: %v", err)
		}
		total := int64(len(before) + 10 + len(otherBefore))
		if rep.Tenants != 2 || rep.Events != total || rep.Erased != wantPurged || rep.Checkpoints < 2 {
			t.Errorf("Verify after retention: %+v, want 2 tenants, %d events, %d erased, at least 2 checkpoints", *rep, total, wantPurged)
		}
	}
	t.Run("Verify", checkVerify)

	checkAgain := func(t *testing.T) {
		t.Helper()
		f := f.with(t)
		res, err := f.s.Retain(f.ctx, tenant, cutoff)
		if err != nil {
			t.Fatalf("Retain again: %v", err)
		}
		if res.Purged != 0 || res.FirstSeq != -1 || res.LastSeq != -1 {
			t.Errorf("Retain again: %+v, want purged 0, seqs -1..-1", *res)
		}
	}
	t.Run("Idempotent", checkAgain)

	t.Run("Reopen", func(t *testing.T) {
		ff := f.with(t)
		ff.reopen()
		f.s = ff.s
		checkRetained(t)
		checkProofs(t)
		checkVerify(t)
		checkAgain(t)
	})

	t.Run("UnknownTenant", func(t *testing.T) {
		f := f.with(t)
		_, err := f.s.Retain(f.ctx, "nosuchtenant", cutoff)
		wantError(t, "Retain(unknown tenant)", err, trail.ENOTFOUND, "")
	})
}
