package logstore

import (
	"slices"
	"strings"
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/storetest"
)

// TestTermList checks that a termList yields the index entries of
// trail.IndexTerms (in some order: metadata comes from a map) for events
// encoded one after another into one arena.
func TestTermList(t *testing.T) {
	g := storetest.NewGen(7, 10)
	now := time.Now()
	var a termArena
	const n = 2000
	type term struct{ field, key string }
	want := make([][]term, n)
	got := make([]termList, n)
	for i := range n {
		ev := g.Event(g.Tenant(), g.TimeIn(now.Add(-time.Hour), now))
		if i%7 == 0 {
			ev.Metadata = map[string]any{"empty": "", "deep": map[string]any{"x": "Y z"}}
		}
		trail.IndexTerms(ev, func(field, key string) { want[i] = append(want[i], term{field, key}) })
		got[i] = a.of(ev, n-i)
	}
	for i := range n {
		var terms []term
		for it := got[i].iter(); it.next(); {
			terms = append(terms, term{it.field, it.key})
		}
		cmp := func(x, y term) int {
			if x.field != y.field {
				return strings.Compare(x.field, y.field)
			}
			return strings.Compare(x.key, y.key)
		}
		slices.SortFunc(terms, cmp)
		slices.SortFunc(want[i], cmp)
		if !slices.Equal(terms, want[i]) {
			t.Fatalf("event %d: got %q, want %q", i, terms, want[i])
		}
		if got[i] == nil {
			t.Fatalf("event %d: got a nil list", i)
		}
	}
}

// TestTermFieldCodes checks that termField and termFieldCode, two
// switches, name the same field for every code, and that a field without
// a code is stored by name.
func TestTermFieldCodes(t *testing.T) {
	seen := map[string]bool{}
	for code := uint64(1); code < termFieldCodes; code++ {
		f := termField(code)
		if f == "" || seen[f] {
			t.Fatalf("termField(%d) = %q: empty or named twice", code, f)
		}
		seen[f] = true
		if got := termFieldCode(f); got != code {
			t.Errorf("termFieldCode(%q) = %d, want %d", f, got, code)
		}
	}
	l := appendTerm(nil, "", "metadata.plan", "pro")
	it := termList(l).iter()
	if !it.next() || it.field != "metadata.plan" || it.key != "pro" || it.next() {
		t.Errorf("a field without a code: got %q %q", it.field, it.key)
	}
}

// BenchmarkTermArena encodes the index entries of storetest.Gen events
// into an arena as Append does, in batches of 1000, and reports the bytes
// of the lists per event: every byte is fresh memory that the head keeps.
func BenchmarkTermArena(b *testing.B) {
	g := storetest.NewGen(7, 10)
	now := time.Now()
	evs := make([]*trail.Event, 1000)
	for i := range evs {
		evs[i] = g.Event(g.Tenant(), g.TimeIn(now.Add(-time.Hour), now))
		evs[i].Normalize(now, func() string { return "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b" })
	}
	var a termArena
	bytes := 0
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i%len(evs) == 0 {
			a = termArena{}
		}
		bytes += len(a.of(evs[i%len(evs)], len(evs)-i%len(evs)))
		i++
	}
	b.ReportMetric(float64(bytes)/float64(i), "list-B/event")
}
