package block

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/trail-audit/trail"
	"github.com/trail-audit/trail/internal/cpuclock"
)

// headBlock is the input of one block as a store's flush gives it from a
// head: each row's terms of the fields the head does not index (free text
// and metadata) go through Add, the others come as whole postings.
type headBlock struct {
	rows     []row // terms: the row's unindexed terms only
	postings []headPostings
}

type headPostings struct {
	field, key string
	rows       []uint32
}

// headIndexedField mirrors logstore's headIndexed.
func headIndexedField(field string) bool {
	return field != trail.FieldText && !strings.HasPrefix(field, trail.MetadataPrefix)
}

// headBlocks splits total generated rows into blocks of n rows laid out
// as headBlock.
func headBlocks(n, total int) []headBlock {
	all := genRows(3, total)
	var blocks []headBlock
	for len(all) >= n {
		var hb headBlock
		type fk struct{ field, key string }
		idx := map[fk]int{}
		for i, r := range all[:n] {
			var own [][2]string
			for _, t := range r.terms {
				if !headIndexedField(t[0]) {
					own = append(own, t)
					continue
				}
				k := fk{t[0], t[1]}
				j, ok := idx[k]
				if !ok {
					j = len(hb.postings)
					idx[k] = j
					hb.postings = append(hb.postings, headPostings{field: t[0], key: t[1]})
				}
				p := &hb.postings[j]
				if len(p.rows) == 0 || p.rows[len(p.rows)-1] != uint32(i) {
					p.rows = append(p.rows, uint32(i))
				}
			}
			hb.rows = append(hb.rows, row{data: r.data, time: r.time, terms: own})
		}
		blocks = append(blocks, hb)
		all = all[n:]
	}
	return blocks
}

func (hb *headBlock) write(w *Writer) error {
	for _, r := range hb.rows {
		if err := r.add(w); err != nil {
			return err
		}
	}
	for _, p := range hb.postings {
		if err := w.AddPostings(p.field, p.key, p.rows); err != nil {
			return err
		}
	}
	_, err := w.Close()
	return err
}

func benchCPU(b *testing.B) time.Duration {
	d, err := cpuclock.Process()
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// BenchmarkWriterHead writes blocks as a store's flush does from its
// heads (see headBlock): of 50 rows, as most tenants of a Zipf
// distribution have at a flush, and of 3000, as the busiest. The metric
// to compare on a shared machine is cpu-ns/row, the CPU time of the
// process (garbage collection included) per row written; B/row is the
// mean size of the blocks.
func BenchmarkWriterHead(b *testing.B) {
	for _, n := range []int{50, 3000} {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			blocks := headBlocks(n, 12_000)
			var buf bytes.Buffer
			size := 0
			b.ReportAllocs()
			runtime.GC() // the set-up's garbage is not the writers'
			cpu0 := benchCPU(b)
			i := 0
			for b.Loop() {
				hb := &blocks[i%len(blocks)]
				i++
				buf.Reset()
				if err := hb.write(NewWriter(&buf, "acme", 0, Options{})); err != nil {
					b.Fatal(err)
				}
				size += buf.Len()
			}
			cpu := benchCPU(b) - cpu0
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*n), "cpu-ns/row")
			b.ReportMetric(float64(size)/float64(b.N*n), "B/row")
		})
	}
}

// BenchmarkWriterTerms measures the Writer's dictionaries without the
// compression of rows: rows without data, with their terms as a store's
// flush gives them (head, see headBlock: blocks of 50 and 3000 rows) or
// every term through Add (all: one block of 10 000 rows). cpu-ns/row
// includes the index's encoding and compression at Close.
func BenchmarkWriterTerms(b *testing.B) {
	run := func(b *testing.B, blocks []headBlock) {
		n := 0
		cpu0 := benchCPU(b)
		for b.Loop() {
			hb := &blocks[n%len(blocks)]
			n++
			w := NewWriter(io.Discard, "acme", 0, Options{})
			for _, r := range hb.rows {
				if err := (row{time: r.time, terms: r.terms}).add(w); err != nil {
					b.Fatal(err)
				}
			}
			for _, p := range hb.postings {
				if err := w.AddPostings(p.field, p.key, p.rows); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := w.Close(); err != nil {
				b.Fatal(err)
			}
		}
		cpu := benchCPU(b) - cpu0
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*len(blocks[0].rows)), "cpu-ns/row")
	}
	for _, n := range []int{50, 3000} {
		b.Run(fmt.Sprintf("head/rows=%d", n), func(b *testing.B) {
			blocks := headBlocks(n, 12_000)
			b.ReportAllocs()
			runtime.GC()
			run(b, blocks)
		})
	}
	b.Run("all/rows=10000", func(b *testing.B) {
		blocks := []headBlock{{rows: genRows(3, 10_000)}}
		b.ReportAllocs()
		runtime.GC()
		run(b, blocks)
	})
}
