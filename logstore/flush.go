package logstore

import (
	"context"
	"fmt"
	"maps"
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
	// Tenants are independent: flush them from a pool so that their
	// fsyncs overlap instead of queueing one after another.
	if err := forEach(ts, flushWorkers, func(t *tenant) error {
		if err := s.flushTenant(t); err != nil {
			return fmt.Errorf("logstore: flush %s: %w", t.name, err)
		}
		return nil
	}); err != nil {
		return err
	}
	if err := s.wal.RemoveBefore(cut); err != nil {
		return fmt.Errorf("logstore: trim wal: %w", err)
	}
	return forEach(ts, flushWorkers, func(t *tenant) error {
		if err := s.compact(t); err != nil {
			return fmt.Errorf("logstore: compact %s: %w", t.name, err)
		}
		return nil
	})
}

// flushWorkers is how many tenants a flush writes at once.
const flushWorkers = 16

// forEach calls fn for every tenant from n goroutines and returns the
// first error (in tenant order).
func forEach(ts []*tenant, n int, fn func(*tenant) error) error {
	errs := make([]error, len(ts))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(n, len(ts)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = fn(ts[i])
			}
		}()
	}
	for i := range ts {
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

// flushTenant writes the tenant's frozen segments as blocks.
func (s *Store) flushTenant(t *tenant) error {
	t.mu.RLock()
	frozen := append([]*headSeg(nil), t.frozen...)
	tree := t.tree
	t.mu.RUnlock()
	for _, seg := range frozen {
		// Tiles first: a block is only trusted with its tiles durable.
		tiles, size := tree.TilesAndSize() // atomically: see TilesAndSize
		if err := t.tiles.write(tiles); err != nil {
			return err
		}
		if err := t.tiles.sync(); err != nil {
			return err
		}
		b, err := s.writeBlock(t, seg.first, 0, seg.entries.len(), func(i int) blockRow { return headRow(seg.entries.at(i)) }, seg)
		if err != nil {
			return err
		}
		if seg.cp != nil && seg.cp.Size == seg.end() {
			if err := s.appendCheckpoint(t, seg.cp.Note); err != nil {
				b.close()
				return err
			}
		}
		tree.Persisted(size)
		t.mu.Lock()
		t.blocks = append(t.blocks, b)
		t.frozen[0] = nil // let the flushed segment be collected
		t.frozen = t.frozen[1:]
		t.persisted = seg.end()
		t.mu.Unlock()
	}
	return nil
}

// compact merges a tenant's newest blocks while the one before the last is
// not much larger than the last, keeping O(log n) blocks per tenant. Chunks
// are copied verbatim; only the dictionaries are merged.
func (s *Store) compact(t *tenant) error {
	for {
		t.mu.RLock()
		n := len(t.blocks)
		var a, b *blockRef
		if n >= 2 {
			a, b = t.blocks[n-2], t.blocks[n-1]
		}
		t.mu.RUnlock()
		if a == nil || a.rows >= 4*b.rows || a.rows+b.rows > s.opts.MaxBlockRows {
			return nil
		}
		merged, err := s.mergeBlocks(t, []*blockRef{a, b})
		if err != nil {
			return err
		}
		t.mu.Lock()
		if len(t.blocks) >= 2 && t.blocks[len(t.blocks)-2] == a && t.blocks[len(t.blocks)-1] == b {
			t.blocks = append(t.blocks[:len(t.blocks)-2:len(t.blocks)-2], merged)
		} else {
			t.mu.Unlock()
			merged.close()
			return fmt.Errorf("blocks changed during compaction")
		}
		t.mu.Unlock()
		s.removeBlockFiles(a)
		s.removeBlockFiles(b)
		a.retire()
		b.retire()
	}
}

func (s *Store) mergeBlocks(t *tenant, srcs []*blockRef) (*blockRef, error) {
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
	return s.installBlockFile(name, &writtenBlock{data: buf.b, ids: ids, minRecv: minRecv, maxRecv: maxRecv}, srcs[0].first, rows, gen)
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
	nb, err = s.writeBlock(t, b.first, b.gen+1, b.rows, func(i int) blockRow { return eventRow(rows[i].data, rows[i].ev, rows[i].erased) }, nil)
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
