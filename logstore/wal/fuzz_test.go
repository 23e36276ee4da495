package wal_test

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"github.com/trail-audit/trail/logstore/wal"
)

func frame(payload string) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(payload)))
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum([]byte(payload), crc32.MakeTable(crc32.Castagnoli)))
	return append(b, payload...)
}

// FuzzReplay feeds arbitrary bytes to Open and Replay as a segment file:
// neither may panic; Open either reports corruption without touching the
// file or leaves a file that ends at a record boundary; and every payload
// Replay hands out sits behind a header whose length and CRC-32C match it.
func FuzzReplay(f *testing.F) {
	valid := append(frame("first record"), frame("second")...)
	f.Add([]byte{})
	f.Add(valid)
	f.Add(valid[:len(valid)-3])
	f.Add(append(append([]byte{}, valid...), 0, 0, 0, 0, 0, 0, 0, 0, 0))
	f.Add(append(frame("x")[:5], frame("y")...))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		seg := filepath.Join(dir, "00000001.wal")
		if err := os.WriteFile(seg, data, 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := wal.Open(dir, wal.Options{})
		if err != nil {
			var ce *wal.CorruptionError
			if !errors.As(err, &ce) {
				t.Fatalf("Open: got %v, want nil or a *CorruptionError", err)
			}
			if after, _ := os.ReadFile(seg); string(after) != string(data) {
				t.Fatal("Open modified a corrupt segment")
			}
			return
		}
		defer l.Close()
		file, err := os.ReadFile(seg)
		if err != nil {
			t.Fatal(err)
		}
		at, removed := l.TornTail()
		if int64(len(file)) != at.Offset || int64(len(data))-removed != at.Offset || string(file) != string(data[:at.Offset]) {
			t.Fatalf("Open left %d bytes, TornTail (%v, %d), input %d bytes: want the input's prefix up to the tail", len(file), at, removed, len(data))
		}
		var prev int64
		err = l.Replay(wal.Position{}, func(pos wal.Position, payload []byte) error {
			start := pos.Offset - int64(len(payload)) - 8
			if start != prev {
				t.Fatalf("record ending at %v starts at %d, want %d", pos, start, prev)
			}
			hdr := file[start : start+8]
			if n := binary.LittleEndian.Uint32(hdr); int(n) != len(payload) {
				t.Fatalf("record at %d: header length %d, payload %d bytes", start, n, len(payload))
			}
			if want := crc32.Checksum(payload, crc32.MakeTable(crc32.Castagnoli)); binary.LittleEndian.Uint32(hdr[4:]) != want {
				t.Fatalf("record at %d: CRC in header %x, of payload %x", start, binary.LittleEndian.Uint32(hdr[4:]), want)
			}
			prev = pos.Offset
			return nil
		})
		if err != nil {
			t.Fatalf("Replay after a successful Open: %v", err)
		}
		if prev != at.Offset {
			t.Fatalf("Replay ended at %d, want %d", prev, at.Offset)
		}
	})
}
