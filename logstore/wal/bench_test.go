package wal_test

import (
	"testing"

	"github.com/trail-audit/trail/logstore/wal"
)

// BenchmarkAppendSync measures one group commit: 1000 payloads of 600
// bytes, each its own Append, then one Sync.
func BenchmarkAppendSync(b *testing.B) {
	const n, size = 1000, 600
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	l, err := wal.Open(b.TempDir(), wal.Options{SegmentSize: 256 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.ReportAllocs()
	b.SetBytes(n * size)
	for b.Loop() {
		for range n {
			if _, err := l.Append(payload); err != nil {
				b.Fatal(err)
			}
		}
		if err := l.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendBatchSync is the same commit as one Append of 1000
// payloads, which the log writes with a single write call.
func BenchmarkAppendBatchSync(b *testing.B) {
	const n, size = 1000, 600
	payloads := make([][]byte, n)
	for i := range payloads {
		payloads[i] = make([]byte, size)
		for j := range payloads[i] {
			payloads[i][j] = byte('a' + (i+j)%26)
		}
	}
	l, err := wal.Open(b.TempDir(), wal.Options{SegmentSize: 256 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.ReportAllocs()
	b.SetBytes(n * size)
	for b.Loop() {
		if _, err := l.Append(payloads...); err != nil {
			b.Fatal(err)
		}
		if err := l.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReplay opens and replays 32 MiB of 600-byte records (Open checks
// every record, then Replay reads them again).
func BenchmarkReplay(b *testing.B) {
	const size = 600
	dir := b.TempDir()
	l, err := wal.Open(dir, wal.Options{})
	if err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte(i)
	}
	var total int64
	for l.End().Segment == 1 && total < 32<<20 {
		if _, err := l.Append(payload); err != nil {
			b.Fatal(err)
		}
		total += size
	}
	if err := l.Sync(); err != nil {
		b.Fatal(err)
	}
	l.Close()
	b.ReportAllocs()
	b.SetBytes(total)
	for b.Loop() {
		l, err := wal.Open(dir, wal.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Replay(wal.Position{}, func(wal.Position, []byte) error { return nil }); err != nil {
			b.Fatal(err)
		}
		l.Close()
	}
}
