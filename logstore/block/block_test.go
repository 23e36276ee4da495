package block

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/trail-audit/trail"
)

// truth is the brute-force answer to every lookup over a list of rows.
type truth struct {
	rows []row
	// postings per field and key: row numbers for row-level fields, chunk
	// numbers for chunk-level ones.
	index map[string]map[string][]uint32
}

// bruteForce indexes rows as a block with the given chunks would.
func bruteForce(rows []row, chunks []ChunkInfo) *truth {
	tr := &truth{rows: rows, index: map[string]map[string][]uint32{}}
	chunkOf := make([]uint32, len(rows))
	for ci, c := range chunks {
		for j := c.FirstRow; j < c.FirstRow+c.Rows; j++ {
			chunkOf[j] = uint32(ci)
		}
	}
	for i, r := range rows {
		if r.erased {
			continue
		}
		for _, t := range r.terms {
			if ChunkLevel(t[0]) && chunks[chunkOf[i]].Unindexed {
				continue // unindexed chunks have no chunk-level keys
			}
			keys := tr.index[t[0]]
			if keys == nil {
				keys = map[string][]uint32{}
				tr.index[t[0]] = keys
			}
			v := uint32(i)
			if ChunkLevel(t[0]) {
				v = chunkOf[i]
			}
			if l := keys[t[1]]; len(l) == 0 || l[len(l)-1] != v {
				keys[t[1]] = append(l, v)
			}
		}
	}
	return tr
}

// want returns the rows a lookup of the values vals of field must return.
func (tr *truth) want(field string, vals []uint32, chunks []ChunkInfo) []uint32 {
	if !ChunkLevel(field) {
		return vals
	}
	for ci, c := range chunks {
		if c.Unindexed {
			vals = append(vals, uint32(ci))
		}
	}
	slices.Sort(vals)
	vals = slices.Compact(vals)
	var out []uint32
	for _, ci := range vals {
		c := chunks[ci]
		for j := c.FirstRow; j < c.FirstRow+c.Rows; j++ {
			if !tr.rows[j].erased {
				out = append(out, uint32(j))
			}
		}
	}
	return out
}

func (tr *truth) prefix(field, prefix string) []uint32 {
	var vals []uint32
	for k, v := range tr.index[field] {
		if strings.HasPrefix(k, prefix) {
			vals = append(vals, v...)
		}
	}
	slices.Sort(vals)
	return slices.Compact(vals)
}

func equalRows(a, b []uint32) bool { return len(a) == len(b) && (len(a) == 0 || slices.Equal(a, b)) }

// checkBlock compares everything r can answer with the brute force answer
// over rows.
func checkBlock(t *testing.T, r *Reader, rows []row, firstSeq int64) {
	t.Helper()
	m := r.Meta()
	erased := 0
	for _, rw := range rows {
		if rw.erased {
			erased++
		}
	}
	if m.Rows != len(rows) || m.FirstSeq != firstSeq || m.Erased != erased || m.Tenant != "acme" {
		t.Fatalf("meta: got %+v, want %d rows from %d, %d erased, tenant acme", m, len(rows), firstSeq, erased)
	}
	for i, rw := range rows {
		got, err := r.Row(i)
		if err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		if want := rw.data; (got == nil) != rw.erased || !bytes.Equal(got, want) {
			t.Fatalf("row %d: got %.40q (nil %v), want %.40q (erased %v)", i, got, got == nil, want, rw.erased)
		}
		if r.IsErased(i) != rw.erased {
			t.Fatalf("IsErased(%d): got %v, want %v", i, !rw.erased, rw.erased)
		}
	}
	for _, span := range [][2]int{{0, len(rows)}, {len(rows) / 3, len(rows) - len(rows)/4}, {len(rows) / 2, len(rows) / 2}} {
		next := span[0]
		err := r.Scan(span[0], span[1], func(i int, data []byte) error {
			if i != next {
				return fmt.Errorf("got row %d, want %d", i, next)
			}
			next++
			if (data == nil) != rows[i].erased || !bytes.Equal(data, rows[i].data) {
				return fmt.Errorf("row %d: got %.40q, want %.40q", i, data, rows[i].data)
			}
			return nil
		})
		if err == nil && next != span[1] {
			err = fmt.Errorf("stopped at %d", next)
		}
		if err != nil {
			t.Fatalf("scan %v: %v", span, err)
		}
	}

	chunks := r.Chunks()
	tr := bruteForce(rows, chunks)
	if got, want := r.Fields(), slices.Sorted(maps.Keys(tr.index)); !slices.Equal(got, want) {
		t.Fatalf("fields: got %q, want %q", got, want)
	}
	for field, keys := range tr.index {
		var gotKeys []string
		r.Keys(field, func(k string) bool { gotKeys = append(gotKeys, k); return true })
		if want := slices.Sorted(maps.Keys(keys)); !slices.Equal(gotKeys, want) {
			t.Fatalf("keys of %s: got %d keys, want %d", field, len(gotKeys), len(want))
		}
		prefixes := map[string]bool{"": true, "\xff": true}
		for key, vals := range keys {
			if got, want := r.Lookup(field, key), tr.want(field, slices.Clone(vals), chunks); !equalRows(got, want) {
				t.Fatalf("Lookup(%s, %q): got %v, want %v", field, key, got, want)
			}
			for n := 0; n <= min(3, len(key)); n++ {
				prefixes[key[:n]] = true
			}
			prefixes[key+"\x00"] = true // absent
		}
		for p := range prefixes {
			if got, want := r.LookupPrefix(field, p), tr.want(field, tr.prefix(field, p), chunks); !equalRows(got, want) {
				t.Fatalf("LookupPrefix(%s, %q): got %d rows, want %d", field, p, len(got), len(want))
			}
			if _, ok := keys[p]; !ok {
				if got, want := r.Lookup(field, p), tr.want(field, nil, chunks); !equalRows(got, want) {
					t.Fatalf("Lookup(%s, absent %q): got %v, want %v", field, p, got, want)
				}
			}
		}
	}
	if got := r.Lookup("no-such-field", "x"); len(got) != 0 {
		t.Fatalf("Lookup of an absent field: got %v, want none", got)
	}
	if err := r.Verify(); err != nil {
		t.Fatalf("verify: %v", err)
	}
}

func openBytes(t testing.TB, name string, b []byte) *Reader {
	t.Helper()
	r, err := Open(name, bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	return r
}

// smallRows returns n rows with a few fields, every 5th erased, and
// repeated terms.
func smallRows(n int) []row {
	rows := genRows(3, n)
	for i := range rows {
		if i%5 == 3 {
			rows[i] = row{time: rows[i].time, erased: true}
			continue
		}
		rows[i].terms = append(rows[i].terms, rows[i].terms[0], [2]string{"metadata.empty", ""})
	}
	return rows
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		rows      []row
		chunkRows int
	}{
		{"empty", nil, 0},
		{"one row", genRows(1, 1), 0},
		{"one erased row", []row{{erased: true, time: 5}}, 0},
		{"all erased", []row{{erased: true, time: 5}, {erased: true, time: 3}, {erased: true, time: 9}}, 2},
		{"partial last chunk", smallRows(300), 128},
		{"chunk of one row", smallRows(20), 1},
		{"erased chunks", append(smallRows(10), row{erased: true}, row{erased: true}, row{erased: true}, row{erased: true}), 4},
		{"empty rows", []row{{data: []byte{}, time: 1}, {data: []byte("x"), time: 2, terms: [][2]string{{"a", "b"}, {trail.FieldText, "w"}}}}, 0},
		{"realistic", realisticRows()[:3000], 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, m := writeRows(t, tt.rows, 42, Options{ChunkRows: tt.chunkRows})
			if m.Bytes != int64(len(b)) {
				t.Errorf("meta bytes: got %d, want %d", m.Bytes, len(b))
			}
			r := openBytes(t, tt.name, b)
			if got := r.Meta(); got != m {
				t.Errorf("meta: got %+v from Open, want %+v from Close", got, m)
			}
			checkBlock(t, r, tt.rows, 42)
			var minT, maxT int64
			for i, rw := range tt.rows {
				if i == 0 || rw.time < minT {
					minT = rw.time
				}
				if i == 0 || rw.time > maxT {
					maxT = rw.time
				}
			}
			if m.MinTime != minT || m.MaxTime != maxT {
				t.Errorf("time range: got [%d,%d], want [%d,%d]", m.MinTime, m.MaxTime, minT, maxT)
			}
		})
	}
}

func TestChunks(t *testing.T) {
	rows := smallRows(300)
	b, _ := writeRows(t, rows, 0, Options{ChunkRows: 128})
	r := openBytes(t, "chunks", b)
	got := r.Chunks()
	if len(got) != 3 {
		t.Fatalf("got %d chunks, want 3", len(got))
	}
	for ci, c := range got {
		wantRows := min(128, 300-128*ci)
		if c.FirstRow != 128*ci || c.Rows != wantRows {
			t.Errorf("chunk %d: got rows [%d,+%d), want [%d,+%d)", ci, c.FirstRow, c.Rows, 128*ci, wantRows)
		}
		erased, minT, maxT := 0, rows[c.FirstRow].time, rows[c.FirstRow].time
		for _, rw := range rows[c.FirstRow : c.FirstRow+c.Rows] {
			if rw.erased {
				erased++
			}
			minT, maxT = min(minT, rw.time), max(maxT, rw.time)
		}
		if c.Erased != erased || c.MinTime != minT || c.MaxTime != maxT {
			t.Errorf("chunk %d: got %d erased in [%d,%d], want %d in [%d,%d]", ci, c.Erased, c.MinTime, c.MaxTime, erased, minT, maxT)
		}
	}
}

func TestWriterErrors(t *testing.T) {
	t.Run("empty field", func(t *testing.T) {
		w := NewWriter(new(bytes.Buffer), "acme", 0, Options{})
		err := w.Add([]byte("x"), 0, func(add func(f, k string)) { add("", "k") })
		if err == nil {
			t.Fatal("got no error for an empty field name")
		}
		if err2 := w.Add([]byte("y"), 0, nil); err2 == nil {
			t.Error("got no error from Add after a failed Add")
		}
	})
	t.Run("after close", func(t *testing.T) {
		w := NewWriter(new(bytes.Buffer), "acme", 0, Options{})
		if _, err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := w.Add([]byte("x"), 0, nil); err == nil {
			t.Error("got no error from Add after Close")
		}
	})
	t.Run("too large", func(t *testing.T) {
		w := NewWriter(new(bytes.Buffer), "acme", 0, Options{})
		if err := w.Add(make([]byte, MaxRowBytes+1), 0, nil); err == nil {
			t.Error("got no error for a row over MaxRowBytes")
		}
	})
	t.Run("write error", func(t *testing.T) {
		boom := errors.New("boom")
		w := NewWriter(failWriter{boom}, "acme", 0, Options{ChunkRows: 1})
		err := w.Add([]byte("x"), 0, nil)
		if !errors.Is(err, boom) {
			t.Errorf("got %v, want %v", err, boom)
		}
	})
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

func TestReaderErrors(t *testing.T) {
	b, _ := writeRows(t, smallRows(10), 0, Options{})
	r := openBytes(t, "blk-7", b)
	if _, err := r.Row(10); err == nil || !strings.Contains(err.Error(), "blk-7") {
		t.Errorf("Row out of range: got %v, want an error naming the file", err)
	}
	if err := r.Scan(0, 11, func(int, []byte) error { return nil }); err == nil {
		t.Error("Scan out of range: got no error")
	}
	stop := errors.New("stop")
	if err := r.Scan(0, 10, func(int, []byte) error { return stop }); err != stop {
		t.Errorf("Scan: got %v, want the callback's error", err)
	}
}

func TestPostings(t *testing.T) {
	long := make([]uint32, 1000)
	for i := range long {
		long[i] = uint32(2 * i)
	}
	tests := []struct {
		name       string
		a, b       []uint32
		and, union []uint32
	}{
		{"empty", nil, nil, nil, nil},
		{"one empty", []uint32{1, 2}, nil, nil, []uint32{1, 2}},
		{"overlap", []uint32{1, 3, 5, 7}, []uint32{3, 4, 5, 8}, []uint32{3, 5}, []uint32{1, 3, 4, 5, 7, 8}},
		{"disjoint", []uint32{1, 2}, []uint32{3, 4}, nil, []uint32{1, 2, 3, 4}},
		{"gallop", []uint32{3, 4, 1998, 2001}, long, []uint32{4, 1998}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Intersect(tt.a, tt.b); !equalRows(got, tt.and) {
				t.Errorf("Intersect: got %v, want %v", got, tt.and)
			}
			if got := Intersect(tt.b, tt.a); !equalRows(got, tt.and) {
				t.Errorf("Intersect swapped: got %v, want %v", got, tt.and)
			}
			if tt.union != nil || tt.name == "empty" {
				if got := Union(tt.a, tt.b); !equalRows(got, tt.union) {
					t.Errorf("Union: got %v, want %v", got, tt.union)
				}
			}
		})
	}
}

// TestConcurrentReads reads rows from many goroutines at once, through a
// cache smaller than the working set (run it with -race).
func TestConcurrentReads(t *testing.T) {
	rows := smallRows(400)
	b, _ := writeRows(t, rows, 0, Options{ChunkRows: 16})
	r := openBytes(t, "concurrent", b)
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			for k := 0; k < 400; k++ {
				i := (k*37 + g*101) % len(rows)
				got, err := r.Row(i)
				if err == nil && !bytes.Equal(got, rows[i].data) {
					err = fmt.Errorf("row %d: got %.40q, want %.40q", i, got, rows[i].data)
				}
				if err == nil && k%50 == 0 {
					err = r.Scan(i/2, i, func(int, []byte) error { return nil })
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestOpenWritten opens blocks with the bytes just written in hand: the
// Reader answers as OpenWith's, reads its chunks through the ReaderAt
// (the bytes given are not kept), and the footer, header and index are
// checked as OpenWith checks them.
func TestOpenWritten(t *testing.T) {
	rows := smallRows(300)
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"plaintext", Options{ChunkRows: 64}},
		{"encrypted", Options{ChunkRows: 64, Cipher: testCipher(t, "k1", "a")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, m := writeRows(t, rows, 1000, tc.opts)
			written := bytes.Clone(b)
			r, err := OpenWritten("written", bytes.NewReader(b), written, tc.opts)
			if err != nil {
				t.Fatalf("OpenWritten: %v", err)
			}
			clear(written) // the Reader must not need them any more
			if got := r.Meta(); got != m {
				t.Errorf("Meta: got %+v, want %+v", got, m)
			}
			checkBlock(t, r, rows, 1000)
		})
	}
	t.Run("checked", func(t *testing.T) {
		b, _ := writeRows(t, rows, 1000, Options{ChunkRows: 64})
		r := openBytes(t, "plain", b)
		for _, tc := range []struct {
			name string
			off  int
			want string
		}{
			{"header", 1, "bad header magic"},
			{"index", int(r.foot.indexOff) + 3, "index checksum mismatch"},
			{"footer", len(b) - 1, "footer checksum mismatch"},
		} {
			bad := bytes.Clone(b)
			bad[tc.off] ^= 0x40
			_, err := OpenWritten("bad", bytes.NewReader(b), bad, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s flipped: got error %v, want one containing %q", tc.name, err, tc.want)
			}
		}
		if _, err := OpenWritten("short", bytes.NewReader(b), b[:20], Options{}); err == nil {
			t.Error("20 bytes: got no error")
		}
	})
}
