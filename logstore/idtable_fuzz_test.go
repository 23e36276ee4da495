package logstore

import (
	"bytes"
	"testing"
)

// FuzzBlockFileTrailer feeds arbitrary block file bytes to readIDTrailer
// and decodeIDs, which read what is on disk: neither may panic, a table
// found must be exactly the bytes between the block and the trailer, and
// any block followed by appendIDTrailer(table) must split back into the
// same two parts.
func FuzzBlockFileTrailer(f *testing.F) {
	table := encodeIDs([]idEntry{{hash: 1, row: 0}, {hash: 7, row: 3}}, 10, 20)
	f.Add([]byte("block bytes"), table)
	f.Add([]byte{}, []byte{})
	f.Add([]byte("LKFT\x00\x00\x00\x00"), []byte("trailid1"))
	f.Fuzz(func(t *testing.T, blk, table []byte) {
		for _, data := range [][]byte{
			blk,
			append(append([]byte(nil), blk...), appendIDTrailer(append([]byte(nil), table...))...),
		} {
			size, got, err := readIDTrailer(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				continue
			}
			if size < 0 || size > int64(len(data)) {
				t.Fatalf("block size %d of a %d-byte file", size, len(data))
			}
			if got == nil {
				if size != int64(len(data)) {
					t.Fatalf("no table, but a block of %d bytes in a %d-byte file", size, len(data))
				}
				continue
			}
			if size+int64(len(got))+int64(idTrailerLen) != int64(len(data)) || !bytes.Equal(got, data[size:size+int64(len(got))]) {
				t.Fatalf("table of %d bytes at %d does not end where the trailer starts in a %d-byte file", len(got), size, len(data))
			}
			decodeIDs(got) // must not panic
		}
		data := append(append([]byte(nil), blk...), appendIDTrailer(append([]byte(nil), table...))...)
		size, got, err := readIDTrailer(bytes.NewReader(data), int64(len(data)))
		if err != nil || size != int64(len(blk)) || !bytes.Equal(got, table) {
			t.Fatalf("round trip: block %d bytes, table %q, err %v; want %d, %q", size, got, err, len(blk), table)
		}
	})
}
