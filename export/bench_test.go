package export_test

import (
	"bytes"
	"io"
	"testing"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/export"
)

// BenchmarkBundleWriter writes a bundle of a 100 000-event log and reports
// events/s, zip bytes per event and allocations: with proofs computed from an
// in-memory tree as a store would, and with precomputed proofs, which
// measures the writer alone.
func BenchmarkBundleWriter(b *testing.B) {
	const n = 100_000
	l := newTestLog(b, n, 17)
	pre := make([]*trail.InclusionProof, n)
	for i := range pre {
		pre[i], _ = l.proofs(int64(i))
	}
	for _, bm := range []struct {
		name   string
		proofs export.ProofSource
	}{
		{"tree-proofs", l.proofs},
		{"precomputed-proofs", func(seq int64) (*trail.InclusionProof, error) { return pre[seq], nil }},
	} {
		b.Run(bm.name, func(b *testing.B) {
			tmp := b.TempDir()
			var cw countWriter
			b.ReportAllocs()
			for b.Loop() {
				cw = 0
				w, err := export.NewBundle(&cw, "acme", l.cp, l.vkey, bm.proofs, tmp, bundleTime, "")
				if err != nil {
					b.Fatal(err)
				}
				for _, e := range l.events {
					if err := w.Write(e); err != nil {
						b.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(cw)/n, "zip-bytes/event")
		})
	}
}

// BenchmarkVerifyBundle verifies a bundle of a 100 000-event log.
func BenchmarkVerifyBundle(b *testing.B) {
	const n = 100_000
	l := newTestLog(b, n, 17)
	data := writeBundle(b, l, l.events, "")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := export.VerifyBundle(bytes.NewReader(data), int64(len(data)), l.vkey); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkNDJSONWriter and BenchmarkCSVWriter measure the plain exports.
func BenchmarkNDJSONWriter(b *testing.B) {
	l := newTestLog(b, 10_000)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := export.NewNDJSON(io.Discard)
		for _, e := range l.events {
			if err := w.Write(e); err != nil {
				b.Fatal(err)
			}
		}
		w.Flush()
	}
	b.ReportMetric(float64(len(l.events))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkCSVWriter(b *testing.B) {
	l := newTestLog(b, 10_000)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := export.NewCSV(io.Discard)
		for _, e := range l.events {
			if err := w.Write(e); err != nil {
				b.Fatal(err)
			}
		}
		w.Flush()
	}
	b.ReportMetric(float64(len(l.events))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

type countWriter int64

func (w *countWriter) Write(p []byte) (int, error) { *w += countWriter(len(p)); return len(p), nil }
