package logstore

import (
	"bytes"
	crand "crypto/rand"
	"testing"
	"time"

	"github.com/trail-audit/trail/keyring"
	"github.com/trail-audit/trail/logstore/block"
)

// BlockCipher returns the cipher a store in dir encrypting with ring uses
// for the block file at path, so that tests can rewrite encrypted blocks
// as an attacker holding the key could.
func BlockCipher(ring *keyring.Ring, dir, path string) block.Cipher {
	sealer, err := ring.NewSealer(crand.Reader)
	if err != nil {
		panic(err)
	}
	s := &Store{opts: Options{Dir: dir}}
	return newFileCipher(sealer, s.rel(path))
}

// SplitBlockFile returns the block and the stored id table (nil for a file
// without one) of a block file's bytes, so that tests can read and rewrite
// blocks; it panics on a trailer that does not fit the file.
func SplitBlockFile(data []byte) (blk, table []byte) {
	n, table, err := readIDTrailer(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		panic(err)
	}
	return data[:n], table
}

// ProcessCPU is processCPU (floor_bench_test.go), for the benchmarks of
// the external tests.
func ProcessCPU(tb testing.TB) time.Duration { return processCPU(tb) }
