package logstore_test

import (
	"context"
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/logstore/vfs"
	"github.com/trail-audit/trail/storetest"
)

// TestBackgroundFlushes: the count starts at 0, an explicit Flush does not
// change it, each background flush that the heads' growth starts adds one
// and leaves its blocks on disk, and appends that stay under HeadBytes add
// none.
func TestBackgroundFlushes(t *testing.T) {
	dir := t.TempDir()
	opts := storeOptions(t, dir, vfs.OS())
	opts.HeadBytes = 64 << 10
	opts.MaxBlockRows = 100 // so that compaction leaves each flush's block (200 rows) as it is
	s := mustOpen(t, opts)
	defer s.Close()
	ctx := context.Background()
	g := storetest.NewGen(11, 1)
	now := time.Now()
	appendN := func(n int) {
		t.Helper()
		evs := make([]*trail.Event, n)
		for i := range evs {
			evs[i] = g.Event("acme", now)
		}
		if _, err := s.Append(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
	// A commit starts its flush after it answers, so Append may return
	// first: wait for the count, then for the flush to end.
	awaitFlushes := func(want int64) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); s.BackgroundFlushes() < want || s.Flushing(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d background flushes (one running: %v), want %d", s.BackgroundFlushes(), s.Flushing(), want)
			}
		}
		if n := s.BackgroundFlushes(); n != want {
			t.Fatalf("%d background flushes, want %d", n, want)
		}
	}
	if n := s.BackgroundFlushes(); n != 0 {
		t.Fatalf("a new store counts %d background flushes, want 0", n)
	}
	appendN(10) // far under HeadBytes
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := s.BackgroundFlushes(); n != 0 {
		t.Fatalf("after small appends and an explicit Flush: %d background flushes, want 0", n)
	}
	blocks := countBlocks(t, dir, "acme")
	// Each round appends more than HeadBytes of leaves in one commit, so
	// the commit starts one flush, which ends before the next round.
	for round := int64(1); round <= 3; round++ {
		appendN(200)
		awaitFlushes(round)
		b := countBlocks(t, dir, "acme")
		if b <= blocks {
			t.Fatalf("round %d: %d blocks after a background flush, had %d", round, b, blocks)
		}
		blocks = b
	}
}
