package merkle_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/trail-audit/trail/merkle"
)

func benchLeaves(n int) []merkle.Hash {
	leaves := make([]merkle.Hash, n)
	for i := range leaves {
		leaves[i] = leaf(int64(i))
	}
	return leaves
}

// BenchmarkAppend appends batches of 1000 leaves, persisting the changed tiles
// to a map after each batch as the engine does. One op is one batch.
func BenchmarkAppend(b *testing.B) {
	batch := benchLeaves(1000)
	store := newTileStore()
	tr, err := merkle.Open(0, store)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := tr.Append(batch...); err != nil {
			b.Fatal(err)
		}
		store.write(tr.Tiles())
		tr.Persisted(tr.Size())
	}
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "leaves/s")
}

// BenchmarkAppendOnly is Append alone, without tile output.
func BenchmarkAppendOnly(b *testing.B) {
	batch := benchLeaves(1000)
	tr, err := merkle.Open(0, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := tr.Append(batch...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "leaves/s")
}

// BenchmarkInclusionProof asks for proofs of random leaves in a reopened tree
// of 1<<20 (+ a partial edge) leaves, so old hashes come from persisted tiles;
// "recent" asks for leaves still in memory.
func BenchmarkInclusionProof(b *testing.B) {
	const n = 1<<20 + 12345
	store := newTileStore()
	tr, err := merkle.Open(0, store)
	if err != nil {
		b.Fatal(err)
	}
	leaves := benchLeaves(n)
	for i := 0; i < n; i += 10000 {
		if err := tr.Append(leaves[i:min(n, i+10000)]...); err != nil {
			b.Fatal(err)
		}
		store.persist(tr)
	}
	if tr, err = merkle.Open(n, store); err != nil {
		b.Fatal(err)
	}
	// receipts: proofs of consecutive leaves near the edge, as a batch's
	// receipts ask for them; their upper siblings are shared.
	b.Run("receipts", func(b *testing.B) {
		b.ReportAllocs()
		i := int64(0)
		for b.Loop() {
			if _, err := tr.InclusionProof(n-1000+i%1000, n); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	for _, bc := range []struct {
		name string
		lo   int64
	}{{"random", 0}, {"recent", n - 200}} {
		b.Run(bc.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tr.InclusionProof(bc.lo+rng.Int64N(n-bc.lo), n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("consistency", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(1, 1))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := tr.ConsistencyProof(1+rng.Int64N(n-1), n); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkBuilderAdd(b *testing.B) {
	leaves := benchLeaves(1 << 16)
	var bl merkle.Builder
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		bl.Add(leaves[i%len(leaves)])
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "leaves/s")
	_ = fmt.Sprint(bl.Root())
}
