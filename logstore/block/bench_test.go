package block

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/trail-audit/trail"
)

var (
	benchOnce  sync.Once
	benchFile  []byte
	benchBlock *Reader
)

// bigBlock returns a block of the 100 000 realistic rows.
func bigBlock(b *testing.B) *Reader {
	benchOnce.Do(func() {
		benchFile, _ = writeRows(b, realisticRows(), 0, Options{})
		benchBlock = openBytes(b, "bench", benchFile)
	})
	return benchBlock
}

// BenchmarkWriter writes blocks of 10 000 realistic rows at each
// compression level (0 is DefaultLevel).
func BenchmarkWriter(b *testing.B) {
	rows := realisticRows()[:10_000]
	for _, level := range []int{0, LevelFastest, LevelFast, LevelBetter} {
		b.Run(fmt.Sprintf("level=%d", level), func(b *testing.B) {
			var buf bytes.Buffer
			b.ReportAllocs()
			for b.Loop() {
				buf.Reset()
				w := NewWriter(&buf, "acme", 0, Options{Level: level})
				for _, r := range rows {
					if err := r.add(w); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(rows))/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(buf.Len())/float64(len(rows)), "B/row")
		})
	}
}

// BenchmarkWriterSmall writes the small blocks a flush writes for most
// tenants (one per tenant with a non-deferred head), where the fixed costs
// of a block (index encoding and compression, buffers) weigh as much as
// the rows'. It reports the CPU per row; B/row is the size of the last
// block.
func BenchmarkWriterSmall(b *testing.B) {
	all := realisticRows()
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			var buf bytes.Buffer
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				rows := all[i*n%len(all):][:n]
				i++
				buf.Reset()
				w := NewWriter(&buf, "acme", 0, Options{})
				for _, r := range rows {
					if err := r.add(w); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/row")
			b.ReportMetric(float64(buf.Len())/float64(n), "B/row")
		})
	}
}

// BenchmarkScan scans the whole 100 000-row block.
func BenchmarkScan(b *testing.B) {
	r := bigBlock(b)
	n := r.Meta().Rows
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		sum := 0
		if err := r.Scan(0, n, func(_ int, data []byte) error { sum += len(data); return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkRow reads rows at random (the chunk cache rarely hits).
func BenchmarkRow(b *testing.B) {
	r := bigBlock(b)
	rng := rand.New(rand.NewPCG(1, 2))
	n := r.Meta().Rows
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.Row(rng.IntN(n)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRowCached reads rows of one chunk (the cache hits).
func BenchmarkRowCached(b *testing.B) {
	r := bigBlock(b)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Row(i % DefaultChunkRows); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkLookup looks up keys of several fields in the 100 000-row block.
func BenchmarkLookup(b *testing.B) {
	r := bigBlock(b)
	rows := realisticRows()
	pick := func(field string) string {
		for _, t := range rows[len(rows)/2].terms {
			if t[0] == field {
				return t[1]
			}
		}
		b.Fatalf("no %s term", field)
		return ""
	}
	for _, field := range []string{trail.FieldAction, trail.FieldActor, trail.FieldRequestID, trail.FieldIP, trail.FieldText} {
		key := pick(field)
		b.Run(field, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				n = len(r.Lookup(field, key))
			}
			b.ReportMetric(float64(n), "rows")
		})
	}
	b.Run("prefix", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.LookupPrefix(trail.FieldAction, "user.")
		}
	})
}

// BenchmarkOpen opens the 100 000-row block (reads and parses its index).
func BenchmarkOpen(b *testing.B) {
	bigBlock(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Open("bench", bytes.NewReader(benchFile), int64(len(benchFile))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMerge merges ten 10 000-row blocks.
func BenchmarkMerge(b *testing.B) {
	rows := realisticRows()
	var srcs []*Reader
	for i := 0; i < 10; i++ {
		f, _ := writeRows(b, rows[i*10_000:(i+1)*10_000], int64(i*10_000), Options{})
		srcs = append(srcs, openBytes(b, "src", f))
	}
	var buf bytes.Buffer
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		buf.Reset()
		if _, err := Merge(&buf, srcs, nil, Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(rows))/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkRows fetches 100 scattered rows of the 100 000-row block, as a
// query does: one by one with Row and at once with Rows, without a shared
// cache (cold: each query decompresses its chunks) and with one large
// enough for the block (warm: repeated queries hit it).
func BenchmarkRows(b *testing.B) {
	bigBlock(b)
	rng := rand.New(rand.NewPCG(5, 6))
	set := make([]uint32, 100)
	for i := range set {
		set[i] = uint32(rng.IntN(len(realisticRows())))
	}
	slices.Sort(set)
	for _, shared := range []bool{false, true} {
		opts := Options{}
		if shared {
			opts.Cache = NewCache(256 << 20)
		}
		r, err := OpenWith("bench", bytes.NewReader(benchFile), int64(len(benchFile)), opts)
		if err != nil {
			b.Fatal(err)
		}
		name := "private"
		if shared {
			name = "shared"
		}
		b.Run(name+"/Row", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, row := range set {
					if _, err := r.Row(int(row)); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
		b.Run(name+"/Rows", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := r.Rows(set, func(int, []byte) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
