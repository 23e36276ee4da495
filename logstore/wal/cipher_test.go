package wal_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/trail-audit/trail/keyring"
	"github.com/trail-audit/trail/logstore/wal"
)

func testSealer(t *testing.T, b byte) *keyring.Sealer {
	t.Helper()
	r, err := keyring.Parse("k1 " + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	s, err := r.NewSealer(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCipher checks that with a Cipher records are stored sealed, replay
// opens them, segment rotation and torn tails work as without one, and a
// record moved to another place no longer opens.
func TestCipher(t *testing.T) {
	dir := t.TempDir()
	opts := wal.Options{SegmentSize: 200, Cipher: testSealer(t, 1)}
	l := open(t, dir, opts)
	appendEach(t, l, 0, 20)
	if _, err := l.Append(record(20), record(21)); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for name, data := range readDir(t, dir) {
		if bytes.Contains(data, []byte("record-")) {
			t.Errorf("%s holds plaintext", name)
		}
	}
	l = open(t, dir, opts)
	if got, _ := replay(t, l, wal.Position{}); len(got) != 22 || got[21] != string(record(21)) {
		t.Fatalf("replay: %d records, want 22, the last %q", len(got), record(21))
	}
	l.Close()

	// A torn tail is found and cut without the key.
	segs := segmentFiles(t, dir)
	last := filepath.Join(dir, segs[len(segs)-1])
	fi, _ := os.Stat(last)
	if err := os.Truncate(last, fi.Size()-3); err != nil {
		t.Fatal(err)
	}
	l = open(t, dir, wal.Options{SegmentSize: 200})
	if _, removed := l.TornTail(); removed == 0 {
		t.Errorf("torn tail not removed without the cipher")
	}
	l.Close()
	l = open(t, dir, opts)
	if got, _ := replay(t, l, wal.Position{}); len(got) != 21 {
		t.Fatalf("after the torn tail: %d records, want 21", len(got))
	}
	l.Close()

	// Other key bytes: replay fails on the first record, naming its place.
	l = open(t, dir, wal.Options{SegmentSize: 200, Cipher: testSealer(t, 2)})
	err := l.Replay(wal.Position{}, func(wal.Position, []byte) error { return nil })
	var re *wal.RecordError
	var de *keyring.DecryptError
	if !errors.As(err, &re) || !errors.As(err, &de) || re.Segment != 1 || re.Offset != 0 || re.File() != "00000001.wal" {
		t.Errorf("replay with other key bytes: got %v, want a RecordError at 00000001.wal:0 wrapping a DecryptError", err)
	}
	l.Close()

	// Two records of one length swapped: their frames are intact, but
	// each is sealed for the other's offset.
	dir = t.TempDir()
	l = open(t, dir, opts)
	if _, err := l.Append([]byte("payload a"), []byte("payload b")); err != nil {
		t.Fatal(err)
	}
	l.Sync()
	l.Close()
	name := filepath.Join(dir, "00000001.wal")
	data, _ := os.ReadFile(name)
	n := len(data) / 2
	if err := os.WriteFile(name, append(data[n:], data[:n]...), 0o644); err != nil {
		t.Fatal(err)
	}
	l = open(t, dir, opts)
	defer l.Close()
	err = l.Replay(wal.Position{}, func(wal.Position, []byte) error { return nil })
	if !errors.As(err, &re) || !errors.As(err, &de) || re.Offset != 0 {
		t.Errorf("replay of swapped records: got %v, want a RecordError at offset 0", err)
	}
}
