package block

import (
	"bytes"
	"testing"
)

// readAll reads every row of r with Row and with Scan, and returns the
// first error, failing the test when a row comes back wrong.
func readAll(t *testing.T, r *Reader, rows []row, what string) error {
	t.Helper()
	var first error
	for i, want := range rows {
		got, err := r.Row(i)
		if err != nil {
			first = err
			continue
		}
		if (got == nil) != want.erased || !bytes.Equal(got, want.data) {
			t.Fatalf("%s: row %d: got %.40q, want %.40q", what, i, got, want.data)
		}
	}
	err := r.Scan(0, len(rows), func(i int, got []byte) error {
		if (got == nil) != rows[i].erased || !bytes.Equal(got, rows[i].data) {
			t.Fatalf("%s: scan row %d: got %.40q, want %.40q", what, i, got, rows[i].data)
		}
		return nil
	})
	if first == nil {
		first = err
	}
	return first
}

// TestCorruption flips every byte of a small block in two ways and checks
// that each change is reported by Open, Row, Scan or Verify, and that no
// call panics or returns wrong row data. The format has no padding, so
// every byte matters.
func TestCorruption(t *testing.T) {
	rows := smallRows(24)
	good, _ := writeRows(t, rows, 7, Options{ChunkRows: 8})
	for _, mask := range []byte{0x01, 0xff} {
		for off := range good {
			b := bytes.Clone(good)
			b[off] ^= mask
			what := "byte " + itoa(off) + " ^ " + itoa(int(mask))
			r, err := Open("corrupt", bytes.NewReader(b), int64(len(b)))
			if err != nil {
				continue
			}
			if off >= int(r.foot.indexOff) {
				t.Fatalf("%s: Open accepted a change in the index or footer", what)
			}
			err = readAll(t, r, rows, what)
			if verr := r.Verify(); err == nil {
				err = verr
			}
			if err == nil {
				t.Fatalf("%s: no error from Open, Row, Scan or Verify", what)
			}
		}
	}
	t.Run("truncated", func(t *testing.T) {
		for n := 0; n < len(good); n++ {
			if _, err := Open("short", bytes.NewReader(good[:n]), int64(n)); err == nil {
				t.Fatalf("Open of the first %d of %d bytes: got no error", n, len(good))
			}
		}
	})
	t.Run("extended", func(t *testing.T) {
		b := append(bytes.Clone(good), 0)
		if _, err := Open("long", bytes.NewReader(b), int64(len(b))); err == nil {
			t.Fatal("Open with a trailing byte: got no error")
		}
	})
}

func itoa(n int) string { return string(appendInt(nil, n)) }

func appendInt(b []byte, n int) []byte {
	if n >= 10 {
		b = appendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}

// FuzzOpen checks that no input makes Open, or a Reader it returns, panic.
func FuzzOpen(f *testing.F) {
	small, _ := writeRows(f, smallRows(12), 0, Options{ChunkRows: 4})
	empty, _ := writeRows(f, nil, 0, Options{})
	f.Add(small)
	f.Add(empty)
	f.Add([]byte(string(headerOf(version)) + "short"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Open("fuzz", bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		exercise(r)
	})
}

// FuzzIndex feeds arbitrary index payloads (which Open would reject by
// their CRC) to the index parser, with a valid file behind them.
func FuzzIndex(f *testing.F) {
	file, _ := writeRows(f, smallRows(12), 0, Options{ChunkRows: 4})
	r0, err := Open("seed", bytes.NewReader(file), int64(len(file)))
	if err != nil {
		f.Fatal(err)
	}
	ib := file[r0.foot.indexOff : r0.foot.indexOff+uint64(r0.foot.indexLen)]
	raw, err := decoder().DecodeAll(ib, make([]byte, 0, r0.foot.indexRawLen))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Fuzz(func(t *testing.T, raw []byte) {
		r := &Reader{name: "fuzz", ra: bytes.NewReader(file), size: int64(len(file)), foot: r0.foot, cache: newPrivateCache()}
		if r.parseIndex(raw) != nil {
			return
		}
		exercise(r)
	})
}

// exercise calls every read method of r.
func exercise(r *Reader) {
	for _, f := range r.Fields() {
		r.Keys(f, func(k string) bool {
			r.Lookup(f, k)
			return true
		})
		r.LookupPrefix(f, "")
		r.LookupPrefix(f, "a")
	}
	r.Lookup("text", "x")
	r.Chunks()
	for i := 0; i < min(r.Meta().Rows, 64); i++ {
		r.Row(i)
	}
	r.Scan(0, min(r.Meta().Rows, 64), func(int, []byte) error { return nil })
	r.Rows([]uint32{0, 5, 1, 63, 5}, func(int, []byte) error { return nil })
	r.Verify()
}
