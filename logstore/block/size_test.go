package block

import (
	"bytes"
	"fmt"
	"math"
	"testing"
	"time"
)

func writeRows(tb testing.TB, rows []row, firstSeq int64, opts Options) ([]byte, Meta) {
	tb.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf, "acme", firstSeq, opts)
	for i, r := range rows {
		if err := r.add(w); err != nil {
			tb.Fatalf("add row %d: %v", i, err)
		}
	}
	m, err := w.Close()
	if err != nil {
		tb.Fatalf("close: %v", err)
	}
	return buf.Bytes(), m
}

// TestBytesPerRow reports the size of a block of realistic events per row,
// split into data and index, for several chunk sizes. The engine's budget
// for a block is 150 bytes per event.
func TestBytesPerRow(t *testing.T) {
	rows := realisticRows()[:50_000]
	raw := 0
	for _, r := range rows {
		raw += len(r.data)
	}
	for _, chunkRows := range []int{128, 256, 512, 1024} {
		b, m := writeRows(t, rows, 0, Options{ChunkRows: chunkRows})
		r, err := Open("size", bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		data := int64(r.foot.indexOff) - headerLen
		index := m.Bytes - data
		perRow := float64(m.Bytes) / float64(m.Rows)
		t.Logf("chunk %4d rows: %.1f B/row (data %.1f, index %.1f) from %.1f B/row raw",
			chunkRows, perRow, float64(data)/float64(m.Rows), float64(index)/float64(m.Rows), float64(raw)/float64(len(rows)))
		if chunkRows == DefaultChunkRows && perRow > 150 {
			t.Errorf("default chunks: got %.1f B/row, want <= 150", perRow)
		}
	}
}

// TestIndexLevels compares the compression levels of the index on blocks
// of 10 to 3000 realistic rows (see smallIndexLevel): it logs the size and
// the time of one compression at each level (the fastest of several
// rounds, which a loaded machine disturbs least) and checks the size the
// level indexLevelFor chooses against LevelBetter's.
func TestIndexLevels(t *testing.T) {
	if testing.Short() {
		t.Skip("times compressions")
	}
	for _, n := range []int{10, 30, 100, 300, 1000, 3000, 10000, 20000} {
		b, _ := writeRows(t, realisticRows()[:n], 0, Options{})
		r := openBytes(t, "levels", b)
		raw, err := decoder().DecodeAll(b[r.foot.indexOff:r.foot.indexOff+uint64(r.foot.indexLen)], make([]byte, 0, r.foot.indexRawLen))
		if err != nil {
			t.Fatal(err)
		}
		line := fmt.Sprintf("%4d rows, index of %6d bytes:", n, len(raw))
		size := map[int]int{}
		for _, level := range []int{LevelFastest, LevelFast, LevelBetter} {
			var out []byte
			best := time.Duration(math.MaxInt64)
			for range 5 {
				start := time.Now()
				for range 10 {
					out = encoder(level).EncodeAll(raw, out[:0])
				}
				best = min(best, time.Since(start)/10)
			}
			size[level] = len(out)
			line += fmt.Sprintf("  level %d: %6d bytes in %7.1f µs", level, len(out), float64(best.Nanoseconds())/1e3)
		}
		t.Log(line)
		if got, better := size[indexLevelFor(len(raw))], size[LevelBetter]; float64(got) > 1.02*float64(better) {
			t.Errorf("%d rows: index of %d bytes at level %d, more than 2%% over LevelBetter's %d", n, got, indexLevelFor(len(raw)), better)
		}
	}
}
