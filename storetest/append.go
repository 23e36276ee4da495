package storetest

import (
	"bytes"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trail-audit/trail"
)

var uuidv7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// clone returns a deep copy of e made through its canonical JSON, so that
// the copy survives Append taking ownership of e.
func clone(t *testing.T, e *trail.Event) *trail.Event {
	t.Helper()
	b, err := e.AppendCanonical(nil)
	if err != nil {
		t.Fatalf("AppendCanonical: %v", err)
	}
	c, err := trail.DecodeEvent(b)
	if err != nil {
		t.Fatalf("DecodeEvent: %v", err)
	}
	c.Time = e.Time // keep a zero time zero
	return c
}

func canonical(t *testing.T, e *trail.Event) []byte {
	t.Helper()
	b, err := e.AppendCanonical(nil)
	if err != nil {
		t.Fatalf("AppendCanonical(%s/%d): %v", e.Tenant, e.Seq, err)
	}
	return b
}

// expectStored returns what the store must hold for sent (a clone taken
// before Append) given its receipt and the time of receipt: the event as
// sent plus the server fields and defaults.
func expectStored(sent *trail.Event, r trail.Receipt, now time.Time) *trail.Event {
	e := *sent
	e.Tenant = r.Tenant
	e.ID = r.ID
	e.Seq = r.Seq
	e.ReceivedAt = now.UTC()
	if e.Time.IsZero() {
		e.Time = e.ReceivedAt
	}
	e.Time = e.Time.UTC()
	if e.Outcome == "" {
		e.Outcome = trail.OutcomeUnknown
	}
	if e.Severity == "" {
		e.Severity = trail.SeverityInfo
	}
	return &e
}

// checkStored gets the event of receipt r and checks that it is exactly
// want, with the receipt's leaf hash equal to SHA-256(0x00‖canonical leaf).
func (f *fixture) checkStored(r trail.Receipt, want *trail.Event) {
	f.t.Helper()
	got, err := f.s.Get(f.ctx, r.Tenant, r.ID)
	if err != nil {
		f.t.Errorf("Get(%s, %s): %v", r.Tenant, r.ID, err)
		return
	}
	if got.LeafHash == nil {
		f.t.Errorf("Get(%s, %s): LeafHash not set", r.Tenant, r.ID)
		return
	}
	if *got.LeafHash != r.LeafHash {
		f.t.Errorf("Get(%s, %s): leaf hash %v, want receipt's %v", r.Tenant, r.ID, got.LeafHash, r.LeafHash)
	}
	if got.Erased {
		f.t.Errorf("Get(%s, %s): Erased is set", r.Tenant, r.ID)
	}
	leaf := canonical(f.t, got)
	if h := trail.Hash(leafHash(leaf)); h != r.LeafHash {
		f.t.Errorf("Get(%s, %s): SHA-256(0x00‖canonical leaf) = %v, want receipt's leaf hash %v\nleaf: %s", r.Tenant, r.ID, h, r.LeafHash, leaf)
	}
	if wantLeaf := canonical(f.t, want); !bytes.Equal(leaf, wantLeaf) {
		f.t.Errorf("Get(%s, %s):\n got %s\nwant %s", r.Tenant, r.ID, leaf, wantLeaf)
	}
}

// testReceipts checks receipts, defaults, read-back and checkpoints.
func testReceipts(t *testing.T, h Harness) {
	f := newFixture(t, h)
	next := map[string]int64{}

	t.Run("Defaults", func(t *testing.T) {
		f := f.with(t)
		now := f.clk.Now()
		res := f.append(&trail.Event{Action: "user.login", Actor: trail.Actor{ID: "u_1"}})
		r := res.Receipts[0]
		if r.Tenant != trail.DefaultTenant || r.Seq != 0 || r.Duplicate {
			t.Errorf("receipt: tenant %q seq %d duplicate %v, want %q 0 false", r.Tenant, r.Seq, r.Duplicate, trail.DefaultTenant)
		}
		if !uuidv7.MatchString(r.ID) {
			t.Errorf("receipt id %q, want a UUIDv7 assigned by the store", r.ID)
		} else if ms := uuidMillis(r.ID); ms < now.UnixMilli()-60000 || ms > now.UnixMilli()+60000 {
			t.Errorf("receipt id %q has timestamp %d ms, want about the injected clock's %d", r.ID, ms, now.UnixMilli())
		}
		got, err := f.s.Get(f.ctx, trail.DefaultTenant, r.ID)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if got.Tenant != trail.DefaultTenant || got.Outcome != trail.OutcomeUnknown || got.Severity != trail.SeverityInfo {
			t.Errorf("Get: tenant %q outcome %q severity %q, want defaults %q %q %q", got.Tenant, got.Outcome, got.Severity,
				trail.DefaultTenant, trail.OutcomeUnknown, trail.SeverityInfo)
		}
		if !got.ReceivedAt.Equal(now) || !got.Time.Equal(now) {
			t.Errorf("Get: received_at %v time %v, want both the injected clock's %v", got.ReceivedAt, got.Time, now)
		}
		f.checkStored(r, expectStored(&trail.Event{Action: "user.login", Actor: trail.Actor{ID: "u_1"}}, r, now))
		cp := res.Checkpoints[trail.DefaultTenant]
		if verifyCheckpoint(t, h, trail.DefaultTenant, cp) {
			if cp.Size != 1 {
				t.Errorf("checkpoint size %d, want 1", cp.Size)
			}
			f.checkInclusion(trail.DefaultTenant, 0, r.LeafHash, cp)
		}
		if len(res.Checkpoints) != 1 {
			t.Errorf("got checkpoints for %v, want only %q", slices.Sorted(maps.Keys(res.Checkpoints)), trail.DefaultTenant)
		}
		next[trail.DefaultTenant] = 1
	})

	t.Run("Batches", func(t *testing.T) {
		f := f.with(t)
		g := NewGen(1, 3)
		for bi, n := range []int{1, 17, 40, 3} {
			f.clk.Advance(time.Minute + 7*time.Millisecond)
			now := f.clk.Now()
			batch := make([]*trail.Event, n)
			sent := make([]*trail.Event, n)
			for i := range batch {
				e := g.Event(g.Tenant(), g.TimeIn(now.Add(-48*time.Hour), now))
				switch i % 4 {
				case 1:
					e.ID = fmt.Sprintf("evt-%d-%d", bi, i)
				case 2:
					e.Tenant = "" // the default tenant
				case 3:
					e.Time = time.Time{} // defaults to received_at
				}
				sent[i] = clone(t, e)
				batch[i] = e
			}
			res := f.append(batch...)
			touched := map[string]int64{} // tenant -> highest seq + 1
			for i, r := range res.Receipts {
				wantTenant := sent[i].Tenant
				if wantTenant == "" {
					wantTenant = trail.DefaultTenant
				}
				if r.Tenant != wantTenant || r.Seq != next[wantTenant] {
					t.Errorf("batch %d receipt %d: %s/%d, want %s/%d (request order, gapless)", bi, i, r.Tenant, r.Seq, wantTenant, next[wantTenant])
				}
				if sent[i].ID != "" && r.ID != sent[i].ID {
					t.Errorf("batch %d receipt %d: id %q, want the client's %q", bi, i, r.ID, sent[i].ID)
				}
				if sent[i].ID == "" && !uuidv7.MatchString(r.ID) {
					t.Errorf("batch %d receipt %d: id %q, want a UUIDv7", bi, i, r.ID)
				}
				if r.Duplicate {
					t.Errorf("batch %d receipt %d: Duplicate set on a new event", bi, i)
				}
				next[wantTenant]++
				touched[wantTenant] = next[wantTenant]
				f.checkStored(r, expectStored(sent[i], r, now))
			}
			if got, want := slices.Sorted(maps.Keys(res.Checkpoints)), slices.Sorted(maps.Keys(touched)); !slices.Equal(got, want) {
				t.Errorf("batch %d: checkpoints for %v, want one per touched tenant %v", bi, got, want)
			}
			for tenant, size := range touched {
				cp := res.Checkpoints[tenant]
				if !verifyCheckpoint(t, h, tenant, cp) {
					continue
				}
				if cp.Size < size {
					t.Errorf("batch %d: checkpoint of %s has size %d, want >= %d to cover the receipts", bi, tenant, cp.Size, size)
					continue
				}
				for _, r := range res.Receipts {
					if r.Tenant == tenant {
						f.checkInclusion(tenant, r.Seq, r.LeafHash, cp)
						if r.Inclusion != nil {
							verifyInclusion(t, "receipt inclusion", r.Inclusion, r.Seq, r.Inclusion.TreeSize, r.LeafHash, cp.Root)
						}
					}
				}
			}
		}
		if got := f.sizes(); !maps.Equal(got, next) {
			t.Errorf("Tenants: sizes %v, want %v", got, next)
		}
	})

	t.Run("ReadBack", func(t *testing.T) {
		f := f.with(t)
		for tenant := range next {
			for _, r := range f.readAll(tenant) {
				e, err := f.s.Get(f.ctx, tenant, mustDecode(t, r.Data).ID)
				if err != nil {
					t.Fatalf("Get: %v", err)
				}
				if leaf := canonical(t, e); !bytes.Equal(leaf, r.Data) {
					t.Errorf("%s/%d: Read data\n%s\nis not the canonical leaf of Get\n%s", tenant, r.Seq, r.Data, leaf)
				}
			}
		}
		_, err := f.s.Get(f.ctx, trail.DefaultTenant, "no-such-id")
		wantError(t, "Get(unknown id)", err, trail.ENOTFOUND, "")
		_, err = f.s.Get(f.ctx, "nosuchtenant", "x")
		wantError(t, "Get(unknown tenant)", err, trail.ENOTFOUND, "")
	})
}

func mustDecode(t *testing.T, data []byte) *trail.Event {
	t.Helper()
	if data == nil {
		t.Fatal("record has no data")
	}
	e, err := trail.DecodeEvent(data)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// uuidMillis returns the Unix milliseconds of a UUIDv7.
func uuidMillis(id string) int64 {
	hex := strings.ReplaceAll(id, "-", "")[:12]
	var ms int64
	for _, c := range hex {
		d := int64(strings.IndexRune("0123456789abcdef", c))
		ms = ms<<4 | d
	}
	return ms
}

// testValidation checks that one invalid event fails the whole batch with
// an error naming its index, and that nothing of the batch is stored.
func testValidation(t *testing.T, h Harness) {
	f := newFixture(t, h)
	g := NewGen(2, 1)
	seed := make([]*trail.Event, 5)
	for i := range seed {
		seed[i] = g.Event("valid", time.Time{})
	}
	f.append(seed...)

	cases := []struct {
		name   string
		code   string
		mutate func(*trail.Event)
	}{
		{"MissingAction", trail.EINVALID, func(e *trail.Event) { e.Action = "" }},
		{"MissingActorID", trail.EINVALID, func(e *trail.Event) { e.Actor.ID = "" }},
		{"BadOutcome", trail.EINVALID, func(e *trail.Event) { e.Outcome = "maybe" }},
		{"BadSeverity", trail.EINVALID, func(e *trail.Event) { e.Severity = "urgent" }},
		{"BadTenant", trail.EINVALID, func(e *trail.Event) { e.Tenant = "Bad Tenant!" }},
		{"BadIP", trail.EINVALID, func(e *trail.Event) { e.Source = &trail.Source{IP: "999.1.2.3"} }},
		{"BadStatus", trail.EINVALID, func(e *trail.Event) { e.Request = &trail.Request{Status: 42} }},
		{"NonFiniteMetadata", trail.EINVALID, func(e *trail.Event) { e.Metadata = map[string]any{"x": math.Inf(1)} }},
		{"TooLarge", trail.ETOOLARGE, func(e *trail.Event) {
			e.Metadata = map[string]any{"blob": strings.Repeat("x", 65<<10)}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := f.with(t)
			for _, idx := range []int{0, 2} {
				batch := []*trail.Event{
					g.Event("valid", time.Time{}),
					g.Event("fresh", time.Time{}),
					g.Event("valid", time.Time{}),
				}
				tc.mutate(batch[idx])
				before := f.sizes()
				res, err := f.s.Append(f.ctx, batch)
				wantError(t, fmt.Sprintf("Append with events[%d] invalid", idx), err, tc.code, fmt.Sprintf("events[%d]", idx))
				if err == nil && res != nil {
					t.Errorf("Append with events[%d] invalid: got %d receipts", idx, len(res.Receipts))
				}
				if after := f.sizes(); !maps.Equal(after, before) {
					t.Errorf("after a failed batch: sizes %v, want unchanged %v", after, before)
				}
			}
		})
	}
	if _, err := f.s.Checkpoint(f.ctx, "fresh"); trail.ErrorCode(err) != trail.ENOTFOUND {
		t.Errorf("Checkpoint(fresh) after failed batches: got %v, want %s: the tenant must not exist", err, trail.ENOTFOUND)
	}
}

// testConcurrency appends from 16 goroutines to a few tenants at once and
// checks that every tenant's log is gapless and matches the receipts.
func testConcurrency(t *testing.T, h Harness) {
	f := newFixture(t, h)
	tenants := []string{"c0", "c1", "c2", "c3"}
	const workers, batches = 16, 8
	type batchResult struct {
		res *trail.AppendResult
	}
	results := make([][]batchResult, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			g := NewGen(uint64(100+w), 1)
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for range batches {
				batch := make([]*trail.Event, 1+rng.IntN(24))
				for i := range batch {
					batch[i] = g.Event(tenants[rng.IntN(len(tenants))], time.Time{})
				}
				tenantsOf := make([]string, len(batch))
				for i, e := range batch {
					tenantsOf[i] = e.Tenant
				}
				res, err := f.s.Append(f.ctx, batch)
				if err != nil {
					t.Errorf("worker %d: Append: %v", w, err)
					return
				}
				if len(res.Receipts) != len(batch) {
					t.Errorf("worker %d: got %d receipts, want %d", w, len(res.Receipts), len(batch))
					return
				}
				last := map[string]int64{}
				for i, r := range res.Receipts {
					if r.Tenant != tenantsOf[i] {
						t.Errorf("worker %d: receipt %d for tenant %q, want %q", w, i, r.Tenant, tenantsOf[i])
					}
					if prev, ok := last[r.Tenant]; ok && r.Seq <= prev {
						t.Errorf("worker %d: receipt %d has seq %d after %d in the same batch, want increasing", w, i, r.Seq, prev)
					}
					last[r.Tenant] = r.Seq
				}
				results[w] = append(results[w], batchResult{res})
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	leaves := map[string]map[int64]trail.Hash{}
	ids := map[string]bool{}
	for _, tn := range tenants {
		leaves[tn] = map[int64]trail.Hash{}
	}
	for _, rs := range results {
		for _, br := range rs {
			for _, r := range br.res.Receipts {
				if _, dup := leaves[r.Tenant][r.Seq]; dup {
					t.Errorf("receipt %s/%d given twice", r.Tenant, r.Seq)
				}
				leaves[r.Tenant][r.Seq] = r.LeafHash
				if ids[r.Tenant+"/"+r.ID] {
					t.Errorf("id %s/%s given twice", r.Tenant, r.ID)
				}
				ids[r.Tenant+"/"+r.ID] = true
			}
		}
	}
	sizes := f.sizes()
	for _, tn := range tenants {
		n := int64(len(leaves[tn]))
		if sizes[tn] != n {
			t.Errorf("Tenants: %s has size %d, want %d receipts", tn, sizes[tn], n)
		}
		recs := f.readAll(tn)
		if int64(len(recs)) != n {
			t.Errorf("Read(%s): %d records, want %d", tn, len(recs), n)
		}
		for seq := range n {
			want, ok := leaves[tn][seq]
			if !ok {
				t.Errorf("%s: no receipt has seq %d: seqs are not 0..%d", tn, seq, n-1)
				continue
			}
			if seq < int64(len(recs)) && recs[seq].LeafHash != want {
				t.Errorf("Read(%s): record %d has leaf hash %v, want receipt's %v", tn, seq, recs[seq].LeafHash, want)
			}
		}
		cp := f.checkpoint(tn)
		if cp.Size != n {
			t.Errorf("Checkpoint(%s): size %d, want %d", tn, cp.Size, n)
		}
	}
	// Each batch's checkpoint covers its receipts.
	for _, rs := range results {
		for _, br := range rs {
			for _, r := range br.res.Receipts {
				cp := br.res.Checkpoints[r.Tenant]
				if cp == nil {
					t.Errorf("batch with %s/%d has no checkpoint for %s", r.Tenant, r.Seq, r.Tenant)
					continue
				}
				if cp.Size <= r.Seq {
					t.Errorf("checkpoint of size %d does not cover %s/%d of its batch", cp.Size, r.Tenant, r.Seq)
					continue
				}
				f.checkInclusion(r.Tenant, r.Seq, r.LeafHash, cp)
			}
		}
	}
}

// testIdempotency checks that a repeated id within a tenant returns the
// original receipt and appends nothing.
func testIdempotency(t *testing.T, h Harness) {
	f := newFixture(t, h)
	g := NewGen(4, 1)
	ev := func(tenant, id string) *trail.Event {
		e := g.Event(tenant, time.Time{})
		e.ID = id
		return e
	}
	sameReceipt := func(what string, got, want trail.Receipt) {
		t.Helper()
		if got.ID != want.ID || got.Seq != want.Seq || got.Tenant != want.Tenant || got.LeafHash != want.LeafHash {
			t.Errorf("%s: receipt %s/%d %s %v, want the original %s/%d %s %v", what,
				got.Tenant, got.Seq, got.ID, got.LeafHash, want.Tenant, want.Seq, want.ID, want.LeafHash)
		}
	}

	first := ev("idem-a", "order-1")
	sent := clone(t, first)
	r1 := f.append(first).Receipts[0]
	f.clk.Advance(time.Second)

	again := ev("idem-a", "order-1") // other content, same id
	res := f.append(again)
	sameReceipt("re-sent id", res.Receipts[0], r1)
	if !res.Receipts[0].Duplicate {
		t.Errorf("re-sent id: Duplicate not set")
	}
	if got := f.sizes()["idem-a"]; got != 1 {
		t.Errorf("after re-sending an id: size %d, want 1", got)
	}
	f.checkStored(r1, expectStored(sent, r1, epoch))

	other := f.append(ev("idem-b", "order-1")).Receipts[0]
	if other.Tenant != "idem-b" || other.Seq != 0 || other.Duplicate {
		t.Errorf("same id in another tenant: receipt %s/%d duplicate %v, want idem-b/0 false", other.Tenant, other.Seq, other.Duplicate)
	}
	def := f.append(ev("", "order-1")).Receipts[0]
	if def.Tenant != trail.DefaultTenant || def.Seq != 0 || def.Duplicate {
		t.Errorf("same id in the default tenant: receipt %s/%d duplicate %v, want default/0 false", def.Tenant, def.Seq, def.Duplicate)
	}

	res = f.append(ev("idem-a", "dup-2"), ev("idem-a", "dup-2"))
	if res.Receipts[0].Seq != 1 || res.Receipts[0].Duplicate {
		t.Errorf("id twice in a batch: first receipt seq %d duplicate %v, want 1 false", res.Receipts[0].Seq, res.Receipts[0].Duplicate)
	}
	sameReceipt("id twice in a batch", res.Receipts[1], res.Receipts[0])

	res = f.append(ev("idem-a", "n-1"), ev("idem-a", "order-1"), ev("idem-a", "n-2"))
	if a, b := res.Receipts[0], res.Receipts[2]; a.Seq != 2 || b.Seq != 3 || a.Duplicate || b.Duplicate {
		t.Errorf("mixed batch: new events at %d and %d, want 2 and 3", a.Seq, b.Seq)
	}
	sameReceipt("mixed batch", res.Receipts[1], r1)
	if !res.Receipts[1].Duplicate {
		t.Errorf("mixed batch: Duplicate not set on the repeated id")
	}
	want := map[string]int64{"idem-a": 4, "idem-b": 1, trail.DefaultTenant: 1}
	if got := f.sizes(); !maps.Equal(got, want) {
		t.Errorf("Tenants: sizes %v, want %v", got, want)
	}
}
