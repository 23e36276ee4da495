package block

import (
	"bytes"
	"testing"
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
