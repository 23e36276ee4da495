package pgstore

import (
	"slices"
	"testing"
	"time"

	"github.com/trail-audit/trail"
	"github.com/trail-audit/trail/gen"
)

// TestTermsOfSharedArena: termsOf, which writes the entries into shared
// allocations, gives each event exactly the entries termKey gives, and
// entries made earlier are not changed by later ones.
func TestTermsOfSharedArena(t *testing.T) {
	g := gen.New(3, 10)
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var kept [][]string
	var want [][]string
	for i := 0; i < 300; i++ {
		e := g.Event(g.Tenant(), at)
		if i%50 == 0 { // a NUL, which PostgreSQL text cannot hold, and a long value
			e.Reason = "a\x00b word"
			e.Metadata = map[string]any{"k\x00": "v", "long": string(slices.Repeat([]byte("x"), 3000))}
		}
		var w []string
		trail.IndexTerms(e, func(field, key string) {
			if inWords(field) {
				w = append(w, termKey(field, key))
			}
		})
		got := termsOf(e)
		// Metadata is a map: both lists hold its entries in map order.
		slices.Sort(got)
		slices.Sort(w)
		if !slices.Equal(got, w) {
			t.Fatalf("event %d: termsOf %q, want %q", i, got, w)
		}
		kept, want = append(kept, got), append(want, slices.Clone(w))
	}
	for i := range kept {
		if !slices.Equal(kept[i], want[i]) {
			t.Fatalf("event %d's entries changed after later events: %q, want %q", i, kept[i], want[i])
		}
	}
}
