package block

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/maphash"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"unsafe"
)

// Options tune a Writer or Merge.
type Options struct {
	// ChunkRows is the number of rows per chunk; 0 means DefaultChunkRows.
	// A chunk is cut early when its data passes 8 MiB.
	ChunkRows int

	// Terms, when not nil, lets Merge re-index the chunks in which it
	// erases rows: it must call add for every index entry of a row's data,
	// as the Writer's terms did. Without it such chunks lose their
	// chunk-level postings and are flagged unindexed (see Merge).
	Terms func(data []byte, add func(field, key string))

	// Level is the zstd compression level of the chunks, numbered as by
	// the zstd command (1 fastest … 22 smallest), which this encoder maps
	// to four speeds: 1–2 LevelFastest, 3–5 LevelDefault, 6–10
	// LevelBetter, 11 and up LevelBest. 0 means DefaultLevel. Merge
	// re-encodes only the chunks in which it erases rows. The index does
	// not follow Level: it is compressed at LevelFast below 1 MiB
	// (uncompressed) and at LevelBetter from there on.
	Level int

	// Cache, when not nil, holds the decompressed chunks of the Readers
	// opened with OpenWith, shared between them. Writers ignore it.
	Cache *Cache

	// Cipher, when not nil, makes Writers and Merge write an encrypted
	// block (format version 2): each compressed chunk and the compressed
	// index are sealed by it. Readers need it to open such a block and
	// ignore it for a plaintext one (see Reader.Encrypted).
	Cipher Cipher
}

func (o Options) chunkRows() int {
	switch {
	case o.ChunkRows <= 0:
		return DefaultChunkRows
	case o.ChunkRows > MaxChunkRows:
		return MaxChunkRows
	}
	return o.ChunkRows
}

// Meta describes a block: its tenant, its seq range [FirstSeq,
// FirstSeq+Rows), how many rows are erased, the range of the event times
// of its rows (unix nanoseconds, 0 when empty) and its size in bytes.
type Meta struct {
	Tenant           string
	FirstSeq         int64
	Rows             int
	Erased           int
	MinTime, MaxTime int64
	Bytes            int64
}

// output writes a block file sequentially, tracking the offset and the
// CRC-32C of everything written. The first error sticks.
type output struct {
	w      io.Writer
	level  int    // of the chunks
	cipher Cipher // nil: plaintext
	sealed []byte // scratch of the sealed units
	off    int64
	crc    uint32
	err    error
}

func newOutput(w io.Writer, opts Options) output {
	return output{w: w, level: opts.Level, cipher: opts.Cipher}
}

func (o *output) version() uint32 {
	if o.cipher != nil {
		return versionEncrypted
	}
	return version
}

// seal returns b sealed with aad when the block is encrypted, else b.
func (o *output) seal(b, aad []byte) []byte {
	if o.cipher == nil {
		return b
	}
	o.sealed = o.cipher.Seal(o.sealed[:0], b, aad)
	return o.sealed
}

// writeUnit writes the compressed bytes of chunk c, number i of the file
// (sealed first when the block is encrypted), and returns c with its
// offset, stored length and CRC set.
func (o *output) writeUnit(c chunkMeta, i int, comp []byte) chunkMeta {
	o.header()
	aad := ChunkAAD(i)
	stored := o.seal(comp, aad[:])
	c.off, c.compLen, c.crc = o.off, len(stored), crc(stored)
	o.write(stored)
	return c
}

func (o *output) write(b []byte) {
	if o.err != nil {
		return
	}
	n, err := o.w.Write(b)
	o.crc = crc32.Update(o.crc, castagnoli, b[:n])
	o.off += int64(n)
	if err == nil && n != len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		o.err = fmt.Errorf("block: write at offset %d: %w", o.off, err)
	}
}

// header writes the file header if nothing was written yet.
func (o *output) header() {
	if o.off == 0 {
		o.write(headerOf(o.version()))
	}
}

// finish writes the index and the footer. bufs, when not nil, are two
// scratch buffers it may grow and leaves grown (see Writer.Close).
func (o *output) finish(h *indexHeader, fields []byte, bufs *[2][]byte) {
	o.header()
	var raw, comp []byte
	if bufs != nil {
		raw, comp = bufs[0][:0], bufs[1][:0]
		defer func() { bufs[0], bufs[1] = raw, comp }()
	}
	raw = h.append(slices.Grow(raw, 64+len(h.chunks)*16+len(h.erased)*2+len(fields)))
	raw = append(raw, fields...)
	if len(raw) > maxIndexRaw-1 {
		o.err = errors.New("block: index too large")
		return
	}
	comp = encoder(indexLevelFor(len(raw))).EncodeAll(raw, slices.Grow(comp, len(raw)/2))
	stored := o.seal(comp, IndexAAD())
	f := footer{
		version:     o.version(),
		indexOff:    uint64(o.off),
		indexLen:    uint32(len(stored)),
		indexRawLen: uint32(len(raw)),
		indexCRC:    crc(stored),
	}
	o.write(stored)
	f.fileCRC = o.crc
	o.write(f.append(nil))
}

// writeChunk compresses raw (the payload of chunk c, number i of the file)
// unless every row is erased, writes it and returns its table entry.
func (o *output) writeChunk(c chunkMeta, i int, raw []byte, scratch *[]byte) chunkMeta {
	o.header()
	c.off = o.off
	c.rawLen, c.compLen, c.crc = 0, 0, 0
	if c.erased < c.rows {
		*scratch = encoder(o.level).EncodeAll(raw, (*scratch)[:0])
		c = o.writeUnit(c, i, *scratch)
		c.rawLen = len(raw)
	}
	return c
}

// Writer writes one block file. Rows are added in seq order with Add and
// AddErased; Close writes the index and the footer. A Writer is not safe
// for concurrent use. The first error is returned by every later call.
type Writer struct {
	out       output
	tenant    string
	firstSeq  int64
	chunkRows int
	rows      int
	erased    []uint32
	chunks    []chunkMeta
	closed    bool

	bufs *writerBufs // where lens, data and scratch come from; nil once closed

	// the chunk being filled
	cur     chunkMeta
	lens    []byte
	data    []byte
	scratch []byte

	fields   map[string]*fieldBuilder // from bufs
	keys     *keyArena                // bufs.arena
	last     *fieldBuilder
	addTerm  func(field, key string)
	termErr  error
	lastName string
}

// keyArena holds copies of the keys of a Writer's dictionaries in a few
// large blocks instead of one allocation per key. Bytes are only ever
// appended to a block while the Writer is open, so the strings it returns
// do not change before the Writer is closed; after that its last block is
// reused by another Writer (see writerBufs), which is sound because no
// string of the arena outlives the Writer's Close.
type keyArena struct {
	block []byte
}

const keyArenaBlock = 64 << 10

func (a *keyArena) clone(s string) string {
	if len(s) == 0 || len(s) > keyArenaBlock/8 {
		return strings.Clone(s)
	}
	if cap(a.block)-len(a.block) < len(s) {
		a.block = make([]byte, 0, keyArenaBlock)
	}
	start := len(a.block)
	a.block = append(a.block, s...)
	return unsafe.String(&a.block[start], len(s))
}

// fieldBuilder collects the postings of one field as (key id, value) pairs.
//
// Its dictionary is an open-addressing hash table rather than a
// map[string]uint32: table holds key id + 1 (0: empty) at the slot of the
// key's hash, probed linearly, and keys holds each key with its hash, so
// that a lookup reads one slot and one entry before comparing the key's
// bytes, and growing the table rehashes no key.
type fieldBuilder struct {
	kind  uint64
	table []uint32   // len a power of two, at most half full; empty when no key
	keys  []keyEntry // by key id
	pk    []uint32   // key id of each pair
	pv    []uint32   // value of each pair

	// Whole postings given by AddPostings, outside the dictionary: key
	// lists[i].key has the values lv[lists[i].from:lists[i].to], ascending.
	lists []keyPostings
	lv    []uint32

	start, vals []uint32   // encode's scratch
	order       []keyOrder // encode's scratch
}

// keyEntry is one key of a fieldBuilder's dictionary.
type keyEntry struct {
	key  string
	hash uint32 // low bits of keyHash(key)
	last uint32 // the last value added + 1
}

// keyPostings is one postings list given by Writer.AddPostings.
type keyPostings struct {
	key      string
	from, to uint32 // in fieldBuilder.lv
}

// keySeed seeds the hash of the dictionaries' keys. The hash decides only
// where a key sits in a fieldBuilder's table, never what is written.
var keySeed = maphash.MakeSeed()

func keyHash(key string) uint32 { return uint32(maphash.String(keySeed, key)) }

// minTable is the number of slots of a fieldBuilder's first table.
const minTable = 16

// lookup returns the id of key, whose keyHash is h, and true, or the slot
// where key would go and false.
func (f *fieldBuilder) lookup(key string, h uint32) (uint32, bool) {
	mask := uint32(len(f.table) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := f.table[i]
		if s == 0 {
			return i, false
		}
		if e := &f.keys[s-1]; e.hash == h && e.key == key {
			return s - 1, true
		}
	}
}

// insert adds key, whose keyHash is h and which is absent, at slot i (from
// lookup) and returns its id. key must stay unchanged while f holds it.
func (f *fieldBuilder) insert(key string, h, i uint32) uint32 {
	id := uint32(len(f.keys))
	f.keys = append(f.keys, keyEntry{key: key, hash: h})
	f.table[i] = id + 1
	if 2*len(f.keys) > len(f.table) {
		f.rehash(2 * len(f.table))
	}
	return id
}

// rehash makes the table n slots long (a power of two, more than twice
// the keys) and puts the keys back in it.
func (f *fieldBuilder) rehash(n int) {
	if cap(f.table) >= n {
		f.table = f.table[:n]
		clear(f.table)
	} else {
		f.table = make([]uint32, n)
	}
	mask := uint32(n - 1)
	for id := range f.keys {
		i := f.keys[id].hash & mask
		for f.table[i] != 0 {
			i = (i + 1) & mask
		}
		f.table[i] = uint32(id) + 1
	}
}

// id returns the id of key, adding it (as stored) if absent.
func (f *fieldBuilder) id(key string) uint32 {
	if len(f.table) == 0 {
		f.rehash(minTable)
	}
	h := keyHash(key)
	i, ok := f.lookup(key, h)
	if ok {
		return i
	}
	return f.insert(key, h, i)
}

// builderPool recycles the fieldBuilders of closed Writers. A store
// writes many blocks in a row (one per tenant at every flush): reusing the
// tables and slices of the previous ones saves growing them again.
var builderPool = sync.Pool{New: func() any { return new(fieldBuilder) }}

// Bounds of a recycled builder. Clearing a table costs time in proportion
// to its length, which only grows: a builder whose table grew past
// maxClearedTable slots drops it, so that a small block reusing the
// builder does not pay for a large one. One whose pairs took more memory
// is not kept at all.
const (
	maxClearedTable = 1 << 11
	maxPooledPairs  = 1 << 20
)

// recycle empties f and returns it to builderPool.
func (f *fieldBuilder) recycle() {
	if cap(f.pk) > maxPooledPairs || cap(f.lv) > maxPooledPairs || cap(f.keys) > maxPooledPairs {
		return
	}
	if len(f.table) > maxClearedTable {
		f.table = nil
	} else {
		f.table = f.table[:0]
	}
	clear(f.keys) // they point into the Writer's key arena
	clear(f.lists)
	f.kind = kindRows
	f.keys, f.pk, f.pv = f.keys[:0], f.pk[:0], f.pv[:0]
	f.lists, f.lv = f.lists[:0], f.lv[:0]
	f.start, f.vals, f.order = f.start[:0], f.vals[:0], f.order[:0]
	builderPool.Put(f)
}

// writerBufs are what a Writer needs that outlives no block: the byte
// buffers of the chunk being filled (lens, data), its compressed form
// (scratch) and the index's raw and compressed forms (index); the field
// encoder's buffers; the last block of the key arena; and the map of the
// fields. Closed Writers return them to bufsPool, so a flush writing one
// block per tenant grows them once, not per block (fresh buffers cost
// page faults and clearing as well as copies when grown).
type writerBufs struct {
	lens, data, scratch []byte
	index               [2][]byte
	fe                  fieldEncoder
	arena               keyArena
	fields              map[string]*fieldBuilder
	names               []string
}

var bufsPool = sync.Pool{New: func() any { return &writerBufs{fields: make(map[string]*fieldBuilder)} }}

// maxPooledBuf bounds each buffer kept in bufsPool: a chunk of 128 rows
// of ~600 bytes and a large block's index fit; a rare large one is left to
// the garbage collector.
const maxPooledBuf = 1 << 20

// maxPooledFields bounds the fields of a map kept in bufsPool: clearing a
// map costs time in proportion to its capacity.
const maxPooledFields = 1 << 8

// recycle returns the buffers to bufsPool. The Writer must not use them
// again (only a closed Writer recycles), and no string of its key arena
// may be referenced any more: the arena's block is written over by the
// next Writer.
func (b *writerBufs) recycle() {
	for _, p := range []*[]byte{&b.lens, &b.data, &b.scratch, &b.index[0], &b.index[1], &b.fe.keys, &b.fe.posts} {
		if cap(*p) > maxPooledBuf {
			*p = nil
		}
		*p = (*p)[:0]
	}
	b.fe.reset("", kindRows)
	b.arena.block = b.arena.block[:0]
	if len(b.fields) > maxPooledFields {
		b.fields = make(map[string]*fieldBuilder)
	} else {
		clear(b.fields)
	}
	clear(b.names)
	b.names = b.names[:0]
	bufsPool.Put(b)
}

// NewWriter returns a Writer of a block of tenant's rows starting at
// firstSeq, writing to w. Nothing is written before the first row.
func NewWriter(w io.Writer, tenant string, firstSeq int64, opts Options) *Writer {
	bw := &Writer{
		out:       newOutput(w, opts),
		tenant:    tenant,
		firstSeq:  firstSeq,
		chunkRows: opts.chunkRows(),
	}
	bw.bufs = bufsPool.Get().(*writerBufs)
	bw.lens, bw.data, bw.scratch = bw.bufs.lens, bw.bufs.data, bw.bufs.scratch
	bw.fields, bw.keys = bw.bufs.fields, &bw.bufs.arena
	bw.addTerm = bw.term
	bw.cur.minTime, bw.cur.maxTime = math.MaxInt64, math.MinInt64
	return bw
}

func (w *Writer) check() error {
	if w.out.err != nil {
		return w.out.err
	}
	if w.closed {
		return errors.New("block: writer is closed")
	}
	if w.rows >= maxRows {
		return errors.New("block: too many rows")
	}
	return nil
}

// Add appends the next row with data (at most MaxRowBytes; copied) and the
// event time timeNanos. terms, when not nil, is called once and must call
// add for every index entry of the row; repeated (field, key) pairs are
// ignored. An empty field name is an error after which the Writer is
// unusable.
func (w *Writer) Add(data []byte, timeNanos int64, terms func(add func(field, key string))) error {
	if err := w.check(); err != nil {
		return err
	}
	if len(data) > MaxRowBytes {
		return fmt.Errorf("block: row %d is %d bytes, more than %d", w.rows, len(data), MaxRowBytes)
	}
	if terms != nil {
		terms(w.addTerm)
		if w.termErr != nil {
			// The row's other terms are already recorded: the Writer is unusable.
			w.out.err = w.termErr
			return w.termErr
		}
	}
	w.lens = binary.AppendUvarint(w.lens, uint64(len(data))+1)
	w.data = append(w.data, data...)
	return w.endRow(timeNanos)
}

// AddErased appends the next row as erased: it has no data and no index
// entries.
func (w *Writer) AddErased(timeNanos int64) error {
	if err := w.check(); err != nil {
		return err
	}
	w.lens = append(w.lens, 0)
	w.erased = append(w.erased, uint32(w.rows))
	w.cur.erased++
	return w.endRow(timeNanos)
}

func (w *Writer) endRow(t int64) error {
	w.cur.minTime = min(w.cur.minTime, t)
	w.cur.maxTime = max(w.cur.maxTime, t)
	w.cur.rows++
	w.rows++
	if w.cur.rows >= w.chunkRows || len(w.data) >= chunkSoftBytes {
		w.flush()
	}
	return w.out.err
}

func (w *Writer) term(field, key string) {
	f := w.last
	if f == nil || field != w.lastName {
		if field == "" {
			w.termErr = fmt.Errorf("block: row %d: empty field name", w.rows)
			return
		}
		f = w.builder(field)
		w.last, w.lastName = f, field
	}
	v := uint32(w.rows)
	if f.kind == kindChunks {
		v = uint32(len(w.chunks))
	}
	if len(f.table) == 0 {
		f.rehash(minTable)
	}
	h := keyHash(key)
	id, ok := f.lookup(key, h)
	if !ok {
		id = f.insert(w.keys.clone(key), h, id)
	} else if f.keys[id].last == v+1 {
		return
	}
	f.keys[id].last = v + 1
	f.pk = append(f.pk, id)
	f.pv = append(f.pv, v)
}

// builder returns the fieldBuilder of field, making it if needed.
func (w *Writer) builder(field string) *fieldBuilder {
	f := w.fields[field]
	if f == nil {
		f = builderPool.Get().(*fieldBuilder)
		if ChunkLevel(field) {
			f.kind = kindChunks
		}
		w.fields[w.keys.clone(field)] = f
	}
	return f
}

// AddPostings records that the rows in rows carry the index entry (field,
// key), as if Add's terms had given it for each of them: a caller that
// already holds a field's postings (an in-memory index of the same rows)
// hands them over whole instead of repeating every entry row by row. The
// file is the same either way, and entries may come both ways for one
// field; repeated ones are ignored.
//
// rows must be strictly ascending, and each must be a row already added
// with Add (not AddErased); field must be non-empty and not chunk-level
// (see ChunkLevel). A call that breaks these rules returns an error and
// records nothing; the Writer stays usable. rows is not kept.
func (w *Writer) AddPostings(field, key string, rows []uint32) error {
	if w.out.err != nil {
		return w.out.err
	}
	if w.closed {
		return errors.New("block: writer is closed")
	}
	switch {
	case field == "":
		return errors.New("block: postings with an empty field name")
	case ChunkLevel(field):
		return fmt.Errorf("block: postings of chunk-level field %q", field)
	case len(rows) == 0:
		return nil
	}
	prev := int64(-1)
	for _, r := range rows {
		if int64(r) <= prev {
			return fmt.Errorf("block: postings of %s=%q: row %d after row %d", field, key, r, prev)
		}
		prev = int64(r)
	}
	if prev >= int64(w.rows) {
		return fmt.Errorf("block: postings of %s=%q: row %d not added (%d rows)", field, key, prev, w.rows)
	}
	if len(w.erased) > 0 {
		for _, r := range rows {
			if _, gone := slices.BinarySearch(w.erased, r); gone {
				return fmt.Errorf("block: postings of %s=%q: row %d is erased", field, key, r)
			}
		}
	}
	f := w.last
	if f == nil || field != w.lastName {
		f = w.builder(field)
		w.last, w.lastName = f, field
	}
	from := uint32(len(f.lv))
	f.lv = append(f.lv, rows...)
	f.lists = append(f.lists, keyPostings{key: w.keys.clone(key), from: from, to: uint32(len(f.lv))})
	return nil
}

func (w *Writer) flush() {
	if w.cur.rows == 0 {
		return
	}
	w.cur.firstRow = w.rows - w.cur.rows
	w.lens = append(w.lens, w.data...)
	w.chunks = append(w.chunks, w.out.writeChunk(w.cur, len(w.chunks), w.lens, &w.scratch))
	w.lens, w.data = w.lens[:0], w.data[:0]
	w.cur = chunkMeta{minTime: math.MaxInt64, maxTime: math.MinInt64}
}

// Close writes the last chunk, the index and the footer, and returns the
// block's Meta. It does not close the underlying io.Writer.
func (w *Writer) Close() (Meta, error) {
	if err := w.check(); err != nil {
		return Meta{}, err
	}
	w.flush()
	w.closed = true
	h := indexHeader{tenant: w.tenant, firstSeq: w.firstSeq, rows: w.rows, chunks: w.chunks, erased: w.erased}
	names := w.bufs.names[:0]
	for name := range w.fields {
		names = append(names, name)
	}
	slices.Sort(names)
	buf := binary.AppendUvarint(w.data[:0], uint64(len(names))) // data is free after the last flush
	fe := &w.bufs.fe
	for _, name := range names {
		f := w.fields[name]
		fe.reset(name, f.kind)
		f.encode(fe)
		buf = fe.appendTo(buf)
		f.recycle()
	}
	w.bufs.names = names
	w.fields, w.last, w.keys, w.lastName = nil, nil, nil, ""
	w.out.finish(&h, buf, &w.bufs.index)
	w.bufs.lens, w.bufs.data, w.bufs.scratch = w.lens, buf, w.scratch
	w.bufs.recycle()
	w.bufs, w.lens, w.data, w.scratch = nil, nil, nil, nil
	if w.out.err != nil {
		return Meta{}, w.out.err
	}
	return metaOf(&h, w.out.off), nil
}

// encode adds the field's keys in order with their postings to fe.
func (f *fieldBuilder) encode(fe *fieldEncoder) {
	if len(f.lists) > 0 {
		if len(f.keys) == 0 && f.encodeLists(fe) {
			return
		}
		f.foldLists()
	}
	f.encodePairs(fe, len(f.lists) > 0)
}

// encodeLists adds the postings of AddPostings to fe when they are the
// field's only entries and no key is given twice; it reports false,
// having added nothing, when a key is.
func (f *fieldBuilder) encodeLists(fe *fieldEncoder) bool {
	order := f.order[:0]
	for i, l := range f.lists {
		order = append(order, keyOrder{keyPrefix(l.key), uint32(i)})
	}
	f.order = order
	sortKeys(order, func(i uint32) string { return f.lists[i].key })
	for i := 1; i < len(order); i++ {
		if f.lists[order[i].i].key == f.lists[order[i-1].i].key {
			return false
		}
	}
	for _, o := range order {
		l := &f.lists[o.i]
		fe.add(l.key, f.lv[l.from:l.to])
	}
	return true
}

// keyOrder is one key to sort: the first eight bytes of the key as a
// big-endian number, zero-padded, and the key's index. Comparing the
// prefixes orders most keys without reading them.
type keyOrder struct {
	prefix uint64
	i      uint32
}

// keyPrefix returns the first eight bytes of s, zero-padded, as a
// big-endian number: if keyPrefix(a) < keyPrefix(b) then a < b.
func keyPrefix(s string) uint64 {
	if len(s) >= 8 {
		_ = s[7]
		return uint64(s[0])<<56 | uint64(s[1])<<48 | uint64(s[2])<<40 | uint64(s[3])<<32 |
			uint64(s[4])<<24 | uint64(s[5])<<16 | uint64(s[6])<<8 | uint64(s[7])
	}
	p := uint64(0)
	for i := 0; i < len(s); i++ {
		p |= uint64(s[i]) << (56 - 8*i)
	}
	return p
}

// sortKeys sorts order by the keys that key returns for the indexes,
// ascending.
func sortKeys(order []keyOrder, key func(i uint32) string) {
	slices.SortFunc(order, func(a, b keyOrder) int {
		switch {
		case a.prefix < b.prefix:
			return -1
		case a.prefix > b.prefix:
			return 1
		}
		return strings.Compare(key(a.i), key(b.i))
	})
}

// foldLists turns the postings of AddPostings into pairs, as term would
// have made them, for encodePairs to merge with the others.
func (f *fieldBuilder) foldLists() {
	for _, l := range f.lists {
		id := f.id(l.key)
		for _, v := range f.lv[l.from:l.to] {
			f.pk = append(f.pk, id)
			f.pv = append(f.pv, v)
		}
	}
}

// encodePairs adds the keys of the pairs in order with their postings to
// fe. Each key's pairs must be in increasing order of value without
// repeats (as term adds them) unless unordered, when encodePairs sorts
// and deduplicates them.
func (f *fieldBuilder) encodePairs(fe *fieldEncoder, unordered bool) {
	// Group the pair values by key id (counting sort keeps them ascending):
	// next[id] is where the next value of key id goes, so after the loop
	// key id's values are vals[next[id-1]:next[id]].
	n := len(f.keys)
	next := grow(&f.start, n+1)
	clear(next)
	for _, id := range f.pk {
		next[id+1]++
	}
	for i := 1; i < len(next); i++ {
		next[i] += next[i-1]
	}
	vals := grow(&f.vals, len(f.pv))
	for i, id := range f.pk {
		vals[next[id]] = f.pv[i]
		next[id]++
	}
	order := f.order[:0]
	for i := range f.keys {
		order = append(order, keyOrder{keyPrefix(f.keys[i].key), uint32(i)})
	}
	f.order = order
	sortKeys(order, func(i uint32) string { return f.keys[i].key })
	for _, o := range order {
		id := o.i
		from := uint32(0)
		if id > 0 {
			from = next[id-1]
		}
		vs := vals[from:next[id]]
		if unordered {
			slices.Sort(vs)
			vs = slices.Compact(vs)
		}
		fe.add(f.keys[id].key, vs)
	}
}

// grow returns (*s)[:n], reallocating *s if it is too short.
func grow(s *[]uint32, n int) []uint32 {
	*s = slices.Grow((*s)[:0], n)[:n]
	return *s
}

func metaOf(h *indexHeader, size int64) Meta {
	m := Meta{Tenant: h.tenant, FirstSeq: h.firstSeq, Rows: h.rows, Erased: len(h.erased), Bytes: size}
	for i, c := range h.chunks {
		if i == 0 || c.minTime < m.MinTime {
			m.MinTime = c.minTime
		}
		if i == 0 || c.maxTime > m.MaxTime {
			m.MaxTime = c.maxTime
		}
	}
	return m
}
