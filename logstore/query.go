package logstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/internal/leafmatch"
	"github.com/trail-audit/trail/logstore/block"
	"github.com/trail-audit/trail/merkle"
)

// postings is the index interface the planner needs from a block or a
// head segment. Row numbers are relative to the source.
type postings interface {
	indexed(field string) bool  // false: lookups of field cannot narrow
	prefixes(field string) bool // false: prefix lookups of field cannot narrow
	lookup(field, key string) []uint32
	lookupPrefix(field, prefix string) []uint32
	keys(field string, fn func(key string) bool)
	// count is the size of lookup(field, key), or an estimate of it,
	// found without decoding the postings.
	count(field, key string) int
	// filter returns, in a new slice, the rows of rows (sorted) that
	// lookup(field, key) holds.
	filter(field, key string, rows []uint32) []uint32
}

type blockPostings struct{ r *block.Reader }

func (b blockPostings) indexed(string) bool               { return true }
func (b blockPostings) prefixes(string) bool              { return true }
func (b blockPostings) lookup(f, k string) []uint32       { return b.r.Lookup(f, k) }
func (b blockPostings) lookupPrefix(f, p string) []uint32 { return b.r.LookupPrefix(f, p) }
func (b blockPostings) keys(f string, fn func(string) bool) {
	b.r.Keys(f, fn)
}
func (b blockPostings) lookupChunks(f, k string) []uint32 { return b.r.LookupChunks(f, k) }
func (b blockPostings) lookupPrefixChunks(f, p string) []uint32 {
	return b.r.LookupPrefixChunks(f, p)
}
func (b blockPostings) chunkOf(row uint32) uint32 { return uint32(b.r.ChunkOf(int(row))) }
func (b blockPostings) count(f, k string) int     { return b.r.Count(f, k) }
func (b blockPostings) filter(f, k string, rows []uint32) []uint32 {
	return b.r.Filter(f, k, rows)
}

// segPostings reads a head segment's index; call with the tenant's read
// lock held. Rows at or past n (appended after the snapshot) are dropped.
type segPostings struct {
	seg *headSeg
	n   uint32
}

func (p segPostings) clip(rows []uint32) []uint32 {
	for len(rows) > 0 && rows[len(rows)-1] >= p.n {
		rows = rows[:len(rows)-1]
	}
	return rows
}

// indexed is true for every field: the head's postings answer the fields
// it indexes, its entries' signatures the others (see headSeg.lookup).
func (p segPostings) indexed(string) bool         { return true }
func (p segPostings) prefixes(f string) bool      { return headIndexed(f) }
func (p segPostings) lookup(f, k string) []uint32 { return p.clip(p.seg.lookup(f, k, int(p.n))) }
func (p segPostings) lookupPrefix(f, pre string) []uint32 {
	return p.clip(p.seg.lookupPrefix(f, pre))
}
func (p segPostings) count(f, k string) int { return p.seg.count(f, k) }
func (p segPostings) filter(f, k string, rows []uint32) []uint32 {
	return block.Intersect(rows, p.lookup(f, k))
}
func (p segPostings) keys(f string, fn func(string) bool) {
	for k := range p.seg.index[f] {
		if !fn(k) {
			return
		}
	}
}

// rowSet is a sorted set of rows of a source: the rows listed, or, when
// chunked, every row of the block chunks listed. Lookups of a chunk-level
// field (block.ChunkLevel: free-text words) give chunks, which a scan
// expands as it reaches them: a frequent word's chunks can hold most rows
// of a large block, and expanding them all for a page of 100 cost more
// than the rest of the query (BenchmarkScale's word queries at 10M).
type rowSet struct {
	rows    []uint32
	chunks  []uint32 // chunk indexes, when chunked
	chunked bool
}

func (r rowSet) empty() bool { return len(r.rows) == 0 && len(r.chunks) == 0 }

// chunkPostings is what a block adds to postings: chunk-level lookups
// and the row/chunk mapping to combine them with row lists.
type chunkPostings interface {
	lookupChunks(field, key string) []uint32
	lookupPrefixChunks(field, prefix string) []uint32
	chunkOf(row uint32) uint32
}

// intersect returns the rows in both a and b. A chunk set meets a row list
// as the rows whose chunk it holds.
func intersect(p postings, a, b rowSet) rowSet {
	switch {
	case !a.chunked && !b.chunked:
		return rowSet{rows: block.Intersect(a.rows, b.rows)}
	case a.chunked && b.chunked:
		return rowSet{chunks: block.Intersect(a.chunks, b.chunks), chunked: true}
	case a.chunked:
		a, b = b, a
	}
	cp := p.(chunkPostings) // only blocks give chunk sets
	var out []uint32
	for _, row := range a.rows {
		if _, ok := slices.BinarySearch(b.chunks, cp.chunkOf(row)); ok {
			out = append(out, row)
		}
	}
	return rowSet{rows: out}
}

// union returns a superset of the rows in a or b: exactly those when both
// are row lists, else the chunks holding any of them.
func union(p postings, a, b rowSet) rowSet {
	if !a.chunked && !b.chunked {
		return rowSet{rows: block.Union(a.rows, b.rows)}
	}
	return rowSet{chunks: block.Union(chunksOf(p, a), chunksOf(p, b)), chunked: true}
}

// chunksOf returns the chunks of a block holding the rows of r.
func chunksOf(p postings, r rowSet) []uint32 {
	if r.chunked {
		return r.chunks
	}
	cp := p.(chunkPostings)
	var out []uint32
	for _, row := range r.rows {
		if c := cp.chunkOf(row); len(out) == 0 || out[len(out)-1] != c {
			out = append(out, c)
		}
	}
	return out
}

// plan returns the candidate rows of a source for x: a sorted superset of
// the rows x matches, or all=true when the index cannot narrow it.
func plan(x *trail.Expr, p postings) (rows rowSet, all bool) {
	if x == nil {
		return rowSet{}, true
	}
	switch x.Op {
	case trail.OpNot:
		return rowSet{}, true
	case trail.OpAnd:
		return planAnd(x.Args, p)
	case trail.OpOr:
		for _, a := range x.Args {
			r, all := plan(a, p)
			if all {
				return rowSet{}, true
			}
			rows = union(p, rows, r)
		}
		return rows, false
	}
	return planTerm(x, p)
}

// planAnd plans the conjunction of args. Its exact terms (see
// exactTerm) are taken in order of their postings' size: the smallest is
// looked up, and the others only filter the rows found so far, which
// costs a pass over their postings but never decodes them whole. A
// frequent value's postings can hold most rows of a large block
// (outcome:success); decoding them for every query took 25–35 ms of an
// action+outcome query's p99 in BenchmarkScale at 10M events.
func planAnd(args []*trail.Expr, p postings) (rows rowSet, all bool) {
	type term struct {
		field, key string
		n          int
	}
	var exact []term
	narrowed := false
	for _, a := range args {
		if f, k, ok := exactTerm(a, p); ok {
			exact = append(exact, term{f, k, p.count(f, k)})
			continue
		}
		r, all := plan(a, p)
		if all {
			continue
		}
		if rows, narrowed = narrowBy(p, rows, narrowed, r), true; rows.empty() {
			return rowSet{}, false
		}
	}
	if len(exact) == 0 {
		return rows, !narrowed
	}
	slices.SortStableFunc(exact, func(a, b term) int { return a.n - b.n })
	if exact[0].n == 0 {
		return rowSet{}, false
	}
	if !narrowed || rows.chunked { // filter needs a row list to filter
		rows = narrowBy(p, rows, narrowed, rowSet{rows: p.lookup(exact[0].field, exact[0].key)})
		exact = exact[1:]
	}
	for _, t := range exact {
		if len(rows.rows) == 0 {
			break
		}
		rows = rowSet{rows: p.filter(t.field, t.key, rows.rows)}
	}
	return rows, false
}

// narrowBy returns rows intersected with r, or r when nothing has
// narrowed the rows yet.
func narrowBy(p postings, rows rowSet, narrowed bool, r rowSet) rowSet {
	if !narrowed {
		return r
	}
	return intersect(p, rows, r)
}

// exactTerm reports whether x is a term answered exactly by
// lookup(field, key) of a field whose postings list rows (not a prefix,
// an IP, free text or unindexed metadata), and returns them. planTerm
// and planAnd both go by it.
func exactTerm(x *trail.Expr, p postings) (field, key string, ok bool) {
	if x.Op != trail.OpTerm || x.Prefix || x.Field == trail.FieldIP || block.ChunkLevel(x.Field) || !p.indexed(x.Field) {
		return "", "", false
	}
	if strings.HasPrefix(x.Field, trail.MetadataPrefix) && !trail.MetadataIndexed(x.Field) {
		return "", "", false
	}
	return x.Field, trail.IndexKey(x.Value), true
}

func planTerm(x *trail.Expr, p postings) (rowSet, bool) {
	if f, k, ok := exactTerm(x, p); ok {
		return rowSet{rows: p.lookup(f, k)}, false
	}
	if !p.indexed(x.Field) {
		return rowSet{}, true
	}
	cp, _ := p.(chunkPostings)
	switch {
	case x.Field == trail.FieldIP:
		pre, err := trail.ParseIPMatch(x.Value)
		if err != nil {
			return rowSet{}, false
		}
		if pre.IsSingleIP() {
			return rowSet{rows: p.lookup(trail.FieldIP, pre.Addr().String())}, false
		}
		var keys []string
		p.keys(trail.FieldIP, func(k string) bool {
			if a, err := trail.ParseIPMatch(k); err == nil && pre.Contains(a.Addr()) {
				keys = append(keys, k)
			}
			return true
		})
		var rows []uint32
		for _, k := range keys {
			rows = block.Union(rows, p.lookup(trail.FieldIP, k))
		}
		return rowSet{rows: rows}, false
	case x.Field == trail.FieldText:
		chunked := cp != nil && block.ChunkLevel(trail.FieldText)
		words := trail.Words(x.Value)
		var rows rowSet
		narrowed := false
		for i, w := range words {
			var r rowSet
			switch {
			case x.Prefix && i == len(words)-1 && !p.prefixes(trail.FieldText):
				continue
			case x.Prefix && i == len(words)-1 && chunked:
				r = rowSet{chunks: cp.lookupPrefixChunks(trail.FieldText, w), chunked: true}
			case x.Prefix && i == len(words)-1:
				r = rowSet{rows: p.lookupPrefix(trail.FieldText, w)}
			case chunked:
				r = rowSet{chunks: cp.lookupChunks(trail.FieldText, w), chunked: true}
			default:
				r = rowSet{rows: p.lookup(trail.FieldText, w)}
			}
			if rows, narrowed = narrowBy(p, rows, narrowed, r), true; rows.empty() {
				return rowSet{}, false
			}
		}
		return rows, !narrowed
	case strings.HasPrefix(x.Field, trail.MetadataPrefix) && !trail.MetadataIndexed(x.Field):
		return rowSet{}, true
	}
	// A prefix term: exactTerm took the others.
	if !p.prefixes(x.Field) {
		return rowSet{}, true
	}
	return rowSet{rows: p.lookupPrefix(x.Field, trail.IndexKey(x.Value))}, false
}

// view is a consistent snapshot of a tenant for one read.
type view struct {
	t      *tenant
	tree   *merkle.Tree
	size   int64
	blocks []*blockRef
	segs   []segSnap
	lr     *leafReader       // persisted leaf hashes, a level-0 tile at a time
	pre    *leafmatch.Filter // rows whose leaf it rejects cannot match: skipped undecoded
}

type segSnap struct {
	seg     *headSeg
	entries entryPages // as the segment's when the snapshot was taken
	rows    []uint32   // candidates when !all
	all     bool
}

// snapshot takes a view of t, planning head candidates for x under the lock,
// with the row filter of x (see view.pre).
func (s *Store) snapshot(t *tenant, x *trail.Expr) *view {
	pre := leafmatch.New(x)
	t.mu.RLock()
	defer t.mu.RUnlock()
	v := &view{t: t, tree: t.tree, size: t.size, blocks: t.acquireBlocks(), pre: pre}
	for _, seg := range append(append([]*headSeg(nil), t.frozen...), t.head) {
		if seg.entries.len() == 0 {
			continue
		}
		ss := segSnap{seg: seg, entries: seg.entries.snapshot()}
		var rows rowSet
		rows, ss.all = plan(x, segPostings{seg: seg, n: uint32(ss.entries.len())})
		ss.rows = rows.rows // a head has no chunks
		v.segs = append(v.segs, ss)
	}
	return v
}

func (v *view) release() { releaseBlocks(v.blocks) }

// source is one block or head segment of a view, in seq order.
type source struct {
	first int64
	n     int
	b     *blockRef
	seg   *segSnap
}

func (v *view) sources() []source {
	out := make([]source, 0, len(v.blocks)+len(v.segs))
	for _, b := range v.blocks {
		out = append(out, source{first: b.first, n: b.rows, b: b})
	}
	for i := range v.segs {
		sg := &v.segs[i]
		out = append(out, source{first: sg.seg.first, n: sg.entries.len(), seg: sg})
	}
	return out
}

// event returns row i of a source as an event with Seq and LeafHash set.
func (v *view) event(src source, i int) (*trail.Event, error) {
	if src.seg != nil {
		return v.headEvent(src, i)
	}
	data, err := src.b.r.Row(i)
	if err != nil {
		return nil, &trail.TamperError{Tenant: v.t.name, Seq: src.first + int64(i), File: v.t.rel("blocks"), Reason: err.Error()}
	}
	return v.decodeRow(src, i, data, true)
}

// headEvent decodes head row i of src with Seq, Leaf and LeafHash set. The
// head keeps leaves, not decoded events (see headEntry), so each read gets
// an event of its own, decoded from the same bytes a block row would hold
// after the flush. Leaf is the head's copy, which is never modified.
func (v *view) headEvent(src source, i int) (*trail.Event, error) {
	e := src.seg.entries.at(i)
	ev, err := trail.DecodeEvent(e.leaf)
	if err != nil {
		// The store encoded this leaf itself: only memory corruption gets here.
		return nil, &trail.TamperError{Tenant: v.t.name, Seq: src.first + int64(i), File: "wal", Reason: "undecodable event in memory"}
	}
	ev.Seq = src.first + int64(i)
	ev.Leaf = e.leaf
	h := e.hash
	ev.LeafHash = &h
	return ev, nil
}

// decodeRow decodes block row i of src with Seq set, and LeafHash unless
// hash is false and the row is not erased: a scan hashes only the rows its
// filter accepts (see withLeafHash).
func (v *view) decodeRow(src source, i int, data []byte, hash bool) (*trail.Event, error) {
	ev, err := trail.DecodeEvent(data)
	if err != nil {
		return nil, &trail.TamperError{Tenant: v.t.name, Seq: src.first + int64(i), File: src.b.path, Reason: "undecodable row"}
	}
	ev.Seq = src.first + int64(i)
	if !isStub(data) {
		// The row is the leaf: hashing it (well under a microsecond) costs
		// less than reading its hash from the tiles (a pread per scattered
		// row; a third of the time of an IP or actor query at 10M). A
		// tampered row then gets a hash the tree does not hold, so its
		// inclusion proof fails, as it must.
		ev.Leaf = append([]byte(nil), data...)
		if hash {
			withLeafHash(ev)
		}
		return ev, nil
	}
	ev.Tenant = v.t.name // an erased row: only the tree has its hash
	if v.lr == nil {
		v.lr = &leafReader{v: v}
	}
	lh, err := v.lr.at(ev.Seq)
	if err != nil {
		return nil, fmt.Errorf("leaf hash %s/%d: %w", v.t.name, ev.Seq, err)
	}
	ev.LeafHash = &lh
	return ev, nil
}

// withLeafHash sets ev.LeafHash, when missing, to the hash of ev.Leaf.
func withLeafHash(ev *trail.Event) *trail.Event {
	if ev.LeafHash == nil {
		lh := trail.Hash(merkle.LeafHash(ev.Leaf))
		ev.LeafHash = &lh
	}
	return ev
}

// candidates returns the candidate rows of a source, all=true for all.
func candidates(src source, x *trail.Expr, from, to int64) (rowSet, bool) {
	if src.seg != nil {
		return rowSet{rows: src.seg.rows}, src.seg.all
	}
	p := blockPostings{src.b.r}
	rows, all := plan(x, p)
	if from == 0 && to == 0 {
		return rows, all
	}
	// Prune by chunk time ranges (event time). Without a filter, erased
	// rows are listed by their receipt time, which the chunk range does
	// not bound: chunks holding them are kept.
	r := src.b.r
	keep := rowSet{chunks: make([]uint32, 0, r.NumChunks()), chunked: true}
	for i := range r.NumChunks() {
		minT, maxT, erased := r.ChunkTimes(i)
		if ((from != 0 && maxT < from) || (to != 0 && minT >= to)) && !(x == nil && erased > 0) {
			continue
		}
		keep.chunks = append(keep.chunks, uint32(i))
	}
	if all {
		return keep, false
	}
	return intersect(p, rows, keep), false
}

// selection is a normalised query's filter, compiled, and its time range
// in Unix nanoseconds (0 = open).
type selection struct {
	match    trail.Matcher
	from, to int64
	filtered bool // a filter is set
}

// newSelection compiles q.Filter (nil matches everything).
func newSelection(q *trail.Query) (*selection, error) {
	match, err := q.Filter.Compile()
	if err != nil {
		return nil, err
	}
	sel := &selection{match: match}
	if !q.From.IsZero() {
		sel.from = q.From.UnixNano()
	}
	if !q.To.IsZero() {
		sel.to = q.To.UnixNano()
	}
	sel.filtered = q.Filter != nil
	return sel, nil
}

// accepts reports whether ev is in the result. An erased event has no
// content to match: it is in results without a filter only, when its
// receipt time is in the range.
func (sel *selection) accepts(ev *trail.Event) bool {
	if ev.Erased {
		tn := ev.ReceivedAt.UnixNano()
		return !sel.filtered && (sel.from == 0 || tn >= sel.from) && (sel.to == 0 || tn < sel.to)
	}
	tn := ev.Time.UnixNano()
	return (sel.from == 0 || tn >= sel.from) && (sel.to == 0 || tn < sel.to) && sel.match(ev)
}

// Query implements trail.Store.
func (s *Store) Query(ctx context.Context, q *trail.Query) (*trail.Page, error) {
	after, hasCursor, err := q.Normalize()
	if err != nil {
		return nil, err
	}
	t, err := s.tenantByName(q.Tenant)
	if err != nil {
		return nil, err
	}
	sel, err := newSelection(q)
	if err != nil {
		return nil, err
	}
	v := s.snapshot(t, q.Filter)
	defer v.release()
	page := &trail.Page{Events: []*trail.Event{}}
	desc := q.Order == trail.OrderDesc
	err = v.scan(ctx, q.Filter, sel.from, sel.to, desc, hasCursor, after, func(ev *trail.Event) bool {
		if !sel.accepts(ev) {
			return true
		}
		page.Events = append(page.Events, withLeafHash(ev))
		if len(page.Events) == q.Limit {
			page.NextCursor = trail.EncodeCursor(ev.Seq, q.Order)
			return false
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}

// scan calls fn with candidate events in seq order (desc: newest first),
// strictly after/before the cursor seq when hasCursor, until fn returns
// false.
func (v *view) scan(ctx context.Context, x *trail.Expr, from, to int64, desc, hasCursor bool, cursor int64, fn func(*trail.Event) bool) error {
	srcs := v.sources()
	n := len(srcs)
	for k := 0; k < n; k++ {
		src := srcs[k]
		if desc {
			src = srcs[n-1-k]
		}
		if hasCursor {
			if desc && src.first >= cursor || !desc && src.first+int64(src.n) <= cursor+1 {
				continue
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rows, all := candidates(src, x, from, to)
		// The candidate rows of this source in scan order, past the
		// cursor, are passed to emit a batch at a time.
		order := make([]uint32, 0, 1024)
		more := true
		var err error
		visit := func(row int) bool {
			seq := src.first + int64(row)
			if hasCursor && (desc && seq >= cursor || !desc && seq <= cursor) {
				return true
			}
			order = append(order, uint32(row))
			if len(order) == cap(order) {
				more, err = v.emit(src, order, fn)
				order = order[:0]
			}
			return more && err == nil
		}
		switch {
		case all:
			walkRange(0, src.n, desc, visit)
		case rows.chunked:
			walkChunks(src.b.r, rows.chunks, desc, visit)
		default:
			walkRows(rows.rows, desc, visit)
		}
		if err == nil && more && len(order) > 0 {
			more, err = v.emit(src, order, fn)
		}
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// walkRange calls visit with the rows [lo, hi) in order (desc: from the
// last) until it returns false.
func walkRange(lo, hi int, desc bool, visit func(row int) bool) bool {
	if desc {
		for row := hi - 1; row >= lo; row-- {
			if !visit(row) {
				return false
			}
		}
		return true
	}
	for row := lo; row < hi; row++ {
		if !visit(row) {
			return false
		}
	}
	return true
}

// walkRows calls visit with the sorted rows in order (desc: from the
// last) until it returns false.
func walkRows(rows []uint32, desc bool, visit func(row int) bool) {
	for j := range rows {
		if desc {
			j = len(rows) - 1 - j
		}
		if !visit(int(rows[j])) {
			return
		}
	}
}

// walkChunks calls visit with every row of the sorted chunks of r in
// order (desc: from the last) until it returns false.
func walkChunks(r *block.Reader, chunks []uint32, desc bool, visit func(row int) bool) {
	for j := range chunks {
		if desc {
			j = len(chunks) - 1 - j
		}
		first, n := r.ChunkSpan(int(chunks[j]))
		if !walkRange(first, first+n, desc, visit) {
			return
		}
	}
}

// errStop ends a block read early once the caller has enough.
var errStop = errors.New("stop")

// emit passes the events of rows (in the given order) to fn and reports
// whether fn wants more. Block rows are read with one decompression per
// chunk.
func (v *view) emit(src source, rows []uint32, fn func(*trail.Event) bool) (bool, error) {
	if src.seg != nil {
		for _, row := range rows {
			if !v.pre.May(src.seg.entries.at(int(row)).leaf) {
				continue // cannot match: not worth decoding
			}
			ev, err := v.headEvent(src, int(row))
			if err != nil {
				return false, err
			}
			if !fn(ev) {
				return false, nil
			}
		}
		return true, nil
	}
	more := true
	err := src.b.r.Rows(rows, func(row int, data []byte) error {
		if !v.pre.May(data) {
			return nil // cannot match: not worth decoding
		}
		ev, err := v.decodeRow(src, row, data, false)
		if err != nil {
			return err
		}
		if !fn(ev) {
			more = false
			return errStop
		}
		return nil
	})
	if err == errStop {
		err = nil
	}
	if err != nil {
		if _, ok := err.(*trail.TamperError); !ok {
			err = &trail.TamperError{Tenant: v.t.name, Seq: src.first, File: src.b.path, Reason: err.Error()}
		}
	}
	return more, err
}

// Stats implements trail.Store.
func (s *Store) Stats(ctx context.Context, sq *trail.StatsQuery) (*trail.Stats, error) {
	if err := sq.Validate(); err != nil {
		return nil, err
	}
	q := sq.Query
	q.Limit, q.Cursor, q.Order = 0, "", ""
	if _, _, err := q.Normalize(); err != nil {
		return nil, err
	}
	t, err := s.tenantByName(q.Tenant)
	if err != nil {
		return nil, err
	}
	sel, err := newSelection(&q)
	if err != nil {
		return nil, err
	}
	v := s.snapshot(t, q.Filter)
	defer v.release()
	c := trail.NewStatsCounter(sq)
	var addErr error
	err = v.scan(ctx, q.Filter, sel.from, sel.to, false, false, 0, func(ev *trail.Event) bool {
		if ev.Erased || !sel.accepts(ev) {
			return true
		}
		addErr = c.Add(ev)
		return addErr == nil
	})
	if err == nil {
		err = addErr
	}
	if err != nil {
		return nil, err
	}
	return c.Result(), nil
}

// Get implements trail.Store.
func (s *Store) Get(ctx context.Context, tenantName, id string) (*trail.Event, error) {
	t, err := s.tenantByName(tenantName)
	if err != nil {
		return nil, err
	}
	seq, _, ok := s.lookupID(t, id, idHash(id))
	if !ok {
		return nil, trail.Errorf(trail.ENOTFOUND, "no event %q in tenant %s", id, t.name)
	}
	return s.eventBySeq(ctx, t, seq)
}

// eventBySeq returns one event.
func (s *Store) eventBySeq(ctx context.Context, t *tenant, seq int64) (*trail.Event, error) {
	v := s.snapshot(t, nil)
	defer v.release()
	for _, src := range v.sources() {
		if seq >= src.first && seq < src.first+int64(src.n) {
			return v.event(src, int(seq-src.first))
		}
	}
	return nil, trail.Errorf(trail.ENOTFOUND, "no event with seq %d in tenant %s", seq, t.name)
}

// Read implements trail.Store.
func (s *Store) Read(ctx context.Context, tenantName string, from int64, limit int) ([]trail.Record, error) {
	if from < 0 {
		return nil, trail.FieldError("from", "must be >= 0")
	}
	if limit <= 0 {
		return nil, trail.FieldError("limit", "must be > 0")
	}
	t, err := s.tenantByName(tenantName)
	if err != nil {
		return nil, err
	}
	v := s.snapshot(t, nil)
	defer v.release()
	srcs := v.sources()
	var size int64 // the snapshot's log size
	if len(srcs) > 0 {
		last := srcs[len(srcs)-1]
		size = last.first + int64(last.n)
	}
	out := make([]trail.Record, 0, max(0, min(int64(limit), size-from)))
	var arena []byte // block rows' leaves are copied here, readArena bytes at a time
	lr := &leafReader{v: v}
	for _, src := range srcs {
		end := src.first + int64(src.n)
		if end <= from {
			continue
		}
		start := max(from, src.first)
		stop := min(end, start+int64(limit-len(out)))
		if src.seg != nil {
			for seq := start; seq < stop; seq++ {
				e := src.seg.entries.at(int(seq - src.first))
				out = append(out, trail.Record{Tenant: t.name, Seq: seq, LeafHash: e.hash, Data: e.leaf})
			}
		} else {
			err := src.b.r.Scan(int(start-src.first), int(stop-src.first), func(row int, data []byte) error {
				seq := src.first + int64(row)
				h, err := lr.at(seq)
				if err != nil {
					return err
				}
				rec := trail.Record{Tenant: t.name, Seq: seq, LeafHash: h}
				if !isStub(data) {
					if cap(arena)-len(arena) < len(data) {
						// Room for this source's rows still to read if they
						// are this size, up to readArena: a follower reading
						// one new record does not allocate 64 KiB.
						left := int(stop - seq)
						arena = make([]byte, 0, max(len(data), min(readArena, left*len(data))))
					}
					arena = append(arena, data...)
					rec.Data = arena[len(arena)-len(data) : len(arena) : len(arena)]
				} else {
					ev, err := trail.DecodeEvent(data)
					if err != nil {
						return fmt.Errorf("erased stub of seq %d: %w", seq, err)
					}
					rec.ID, rec.ReceivedAt = ev.ID, ev.ReceivedAt
				}
				out = append(out, rec)
				return nil
			})
			if err != nil {
				return nil, &trail.TamperError{Tenant: t.name, Seq: start, File: src.b.path, Reason: err.Error()}
			}
		}
		if len(out) >= limit {
			break
		}
	}
	return out, nil
}

// readArena bounds the allocations into which Read copies block rows'
// leaves (the records share one; capacity-limited slices keep one from
// growing into the next).
const readArena = 64 << 10

// leafReader reads persisted leaf hashes a level-0 tile at a time.
type leafReader struct {
	v    *view
	n    int64
	data []byte
}

func (lr *leafReader) at(seq int64) (trail.Hash, error) {
	n := seq >> merkle.TileHeight
	if lr.data == nil || n != lr.n {
		w := int64(1 << merkle.TileHeight)
		if end := (n + 1) << merkle.TileHeight; end > lr.v.t.persistedSnapshot() {
			// Not in a full persisted tile: ask the tree.
			h, err := lr.v.tree.LeafHashAt(seq)
			return trail.Hash(h), err
		}
		data, err := lr.v.t.tiles.ReadTile(tlog.Tile{H: merkle.TileHeight, L: 0, N: n, W: int(w)})
		if err != nil {
			return trail.Hash{}, err
		}
		lr.n, lr.data = n, data
	}
	var h trail.Hash
	off := (seq & (1<<merkle.TileHeight - 1)) * 32
	copy(h[:], lr.data[off:off+32])
	return h, nil
}

func (t *tenant) persistedSnapshot() int64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.persisted
}

// Wait implements trail.Store.
func (s *Store) Wait(ctx context.Context, tenantName string, size int64) (int64, error) {
	if err := trail.ValidateTenantName(tenantName); err != nil {
		return 0, err
	}
	for {
		s.mu.RLock()
		t := s.tenants[tenantName]
		ch := s.notify // until the tenant has events
		s.mu.RUnlock()
		if t != nil {
			t.mu.RLock()
			n := t.size
			if n > 0 {
				ch = t.grown
			}
			t.mu.RUnlock()
			if n > size {
				return n, nil
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-s.quit:
			return 0, errClosed
		}
	}
}

// Checkpoint implements trail.Store.
func (s *Store) Checkpoint(ctx context.Context, tenantName string) (*trail.Checkpoint, error) {
	t, err := s.tenantByName(tenantName)
	if err != nil {
		return nil, err
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.cp == nil {
		return nil, trail.Errorf(trail.ENOTFOUND, "tenant %s has no checkpoint yet", t.name)
	}
	return t.cp, nil
}

// InclusionProof implements trail.Store.
func (s *Store) InclusionProof(ctx context.Context, tenantName string, seq, size int64) (*trail.InclusionProof, error) {
	t, err := s.tenantByName(tenantName)
	if err != nil {
		return nil, err
	}
	t.mu.RLock()
	tree, cpSize := t.tree, int64(0)
	if t.cp != nil {
		cpSize = t.cp.Size
	}
	t.mu.RUnlock()
	if size <= 0 {
		size = cpSize
	}
	if size > cpSize {
		return nil, trail.FieldError("size", "tree size %d is larger than the latest checkpoint (%d)", size, cpSize)
	}
	if seq < 0 || seq >= size {
		return nil, trail.FieldError("seq", "must be in [0, %d)", size)
	}
	hs, err := tree.InclusionProof(seq, size)
	if err != nil {
		return nil, fmt.Errorf("logstore: inclusion proof: %w", err)
	}
	return &trail.InclusionProof{LeafIndex: seq, TreeSize: size, Hashes: toHashes(hs)}, nil
}

// ConsistencyProof implements trail.Store.
func (s *Store) ConsistencyProof(ctx context.Context, tenantName string, from, to int64) (*trail.ConsistencyProof, error) {
	t, err := s.tenantByName(tenantName)
	if err != nil {
		return nil, err
	}
	t.mu.RLock()
	tree, cpSize := t.tree, int64(0)
	if t.cp != nil {
		cpSize = t.cp.Size
	}
	t.mu.RUnlock()
	if to <= 0 {
		to = cpSize
	}
	if to > cpSize {
		return nil, trail.FieldError("to", "tree size %d is larger than the latest checkpoint (%d)", to, cpSize)
	}
	if from < 0 || from > to {
		return nil, trail.FieldError("from", "must be in [0, %d]", to)
	}
	p := &trail.ConsistencyProof{From: from, To: to, Hashes: []trail.Hash{}}
	if from == 0 || from == to {
		return p, nil
	}
	hs, err := tree.ConsistencyProof(from, to)
	if err != nil {
		return nil, fmt.Errorf("logstore: consistency proof: %w", err)
	}
	p.Hashes = toHashes(hs)
	return p, nil
}

func toHashes(hs []merkle.Hash) []trail.Hash {
	out := make([]trail.Hash, len(hs))
	for i, h := range hs {
		out[i] = trail.Hash(h)
	}
	return out
}
