package logstore

import (
	"crypto/rand"
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/storetest"
)

// BenchmarkPrepare measures the work Append does in the caller's
// goroutine for a batch of 1000 realistic events of one tenant:
// normalisation, validation, the canonical leaf and the index terms, into
// fresh arenas as every Append call gets. It reports CPU per event, the
// figure the write path's budget is counted in.
func BenchmarkPrepare(b *testing.B) {
	g := storetest.NewGen(1, 1000)
	now := time.Now()
	tenant := g.Tenant()
	batch := make([]*trail.Event, 1000)
	for i := range batch {
		batch[i] = g.Event(tenant, g.TimeIn(now.Add(-time.Hour), now))
	}
	s := &Store{}
	s.opts.Limits = s.opts.Limits.WithDefaults()
	s.idRand = rand.Reader
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.prepare(batch, now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch))/1000, "µs/event")
}
