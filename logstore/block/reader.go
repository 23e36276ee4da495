package block

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// ChunkInfo describes one chunk: its rows [FirstRow, FirstRow+Rows), how
// many of them are erased, the range of their event times, its compressed
// size, and whether it is unindexed (it has no chunk-level postings and
// matches every chunk-level lookup; see Merge).
type ChunkInfo struct {
	FirstRow, Rows, Erased int
	MinTime, MaxTime       int64
	Bytes                  int
	Unindexed              bool
}

// Reader reads a block file. It is safe for concurrent use by many
// goroutines. Errors name the file.
type Reader struct {
	name    string
	ra      io.ReaderAt
	size    int64
	meta    Meta
	foot    footer
	chunks  []chunkMeta
	erased  []uint32
	fields  []fieldIndex
	noIndex []uint32 // chunks flagged unindexed

	id     uint64 // the Reader's part of its cache keys
	cache  *Cache
	cipher Cipher // nil for a plaintext block
}

// decodedChunk is a decompressed chunk: row j is data[start[j]:start[j+1]],
// erased when gone[j]. refs and evicted are guarded by the mutex of the
// Cache that holds it.
type decodedChunk struct {
	data    []byte
	start   []uint32
	gone    []bool
	refs    int
	evicted bool
	scratch bool   // from Cache.scratch, never cached
	held    []bool // rows a partial chunk holds; nil when whole (see acquire)
}

// Open reads the footer and the index of the block file name, of size
// bytes, read through r, and checks their CRCs and structure. Chunks are
// checked when read. The Reader keeps r; it does not close it. It caches
// its last few decompressed chunks; OpenWith can share a Cache instead.
func Open(name string, r io.ReaderAt, size int64) (*Reader, error) {
	return OpenWith(name, r, size, Options{})
}

// OpenWith is Open with options: opts.Cache, when not nil, holds the
// Reader's decompressed chunks, shared with other Readers; opts.Cipher
// opens an encrypted block (a plaintext one is read without it, see
// Encrypted), and ErrNoCipher is returned for an encrypted block when it
// is nil; the other options are for writing and are ignored.
//
// The index of an encrypted block is opened here, so an error of the
// Cipher (a key it lacks) comes back from OpenWith, wrapped; chunks are
// opened when read.
func OpenWith(name string, r io.ReaderAt, size int64, opts Options) (*Reader, error) {
	return openReader(name, r, size, nil, opts)
}

// OpenWritten is OpenWith for a block whose bytes the caller still holds,
// all of them as they were written and as r reads them: file. The footer,
// the header and the index are read from file instead of through r, and
// checked as OpenWith checks them; the Reader reads its chunks through r
// and does not keep file. A writer that has just written a block uses it
// to open the block without reading back what it wrote.
func OpenWritten(name string, r io.ReaderAt, file []byte, opts Options) (*Reader, error) {
	return openReader(name, r, int64(len(file)), file, opts)
}

// openReader opens a Reader; file, when not nil, holds the bytes r reads.
func openReader(name string, r io.ReaderAt, size int64, file []byte, opts Options) (*Reader, error) {
	br := &Reader{name: name, ra: r, size: size, id: readerIDs.Add(1), cache: opts.Cache, cipher: opts.Cipher}
	if err := br.open(file); err != nil {
		return nil, err
	}
	if br.cache == nil {
		br.cache = newPrivateCache()
	} else {
		br.cache.watch(br)
	}
	return br, nil
}

// ErrNoCipher is wrapped by the error of OpenWith for an encrypted block
// opened without Options.Cipher.
var ErrNoCipher = errors.New("block is encrypted and no cipher was given")

// Encrypted reports whether the block's chunks and index are sealed
// (format version 2).
func (r *Reader) Encrypted() bool { return r.foot.version == versionEncrypted }

func (r *Reader) errorf(off int64, format string, args ...any) error {
	return fmt.Errorf("block %s: offset %d: %s", r.name, off, fmt.Sprintf(format, args...))
}

func (r *Reader) readAt(off int64, n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := r.ra.ReadAt(b, off); err != nil {
		return nil, fmt.Errorf("block %s: read %d bytes at offset %d: %w", r.name, n, off, err)
	}
	return b, nil
}

// open reads and checks the footer, the header and the index, from file
// when it is not nil (then it holds every byte of the file), else through
// r.ra. It keeps nothing of file.
func (r *Reader) open(file []byte) error {
	if r.size < headerLen+footerLen {
		return r.errorf(0, "file of %d bytes is too short", r.size)
	}
	read := r.readAt
	if file != nil {
		read = func(off int64, n int) ([]byte, error) { return file[off : off+int64(n)], nil }
	}
	footOff := r.size - footerLen
	fb, err := read(footOff, footerLen)
	if err != nil {
		return err
	}
	if r.foot, err = parseFooter(fb); err != nil {
		return r.errorf(footOff, "%v", err)
	}
	hb, err := read(0, headerLen)
	if err != nil {
		return err
	}
	if string(hb) != string(headerOf(r.foot.version)) {
		return r.errorf(0, "bad header magic")
	}
	if r.foot.version == version {
		r.cipher = nil
	} else if r.cipher == nil {
		return fmt.Errorf("block %s: %w", r.name, ErrNoCipher)
	}
	f := r.foot
	if f.indexOff < headerLen || f.indexOff+uint64(f.indexLen) != uint64(footOff) {
		return r.errorf(footOff, "index at %d of %d bytes does not end at the footer", f.indexOff, f.indexLen)
	}
	ib, err := read(int64(f.indexOff), int(f.indexLen))
	if err != nil {
		return err
	}
	if crc(ib) != f.indexCRC {
		return r.errorf(int64(f.indexOff), "index checksum mismatch")
	}
	if r.cipher != nil {
		if ib, err = r.cipher.Open(nil, ib, IndexAAD()); err != nil {
			return fmt.Errorf("block %s: index at offset %d: %w", r.name, f.indexOff, err)
		}
	}
	raw, err := decoder().DecodeAll(ib, make([]byte, 0, f.indexRawLen))
	if err != nil || len(raw) != int(f.indexRawLen) {
		return r.errorf(int64(f.indexOff), "index does not decompress to %d bytes: %v", f.indexRawLen, err)
	}
	if err := r.parseIndex(raw); err != nil {
		return r.errorf(int64(f.indexOff), "index: %v", err)
	}
	return nil
}

// parseIndex decodes and validates the index payload.
func (r *Reader) parseIndex(raw []byte) error {
	d := &dec{b: raw}
	m := Meta{Tenant: d.string(), FirstSeq: d.varint(), Bytes: r.size}
	m.Rows = d.count(maxRows)
	n := d.count(uint64(m.Rows))
	if d.err != nil {
		return d.err
	}
	if m.FirstSeq < 0 {
		return errors.New("negative first seq")
	}
	r.chunks = make([]chunkMeta, n)
	off, row, prevMin := int64(headerLen), 0, int64(0)
	for i := range r.chunks {
		c := &r.chunks[i]
		c.firstRow, c.off = row, off
		c.rows = d.count(MaxChunkRows)
		c.rawLen = d.count(maxChunkRaw)
		c.compLen = d.count(r.foot.indexOff)
		c.crc = d.u32()
		c.minTime = prevMin + d.varint()
		c.maxTime = c.minTime + int64(d.uvarint())
		c.flags = d.uvarint()
		if d.err != nil {
			return d.err
		}
		if c.rows == 0 || (c.compLen == 0) != (c.rawLen == 0) || c.maxTime < c.minTime || c.flags&^flagUnindexed != 0 {
			return fmt.Errorf("chunk %d: bad entry", i)
		}
		if c.compLen != 0 && c.rawLen < c.rows {
			return fmt.Errorf("chunk %d: payload of %d bytes for %d rows", i, c.rawLen, c.rows)
		}
		if c.flags&flagUnindexed != 0 {
			r.noIndex = append(r.noIndex, uint32(i))
		}
		prevMin = c.minTime
		row += c.rows
		off += int64(c.compLen)
		if i == 0 || c.minTime < m.MinTime {
			m.MinTime = c.minTime
		}
		if i == 0 || c.maxTime > m.MaxTime {
			m.MaxTime = c.maxTime
		}
	}
	if row != m.Rows || off != int64(r.foot.indexOff) {
		return fmt.Errorf("chunks cover %d rows and end at %d, want %d rows ending at %d", row, off, m.Rows, r.foot.indexOff)
	}
	r.erased = appendDecodedPostings(nil, d.postings(uint64(m.Rows)), 0)
	if d.err != nil {
		return fmt.Errorf("erased rows: %v", d.err)
	}
	m.Erased = len(r.erased)
	for _, e := range r.erased {
		r.chunks[r.chunkOf(int(e))].erased++
	}
	for i, c := range r.chunks {
		if (c.compLen == 0) != (c.erased == c.rows) {
			return fmt.Errorf("chunk %d: %d of %d rows erased but %d bytes of data", i, c.erased, c.rows, c.compLen)
		}
	}
	nf := d.count(uint64(len(raw)))
	r.fields = make([]fieldIndex, 0, min(nf, 1024))
	var scratch []uint32
	for i := 0; i < nf && d.err == nil; i++ {
		f := fieldIndex{name: d.string(), kind: d.uvarint()}
		if d.err != nil {
			break
		}
		if f.name == "" || (i > 0 && f.name <= r.fields[i-1].name) {
			return fmt.Errorf("field %d: name %q out of order", i, f.name)
		}
		limit := uint64(m.Rows)
		switch f.kind {
		case kindRows:
		case kindChunks:
			limit = uint64(len(r.chunks))
		default:
			return fmt.Errorf("field %q: unknown kind %d", f.name, f.kind)
		}
		if err := f.parse(d, limit, &scratch); err != nil {
			return fmt.Errorf("field %q: %v", f.name, err)
		}
		r.fields = append(r.fields, f)
	}
	if d.err == nil && d.off != len(raw) {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return d.err
	}
	r.meta = m
	return nil
}

// Meta returns the block's description.
func (r *Reader) Meta() Meta { return r.meta }

// Name returns the name the Reader was opened with.
func (r *Reader) Name() string { return r.name }

// Fields returns the names of the indexed fields, sorted.
func (r *Reader) Fields() []string {
	out := make([]string, len(r.fields))
	for i := range r.fields {
		out[i] = r.fields[i].name
	}
	return out
}

// Chunks describes the chunks in row order.
func (r *Reader) Chunks() []ChunkInfo {
	out := make([]ChunkInfo, len(r.chunks))
	for i, c := range r.chunks {
		out[i] = ChunkInfo{FirstRow: c.firstRow, Rows: c.rows, Erased: c.erased,
			MinTime: c.minTime, MaxTime: c.maxTime, Bytes: c.compLen,
			Unindexed: c.flags&flagUnindexed != 0}
	}
	return out
}

// IsErased reports whether row i is erased, without reading its chunk.
func (r *Reader) IsErased(i int) bool {
	_, ok := slices.BinarySearch(r.erased, uint32(i))
	return ok && i >= 0
}

func (r *Reader) chunkOf(row int) int {
	return sort.Search(len(r.chunks), func(i int) bool { return r.chunks[i].firstRow+r.chunks[i].rows > row })
}

func (r *Reader) field(name string) *fieldIndex {
	i, ok := slices.BinarySearchFunc(r.fields, name, func(f fieldIndex, n string) int { return strings.Compare(f.name, n) })
	if !ok {
		return nil
	}
	return &r.fields[i]
}

// Lookup returns the rows whose field has key, sorted ascending. For a
// chunk-level field (ChunkLevel) it returns every live row of the chunks
// that contain key in some row, and of the chunks flagged unindexed (see
// LookupChunks, which does not expand them).
func (r *Reader) Lookup(field, key string) []uint32 {
	if ChunkLevel(field) {
		return r.liveRows(r.LookupChunks(field, key))
	}
	return r.lookupValues(field, key)
}

// LookupPrefix returns the union of Lookup(field, key) over the keys that
// start with prefix.
func (r *Reader) LookupPrefix(field, prefix string) []uint32 {
	if ChunkLevel(field) {
		return r.liveRows(r.LookupPrefixChunks(field, prefix))
	}
	return r.lookupPrefixValues(field, prefix)
}

// LookupChunks returns, for a chunk-level field (ChunkLevel), the sorted
// indexes of the chunks that may hold a row whose field has key: those
// whose postings list it and those flagged unindexed, less the chunks
// whose rows are all erased. For other fields it returns nil.
func (r *Reader) LookupChunks(field, key string) []uint32 {
	if !ChunkLevel(field) {
		return nil
	}
	return r.chunksOf(r.lookupValues(field, key))
}

// LookupPrefixChunks is LookupChunks for the keys that start with prefix.
func (r *Reader) LookupPrefixChunks(field, prefix string) []uint32 {
	if !ChunkLevel(field) {
		return nil
	}
	return r.chunksOf(r.lookupPrefixValues(field, prefix))
}

// Count returns how many values the postings of (field, key) hold: rows,
// or chunks for a chunk-level field (ChunkLevel); 0 when no row has key.
// It reads only the postings' length.
func (r *Reader) Count(field, key string) int {
	if f := r.field(field); f != nil {
		if post, ok := f.find(key); ok {
			if n, k := uvarint(post); k > 0 {
				return int(n)
			}
		}
	}
	return 0
}

// Filter returns, in a new slice, the rows of rows (sorted ascending)
// whose field has key: Intersect(rows, Lookup(field, key)). For a field
// that is not chunk-level it does so without decoding the postings into
// memory, in one pass over their bytes that skips runs of small gaps
// eight at a time: the postings of a frequent key can hold most rows of a
// large block (outcome:success), and decoding them whole for each query
// cost more than the rest of the query.
func (r *Reader) Filter(field, key string, rows []uint32) []uint32 {
	if len(rows) == 0 {
		return nil
	}
	if ChunkLevel(field) {
		return Intersect(rows, r.Lookup(field, key))
	}
	f := r.field(field)
	if f == nil {
		return nil
	}
	post, ok := f.find(key)
	if !ok {
		return nil
	}
	return filterPostings(make([]uint32, 0, len(rows)), rows, post)
}

// lookupValues returns the decoded postings of (field, key): rows, or
// chunk indexes for a chunk-level field.
func (r *Reader) lookupValues(field, key string) []uint32 {
	if f := r.field(field); f != nil {
		if post, ok := f.find(key); ok {
			return appendDecodedPostings(nil, post, 0)
		}
	}
	return nil
}

// lookupPrefixValues returns the union of lookupValues over the keys of
// field that start with prefix.
func (r *Reader) lookupPrefixValues(field, prefix string) []uint32 {
	var vals []uint32
	if f := r.field(field); f != nil {
		n := 0
		for it := f.seek(prefix); it.next() && strings.HasPrefix(it.key, prefix); n++ {
			vals = appendDecodedPostings(vals, it.post, 0)
		}
		if n > 1 {
			slices.Sort(vals)
			vals = slices.Compact(vals)
		}
	}
	return vals
}

// chunksOf adds the unindexed chunks to the chunk postings vals and drops
// the chunks whose rows are all erased.
func (r *Reader) chunksOf(vals []uint32) []uint32 {
	if len(r.noIndex) > 0 {
		vals = Union(vals, r.noIndex)
	}
	return slices.DeleteFunc(vals, func(ci uint32) bool {
		c := &r.chunks[ci]
		return c.erased == c.rows
	})
}

// liveRows returns the rows of the given chunks (sorted) that are not
// erased.
func (r *Reader) liveRows(chunks []uint32) []uint32 {
	n := 0
	for _, ci := range chunks {
		n += r.chunks[ci].rows
	}
	rows := make([]uint32, 0, n)
	for _, ci := range chunks {
		c := &r.chunks[ci]
		e, _ := slices.BinarySearch(r.erased, uint32(c.firstRow))
		for row := c.firstRow; row < c.firstRow+c.rows; row++ {
			if e < len(r.erased) && r.erased[e] == uint32(row) {
				e++
				continue
			}
			rows = append(rows, uint32(row))
		}
	}
	return rows
}

// NumChunks returns the number of chunks of the block.
func (r *Reader) NumChunks() int { return len(r.chunks) }

// ChunkSpan returns the first row and the number of rows of chunk i.
func (r *Reader) ChunkSpan(i int) (first, rows int) {
	c := &r.chunks[i]
	return c.firstRow, c.rows
}

// ChunkTimes returns the range of the event times of chunk i's rows and
// how many of them are erased.
func (r *Reader) ChunkTimes(i int) (minTime, maxTime int64, erased int) {
	c := &r.chunks[i]
	return c.minTime, c.maxTime, c.erased
}

// ChunkOf returns the index of the chunk holding row, which must be one
// of the block's rows.
func (r *Reader) ChunkOf(row int) int {
	i, found := slices.BinarySearchFunc(r.chunks, row, func(c chunkMeta, row int) int { return cmp.Compare(c.firstRow, row) })
	if !found {
		i--
	}
	return i
}

// Keys calls fn with each key of field in increasing byte order until fn
// returns false. A chunk flagged unindexed contributes no keys.
func (r *Reader) Keys(field string, fn func(key string) bool) {
	f := r.field(field)
	if f == nil {
		return
	}
	for it := f.iter(); it.next(); {
		if !fn(it.key) {
			return
		}
	}
}

// Row returns the data of row i, or nil when it is erased. The result is
// the caller's. It returns an error when i is out of range or the chunk
// is corrupt.
func (r *Reader) Row(i int) ([]byte, error) {
	if i < 0 || i >= r.meta.Rows {
		return nil, fmt.Errorf("block %s: row %d out of range [0,%d)", r.name, i, r.meta.Rows)
	}
	if r.IsErased(i) {
		return nil, nil
	}
	ci := r.chunkOf(i)
	c, err := r.acquire(ci, nil)
	if err != nil {
		return nil, err
	}
	defer r.release(c)
	j := i - r.chunks[ci].firstRow
	if c.gone[j] {
		return nil, nil
	}
	return slices.Clone(c.data[c.start[j]:c.start[j+1]]), nil
}

// Rows calls fn for each row in rows, in the order given, with its data
// (nil when erased), decompressing each chunk once however the rows are
// spread: rows of one chunk need not be adjacent, but a chunk is released
// after its last row in rows, so sorted rows hold one chunk at a time.
// data is valid only during the call and must not be modified. Rows checks
// every row number first and returns an error, without calling fn, when
// one is out of range; it stops at and returns the first error of fn or of
// reading.
func (r *Reader) Rows(rows []uint32, fn func(row int, data []byte) error) error {
	for _, row := range rows {
		if int64(row) >= int64(r.meta.Rows) {
			return fmt.Errorf("block %s: row %d out of range [0,%d)", r.name, row, r.meta.Rows)
		}
	}
	type held struct {
		c    *decodedChunk
		last int // index in rows of the chunk's last row
	}
	type need struct {
		last int // index in rows of the chunk's last row
		n    int // rows of the chunk in rows
	}
	var (
		chunkOf = make([]int32, len(rows))
		open    = make(map[int]*held) // only the chunks read and not yet released
		needs   = make(map[int]need)
		order   []int // the chunks in the order rows first need them
	)
	for i, row := range rows {
		if r.IsErased(int(row)) {
			chunkOf[i] = -1
			continue
		}
		ci := r.chunkOf(int(row))
		chunkOf[i] = int32(ci)
		nd, seen := needs[ci]
		if !seen {
			order = append(order, ci)
		}
		needs[ci] = need{last: i, n: nd.n + 1}
	}
	// The rows wanted of each chunk read sparsely (nil: cache it whole).
	want := make([][]int, len(order))
	slot := make(map[int]int, len(order))
	for k, ci := range order {
		if !r.worthCaching(ci, needs[ci].n) {
			want[k] = make([]int, 0, needs[ci].n)
			slot[ci] = k
		}
	}
	for i, ci := range chunkOf {
		if k, ok := slot[int(ci)]; ok && ci >= 0 {
			want[k] = append(want[k], int(rows[i])-r.chunks[ci].firstRow)
		}
	}
	for _, js := range want {
		slices.Sort(js)
	}
	pf := r.prefetch(order, want)
	defer func() {
		for _, h := range open {
			r.cache.release(h.c)
		}
		pf.stop()
	}()
	for i, row := range rows {
		ci := int(chunkOf[i])
		if ci < 0 {
			if err := fn(int(row), nil); err != nil {
				return err
			}
			continue
		}
		h := open[ci]
		if h == nil {
			c, err := pf.next()
			if err != nil {
				return err
			}
			h = &held{c: c, last: needs[ci].last}
			open[ci] = h
		}
		j := int(row) - r.chunks[ci].firstRow
		var data []byte
		if !h.c.gone[j] {
			data = h.c.data[h.c.start[j]:h.c.start[j+1]:h.c.start[j+1]]
		}
		err := fn(int(row), data)
		if h.last == i {
			delete(open, ci)
			r.cache.release(h.c)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// sparseFraction: a Rows call that reads fewer than 1/sparseFraction of a
// chunk's rows decodes the chunk without caching it (see worthCaching).
const sparseFraction = 16

// worthCaching reports whether a call that reads n rows of chunk ci should
// cache the decoded chunk whole. A chunk read for a row or two (a rare
// value's matches, one per chunk) is decoded into a scratch chunk instead
// (Cache.scratch), and only the rows read are cached (a partial entry, a
// few hundred bytes instead of some 70 KB); a later read that needs
// other rows of it decodes it again and caches it whole. Caching it whole
// at once would evict chunks that denser reads fill, and while the cache
// grows each new entry is memory the process has never touched: its page
// faults cost a fresh process four times the decompression
// (docs/design/logstore-bench.md, stop 16).
func (r *Reader) worthCaching(ci, n int) bool {
	return n*sparseFraction >= r.chunks[ci].rows
}

// prefetcher hands a Rows call its chunks in order, acquiring (and so
// decompressing) those after the first from worker goroutines, so that
// chunks missing from the cache are decompressed on several cores while
// the caller works on the ones before. A query that reads one row from
// each of many cold chunks (a rare value's newest matches) is bound by
// decompression, which this divides by up to prefetchWorkers.
type prefetcher struct {
	r      *Reader
	order  []int
	want   [][]int        // per chunk of order: the rows wanted, nil for all (see acquire)
	taken  int            // chunks handed out by next
	slots  []prefetchSlot // for order[1:], when prefetching
	tokens chan struct{}  // one per chunk acquired and not yet taken
	quit   chan struct{}
	wg     sync.WaitGroup
	work   atomic.Int64 // the next index of order a worker takes
}

type prefetchSlot struct {
	c    *decodedChunk
	err  error
	done chan struct{}
}

// Prefetching starts when prefetchMin of the chunks are not cached (a
// cached chunk costs less than handing it over); at most prefetchWorkers
// goroutines (and GOMAXPROCS) decompress, each at most one chunk ahead of
// the caller.
const (
	prefetchMin     = 3
	prefetchWorkers = 4
)

// prefetch returns the prefetcher of the chunks order, its workers
// started when there are enough chunks and cores; want[k] lists the rows
// wanted of order[k] when it is read sparsely (see acquire).
func (r *Reader) prefetch(order []int, want [][]int) *prefetcher {
	p := &prefetcher{r: r, order: order, want: want}
	workers := min(prefetchWorkers, runtime.GOMAXPROCS(0), len(order)-1)
	if len(order) < prefetchMin || workers < 1 {
		return p
	}
	cold := 0
	for k, ci := range order[1:] {
		if !r.cache.has(cacheKey{r.id, ci}, want[k+1]) {
			if cold++; cold == prefetchMin {
				break
			}
		}
	}
	if cold < prefetchMin {
		return p
	}
	p.slots = make([]prefetchSlot, len(order))
	for k := range p.slots {
		p.slots[k].done = make(chan struct{})
	}
	p.tokens = make(chan struct{}, workers)
	p.quit = make(chan struct{})
	p.work.Store(1) // the caller acquires the first chunk itself
	for range workers {
		p.wg.Add(1)
		go p.worker()
	}
	return p
}

func (p *prefetcher) worker() {
	defer p.wg.Done()
	for {
		select {
		case p.tokens <- struct{}{}:
		case <-p.quit:
			return
		}
		k := int(p.work.Add(1) - 1)
		if k >= len(p.order) {
			<-p.tokens
			return
		}
		s := &p.slots[k]
		s.c, s.err = p.r.acquire(p.order[k], p.want[k])
		close(s.done)
	}
}

// next returns the next chunk of order, acquired: the caller releases it.
func (p *prefetcher) next() (*decodedChunk, error) {
	k := p.taken
	p.taken++
	if p.slots == nil || k == 0 {
		return p.r.acquire(p.order[k], p.want[k])
	}
	s := &p.slots[k]
	<-s.done
	<-p.tokens // the worker may acquire another
	c, err := s.c, s.err
	s.c = nil
	return c, err
}

// stop ends the workers and releases the chunks they acquired that were
// never taken.
func (p *prefetcher) stop() {
	if p.slots == nil {
		return
	}
	close(p.quit)
	p.wg.Wait()
	for k := p.taken; k < len(p.slots); k++ {
		s := &p.slots[k]
		select {
		case <-s.done:
			if s.c != nil {
				p.r.cache.release(s.c)
			}
		default: // never started
		}
	}
}

// acquire returns chunk ci, decoded, from the cache or the file, with at
// least the rows want (sorted, relative to the chunk) or, when want is
// nil, all of them. A chunk decoded from the file is cached whole when
// want is nil or the cache held some of its rows but not those wanted;
// else it is decoded into a scratch chunk, recycled when released, and
// the cache keeps only the rows wanted (see worthCaching). The caller
// must release the chunk.
func (r *Reader) acquire(ci int, want []int) (*decodedChunk, error) {
	k := cacheKey{r.id, ci}
	c, partial := r.cache.get(k, want)
	if c != nil {
		return c, nil
	}
	if want != nil && !partial {
		c := r.cache.scratch()
		if err := r.decodeChunk(ci, c); err != nil {
			r.cache.putScratch(c)
			return nil, err
		}
		pc := c.partial(want)
		pc.refs = 1
		r.cache.release(r.cache.put(k, pc))
		c.refs, c.evicted = 1, true // recycled when released
		return c, nil
	}
	c = chunkPool.Get().(*decodedChunk)
	if err := r.decodeChunk(ci, c); err != nil {
		chunkPool.Put(c)
		return nil, err
	}
	c.refs, c.evicted = 1, false
	return r.cache.put(k, c), nil
}

// release gives back a chunk returned by acquire.
func (r *Reader) release(c *decodedChunk) { r.cache.release(c) }

// partial returns a new chunk that holds only rows want (sorted) of c:
// start and gone as in c, held marking the rows it holds, data theirs
// only (the rows it lacks are empty).
func (c *decodedChunk) partial(want []int) *decodedChunk {
	n := len(c.gone)
	p := &decodedChunk{start: make([]uint32, n+1), gone: slices.Clone(c.gone), held: make([]bool, n)}
	size := 0
	for i, j := range want {
		if i == 0 || j != want[i-1] {
			size += int(c.start[j+1] - c.start[j])
		}
	}
	p.data = make([]byte, 0, size)
	for j, i := 0, 0; j < n; j++ {
		p.start[j] = uint32(len(p.data))
		if i < len(want) && want[i] == j {
			p.data = append(p.data, c.data[c.start[j]:c.start[j+1]]...)
			p.held[j] = true
			for i < len(want) && want[i] == j {
				i++
			}
		}
	}
	p.start[n] = uint32(len(p.data))
	return p
}

// holds reports whether c holds rows want: all of them when c is whole.
func (c *decodedChunk) holds(want []int) bool {
	if c.held == nil {
		return true
	}
	if want == nil {
		return false
	}
	for _, j := range want {
		if !c.held[j] {
			return false
		}
	}
	return true
}

// chunkPool recycles the decoded chunks that left the cache.
var chunkPool = sync.Pool{New: func() any { return new(decodedChunk) }}

// scratchBytes is the least capacity of the buffer of a scratch chunk
// (Cache.scratch): the payload of a default chunk of realistic events
// (DefaultChunkRows rows of about 600 bytes) with room to spare, so that
// the few spare buffers fit most chunks instead of being replaced for
// each chunk a little larger than the last.
const scratchBytes = 128 << 10

// scratch buffers for compressed chunk bytes.
var compPool = sync.Pool{New: func() any { return new([]byte) }}

// readChunk reads the stored bytes of chunk ci (sealed in an encrypted
// block) into *buf and checks their CRC.
func (r *Reader) readChunk(ci int, buf *[]byte) ([]byte, error) {
	m := &r.chunks[ci]
	comp := slices.Grow((*buf)[:0], m.compLen)[:m.compLen]
	*buf = comp
	if _, err := r.ra.ReadAt(comp, m.off); err != nil {
		return nil, fmt.Errorf("block %s: read chunk %d at offset %d: %w", r.name, ci, m.off, err)
	}
	if crc(comp) != m.crc {
		return nil, r.errorf(m.off, "chunk %d: checksum mismatch", ci)
	}
	return comp, nil
}

// chunkBytes returns the compressed bytes of chunk ci: read into *buf
// and, in an encrypted block, opened into *plain.
func (r *Reader) chunkBytes(ci int, buf, plain *[]byte) ([]byte, error) {
	comp, err := r.readChunk(ci, buf)
	if err != nil || r.cipher == nil {
		return comp, err
	}
	aad := ChunkAAD(ci)
	if *plain, err = r.cipher.Open((*plain)[:0], comp, aad[:]); err != nil {
		return nil, fmt.Errorf("block %s: chunk %d at offset %d: %w", r.name, ci, r.chunks[ci].off, err)
	}
	return *plain, nil
}

// decodeChunk reads, checks and decompresses chunk ci into c, reusing c's
// buffers.
func (r *Reader) decodeChunk(ci int, c *decodedChunk) error {
	m := &r.chunks[ci]
	c.start = slices.Grow(c.start[:0], m.rows+1)[:m.rows+1]
	c.gone = slices.Grow(c.gone[:0], m.rows)[:m.rows]
	if m.compLen == 0 {
		clear(c.start)
		for j := range c.gone {
			c.gone[j] = true
		}
		return nil
	}
	bp := compPool.Get().(*[]byte)
	defer compPool.Put(bp)
	var pp *[]byte
	if r.cipher != nil {
		pp = compPool.Get().(*[]byte)
		defer compPool.Put(pp)
	}
	comp, err := r.chunkBytes(ci, bp, pp)
	if err != nil {
		return err
	}
	if c.scratch && cap(c.data) < m.rawLen {
		c.data = make([]byte, 0, max(m.rawLen, scratchBytes))
	}
	c.data, err = decoder().DecodeAll(comp, slices.Grow(c.data[:0], m.rawLen))
	if err != nil || len(c.data) != m.rawLen {
		return r.errorf(m.off, "chunk %d: does not decompress to %d bytes: %v", ci, m.rawLen, err)
	}
	// Row lengths, then the data.
	p := 0
	var sum uint64
	lens := c.start[1:]
	for j := 0; j < m.rows; j++ {
		v, k := binary.Uvarint(c.data[p:])
		if k <= 0 || v > MaxRowBytes+1 {
			return r.errorf(m.off, "chunk %d: bad length of row %d", ci, j)
		}
		p += k
		c.gone[j] = v == 0
		if v > 0 {
			v--
		}
		sum += v
		lens[j] = uint32(v)
	}
	if sum != uint64(len(c.data)-p) {
		return r.errorf(m.off, "chunk %d: rows hold %d bytes, payload has %d", ci, sum, len(c.data)-p)
	}
	c.start[0] = uint32(p)
	for j := 1; j <= m.rows; j++ {
		c.start[j] += c.start[j-1]
	}
	return nil
}

// Scan calls fn for each row in [from, to) in order, with its data (nil
// when erased), decompressing each chunk once. data is valid only during
// the call. Scan stops at and returns the first error of fn or of reading.
func (r *Reader) Scan(from, to int, fn func(row int, data []byte) error) error {
	if from < 0 || to > r.meta.Rows || from > to {
		return fmt.Errorf("block %s: scan range [%d,%d) not within [0,%d)", r.name, from, to, r.meta.Rows)
	}
	if from == to {
		return nil
	}
	c := r.cache.scratch()
	defer r.cache.putScratch(c)
	for ci := r.chunkOf(from); ci < len(r.chunks) && r.chunks[ci].firstRow < to; ci++ {
		m := &r.chunks[ci]
		if err := r.decodeChunk(ci, c); err != nil {
			return err
		}
		lo, hi := max(from, m.firstRow), min(to, m.firstRow+m.rows)
		for row := lo; row < hi; row++ {
			j := row - m.firstRow
			var data []byte
			if !c.gone[j] {
				data = c.data[c.start[j]:c.start[j+1]:c.start[j+1]]
			}
			if err := fn(row, data); err != nil {
				return err
			}
		}
	}
	return nil
}

// Verify reads the whole file and checks every chunk (and, in an
// encrypted block, that it opens) and the CRC-32C of everything before
// the footer. It returns the first mismatch found.
func (r *Reader) Verify() error {
	sum := crc32.Update(0, castagnoli, headerOf(r.foot.version))
	var buf, plain []byte
	for ci, m := range r.chunks {
		if m.compLen == 0 {
			continue
		}
		comp, err := r.readChunk(ci, &buf)
		if err != nil {
			return err
		}
		sum = crc32.Update(sum, castagnoli, comp)
		if r.cipher != nil {
			aad := ChunkAAD(ci)
			if plain, err = r.cipher.Open(plain[:0], comp, aad[:]); err != nil {
				return fmt.Errorf("block %s: chunk %d at offset %d: %w", r.name, ci, m.off, err)
			}
		}
	}
	ib, err := r.readAt(int64(r.foot.indexOff), int(r.foot.indexLen))
	if err != nil {
		return err
	}
	if crc32.Update(sum, castagnoli, ib) != r.foot.fileCRC {
		return r.errorf(r.size-footerLen, "file checksum mismatch")
	}
	return nil
}
