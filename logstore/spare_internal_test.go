package logstore

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/gen"
)

// TestCompactionRecyclesFiles checks that the files of merged-away blocks
// are written over by later flushes instead of new files being created
// (see spareFiles), that a block a reader still holds is not reused until
// the reader lets it go, and that no spare outlives Close.
func TestCompactionRecyclesFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, opts := openForTest(t, dir)
	defer func() { s.Close() }()
	g := gen.New(6, 1)
	blocks := filepath.Join(dir, "tenants", "acme", "blocks")
	names := func(pred func(string) bool) []string {
		t.Helper()
		des, err := os.ReadDir(blocks)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, de := range des {
			if pred(de.Name()) {
				out = append(out, filepath.Join(blocks, de.Name()))
			}
		}
		return out
	}
	isSpare := func(n string) bool { return strings.HasPrefix(n, ".spare-") }
	isBlockFile := func(n string) bool { return strings.HasSuffix(n, ".blk") }
	pooled := func() []string {
		s.spares.mu.Lock()
		defer s.spares.mu.Unlock()
		return slices.Clone(s.spares.paths)
	}
	inodes := func(paths []string) []uint64 {
		t.Helper()
		var out []uint64
		for _, p := range paths {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			st, ok := fi.Sys().(*syscall.Stat_t)
			if !ok {
				t.Skip("no inode numbers on this platform")
			}
			out = append(out, uint64(st.Ino))
		}
		slices.Sort(out)
		return out
	}
	holds := func(set []uint64, xs ...uint64) bool {
		for _, x := range xs {
			if _, ok := slices.BinarySearch(set, x); !ok {
				return false
			}
		}
		return true
	}

	appendFlush(t, s, g, "acme", 50) // block A
	a := inodes(names(isBlockFile))
	tn, err := s.tenantByName("acme")
	if err != nil {
		t.Fatal(err)
	}
	held := s.snapshot(tn, nil) // a reader holding A
	readHeld := func() []int64 {
		t.Helper()
		var seqs []int64
		err := held.scan(ctx, nil, 0, 0, false, false, 0, func(ev *trail.Event) bool {
			seqs = append(seqs, ev.Seq)
			return true
		})
		if err != nil {
			t.Fatalf("read through the held view: %v", err)
		}
		return seqs
	}

	appendFlush(t, s, g, "acme", 50) // B, merged with A: A retired while held
	if !holds(inodes(names(isSpare)), a...) {
		t.Fatalf("A's files are not spares after the merge")
	}
	for range 2 {
		appendFlush(t, s, g, "acme", 50) // new blocks and merges, which reuse the pooled spares
		p := inodes(pooled())
		for _, ino := range a {
			if holds(p, ino) {
				t.Fatalf("a file of A was pooled while a reader holds A")
			}
		}
	}
	if got := readHeld(); len(got) != 50 || got[0] != 0 || got[49] != 49 {
		t.Fatalf("held view read %d events, want seqs 0–49", len(got))
	}
	held.release()
	if !holds(inodes(pooled()), a...) {
		t.Fatalf("A's files not pooled once the reader let A go")
	}

	spares, before := inodes(pooled()), inodes(names(isBlockFile))
	appendFlush(t, s, g, "acme", 50) // a new block, written over spares
	now := inodes(names(isBlockFile))
	created := 0
	for _, ino := range now {
		if holds(before, ino) {
			continue
		}
		created++
		if !holds(spares, ino) {
			t.Errorf("block file inode %d is new: spares %v, block files now %v", ino, spares, now)
		}
	}

	if created == 0 {
		t.Fatalf("the last flush wrote no file: block files before %v, after %v", before, now)
	}
	all, err := s.Read(ctx, "acme", 0, 1000)
	if err != nil || len(all) != 250 {
		t.Fatalf("read: %d records, %v", len(all), err)
	}
	if _, err := s.Verify(ctx); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := names(isSpare); len(got) != 0 {
		t.Fatalf("spare files after Close: %v", got)
	}
	if s, err = Open(opts); err != nil {
		t.Fatal(err)
	}
	again, err := s.Read(ctx, "acme", 0, 1000)
	if err != nil || len(again) != 250 {
		t.Fatalf("read after reopen: %d records, %v", len(again), err)
	}
	for i := range all {
		if string(all[i].Data) != string(again[i].Data) {
			t.Fatalf("event %d differs after reopen", i)
		}
	}
}

// TestFlushing checks that Flushing reports a background flush from its
// start to its end, and only then.
func TestFlushing(t *testing.T) {
	s, _ := openForTest(t, t.TempDir())
	defer s.Close()
	if s.Flushing() {
		t.Fatal("Flushing on a new store")
	}
	s.flushMu.Lock() // the background flush waits here
	s.startFlush()
	if !s.Flushing() {
		s.flushMu.Unlock()
		t.Fatal("not Flushing while a background flush waits to run")
	}
	s.flushMu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for s.Flushing() {
		if time.Now().After(deadline) {
			t.Fatal("still Flushing 10 s after the flush could run")
		}
		time.Sleep(time.Millisecond)
	}
}
