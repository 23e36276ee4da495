package logstore_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/logstore"
	"github.com/trail-audit/trail/logstore/vfs"
	"github.com/trail-audit/trail/storetest"
)

// countBlocks returns how many block files a tenant has.
func countBlocks(t *testing.T, dir, tenant string) int {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "tenants", tenant, "blocks"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if filepath.Ext(e.Name()) == ".blk" {
			n++
		}
	}
	return n
}

// TestDeferredSmallHeads: a background flush leaves a small tenant's head
// in place (no block for it) while writing a large tenant's, keeps the WAL
// records of the small head, so a restart finds its events, and writes it
// once it has been left maxHeadDefers times.
func TestDeferredSmallHeads(t *testing.T) {
	dir := t.TempDir()
	opts := storeOptions(t, dir, vfs.OS())
	opts.HeadBytes = 64 << 10
	opts.SmallHeadBytes = 8 << 10
	opts.WALSegmentSize = 16 << 10 // many segments, so trimming happens
	opts.ChunkRows = 16
	ctx := context.Background()
	g := storetest.NewGen(7, 1)
	now := time.Now()
	batch := func(tenant string, n int) []*trail.Event {
		evs := make([]*trail.Event, n)
		for i := range evs {
			evs[i] = g.Event(tenant, now)
		}
		return evs
	}

	s := mustOpen(t, opts)
	res, err := s.Append(ctx, batch("small", 3))
	if err != nil {
		t.Fatal(err)
	}
	small := res.Receipts
	// Fill the large tenant until a background flush has written it.
	deadline := time.Now().Add(20 * time.Second)
	for countBlocks(t, dir, "big") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no background flush wrote the large tenant")
		}
		if _, err := s.Append(ctx, batch("big", 20)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil { // waits for the flush; does not flush the heads
		t.Fatal(err)
	}
	if n := countBlocks(t, dir, "small"); n != 0 {
		t.Fatalf("the small tenant has %d blocks after one background flush, want its head left in place", n)
	}

	// After a restart the small tenant's events come from the WAL.
	checkSmall := func(s *logstore.Store) {
		t.Helper()
		for _, r := range small {
			ev, err := s.Get(ctx, "small", r.ID)
			if err != nil {
				t.Fatalf("Get(small, %s) after reopening: %v", r.ID, err)
			}
			if ev.Seq != r.Seq || ev.LeafHash == nil || *ev.LeafHash != r.LeafHash {
				t.Fatalf("small %s: seq %d hash %v, want seq %d hash %v", r.ID, ev.Seq, ev.LeafHash, r.Seq, r.LeafHash)
			}
		}
		if _, err := s.Verify(ctx); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	}
	s = mustOpen(t, opts)
	checkSmall(s)

	// Left at most maxHeadDefers times, the small head gets its block.
	deadline = time.Now().Add(60 * time.Second)
	for countBlocks(t, dir, "small") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the small tenant's head was never written to a block")
		}
		if _, err := s.Append(ctx, batch("big", 20)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, opts)
	defer s.Close()
	checkSmall(s)
}
