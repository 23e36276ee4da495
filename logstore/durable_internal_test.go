package logstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/gen"
	"github.com/trail-audit/trail/logstore/vfs"
)

// TestFlushSyncFailure fails one of the syncs of a flush (see syncBatch)
// and checks that nothing the failed sync covered is trusted: no block of
// any tenant installed in memory, no WAL segment trimmed, no temporary
// file left, and for compaction no merged block installed and no source
// file removed. Once the fault clears, a flush succeeds and every event is
// there, before and after a reopen. It runs with syncfs and file by file.
func TestFlushSyncFailure(t *testing.T) {
	tests := []struct {
		name string
		// data: a data sync fails (the first of a batch's two syncs, or
		// with no volume the files' own syncs), else the sync of the
		// renames.
		data      bool
		compacted bool // the flush part succeeds, its compaction fails
	}{
		{"flush data", true, false},
		{"flush renames", false, false},
		{"compaction data", true, true},
		{"compaction renames", false, true},
	}
	for _, mode := range []string{"syncfs", "per file"} {
		for _, tc := range tests {
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				testFlushSyncFailure(t, mode == "per file", tc.data, tc.compacted)
			})
		}
	}
}

func testFlushSyncFailure(t *testing.T, perFile, data, compacted bool) {
	ctx := context.Background()
	dir := t.TempDir()
	faulty := vfs.NewFaulty(vfs.OS())
	if perFile {
		faulty.Inject(vfs.Fault{Op: "syncfs", Err: errors.ErrUnsupported})
	}
	signer, verifier := internalKeys(t)
	opts := Options{Dir: dir, Signer: signer, Verifier: verifier, FS: faulty, WALSegmentSize: 4096}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	faulty.Clear()
	if got := s.vol == nil; got != perFile {
		t.Fatalf("store syncs file by file: %v, want %v", got, perFile)
	}
	g := gen.New(3, 1)
	tenants := []string{"acme", "globex", "initech"}
	want := map[string]int{}
	appendSome := func(prefix string) {
		t.Helper()
		for c := range 3 { // a WAL segment each
			var evs []*trail.Event
			for i := range 20 {
				tn := tenants[i%len(tenants)]
				ev := g.Event(tn, time.Time{})
				ev.ID = fmt.Sprintf("%s-%d-%d", prefix, c, i)
				evs = append(evs, ev)
				want[tn]++
			}
			if _, err := s.Append(ctx, evs); err != nil {
				t.Fatalf("Append(%s): %v", prefix, err)
			}
		}
	}
	appendSome("first")
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	appendSome("second")

	type state struct {
		blocks []string // every tenant's blocks in memory
		frozen int
		wal    []string
		files  []string // block files on disk
	}
	snapshot := func() state {
		var st state
		for _, tn := range tenants {
			tt := s.tenants[tn]
			tt.mu.RLock()
			for _, b := range tt.blocks {
				st.blocks = append(st.blocks, filepath.Base(b.path))
			}
			st.frozen += len(tt.frozen)
			tt.mu.RUnlock()
			des, err := os.ReadDir(filepath.Join(tt.dir, "blocks"))
			if err != nil {
				t.Fatal(err)
			}
			for _, de := range des {
				st.files = append(st.files, tn+"/"+de.Name())
			}
		}
		des, err := os.ReadDir(filepath.Join(dir, "wal"))
		if err != nil {
			t.Fatal(err)
		}
		for _, de := range des {
			st.wal = append(st.wal, de.Name())
		}
		return st
	}
	before := snapshot()
	if len(before.wal) < 2 {
		t.Fatalf("WAL segments %v: want several, so that a trim shows", before.wal)
	}
	// The faults that succeed come first, each fires once; then the
	// failing one.
	var fault vfs.Fault
	skip := 0
	switch {
	case !perFile:
		// One Volume.Sync for the data of each batch, one for its
		// renames; a flush's batch comes before its compaction's.
		fault = vfs.Fault{Op: "syncfs"}
		skip = map[bool]int{true: 0, false: 1}[data]
		if compacted {
			skip += 2
		}
	case data:
		// Each temporary block file synced as it is written: the flush
		// writes one per tenant before its compaction does.
		fault = vfs.Fault{Op: "sync", Path: "/blocks/"}
		if compacted {
			skip = len(tenants)
		}
	default:
		// Each tenant's blocks directory synced once the renames are
		// done.
		fault = vfs.Fault{Op: "syncdir", Path: "/blocks"}
		if compacted {
			skip = len(tenants)
		}
	}
	for range skip {
		ok := fault
		ok.Times = 1
		faulty.Inject(ok)
	}
	fault.Err = syscall.EIO
	faulty.Inject(fault)
	err = s.Flush()
	faulty.Clear()
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("Flush with a failing sync: got %v, want EIO", err)
	}
	after := snapshot()
	for _, f := range after.files {
		if strings.HasSuffix(f, ".tmp") {
			t.Errorf("temporary file %s left behind", f)
		}
	}
	if !compacted {
		// The flush froze every head, installed none.
		if fmt.Sprint(after.blocks) != fmt.Sprint(before.blocks) || after.frozen != len(tenants) {
			t.Errorf("blocks in memory after a failed flush sync: %v (%d frozen), want %v (%d frozen)", after.blocks, after.frozen, before.blocks, len(tenants))
		}
		if !slices.Equal(after.wal[:min(len(before.wal), len(after.wal))], before.wal) {
			t.Errorf("WAL after a failed flush sync: %v, want it untrimmed: %v…", after.wal, before.wal)
		}
		if fmt.Sprint(after.files) != fmt.Sprint(before.files) {
			t.Errorf("block files after a failed flush sync: %v, want those before: %v", after.files, before.files)
		}
	} else {
		// The flush installed one block per tenant, the compaction none.
		if got, want := len(after.blocks), len(before.blocks)+len(tenants); got != want || after.frozen != 0 {
			t.Errorf("blocks after a failed compaction sync: %v (%d frozen), want %d (0 frozen)", after.blocks, after.frozen, want)
		}
		for _, f := range after.files {
			if strings.Contains(f, "-000001.") {
				t.Errorf("merged block file %s left by a failed compaction", f)
			}
		}
		for _, b := range after.blocks {
			found := false
			for _, f := range after.files {
				found = found || strings.HasSuffix(f, "/"+b)
			}
			if !found {
				t.Errorf("block %s removed by a failed compaction", b)
			}
		}
	}
	appendSome("third")
	if err := s.Flush(); err != nil {
		t.Fatalf("Flush after the fault cleared: %v", err)
	}
	check := func() {
		t.Helper()
		for _, tn := range tenants {
			recs, err := s.Read(ctx, tn, 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != want[tn] {
				t.Errorf("Read(%s): %d events, want %d", tn, len(recs), want[tn])
			}
		}
		if _, err := s.Verify(ctx); err != nil {
			t.Errorf("Verify: %v", err)
		}
	}
	check()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	opts.FS = vfs.OS()
	if s, err = Open(opts); err != nil {
		t.Fatal(err)
	}
	check()
}

// openForTest opens a store in dir with the tests' keys and returns it
// with its options, to reopen it.
func openForTest(t *testing.T, dir string) (*Store, Options) {
	t.Helper()
	signer, verifier := internalKeys(t)
	opts := Options{Dir: dir, Signer: signer, Verifier: verifier}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s, opts
}

// appendFlush appends n events of tenant from g in one call and flushes.
func appendFlush(t *testing.T, s *Store, g *gen.Gen, tenant string, n int) {
	t.Helper()
	evs := make([]*trail.Event, n)
	for i := range evs {
		evs[i] = g.Event(tenant, time.Time{})
	}
	if _, err := s.Append(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
}

// TestTenantDirsAtFirstFlush checks that a new tenant's first append makes
// no directory, that its first flush makes them, and that recovery
// accepts a tenant directory whose subdirectories a crash left unmade.
func TestTenantDirsAtFirstFlush(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, opts := openForTest(t, dir)
	defer func() { s.Close() }()
	g := gen.New(4, 1)
	exists := func(rel string) bool {
		_, err := os.Stat(filepath.Join(dir, "tenants", rel))
		return err == nil
	}
	if _, err := s.Append(ctx, []*trail.Event{g.Event("acme", time.Time{})}); err != nil {
		t.Fatal(err)
	}
	if exists("acme") {
		t.Errorf("tenants/acme exists after the first append, want it made by the first flush")
	}
	// Reopened before any flush: the WAL alone holds the tenant.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var err error
	if s, err = Open(opts); err != nil {
		t.Fatal(err)
	}
	if recs, err := s.Read(ctx, "acme", 0, 10); err != nil || len(recs) != 1 {
		t.Fatalf("Read after reopen: %d records (err %v), want 1", len(recs), err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"acme/blocks", "acme/tiles", "acme/" + checkpointsFile} {
		if !exists(rel) {
			t.Errorf("tenants/%s missing after the first flush", rel)
		}
	}
	// A crash after the tenant directory was made, before its
	// subdirectories: an empty tenant directory.
	if err := os.Mkdir(filepath.Join(dir, "tenants", "globex"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(opts); err != nil {
		t.Fatalf("Open with an empty tenant directory: %v", err)
	}
	if _, err := s.Append(ctx, []*trail.Event{g.Event("globex", time.Time{})}); err != nil {
		t.Fatalf("Append to the tenant of the empty directory: %v", err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if !exists("globex/blocks") {
		t.Errorf("tenants/globex/blocks missing after its first flush")
	}
	if _, err := s.Verify(ctx); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

// TestRecoveryKeepsLongestBlockOfAGeneration: when two blocks of one
// first seq and generation are on disk (a discarded merge whose removal
// failed, next to the merge that replaced it), recovery keeps the one
// with more rows, whatever order the directory lists them in (before,
// it kept the first listed, the shorter here, and removed the other).
func TestRecoveryKeepsLongestBlockOfAGeneration(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, opts := openForTest(t, dir)
	defer func() { s.Close() }()
	g := gen.New(9, 1)
	bdir := filepath.Join(dir, "tenants", "acme", "blocks")
	appendFlush(t, s, g, "acme", 10)
	first := filepath.Join(bdir, blockName(0, 10, 0))
	blk, err := os.ReadFile(first)
	if err != nil {
		t.Fatalf("the first flush's block: %v", err)
	}
	appendFlush(t, s, g, "acme", 10) // merged with the first: one block of 20 rows, generation 1
	if _, err := os.Stat(filepath.Join(bdir, blockName(0, 20, 1))); err != nil {
		t.Fatalf("no merged block of 20 rows: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The first block again, named as a merge of generation 1 with 10
	// rows: it lists before the real merge.
	fake := filepath.Join(bdir, blockName(0, 10, 1))
	if err := os.WriteFile(fake, blk, 0o644); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(opts); err != nil {
		t.Fatal(err)
	}
	// The merge is kept and the shorter block removed as replaced. (The
	// WAL may still hold the last events, which would hide a wrong
	// choice from reads: look at the files.)
	if _, err := os.Stat(filepath.Join(bdir, blockName(0, 20, 1))); err != nil {
		t.Errorf("the merged block of 20 rows after reopening: %v", err)
	}
	if _, err := os.Stat(fake); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the shorter block of generation 1 after reopening: %v, want it removed", err)
	}
	if recs, err := s.Read(ctx, "acme", 0, 100); err != nil || len(recs) != 20 {
		t.Fatalf("Read after reopening: %d records (err %v), want 20", len(recs), err)
	}
	if _, err := s.Verify(ctx); err != nil {
		t.Errorf("Verify: %v", err)
	}
}
