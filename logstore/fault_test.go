package logstore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/logstore"
	"github.com/trail-audit/trail/logstore/vfs"
	"github.com/trail-audit/trail/storetest"
)

// Path fragments that select one kind of file for a vfs.Fault. They carry
// separators so that they cannot match the test's temporary directory.
const (
	walFiles   = "/wal/"
	blockFiles = "/blocks/"
	tileFiles  = "/tiles/"
)

// storeOptions returns the options of a test store in dir on fsys.
func storeOptions(t testing.TB, dir string, fsys vfs.FS) logstore.Options {
	signer, verifier := testKey(t)
	return logstore.Options{Dir: dir, Signer: signer, Verifier: verifier, ServerName: "trail.test", FS: fsys}
}

// mustOpen opens a store and fails the test if it cannot.
func mustOpen(t testing.TB, opts logstore.Options) *logstore.Store {
	t.Helper()
	s, err := logstore.Open(opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", opts.Dir, err)
	}
	return s
}

// readAll returns every stored record of tenant, in seq order.
func readAll(t testing.TB, s trail.Store, tenant string) []trail.Record {
	t.Helper()
	var out []trail.Record
	for {
		recs, err := s.Read(context.Background(), tenant, int64(len(out)), 1000)
		if err != nil {
			t.Fatalf("Read(%s, %d): %v", tenant, len(out), err)
		}
		if len(recs) == 0 {
			return out
		}
		out = append(out, recs...)
	}
}

// queryCount counts the events Query returns for tenant with no filter.
func queryCount(t testing.TB, s trail.Store, tenant string) int {
	t.Helper()
	n := 0
	q := &trail.Query{Tenant: tenant, Order: trail.OrderAsc, Limit: trail.MaxLimit}
	for {
		page, err := s.Query(context.Background(), q)
		if err != nil {
			t.Fatalf("Query(%s): %v", tenant, err)
		}
		n += len(page.Events)
		if page.NextCursor == "" {
			return n
		}
		q.Cursor = page.NextCursor
	}
}

// acked records the receipts of acknowledged appends, per tenant in seq
// order. It is safe for concurrent use.
type acked struct {
	mu   sync.Mutex
	recs map[string][]trail.Receipt
}

func newAcked() *acked { return &acked{recs: map[string][]trail.Receipt{}} }

func (a *acked) add(res *trail.AppendResult) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range res.Receipts {
		if !r.Duplicate {
			a.recs[r.Tenant] = append(a.recs[r.Tenant], r)
		}
	}
	for tn, rs := range a.recs {
		sort.Slice(rs, func(i, j int) bool { return rs[i].Seq < rs[j].Seq })
		a.recs[tn] = rs
	}
}

func (a *acked) tenants() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for tn := range a.recs {
		out = append(out, tn)
	}
	sort.Strings(out)
	return out
}

func (a *acked) of(tenant string) []trail.Receipt {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]trail.Receipt(nil), a.recs[tenant]...)
}

// checkExactly checks that s holds exactly the acknowledged events: every
// receipt at its seq with its leaf hash and id, gapless from 0, nothing more.
func checkExactly(t *testing.T, s trail.Store, a *acked) {
	t.Helper()
	for _, tn := range a.tenants() {
		want := a.of(tn)
		got := readAll(t, s, tn)
		if len(got) != len(want) {
			t.Errorf("Read(%s): %d records, want the %d acknowledged", tn, len(got), len(want))
		}
		for i := range min(len(got), len(want)) {
			g, w := got[i], want[i]
			if w.Seq != int64(i) {
				t.Errorf("receipt %d of %s has seq %d, want %d (gapless)", i, tn, w.Seq, i)
				break
			}
			if g.Seq != w.Seq || g.LeafHash != w.LeafHash {
				t.Errorf("Read(%s)[%d]: seq %d leaf hash %v, want seq %d leaf hash %v", tn, i, g.Seq, g.LeafHash, w.Seq, w.LeafHash)
				break
			}
			ev, err := trail.DecodeEvent(g.Data)
			if err != nil || ev.ID != w.ID {
				t.Errorf("Read(%s)[%d]: event %v (err %v), want id %q", tn, i, ev, err, w.ID)
				break
			}
		}
		if n := queryCount(t, s, tn); n != len(want) {
			t.Errorf("Query(%s): %d events, want %d", tn, n, len(want))
		}
	}
}

// faultBatch returns n events spread over tenants with ids "<prefix>-<i>".
func faultBatch(g *storetest.Gen, tenants []string, prefix string, n int) []*trail.Event {
	evs := make([]*trail.Event, n)
	for i := range evs {
		evs[i] = g.Event(tenants[i%len(tenants)], time.Time{})
		evs[i].ID = fmt.Sprintf("%s-%d", prefix, i)
	}
	return evs
}

// Kinds of fault: what the caller sees while it is armed.
const (
	failsAppend  = "append"  // Append fails; nothing of the batch is stored
	failsFlush   = "flush"   // Flush fails; appends go on, the WAL keeps the head
	failsNothing = "nothing" // everything succeeds, only slower
	slowFlush    = "slow"    // a flush is slow; appends during it are not
)

// faultCase is a case of TestFaults.
type faultCase struct {
	name  string
	fault vfs.Fault
	fails string
	// wantErr is the cause the error must wrap.
	wantErr error
	// restart: the WAL cannot be repaired in place (the truncation
	// that would discard the unsynced record failed too), so appends
	// keep failing after the fault clears until the store is reopened.
	restart bool
	// perFileOnly: the fault is on a sync only a store without syncfs
	// does.
	perFileOnly bool
}

// TestFaults injects disk failures under a running store and checks that the
// caller gets a clear EUNAVAILABLE error, that nothing acknowledged is lost
// and nothing unacknowledged appears, and that the store recovers once the
// fault clears (DESIGN.md §4: "All file I/O goes through a small interface so
// tests can inject ENOSPC, EIO, short writes and slow fsyncs").
func TestFaults(t *testing.T) {
	tests := []faultCase{
		{name: "ENOSPC on WAL write", fault: vfs.Fault{Op: "write", Path: walFiles, Err: syscall.ENOSPC}, fails: failsAppend, wantErr: syscall.ENOSPC},
		{name: "short write on WAL", fault: vfs.Fault{Op: "write", Path: walFiles, Short: 9}, fails: failsAppend, wantErr: io.ErrShortWrite},
		{name: "EIO on one WAL sync", fault: vfs.Fault{Op: "sync", Path: walFiles, Err: syscall.EIO, Times: 1}, fails: failsAppend, wantErr: syscall.EIO},
		{name: "EIO on every WAL sync", fault: vfs.Fault{Op: "sync", Path: walFiles, Err: syscall.EIO}, fails: failsAppend, wantErr: syscall.EIO, restart: true},
		{name: "slow WAL fsync", fault: vfs.Fault{Op: "sync", Path: walFiles, Delay: 50 * time.Millisecond}, fails: failsNothing},
		{name: "ENOSPC on block write", fault: vfs.Fault{Op: "write", Path: blockFiles, Err: syscall.ENOSPC}, fails: failsFlush, wantErr: syscall.ENOSPC},
		{name: "EIO on tile sync", fault: vfs.Fault{Op: "sync", Path: tileFiles, Err: syscall.EIO}, fails: failsFlush, wantErr: syscall.EIO},
		// A flush's syncs (syncfs(2), or file by file: see "per file").
		{name: "EIO on syncfs", fault: vfs.Fault{Op: "syncfs", Err: syscall.EIO}, fails: failsFlush, wantErr: syscall.EIO},
		{name: "ENOSPC on one syncfs", fault: vfs.Fault{Op: "syncfs", Err: syscall.ENOSPC, Times: 1}, fails: failsFlush, wantErr: syscall.ENOSPC},
		{name: "slow syncfs", fault: vfs.Fault{Op: "syncfs", Delay: 300 * time.Millisecond}, fails: slowFlush},
		{name: "slow block sync", fault: vfs.Fault{Op: "sync", Path: blockFiles, Delay: 100 * time.Millisecond}, fails: slowFlush},
		{name: "EIO on block directory sync", fault: vfs.Fault{Op: "syncdir", Path: "/blocks", Err: syscall.EIO}, fails: failsFlush, wantErr: syscall.EIO, perFileOnly: true},
		{name: "rename of a block fails", fault: vfs.Fault{Op: "rename", Path: blockFiles, Err: syscall.EIO}, fails: failsFlush, wantErr: syscall.EIO},
	}
	// Each case runs with the store syncing a flush's files all at once
	// (syncfs(2)) and file by file (where syncfs is unsupported).
	for _, mode := range []string{"syncfs", "per file"} {
		for _, tc := range tests {
			perFile := mode == "per file"
			if perFile && tc.fault.Op == "syncfs" || !perFile && tc.perFileOnly {
				continue
			}
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				testFault(t, tc, perFile)
			})
		}
	}
}

// testFault runs one case of TestFaults, with a store that syncs its
// flushes file by file if perFile.
func testFault(t *testing.T, tc faultCase, perFile bool) {
	ctx := context.Background()
	dir := t.TempDir()
	faulty := vfs.NewFaulty(vfs.OS())
	if perFile {
		faulty.Inject(vfs.Fault{Op: "syncfs", Err: errors.ErrUnsupported})
	}
	s := mustOpen(t, storeOptions(t, dir, faulty))
	faulty.Clear()
	defer func() { s.Close() }()
	g := storetest.NewGen(1, 1)
	tenants := []string{"acme", "globex", "initech"}
	a := newAcked()
	appendOK := func(prefix string, n int) *trail.AppendResult {
		t.Helper()
		res, err := s.Append(ctx, faultBatch(g, tenants, prefix, n))
		if err != nil {
			t.Fatalf("Append(%s): %v", prefix, err)
		}
		a.add(res)
		return res
	}
	for i := range 3 {
		appendOK(fmt.Sprintf("before%d", i), 30)
	}
	if tc.fails == failsFlush {
		// Blocks and tiles exist already, so the failing flush
		// extends them rather than creating the first ones.
		if err := s.Flush(); err != nil {
			t.Fatalf("Flush before the fault: %v", err)
		}
		appendOK("head", 30)
	}
	sizes := map[string]int64{}
	for _, tn := range tenants {
		sizes[tn] = int64(len(a.of(tn)))
	}

	faulty.Inject(tc.fault)
	hits := faulty.Hits()
	switch tc.fails {
	case failsAppend:
		failed := faultBatch(g, tenants, "failed", 12)
		res, err := s.Append(ctx, failed)
		if err == nil {
			t.Fatalf("Append during the fault: got receipts %v, want an error", res.Receipts)
		}
		if faulty.Hits() == hits {
			t.Fatalf("the fault never fired")
		}
		checkUnavailable(t, "Append during the fault", err, tc.wantErr, "stable storage")
		checkExactly(t, s, a)
		for _, ev := range failed {
			if _, err := s.Get(ctx, ev.Tenant, ev.ID); trail.ErrorCode(err) != trail.ENOTFOUND {
				t.Errorf("Get(%s, %s) of a failed append: err %v, want %s", ev.Tenant, ev.ID, err, trail.ENOTFOUND)
			}
		}
	case failsFlush:
		err := s.Flush()
		if err == nil {
			t.Fatalf("Flush during the fault: got nil, want an error")
		}
		if !errors.Is(err, tc.wantErr) {
			t.Errorf("Flush during the fault: %v, want it to wrap %v", err, tc.wantErr)
		}
		if !strings.Contains(err.Error(), strings.Trim(tc.fault.Path, "/")) {
			t.Errorf("Flush during the fault: %q does not name the %s file", err, tc.fault.Path)
		}
		// The WAL is untouched by the fault: appends go on.
		appendOK("during", 15)
		checkExactly(t, s, a)
	case slowFlush:
		// Wait until the flush is in a slow sync, then append: the
		// append must not wait for the flush.
		done := make(chan error, 1)
		go func() { done <- s.Flush() }()
		for faulty.Hits() == hits {
			time.Sleep(time.Millisecond)
		}
		appendOK("during", 15)
		select {
		case err := <-done:
			t.Errorf("slow flush: ended (err %v) before an append made during it was acknowledged, want appends not to wait for it", err)
		default:
		}
		if err := <-done; err != nil {
			t.Fatalf("slow flush: %v", err)
		}
	case failsNothing:
		// Many concurrent single-event appends to one tenant: with
		// slow fsyncs the writer groups them into few commits. Every
		// append of a commit gets the checkpoint of that commit, so
		// distinct checkpoint sizes count commits.
		const writers, each = 16, 4
		var mu sync.Mutex
		commits := map[int64]bool{}
		var wg sync.WaitGroup
		start := time.Now()
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					ev := slowEvent(w, i)
					res, err := s.Append(ctx, []*trail.Event{ev})
					if err != nil {
						t.Errorf("Append with slow fsync: %v", err)
						return
					}
					a.add(res)
					mu.Lock()
					commits[res.Checkpoints["acme"].Size] = true
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if n := len(commits); n >= writers*each/2 {
			t.Errorf("slow fsync: %d appends took %d commits, want group commit to batch them into fewer than %d", writers*each, n, writers*each/2)
		}
		if syncs := faulty.Hits() - hits; syncs > len(commits) {
			t.Errorf("slow fsync: %d WAL syncs for %d commits, want at most one each", syncs, len(commits))
		}
		t.Logf("slow fsync: %d appends in %d commits, %v", writers*each, len(commits), time.Since(start))
	}

	faulty.Clear()
	if tc.restart {
		_, err := s.Append(ctx, faultBatch(g, tenants, "broken", 3))
		checkUnavailable(t, "Append after the fault cleared, before restart", err, tc.wantErr, "restart")
		if err := s.Close(); err == nil {
			t.Errorf("Close of a store whose WAL failed: nil, want the failure")
		}
		s = mustOpen(t, storeOptions(t, dir, faulty))
		checkExactly(t, s, a)
	}
	if tc.fails == failsFlush {
		if err := s.Flush(); err != nil {
			t.Fatalf("Flush after the fault cleared: %v", err)
		}
	}
	// Appends succeed again, seqs continue from the last
	// acknowledged one, and a retried batch is not a duplicate.
	sizes = map[string]int64{}
	for _, tn := range tenants {
		sizes[tn] = int64(len(a.of(tn)))
	}
	res := appendOK("failed", 12)
	next := map[string]int64{}
	for _, r := range res.Receipts {
		if r.Duplicate {
			t.Errorf("retry of %s after the fault: a duplicate, want a new event", r.ID)
		}
		want := sizes[r.Tenant] + next[r.Tenant]
		if r.Seq != want {
			t.Errorf("receipt %s after the fault: seq %d, want %d", r.ID, r.Seq, want)
		}
		next[r.Tenant]++
	}
	appendOK("after", 30)
	checkExactly(t, s, a)

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s = mustOpen(t, storeOptions(t, dir, vfs.OS()))
	checkExactly(t, s, a)
	if _, err := s.Verify(ctx); err != nil {
		t.Errorf("Verify after reopen: %v", err)
	}
}

// slowEvent returns the i-th event of writer w for the slow-fsync case.
func slowEvent(w, i int) *trail.Event {
	ev := storetest.NewGen(uint64(100+w), 1).Event("acme", time.Time{})
	ev.ID = fmt.Sprintf("slow-%d-%d", w, i)
	return ev
}

// checkUnavailable checks that err is a clear EUNAVAILABLE error wrapping
// cause whose client message contains msg.
func checkUnavailable(t *testing.T, what string, err, cause error, msg string) {
	t.Helper()
	if got := trail.ErrorCode(err); got != trail.EUNAVAILABLE {
		t.Errorf("%s: code %q (%v), want %q", what, got, err, trail.EUNAVAILABLE)
	}
	if !errors.Is(err, cause) {
		t.Errorf("%s: %v, want it to wrap %v", what, err, cause)
	}
	if got := trail.ErrorMessage(err); !strings.Contains(got, msg) {
		t.Errorf("%s: message %q, want it to mention %q", what, got, msg)
	}
}
