//go:build unix

package trail_test

import (
	"bytes"
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/gen"
	"github.com/trail-audit/trail/internal/cpuclock"
)

// prepareEvents returns n generated events made ready as a store makes
// them before encoding: an ID assigned and normalised.
func prepareEvents(tb testing.TB, n int) []*trail.Event {
	tb.Helper()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	g := gen.New(1, 100)
	evs := g.Batch(n, now.Add(-time.Hour), now)
	rnd := bytes.NewReader(make([]byte, 10*n))
	for _, e := range evs {
		id, err := trail.NewUUIDv7(now, rnd)
		if err != nil {
			tb.Fatal(err)
		}
		e.ID = id
		e.Normalize(now, nil)
		if err := e.Validate(trail.DefaultLimits); err != nil {
			tb.Fatal(err)
		}
	}
	return evs
}

// BenchmarkPrepare measures, per generated event, the steps a store runs
// in the caller's goroutine before it queues an event (see
// logstore.Store.Append): Validate, AppendCanonicalParts, the two in one
// call (AppendValidCanonicalParts), IndexTerms, and all three together. The events cycle through 1024 of gen's events so
// that the figure is an average over a realistic mix.
func BenchmarkPrepare(b *testing.B) {
	evs := prepareEvents(b, 1024)
	buf := make([]byte, 0, 4096)
	terms := 0
	countTerm := func(field, key string) { terms += len(field) + len(key) }
	steps := []struct {
		name string
		fn   func(e *trail.Event)
	}{
		{"Validate", func(e *trail.Event) {
			if err := e.Validate(trail.DefaultLimits); err != nil {
				b.Fatal(err)
			}
		}},
		{"Canonical", func(e *trail.Event) {
			var err error
			if buf, _, err = e.AppendCanonicalParts(buf[:0]); err != nil {
				b.Fatal(err)
			}
		}},
		{"IndexTerms", func(e *trail.Event) { trail.IndexTerms(e, countTerm) }},
	}
	// ValidCanonical is Validate and Canonical in one call.
	b.Run("ValidCanonical", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		cpu0 := processCPU(b)
		for b.Loop() {
			var err error
			if buf, _, err = evs[i%len(evs)].AppendValidCanonicalParts(buf[:0], trail.DefaultLimits); err != nil {
				b.Fatal(err)
			}
			i++
		}
		reportCPU(b, cpu0)
	})
	for _, s := range steps {
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			cpu0 := processCPU(b)
			for b.Loop() {
				s.fn(evs[i%len(evs)])
				i++
			}
			reportCPU(b, cpu0)
		})
	}
	b.Run("All", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		cpu0 := processCPU(b)
		for b.Loop() {
			e := evs[i%len(evs)]
			for _, s := range steps {
				s.fn(e)
			}
			i++
		}
		reportCPU(b, cpu0)
	})
}

// reportCPU reports the process CPU time since cpu0 per iteration: on a
// machine shared with other benchmarks it varies less than ns/op.
func reportCPU(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU returns the user and system CPU time of the process so far.
func processCPU(tb testing.TB) time.Duration {
	d, err := cpuclock.Process()
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// BenchmarkNewUUIDv7 makes ids from a cheap source of randomness, as a
// store does for events that come without one.
func BenchmarkNewUUIDv7(b *testing.B) {
	now := time.Now()
	rnd := bytes.NewReader(nil)
	zeros := make([]byte, 10)
	b.ReportAllocs()
	cpu0 := processCPU(b)
	for b.Loop() {
		rnd.Reset(zeros)
		if _, err := trail.NewUUIDv7(now, rnd); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu0)
}
