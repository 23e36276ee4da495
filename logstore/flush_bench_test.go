package logstore_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/trail-audit/trail/logstore"
	"github.com/trail-audit/trail/storetest"
)

// BenchmarkFlush measures the flush alone: it appends b.N events as in
// BenchmarkAppendBatch (batches of 1000 events of one Zipf-chosen tenant
// among 1000) with background flushes off, and calls Flush after every
// flushEvery events (about the default HeadBytes), timing only the
// flushes: blocks written from the heads, WAL trimmed, compaction. The
// metric to compare is cpu-µs/event (of the whole process during the
// flushes, per event flushed), as for BenchmarkAppendBatch.
func BenchmarkFlush(b *testing.B) {
	const flushEvery = 100_000
	now := time.Now()
	batches := benchBatches(storetest.NewGen(uint64(b.N), benchTenants), b.N, 1000, now.Add(-time.Hour), now)
	signer, verifier := testKey(b)
	s, err := logstore.Open(logstore.Options{Dir: b.TempDir(), Signer: signer, Verifier: verifier, ServerName: "trail.test", HeadBytes: 1 << 50})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.StopTimer()
	var cpu time.Duration
	pending := 0
	flush := func() {
		runtime.GC() // the appends' garbage is not the flush's
		cpu0 := processCPU(b)
		b.StartTimer()
		if err := s.Flush(); err != nil {
			b.Fatalf("flush: %v", err)
		}
		b.StopTimer()
		cpu += processCPU(b) - cpu0
		pending = 0
	}
	for i, batch := range batches {
		if _, err := s.Append(ctx, batch); err != nil {
			b.Fatalf("append: %v", err)
		}
		batches[i] = nil
		if pending += len(batch); pending >= flushEvery {
			flush()
		}
	}
	if pending > 0 {
		flush()
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/event")
}
