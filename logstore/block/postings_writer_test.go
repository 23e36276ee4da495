package block

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// rowPostings returns the postings of rows' terms in the fields that split
// selects (row numbers, ascending, deduplicated), keyed by field and key,
// and a copy of rows without those terms.
func rowPostings(rows []row, split func(field string) bool) (map[[2]string][]uint32, []row) {
	post := map[[2]string][]uint32{}
	rest := make([]row, len(rows))
	for i, r := range rows {
		rest[i] = row{data: r.data, time: r.time, erased: r.erased}
		for _, t := range r.terms {
			if !split(t[0]) {
				rest[i].terms = append(rest[i].terms, t)
				continue
			}
			if p := post[t]; len(p) == 0 || p[len(p)-1] != uint32(i) {
				post[t] = append(p, uint32(i))
			}
		}
	}
	return post, rest
}

// addAllPostings hands post to w, in an order unrelated to the keys'.
func addAllPostings(t *testing.T, w *Writer, post map[[2]string][]uint32) {
	t.Helper()
	for fk, rows := range post {
		if err := w.AddPostings(fk[0], fk[1], rows); err != nil {
			t.Fatalf("AddPostings(%q, %q): %v", fk[0], fk[1], err)
		}
	}
}

// sameBlock checks that two blocks answer every Lookup of want's keys and
// a full scan alike.
func sameBlock(t *testing.T, got, want *Reader) {
	t.Helper()
	if g, w := got.Fields(), want.Fields(); !slices.Equal(g, w) {
		t.Fatalf("fields: got %v, want %v", g, w)
	}
	for _, field := range want.Fields() {
		var wantKeys, gotKeys []string
		want.Keys(field, func(k string) bool { wantKeys = append(wantKeys, k); return true })
		got.Keys(field, func(k string) bool { gotKeys = append(gotKeys, k); return true })
		if !slices.Equal(gotKeys, wantKeys) {
			t.Fatalf("field %s: got %d keys, want %d", field, len(gotKeys), len(wantKeys))
		}
		for _, k := range wantKeys {
			if g, w := got.Lookup(field, k), want.Lookup(field, k); !slices.Equal(g, w) {
				t.Fatalf("Lookup(%s, %q): got %v, want %v", field, k, g, w)
			}
		}
	}
	var gotRows, wantRows [][]byte
	scan := func(r *Reader, out *[][]byte) {
		if err := r.Scan(0, r.Meta().Rows, func(_ int, data []byte) error {
			*out = append(*out, bytes.Clone(data))
			return nil
		}); err != nil {
			t.Fatalf("scan %s: %v", r.Name(), err)
		}
	}
	scan(got, &gotRows)
	scan(want, &wantRows)
	if !slices.EqualFunc(gotRows, wantRows, bytes.Equal) {
		t.Fatalf("scan: rows differ")
	}
}

// TestAddPostings writes the same rows twice, once with every term given
// row by row to Add and once with the row-level fields' postings given
// whole to AddPostings, and wants the same file.
func TestAddPostings(t *testing.T) {
	rowLevel := func(field string) bool { return !ChunkLevel(field) }
	cases := []struct {
		name  string
		rows  []row
		split func(field string) bool // the fields given by AddPostings
	}{
		{"realistic, every row-level field", realisticRows()[:3000], rowLevel},
		{"realistic, the fields without a dot", realisticRows()[:3000], func(f string) bool { return rowLevel(f) && !strings.Contains(f, ".") }},
		{"erased rows and repeated terms", smallRows(700), rowLevel},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want, _ := writeRows(t, tc.rows, 9, Options{})
			post, rest := rowPostings(tc.rows, tc.split)
			var buf bytes.Buffer
			w := NewWriter(&buf, "acme", 9, Options{})
			for i, r := range rest {
				if err := r.add(w); err != nil {
					t.Fatalf("add row %d: %v", i, err)
				}
			}
			addAllPostings(t, w, post)
			if _, err := w.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("got a file of %d bytes, want the %d bytes written row by row", buf.Len(), len(want))
			}
			sameBlock(t, openBytes(t, "postings", buf.Bytes()), openBytes(t, "rows", want))
		})
	}
}

// TestAddPostingsMixed gives some entries both row by row and as postings,
// and some keys in several AddPostings calls: the file is the one written
// row by row.
func TestAddPostingsMixed(t *testing.T) {
	rows := smallRows(500)
	want, _ := writeRows(t, rows, 0, Options{})
	post, _ := rowPostings(rows, func(field string) bool { return !ChunkLevel(field) })
	var buf bytes.Buffer
	w := NewWriter(&buf, "acme", 0, Options{})
	for i, r := range rows {
		if err := r.add(w); err != nil {
			t.Fatalf("add row %d: %v", i, err)
		}
	}
	for fk, rs := range post {
		// Every entry again, the first half and the second half apart.
		for _, part := range [][]uint32{rs[:len(rs)/2], rs[len(rs)/2:]} {
			if err := w.AddPostings(fk[0], fk[1], part); err != nil {
				t.Fatalf("AddPostings(%q, %q): %v", fk[0], fk[1], err)
			}
		}
	}
	if _, err := w.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("got a file of %d bytes, want the %d bytes written row by row", buf.Len(), len(want))
	}

	// A key given twice by AddPostings alone.
	var twice, once bytes.Buffer
	for _, tc := range []struct {
		buf   *bytes.Buffer
		posts [][]uint32
	}{{&twice, [][]uint32{{0, 2}, {1, 2}}}, {&once, [][]uint32{{0, 1, 2}}}} {
		w := NewWriter(tc.buf, "acme", 0, Options{})
		for i := range 3 {
			if err := w.Add([]byte{'a' + byte(i)}, 1, nil); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range tc.posts {
			if err := w.AddPostings("actor.id", "ada", p); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(twice.Bytes(), once.Bytes()) {
		t.Errorf("a key in two AddPostings calls: file differs from one call with the union")
	}
	r := openBytes(t, "twice", twice.Bytes())
	if got := r.Lookup("actor.id", "ada"); !slices.Equal(got, []uint32{0, 1, 2}) {
		t.Errorf("Lookup(actor.id, ada): got %v, want [0 1 2]", got)
	}
}

func TestAddPostingsErrors(t *testing.T) {
	cases := []struct {
		name       string
		field, key string
		rows       []uint32
		want       string
	}{
		{"empty field", "", "x", []uint32{0}, "empty field name"},
		{"chunk-level field", "text", "x", []uint32{0}, "chunk-level"},
		{"not ascending", "action", "x", []uint32{1, 0}, "after row"},
		{"repeated row", "action", "x", []uint32{1, 1}, "after row"},
		{"row not added", "action", "x", []uint32{0, 3}, "not added"},
		{"erased row", "action", "x", []uint32{0, 2}, "erased"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := NewWriter(&buf, "acme", 0, Options{})
			for i := range 2 {
				if err := w.Add([]byte("x"), 1, nil); err != nil {
					t.Fatalf("add row %d: %v", i, err)
				}
			}
			if err := w.AddErased(1); err != nil {
				t.Fatal(err)
			}
			err := w.AddPostings(tc.field, tc.key, tc.rows)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one containing %q", err, tc.want)
			}
			// Nothing was recorded and the Writer is still usable.
			if _, err := w.Close(); err != nil {
				t.Fatalf("close after a refused AddPostings: %v", err)
			}
			if f := openBytes(t, "refused", buf.Bytes()).Fields(); len(f) != 0 {
				t.Fatalf("fields after a refused AddPostings: got %v, want none", f)
			}
		})
	}
	t.Run("closed", func(t *testing.T) {
		w := NewWriter(&bytes.Buffer{}, "acme", 0, Options{})
		if err := w.Add([]byte("x"), 1, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := w.AddPostings("action", "x", []uint32{0}); err == nil {
			t.Fatal("AddPostings after Close: got no error")
		}
	})
}
