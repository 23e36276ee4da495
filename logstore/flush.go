package logstore

import (
	"context"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/logstore/block"
)

// startFlush runs a flush in the background unless one is running.
func (s *Store) startFlush() {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed || s.flushing != nil {
		return
	}
	ch := make(chan struct{})
	s.flushing = ch
	s.bgFlushes++
	s.bgWG.Add(1)
	go func() {
		defer s.bgWG.Done()
		err := s.flush(true)
		if err != nil {
			s.log.Error("flush failed; the WAL still holds the head", "err", err)
		}
		s.closeMu.Lock()
		s.flushing = nil
		s.closeMu.Unlock()
		close(ch)
	}()
}

// Flushing reports whether a background flush (a flush a commit started
// when the heads outgrew Options.HeadBytes, with the compaction after it)
// is running.
func (s *Store) Flushing() bool {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	return s.flushing != nil
}

// BackgroundFlushes returns how many background flushes (see Flushing)
// have started since Open. Explicit ones (Flush, retention, erasure) are
// not counted. A caller that reads it before and after a stretch of
// appends learns whether a flush ran among them (trail bench does).
func (s *Store) BackgroundFlushes() int64 {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	return s.bgFlushes
}

// Flush writes every tenant's head to blocks, makes them durable, persists
// tiles and checkpoints, removes the WAL segments they cover and compacts.
// It is safe to call at any time; appends continue meanwhile.
func (s *Store) Flush() error {
	return s.flush(false)
}

// flush is Flush; a background flush (deferSmall) may leave small heads
// for a later one (see deferHeads).
func (s *Store) flush(deferSmall bool) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	if s.isClosed() {
		return errClosed
	}
	return s.flushHeads(deferSmall)
}

func (s *Store) isClosed() bool {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	return s.closed
}

func (s *Store) flushLocked() error { return s.flushHeads(false) }

// Deferring small heads: every block a flush writes costs the same fixed
// work whatever its size (an index, two files made durable, tiles, a
// checkpoint, then compaction), and with many tenants most heads hold a
// few events. A background flush therefore leaves in place the smallest
// heads, those under Options.SmallHeadBytes, up to deferBudgetShare of
// HeadBytes in all, each for at most maxHeadDefers flushes, so a small
// tenant writes one larger block every few flushes instead of a tiny one
// every time. The WAL keeps every record from the oldest deferred head's
// first on (the flush's cut stops there), so nothing acknowledged depends
// on memory alone.
const (
	deferBudgetShare = 4 // deferred heads hold at most HeadBytes/deferBudgetShare
	maxHeadDefers    = 4
)

// deferHeads chooses the heads a background flush leaves in place: small
// ones, smallest first, within the budget. Call with commitMu held.
func (s *Store) deferHeads() map[*tenant]bool {
	var small []*tenant
	s.mu.RLock()
	for _, t := range s.tenants {
		t.mu.RLock()
		if n := t.head.bytes; n > 0 && n < s.opts.SmallHeadBytes && t.headDefers < maxHeadDefers && t.broken == nil {
			small = append(small, t)
		}
		t.mu.RUnlock()
	}
	s.mu.RUnlock()
	sort.Slice(small, func(i, j int) bool { return small[i].head.bytes < small[j].head.bytes })
	deferred := map[*tenant]bool{}
	budget := s.opts.HeadBytes / deferBudgetShare
	for _, t := range small {
		if budget -= t.head.bytes; budget < 0 {
			break
		}
		deferred[t] = true
	}
	return deferred
}

func (s *Store) flushHeads(deferSmall bool) error {
	// Cut: freeze every head at a WAL position.
	s.commitMu.Lock()
	// The last commit's signed checkpoints may not be in the WAL yet; the
	// WAL is about to be trimmed, and recovery may need them to cover
	// the blocks this flush writes: log them first.
	if err := s.writePendingNotes(); err != nil {
		s.commitMu.Unlock()
		return fmt.Errorf("logstore: log checkpoints before flush: %w", err)
	}
	cut := s.wal.End()
	var deferred map[*tenant]bool
	if deferSmall {
		deferred = s.deferHeads()
	}
	s.mu.RLock()
	var ts []*tenant
	for _, t := range s.tenants {
		t.mu.Lock()
		switch {
		case deferred[t]:
			// Its events stay in the head, so the WAL must keep the
			// records they came in.
			t.headDefers++
			if t.headStart.Compare(cut) < 0 {
				cut = t.headStart
			}
		case t.head.entries.len() > 0:
			t.frozen = append(t.frozen, t.head)
			t.head = newHeadSeg(t.size, t.head)
			t.head.cp = t.cp
			t.headDefers = 0
		}
		if len(t.frozen) > 0 && t.broken == nil {
			ts = append(ts, t)
		}
		t.mu.Unlock()
	}
	s.mu.RUnlock()
	s.headBytes = 0
	s.mu.RLock()
	for _, t := range s.tenants {
		t.mu.RLock()
		s.headBytes += t.head.bytes
		t.mu.RUnlock()
	}
	s.mu.RUnlock()
	s.commitMu.Unlock()
	sort.Slice(ts, func(i, j int) bool { return ts[i].name < ts[j].name })
	if err := s.flushTenants(ts); err != nil {
		return err
	}
	if err := s.wal.RemoveBefore(cut); err != nil {
		return fmt.Errorf("logstore: trim wal: %w", err)
	}
	return s.compactTenants(ts)
}

// flushWorkers is how many tenants a flush writes at once when it makes
// its files durable one by one (syncBatch.perFile): most of their time is
// then spent waiting for fsyncs, which overlap.
const flushWorkers = 16

// workers is how many tenants a flush or compaction through b writes at
// once. With one sync of the file system for the batch, writing is CPU
// work (encoding and compressing blocks): it gets half the cores, at least
// one, so that a background flush leaves the others to the commits and
// requests it runs beside. With 16 workers on 2 cores, a flush during
// single-event ingest in trail bench raised its p99 to 48–77 ms; with one,
// 27 ms, for the same CPU per event (docs/design/logstore.md, "Flush
// workers").
func (b *syncBatch) workers() int {
	if b.perFile() {
		return flushWorkers
	}
	return max(1, runtime.GOMAXPROCS(0)/2)
}

// forEach calls fn for every element of xs from n goroutines and returns
// the first error (in the order of xs).
func forEach[T any](xs []T, n int, fn func(T) error) error {
	errs := make([]error, len(xs))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(n, len(xs)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = fn(xs[i])
			}
		}()
	}
	for i := range xs {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// tenantFlush is one tenant's part of a flush.
type tenantFlush struct {
	t      *tenant
	segs   []*headSeg      // the frozen segments written, oldest first
	blocks []*pendingBlock // blocks[i] holds segs[i]
	size   int64           // the tree size the tiles were written for
	err    error
}

// flushTenants writes the frozen segments of every tenant in ts as
// blocks, with their tiles and checkpoints, and makes all of them durable
// together (see syncBatch): phase 1 writes every tenant's tiles and
// temporary block files, a sync makes them durable, phase 2 renames the
// block files and appends the checkpoints, a second sync makes that
// durable, and only then are the blocks installed in memory, so that the
// caller may trim the WAL. A tenant that fails leaves its segments frozen
// (the WAL keeps them) and the others go on; a failed sync installs
// nothing. It returns the first error, in tenant order.
func (s *Store) flushTenants(ts []*tenant) error {
	b := s.newSyncBatch()
	fls := make([]*tenantFlush, len(ts))
	for i, t := range ts {
		fls[i] = &tenantFlush{t: t}
	}
	// Tenants are independent: write them from a pool (see workers).
	forEach(fls, b.workers(), func(f *tenantFlush) error {
		f.err = s.writeTenant(b, f)
		return nil
	})
	discardAll := func() {
		for _, f := range fls {
			for _, p := range f.blocks {
				p.discard(s.fs, s.log)
			}
		}
	}
	if err := b.sync(); err != nil {
		s.volumeFailed(err)
		discardAll()
		return fmt.Errorf("logstore: flush: %w", err)
	}
	forEach(fls, b.workers(), func(f *tenantFlush) error {
		if f.err == nil {
			f.err = s.publishTenant(b, f)
		}
		return nil
	})
	if err := b.sync(); err != nil {
		s.volumeFailed(err)
		discardAll()
		return fmt.Errorf("logstore: flush: %w", err)
	}
	var first error
	for _, f := range fls {
		if f.err != nil {
			for _, p := range f.blocks {
				p.discard(s.fs, s.log)
			}
			if first == nil {
				first = fmt.Errorf("logstore: flush %s: %w", f.t.name, f.err)
			}
			continue
		}
		s.installTenant(f)
	}
	return first
}

// writeTenant is phase 1 of a tenant's flush: its tiles, then each frozen
// segment as a block under temporary names.
func (s *Store) writeTenant(b *syncBatch, f *tenantFlush) error {
	t := f.t
	t.mu.RLock()
	f.segs = append([]*headSeg(nil), t.frozen...)
	tree := t.tree
	t.mu.RUnlock()
	if !t.dirsMade {
		// Its first flush (in this process): make its directories, which
		// the batch's first sync makes durable with the files in them.
		if err := b.mkdirs(t.dir, "blocks", "tiles"); err != nil {
			return err
		}
	}
	// Tiles first: a block is only trusted with its tiles durable, and
	// the batch syncs both before any block is visible.
	tiles, size := tree.TilesAndSize() // atomically: see TilesAndSize
	if err := t.tiles.write(tiles); err != nil {
		return err
	}
	if b.perFile() {
		if err := t.tiles.sync(); err != nil {
			return err
		}
		if t.tiles.takeOpened() {
			b.changed(t.tiles.dir)
		}
	}
	f.size = size
	for _, seg := range f.segs {
		p, err := s.writeBlock(b, t, seg.first, 0, seg.entries.len(), func(i int) blockRow { return headRow(seg.entries.at(i)) }, seg)
		if err != nil {
			return err
		}
		f.blocks = append(f.blocks, p)
	}
	return nil
}

// publishTenant is phase 2 of a tenant's flush, once phase 1 is durable:
// the blocks become visible under their names, and the checkpoint of each
// block's end is appended to checkpoints.log. Recovery accepts either
// becoming durable first: until the flush trims the WAL, the WAL holds
// the blocks' events and their checkpoints too.
func (s *Store) publishTenant(b *syncBatch, f *tenantFlush) error {
	for i, p := range f.blocks {
		if err := p.publish(b); err != nil {
			return err
		}
		if seg := f.segs[i]; seg.cp != nil && seg.cp.Size == seg.end() {
			if err := s.appendCheckpoint(f.t, seg.cp.Note, b.perFile()); err != nil {
				return err
			}
		}
	}
	return nil
}

// installTenant makes a tenant's flushed blocks, durable now, the ones
// reads use, in place of its frozen segments.
func (s *Store) installTenant(f *tenantFlush) {
	t := f.t
	t.dirsMade = true
	t.tree.Persisted(f.size)
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range f.blocks {
		t.blocks = append(t.blocks, p.ref)
	}
	n := len(f.segs)
	clear(t.frozen[:n]) // let the flushed segments be collected
	t.frozen = t.frozen[n:]
	t.persisted = f.segs[n-1].end()
}

// compaction is one tenant's merge in a compaction round.
type compaction struct {
	t    *tenant
	srcs []*blockRef
	p    *pendingBlock
	err  error
}

// compactTenants merges each tenant's newest blocks while the one before
// the last is not much larger than the last, keeping O(log n) blocks per
// tenant, all tenants in one round: each tenant's merge is written
// (phase 1), synced, renamed into place (phase 2) and synced again before
// the merged block replaces its sources in memory and the sources' files
// are removed. Chunks are copied verbatim; only the dictionaries are
// merged.
func (s *Store) compactTenants(ts []*tenant) error {
	var cs []*compaction
	for _, t := range ts {
		if srcs := s.toMerge(t); srcs != nil {
			cs = append(cs, &compaction{t: t, srcs: srcs})
		}
	}
	if len(cs) == 0 {
		return nil
	}
	b := s.newSyncBatch()
	forEach(cs, b.workers(), func(c *compaction) error {
		c.p, c.err = s.mergeBlocks(b, c.t, c.srcs)
		return nil
	})
	discardAll := func() {
		for _, c := range cs {
			if c.p != nil {
				c.p.discard(s.fs, s.log)
			}
		}
	}
	if err := b.sync(); err != nil {
		s.volumeFailed(err)
		discardAll()
		return fmt.Errorf("logstore: compact: %w", err)
	}
	forEach(cs, b.workers(), func(c *compaction) error {
		if c.err == nil {
			c.err = c.p.publish(b)
		}
		return nil
	})
	if err := b.sync(); err != nil {
		s.volumeFailed(err)
		discardAll()
		return fmt.Errorf("logstore: compact: %w", err)
	}
	var first error
	for _, c := range cs {
		if c.err == nil {
			c.err = s.installMerged(c)
		}
		if c.err != nil {
			if c.p != nil {
				c.p.discard(s.fs, s.log)
			}
			if first == nil {
				first = fmt.Errorf("logstore: compact %s: %w", c.t.name, c.err)
			}
		}
	}
	return first
}

// toMerge returns the tenant's newest blocks that compaction merges into
// one, or nil. Merging the last two while the one before the last is less
// than 4× the last (and the sum at most MaxBlockRows), then the merged
// block with the one before, and so on, is merging them all at once.
func (s *Store) toMerge(t *tenant) []*blockRef {
	t.mu.RLock()
	defer t.mu.RUnlock()
	n := len(t.blocks)
	if n < 2 {
		return nil
	}
	k, rows := 1, t.blocks[n-1].rows
	for i := n - 2; i >= 0; i-- {
		a := t.blocks[i]
		if a.rows >= 4*rows || a.rows+rows > s.opts.MaxBlockRows {
			break
		}
		k, rows = k+1, rows+a.rows
	}
	if k < 2 {
		return nil
	}
	return slices.Clone(t.blocks[n-k:])
}

// installMerged replaces a merge's sources, in memory, by the merged
// block, durable now, and removes the sources' files.
func (s *Store) installMerged(c *compaction) error {
	t, k := c.t, len(c.srcs)
	t.mu.Lock()
	n := len(t.blocks)
	if n < k || !slices.Equal(t.blocks[n-k:], c.srcs) {
		t.mu.Unlock()
		return fmt.Errorf("blocks changed during compaction")
	}
	t.blocks = append(t.blocks[:n-k:n-k], c.p.ref)
	t.mu.Unlock()
	for _, b := range c.srcs {
		s.retireToSpares(b)
	}
	return nil
}

// mergeBlocks writes the merge of srcs, consecutive blocks of t, as a
// pending block of batch b.
func (s *Store) mergeBlocks(b *syncBatch, t *tenant, srcs []*blockRef) (*pendingBlock, error) {
	readers := make([]*block.Reader, len(srcs))
	gen, rows := 0, 0
	var ids []idEntry
	minRecv, maxRecv := srcs[0].minRecv, srcs[0].maxRecv
	for i, b := range srcs {
		readers[i] = b.r
		gen = max(gen, b.gen+1)
		for _, e := range b.ids {
			ids = append(ids, idEntry{hash: e.hash, row: e.row + uint32(rows)})
		}
		rows += b.rows
		minRecv, maxRecv = min(minRecv, b.minRecv), max(maxRecv, b.maxRecv)
	}
	sortIDs(ids)
	var size int64
	for _, r := range readers {
		size += r.Meta().Bytes
	}
	buf := bytesBuffer{b: make([]byte, 0, size)} // a merge copies the chunks verbatim (or re-sealed)
	name := t.dir + "/blocks/" + blockName(srcs[0].first, rows, gen)
	if _, err := block.Merge(&buf, readers, nil, s.blockOptions(name)); err != nil {
		return nil, err
	}
	return s.writePendingBlock(b, name, &writtenBlock{data: buf.b, ids: ids, minRecv: minRecv, maxRecv: maxRecv}, srcs[0].first, rows, gen)
}

// bytesBuffer is a minimal io.Writer into a byte slice.
type bytesBuffer struct{ b []byte }

func (w *bytesBuffer) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }

// Retain implements trail.Store. It flushes the head, then rewrites every
// block holding events received before the cut-off with their content
// replaced by a stub of server fields, and removes the old files. Leaf
// hashes live in the tiles and are untouched, so every proof stays valid.
func (s *Store) Retain(ctx context.Context, tenantName string, before time.Time) (*trail.RetentionResult, error) {
	t, err := s.tenantByName(tenantName)
	if err != nil {
		return nil, err
	}
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	if s.isClosed() {
		return nil, errClosed
	}
	if err := s.flushLocked(); err != nil {
		return nil, err
	}
	res := &trail.RetentionResult{Tenant: t.name, FirstSeq: -1, LastSeq: -1}
	cut := before.UnixNano()
	t.mu.RLock()
	blocks := append([]*blockRef(nil), t.blocks...)
	t.mu.RUnlock()
	for _, b := range blocks {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if b.minRecv >= cut {
			continue
		}
		seqs, err := s.purgeBlock(t, b, func(ev *trail.Event) bool { return ev.ReceivedAt.UnixNano() < cut })
		if err != nil {
			return res, fmt.Errorf("logstore: retention %s: %w", t.name, err)
		}
		if len(seqs) == 0 {
			continue
		}
		res.Purged += int64(len(seqs))
		if res.FirstSeq < 0 {
			res.FirstSeq = seqs[0]
		}
		res.LastSeq = seqs[len(seqs)-1]
	}
	return res, nil
}

// Erase implements trail.Store: like Retain, it flushes the head, then
// rewrites the blocks holding the chosen seqs with their content replaced
// by a stub.
func (s *Store) Erase(ctx context.Context, tenantName string, seqs []int64) (*trail.ErasureResult, error) {
	t, err := s.tenantByName(tenantName)
	if err != nil {
		return nil, err
	}
	// Every seq below the size read now is in a block once flushLocked
	// returns.
	t.mu.RLock()
	size := t.size
	t.mu.RUnlock()
	want := make(map[int64]bool, len(seqs))
	for _, q := range seqs {
		if q < 0 || q >= size {
			return nil, trail.FieldError("seqs", "seq %d is not in the log (size %d)", q, size)
		}
		want[q] = true
	}
	res := &trail.ErasureResult{Tenant: t.name, Seqs: []int64{}}
	if len(want) == 0 {
		return res, nil
	}
	sorted := slices.Sorted(maps.Keys(want))
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	if s.isClosed() {
		return nil, errClosed
	}
	if err := s.flushLocked(); err != nil {
		return nil, err
	}
	t.mu.RLock()
	blocks := append([]*blockRef(nil), t.blocks...)
	t.mu.RUnlock()
	for _, b := range blocks {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		// Does any wanted seq fall in this block?
		if i, _ := slices.BinarySearch(sorted, b.first); i == len(sorted) || sorted[i] >= b.first+int64(b.rows) {
			continue
		}
		erased, err := s.purgeBlock(t, b, func(ev *trail.Event) bool { return want[ev.Seq] })
		if err != nil {
			return res, fmt.Errorf("logstore: erase %s: %w", t.name, err)
		}
		res.Seqs = append(res.Seqs, erased...)
	}
	slices.Sort(res.Seqs)
	res.Erased = int64(len(res.Seqs))
	return res, nil
}

// purgeBlock rewrites b with the content of the rows that purge selects
// replaced by stubs, swaps the new block in and removes the old files. It
// returns the seqs it erased, in order (none when nothing changes).
func (s *Store) purgeBlock(t *tenant, b *blockRef, purge func(*trail.Event) bool) ([]int64, error) {
	nb, seqs, err := s.rewritePurged(t, b, purge)
	if err != nil || nb == nil {
		return nil, err
	}
	t.mu.Lock()
	for i, x := range t.blocks {
		if x == b {
			t.blocks[i] = nb
		}
	}
	t.mu.Unlock()
	s.removeBlockFiles(b)
	b.retire()
	return seqs, nil
}

// rewritePurged writes a new generation of b with the rows purge selects
// erased. It returns nil when nothing changes.
func (s *Store) rewritePurged(t *tenant, b *blockRef, purge func(*trail.Event) bool) (nb *blockRef, seqs []int64, err error) {
	type row struct {
		data   []byte
		ev     *trail.Event
		erased bool
	}
	rows := make([]row, b.rows)
	err = b.r.Scan(0, b.rows, func(i int, data []byte) error {
		ev, err := trail.DecodeEvent(data)
		if err != nil {
			return fmt.Errorf("%s row %d: %w", b.path, i, err)
		}
		ev.Seq = b.first + int64(i)
		if ev.Erased {
			rows[i] = row{data: append([]byte(nil), data...), ev: ev, erased: true}
			return nil
		}
		if purge(ev) {
			rows[i] = row{data: erasedStub(ev), ev: ev, erased: true}
			seqs = append(seqs, ev.Seq)
			return nil
		}
		rows[i] = row{data: append([]byte(nil), data...), ev: ev}
		return nil
	})
	if err != nil || len(seqs) == 0 {
		return nil, nil, err
	}
	batch := s.perFileBatch()
	p, err := s.writeBlock(batch, t, b.first, b.gen+1, b.rows, func(i int) blockRow { return eventRow(rows[i].data, rows[i].ev, rows[i].erased) }, nil)
	if err != nil {
		return nil, nil, err
	}
	nb, err = s.installAlone(batch, p)
	return nb, seqs, err
}

// erasedStub is what remains of an event whose content was removed: its
// server fields. It can never be mistaken for a leaf, whose first key is
// always "action".
func erasedStub(ev *trail.Event) []byte {
	b := []byte(`{"erased":true,"id":`)
	b = appendJSONString(b, ev.ID)
	b = append(b, `,"received_at":"`...)
	b = ev.ReceivedAt.UTC().AppendFormat(b, trail.TimeFormat)
	b = append(b, `"}`...)
	return b
}

// appendJSONString quotes an event id. Ids are validated printable
// without spaces or control characters, so only quote and backslash need
// escaping.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// isStub reports whether block row data is an erased stub.
func isStub(data []byte) bool {
	return len(data) > 10 && string(data[:11]) == `{"erased":t`
}
