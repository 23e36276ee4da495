package gen

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/trail-audit/trail"
)

var epoch = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func canonical(t *testing.T, e *trail.Event) []byte {
	t.Helper()
	b, err := e.AppendCanonical(nil)
	if err != nil {
		t.Fatalf("AppendCanonical(%s/%d): %v", e.Tenant, e.Seq, err)
	}
	return b
}

func mustDecode(t *testing.T, data []byte) *trail.Event {
	t.Helper()
	e, err := trail.DecodeEvent(data)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// finish sets the server fields as a store would, for size and validity
// checks.
func finish(e *trail.Event, seq int64, now time.Time) {
	id, _ := trail.NewUUIDv7(now, bytes.NewReader(make([]byte, 16)))
	e.Normalize(now, func() string { return id })
	e.Seq = seq
}

func TestGenDeterministic(t *testing.T) {
	from, to := epoch, epoch.Add(24*time.Hour)
	a, b := New(42, 10).Batch(200, from, to), New(42, 10).Batch(200, from, to)
	c := New(43, 10).Batch(200, from, to)
	same, differ := true, false
	for i := range a {
		ca, cb, cc := canonical(t, a[i]), canonical(t, b[i]), canonical(t, c[i])
		same = same && bytes.Equal(ca, cb)
		differ = differ || !bytes.Equal(ca, cc)
	}
	if !same {
		t.Error("two generators with seed 42 made different events")
	}
	if !differ {
		t.Error("seeds 42 and 43 made the same events")
	}
}

func TestGenRealistic(t *testing.T) {
	const n = 5000
	g := New(1, 1000)
	from, to := epoch, epoch.Add(10*24*time.Hour)
	tenants := map[string]int{}
	actions := map[string]bool{}
	actorsOfT0 := map[string]bool{}
	outcomes := map[string]int{}
	var bytesTotal, v4, v6, changes, meta int
	for i := range n {
		tenant := g.Tenant()
		e := g.Event(tenant, g.TimeIn(from, to))
		tenants[tenant]++
		actions[e.Action] = true
		if tenant == "t0000" {
			actorsOfT0[e.Actor.ID] = true
		}
		if e.Time.Before(from) || !e.Time.Before(to) {
			t.Fatalf("event %d: time %v outside [%v, %v)", i, e.Time, from, to)
		}
		if e.Source != nil {
			a, err := netip.ParseAddr(e.Source.IP)
			switch {
			case err != nil:
				t.Fatalf("event %d: bad ip %q", i, e.Source.IP)
			case a.Is4():
				v4++
			default:
				v6++
			}
		}
		if len(e.Changes) > 0 {
			changes++
		}
		if k := len(e.Metadata); k < 2 || k > 5 {
			t.Fatalf("event %d: %d metadata keys, want 2..5", i, k)
		}
		meta += len(e.Metadata)
		finish(e, int64(i), to)
		outcomes[e.Outcome]++
		if err := e.Validate(trail.Limits{}); err != nil {
			t.Fatalf("event %d is invalid: %v\n%s", i, err, canonical(t, e))
		}
		bytesTotal += len(canonical(t, e))
	}
	avg := bytesTotal / n
	t.Logf("%d tenants, t0000 has %d events and %d actors; %d actions; outcomes %v; %d v4, %d v6; avg %d bytes",
		len(tenants), tenants["t0000"], len(actorsOfT0), len(actions), outcomes, v4, v6, avg)
	if avg < 480 || avg > 620 {
		t.Errorf("average canonical size %d bytes, want about 550", avg)
	}
	if tenants["t0000"] < n/10 || tenants["t0000"] <= tenants["t0001"] || len(tenants) < 100 {
		t.Errorf("tenant spread: t0000 %d, t0001 %d, %d tenants; want a Zipf spread", tenants["t0000"], tenants["t0001"], len(tenants))
	}
	if len(actions) < 45 {
		t.Errorf("%d distinct actions, want about 50", len(actions))
	}
	if len(actorsOfT0) < 200 {
		t.Errorf("t0000 has %d distinct actors in %d events, want many", len(actorsOfT0), tenants["t0000"])
	}
	if s := outcomes[trail.OutcomeSuccess]; s < n*7/10 || outcomes[trail.OutcomeFailure] == 0 || outcomes[trail.OutcomeDenied] == 0 || outcomes[trail.OutcomeUnknown] == 0 {
		t.Errorf("outcomes %v: want mostly success with some failure, denied and unknown", outcomes)
	}
	if v6 < n/10 || v4 < n/2 {
		t.Errorf("%d IPv4 and %d IPv6 sources, want both", v4, v6)
	}
	if changes == 0 {
		t.Error("no event has changes")
	}
}

// TestGenMetadataRoundTrip checks that a generated event equals its decoded
// leaf, so that tests may compare events read back with events sent.
func TestGenMetadataRoundTrip(t *testing.T) {
	g := New(3, 1)
	for i := range 200 {
		e := g.Event("t0000", epoch)
		finish(e, int64(i), epoch)
		leaf := canonical(t, e)
		d := mustDecode(t, leaf)
		if got := canonical(t, d); !bytes.Equal(got, leaf) {
			t.Fatalf("decoded leaf re-encodes differently:\n got %s\nwant %s", got, leaf)
		}
	}
}

func BenchmarkGenEvent(b *testing.B) {
	g := New(1, 100)
	b.ReportAllocs()
	for b.Loop() {
		g.Event(g.Tenant(), epoch)
	}
}
