package block

import (
	"bytes"
	"runtime"
	"testing"
)

// openMemory opens b and returns the bytes allocated by Open and the bytes
// still held after a GC while the Reader is alive.
func openMemory(tb testing.TB, b []byte) (alloc, retained uint64, r *Reader) {
	tb.Helper()
	var before, after, kept runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r, err := Open("mem", bytes.NewReader(b), int64(len(b)))
	if err != nil {
		tb.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	// The decoder's states keep their last input and output: make them
	// decode something small so that only what r holds is counted.
	tiny := encoder(indexLevel).EncodeAll([]byte("tiny"), nil)
	for range 2 * runtime.GOMAXPROCS(0) {
		if _, err := decoder().DecodeAll(tiny, make([]byte, 0, 16)); err != nil {
			tb.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&kept)
	runtime.KeepAlive(r)
	return after.TotalAlloc - before.TotalAlloc, kept.HeapAlloc - before.HeapAlloc, r
}

// TestOpenMemory reports the bytes allocated and retained per row by Open
// of a block of 100 000 realistic rows. Thousands of blocks stay open in a
// store, so what a Reader retains is resident memory.
func TestOpenMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 100 000-row block")
	}
	b, m := writeRows(t, realisticRows(), 0, Options{})
	for range 2 * runtime.GOMAXPROCS(0) {
		openMemory(t, b) // warm up every decoder state
	}
	alloc, retained, r := openMemory(t, b)
	dict := 0
	for _, f := range r.fields {
		dict += len(f.entries) + 4*len(f.restarts)
	}
	t.Logf("Open of %d rows (%d bytes, index %d raw): allocated %.1f B/row, retained %.1f B/row (dictionaries %.1f)",
		m.Rows, len(b), r.foot.indexRawLen, float64(alloc)/float64(m.Rows), float64(retained)/float64(m.Rows), float64(dict)/float64(m.Rows))
}
