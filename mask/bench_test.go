package mask

import (
	"testing"
	"time"

	"github.com/trail-audit/trail"
	"github.com/trail-audit/trail/gen"
)

// BenchmarkMask masks realistic generated events with the default
// configuration. Run with -cpu 1 for the one-core rate (events/s).
func BenchmarkMask(b *testing.B) {
	m := mustNew(b, DefaultConfig())
	g := gen.New(42, 100)
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	events := make([]*trail.Event, 4096)
	for i := range events {
		e := g.Event(g.Tenant(), start.Add(time.Duration(i)*time.Second))
		e.Normalize(start, func() string { return "id" })
		events[i] = e
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Apply(events[i%len(events)])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkMaskSecrets masks the corpus events, each of which holds a
// secret (the slow path: matches, replacements, hashing). Each iteration
// masks a fresh copy.
func BenchmarkMaskSecrets(b *testing.B) {
	m := mustNew(b, DefaultConfig())
	entries := loadCorpus(b, "secrets.jsonl")
	raws := make([][]byte, len(entries))
	for i, c := range entries {
		raws[i] = c.Event
	}
	events := make([]*trail.Event, len(raws))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % len(raws)
		if k == 0 {
			b.StopTimer()
			for j, r := range raws {
				events[j] = decodeEvent(b, r)
			}
			b.StartTimer()
		}
		m.Apply(events[k])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
