package block

import (
	"bytes"
	"fmt"
	"testing"
)

// TestWriterReuse writes blocks of different sizes one after the other, so
// that each Writer reuses the builders, tables, key arena and buffers the
// previous ones left (see writerBufs), and wants every block byte for byte
// the same as when written first.
func TestWriterReuse(t *testing.T) {
	small, big := genRows(11, 40), genRows(12, 5000)
	split := func(field string) bool { return !ChunkLevel(field) && field[0] != 'm' }
	write := func(rows []row, postings bool) []byte {
		t.Helper()
		var buf bytes.Buffer
		w := NewWriter(&buf, "acme", 7, Options{})
		add := rows
		var post map[[2]string][]uint32
		if postings {
			post, add = rowPostings(rows, split)
		}
		for i, r := range add {
			if err := r.add(w); err != nil {
				t.Fatalf("add row %d: %v", i, err)
			}
		}
		addAllPostings(t, w, post)
		if _, err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	wantSmall, wantBig := write(small, false), write(big, false)
	for i, c := range []struct {
		rows     []row
		postings bool
		want     []byte
	}{
		{big, true, wantBig}, {small, false, wantSmall}, {small, true, wantSmall},
		{big, false, wantBig}, {small, true, wantSmall}, {big, true, wantBig},
	} {
		if got := write(c.rows, c.postings); !bytes.Equal(got, c.want) {
			t.Fatalf("block %d (%d rows, postings %v): differs from the first written", i, len(c.rows), c.postings)
		}
	}
}

// TestFieldBuilderTable adds keys to a fieldBuilder's table past several
// growths and again after recycling, and wants each key's id stable and
// new keys numbered in order.
func TestFieldBuilderTable(t *testing.T) {
	f := builderPool.Get().(*fieldBuilder)
	for round, n := range []int{5000, 3, 100} {
		keys := make([]string, n)
		for i := range keys {
			keys[i] = fmt.Sprintf("k%d-%d", round, i)
			if got := f.id(keys[i]); got != uint32(i) {
				t.Fatalf("round %d: id(%q) = %d, want %d (new)", round, keys[i], got, i)
			}
		}
		for i, k := range keys {
			if got := f.id(k); got != uint32(i) {
				t.Fatalf("round %d: id(%q) = %d, want %d", round, k, got, i)
			}
		}
		if len(f.keys) != n || 2*n > len(f.table) {
			t.Fatalf("round %d: %d keys in a table of %d, want %d at most half full", round, len(f.keys), len(f.table), n)
		}
		f.recycle()
		f = builderPool.Get().(*fieldBuilder)
	}
}
