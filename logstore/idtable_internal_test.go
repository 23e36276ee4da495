package logstore

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/gen"
)

// logBuffer is a concurrency-safe buffer for a store's log.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// idTableFixture is a store in a temporary directory holding one flushed
// block of acme's first 30 events, closed.
type idTableFixture struct {
	dir    string
	opts   Options
	events []*trail.Event // as appended (ids and seqs set)
	block  string         // the block file's path
}

func newIDTableFixture(t *testing.T) *idTableFixture {
	t.Helper()
	dir := t.TempDir()
	s, opts := openForTest(t, dir)
	g := gen.New(11, 1)
	evs := make([]*trail.Event, 30)
	for i := range evs {
		evs[i] = g.Event("acme", time.Time{})
	}
	if _, err := s.Append(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return &idTableFixture{dir: dir, opts: opts, events: evs, block: filepath.Join(dir, "tenants", "acme", "blocks", blockName(0, 30, 0))}
}

// blockFiles lists acme's block directory, spares excluded.
func (f *idTableFixture) blockFiles(t *testing.T) []string {
	t.Helper()
	des, err := os.ReadDir(filepath.Dir(f.block))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		if !strings.HasPrefix(de.Name(), ".spare-") {
			out = append(out, de.Name())
		}
	}
	return out
}

// split reads the block file and returns its bytes, the size of the block
// in it and its stored id table, which it requires.
func (f *idTableFixture) split(t *testing.T) (data []byte, blockSize int64, table []byte) {
	t.Helper()
	data, err := os.ReadFile(f.block)
	if err != nil {
		t.Fatal(err)
	}
	blockSize, table, err = readIDTrailer(bytes.NewReader(data), int64(len(data)))
	if err != nil || table == nil {
		t.Fatalf("readIDTrailer: table %v, err %v", table != nil, err)
	}
	return data, blockSize, table
}

// open opens the store, logging into the returned buffer.
func (f *idTableFixture) open(t *testing.T) (*Store, *logBuffer) {
	t.Helper()
	log := &logBuffer{}
	opts := f.opts
	opts.Logger = slog.New(slog.NewTextHandler(log, nil))
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, log
}

// requireDuplicates appends the fixture's events again and requires each
// to be acknowledged as the duplicate it is, with its original seq: the
// id table (read or rebuilt) finds every one.
func (f *idTableFixture) requireDuplicates(t *testing.T, s *Store) {
	t.Helper()
	again := make([]*trail.Event, len(f.events))
	for i, ev := range f.events {
		c := *ev
		c.Seq = 0
		again[i] = &c
	}
	res, err := s.Append(context.Background(), again)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res.Receipts {
		if !r.Duplicate || r.Seq != f.events[i].Seq {
			t.Fatalf("receipt %d: %+v, want a duplicate of seq %d", i, r, f.events[i].Seq)
		}
	}
}

// TestBlockFileHoldsIDTable checks that a flush writes one file per block,
// with the id table in it, and that reopening reads the table from there
// (no rebuild) and finds every id.
func TestBlockFileHoldsIDTable(t *testing.T) {
	f := newIDTableFixture(t)
	if got := f.blockFiles(t); len(got) != 1 || got[0] != filepath.Base(f.block) {
		t.Fatalf("block directory holds %v, want only %s", got, filepath.Base(f.block))
	}
	data, blockSize, table := f.split(t)
	if ids, _, _, err := decodeIDs(table); err != nil || len(ids) != 30 {
		t.Fatalf("the stored table: %d ids, err %v; want 30", len(ids), err)
	}
	if blockSize+int64(len(table))+int64(idTrailerLen) != int64(len(data)) {
		t.Fatalf("block %d + table %d + trailer %d bytes != file %d", blockSize, len(table), idTrailerLen, len(data))
	}
	s, log := f.open(t)
	f.requireDuplicates(t, s)
	if strings.Contains(log.String(), "rebuilding id table") {
		t.Errorf("the id table was rebuilt, not read:\n%s", log)
	}
}

// TestLegacyIDFile checks that a block file written before the id table
// moved in (the block alone, its table in a ".ids" file beside it) is
// read, table included, and that retiring the block removes both files.
func TestLegacyIDFile(t *testing.T) {
	f := newIDTableFixture(t)
	data, blockSize, table := f.split(t)
	if err := os.WriteFile(f.block, data[:blockSize], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(idsPath(f.block), table, 0o644); err != nil {
		t.Fatal(err)
	}
	s, log := f.open(t)
	f.requireDuplicates(t, s)
	if strings.Contains(log.String(), "rebuilding id table") {
		t.Errorf("the legacy id table was rebuilt, not read:\n%s", log)
	}
	// A second block of the same size is merged with the first, which
	// retires the legacy block: neither of its files may stay.
	appendFlush(t, s, gen.New(12, 1), "acme", 30)
	if got := f.blockFiles(t); len(got) != 1 || got[0] != blockName(0, 60, 1) {
		t.Fatalf("after the merge the block directory holds %v, want only %s", got, blockName(0, 60, 1))
	}
	f.requireDuplicates(t, s)
	if _, err := s.Verify(context.Background()); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

// TestDamagedIDTableIsRebuilt checks that an id table that fails its
// checksum is rebuilt from the block's rows (it is derived data), with a
// warning, and that every id is still found.
func TestDamagedIDTableIsRebuilt(t *testing.T) {
	f := newIDTableFixture(t)
	data, blockSize, _ := f.split(t)
	data[blockSize+40] ^= 0x01 // inside the first id entries
	if err := os.WriteFile(f.block, data, 0o644); err != nil {
		t.Fatal(err)
	}
	s, log := f.open(t)
	if !strings.Contains(log.String(), "rebuilding id table") {
		t.Errorf("no warning of a rebuilt id table; log:\n%s", log)
	}
	f.requireDuplicates(t, s)
	if _, err := s.Verify(context.Background()); err != nil {
		t.Errorf("Verify: %v", err)
	}
}
