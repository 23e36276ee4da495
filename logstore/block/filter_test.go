package block

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// checkFilter compares filterPostings over the encoding of vals with
// Intersect(rows, vals), for both string and []byte postings.
func checkFilter(t *testing.T, vals, rows []uint32) {
	t.Helper()
	enc := appendPostings(nil, vals)
	want := Intersect(rows, vals)
	if got := filterPostings(nil, rows, enc); !slices.Equal(got, want) {
		t.Fatalf("filterPostings([]byte) of %d values, %d rows = %v, want %v", len(vals), len(rows), got, want)
	}
	if got := filterPostings(nil, rows, string(enc)); !slices.Equal(got, want) {
		t.Fatalf("filterPostings(string) of %d values, %d rows = %v, want %v", len(vals), len(rows), got, want)
	}
}

// sortedSet returns up to n distinct values below limit, sorted.
func sortedSet(rng *rand.Rand, n int, limit uint32) []uint32 {
	m := map[uint32]bool{}
	for range n {
		m[rng.Uint32N(limit)] = true
	}
	out := make([]uint32, 0, len(m))
	for v := range m {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

func TestFilterPostings(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	// Dense postings (one-byte gaps, the eight-at-a-time skip), sparse
	// ones (multi-byte gaps), and mixtures, against dense and sparse rows.
	for round := range 400 {
		limit := uint32(1 + rng.IntN(1<<(4+round%16)))
		vals := sortedSet(rng, rng.IntN(2000), limit)
		rows := sortedSet(rng, rng.IntN(300), limit+5)
		checkFilter(t, vals, rows)
	}
	all := make([]uint32, 5000)
	for i := range all {
		all[i] = uint32(i)
	}
	cases := []struct {
		name       string
		vals, rows []uint32
	}{
		{"empty postings", nil, []uint32{0, 1}},
		{"no rows", all, nil},
		{"row 0 present", all, []uint32{0}},
		{"row 0 absent", all[1:], []uint32{0}},
		{"last value", all, []uint32{4999}},
		{"past the last value", all, []uint32{4998, 4999, 5000, 9000}},
		{"every row", all, all},
		{"gaps of 127 and 128", []uint32{127, 254, 382, 510, 637, 765, 893, 1020, 1148}, []uint32{254, 382, 1020, 1148}},
		{"sum of eight gaps at the row", []uint32{10, 20, 30, 40, 50, 60, 70, 80, 90}, []uint32{80}},
		{"sum of eight gaps just past the row", []uint32{10, 20, 30, 40, 50, 60, 70, 81, 90}, []uint32{80, 81}},
		{"large first value", []uint32{1 << 30, 1<<30 + 1}, []uint32{1 << 30, 1<<30 + 1}},
		{"values near the top", []uint32{1<<32 - 3, 1<<32 - 2, 1<<32 - 1}, []uint32{1<<32 - 2, 1<<32 - 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkFilter(t, c.vals, c.rows) })
	}
}

func FuzzFilterPostings(f *testing.F) {
	f.Add([]byte{1, 2, 3, 200, 4, 5, 6, 7, 8, 9, 10}, []byte{3, 6, 10})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0}, []byte{0, 1})
	f.Fuzz(func(t *testing.T, gaps, picks []byte) {
		// Values from the fuzzer's gaps (a zero gap after the first would
		// repeat a value: it is made 1), rows from its picks.
		var vals []uint32
		v := uint32(0)
		for i, g := range gaps {
			d := uint32(g)
			if g >= 0xf0 {
				d = uint32(g) << 12 // some multi-byte gaps
			}
			if i > 0 && d == 0 {
				d = 1
			}
			v += d
			vals = append(vals, v)
		}
		rows := make([]uint32, 0, len(picks))
		r := uint32(0)
		for i, p := range picks {
			if i > 0 && p == 0 {
				p = 1
			}
			r += uint32(p)
			rows = append(rows, r)
		}
		checkFilter(t, vals, rows)
	})
}

// BenchmarkFilterPostings intersects the rows of a rare key (1 % of a
// 1.5M-row block) with a frequent key's postings (85 % of the rows): by
// decoding the frequent postings whole (decode) and by filterPostings.
func BenchmarkFilterPostings(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 1_500_000
	var frequent, rare []uint32
	for row := uint32(0); row < n; row++ {
		if rng.Float64() < 0.85 {
			frequent = append(frequent, row)
		}
		if rng.Float64() < 0.01 {
			rare = append(rare, row)
		}
	}
	enc := string(appendPostings(nil, frequent))
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			Intersect(rare, appendDecodedPostings(nil, enc, 0))
		}
	})
	b.Run("filter", func(b *testing.B) {
		for b.Loop() {
			filterPostings(make([]uint32, 0, len(rare)), rare, enc)
		}
	})
}
