package logstore

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/logstore/block"
	"github.com/trail-audit/trail/logstore/vfs"
	"github.com/trail-audit/trail/merkle"
)

// blockRef is an open block of one tenant with its id table. Readers
// acquire it while they use it; a block replaced by compaction or retention
// is closed when its last reader releases it.
type blockRef struct {
	path     string // absolute
	first    int64
	rows     int
	gen      int
	f        vfs.File
	r        *block.Reader
	ids      []idEntry // sorted by hash
	minRecv  int64     // received_at bounds, unix nanos
	maxRecv  int64
	refs     atomic.Int32
	obsolete atomic.Bool
	once     sync.Once
	closeErr error
	// spares are the block's files renamed as spares when it was merged
	// away (see retireToSpares), handed to recycle once it is closed.
	spares  []string
	recycle func(path string)
	// legacyIDs: the id table is in a ".ids" file beside the block (files
	// written before the table moved into the block file), to be removed
	// with it.
	legacyIDs bool
}

// idEntry maps the FNV-64a hash of an event id to its row.
type idEntry struct {
	hash uint64
	row  uint32
}

// idHash is the FNV-64a hash of an id, as stored in id tables, written out
// because hash/fnv allocates per call and Append hashes every event's id
// (TestIDHashIsFNV64a pins it to hash/fnv).
func idHash(id string) uint64 {
	const offset64, prime64 = 14695981039346656037, 1099511628211
	h := uint64(offset64)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= prime64
	}
	return h
}

func (b *blockRef) end() int64 { return b.first + int64(b.rows) }

func (b *blockRef) acquire() { b.refs.Add(1) }

func (b *blockRef) release() {
	if b.refs.Add(-1) == 0 && b.obsolete.Load() {
		b.close()
	}
}

// retire marks b replaced; it is closed once no reader holds it.
func (b *blockRef) retire() {
	b.obsolete.Store(true)
	if b.refs.Load() == 0 {
		b.close()
	}
}

func (b *blockRef) close() error {
	b.once.Do(func() {
		b.closeErr = b.f.Close()
		for _, p := range b.spares {
			b.recycle(p)
		}
	})
	return b.closeErr
}

// rowsFor returns the rows whose id hashes to h.
func (b *blockRef) rowsFor(h uint64) []uint32 {
	i := sort.Search(len(b.ids), func(i int) bool { return b.ids[i].hash >= h })
	var out []uint32
	for ; i < len(b.ids) && b.ids[i].hash == h; i++ {
		out = append(out, b.ids[i].row)
	}
	return out
}

func blockName(first int64, rows, gen int) string {
	return fmt.Sprintf("%016d-%010d-%06d.blk", first, rows, gen)
}

func parseBlockName(name string) (first int64, rows, gen int, ok bool) {
	base, found := strings.CutSuffix(name, ".blk")
	if !found {
		return 0, 0, 0, false
	}
	n, err := fmt.Sscanf(base, "%016d-%010d-%06d", &first, &rows, &gen)
	return first, rows, gen, err == nil && n == 3 && rows > 0 && first >= 0
}

// idsPath is the id table file of a block written before the table moved
// into the block file (see appendIDTrailer), and the name a sealed table
// is bound to (encryption.go).
func idsPath(blockPath string) string { return strings.TrimSuffix(blockPath, ".blk") + ".ids" }

// id table file: "trailids" int64 minRecv int64 maxRecv uint32 n
// n × (uint64 hash, uint32 row), then CRC-32C of all of it; little endian.
const idsMagic = "trailids"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func encodeIDs(ids []idEntry, minRecv, maxRecv int64) []byte {
	b := make([]byte, 0, 28+12*len(ids)+4)
	b = append(b, idsMagic...)
	b = binary.LittleEndian.AppendUint64(b, uint64(minRecv))
	b = binary.LittleEndian.AppendUint64(b, uint64(maxRecv))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(ids)))
	for _, e := range ids {
		b = binary.LittleEndian.AppendUint64(b, e.hash)
		b = binary.LittleEndian.AppendUint32(b, e.row)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeIDs(b []byte) (ids []idEntry, minRecv, maxRecv int64, err error) {
	if len(b) < 32 || string(b[:8]) != idsMagic {
		return nil, 0, 0, errors.New("not an id table")
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, 0, 0, errors.New("id table checksum mismatch")
	}
	minRecv = int64(binary.LittleEndian.Uint64(b[8:]))
	maxRecv = int64(binary.LittleEndian.Uint64(b[16:]))
	n := int(binary.LittleEndian.Uint32(b[24:]))
	if len(body) != 28+12*n {
		return nil, 0, 0, errors.New("id table length mismatch")
	}
	ids = make([]idEntry, n)
	for i := range ids {
		p := body[28+12*i:]
		ids[i] = idEntry{hash: binary.LittleEndian.Uint64(p), row: binary.LittleEndian.Uint32(p[8:])}
	}
	return ids, minRecv, maxRecv, nil
}

// readFile reads a whole file through the vfs.
func readFile(fsys vfs.FS, name string) ([]byte, error) {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// openBlock opens a block file and its id table.
func (s *Store) openBlock(path string, first int64, rows, gen int) (*blockRef, error) {
	return s.openBlockFile(path, first, rows, gen, nil)
}

// writtenBlock is what installBlockFile knows of a block it has just
// written: the file's bytes and its id table, decoded.
type writtenBlock struct {
	data             []byte
	ids              []idEntry // sorted
	minRecv, maxRecv int64
}

// openBlockFile is openBlock; written, when not nil, holds the bytes of
// the block file and its id table, which are then not read back (see
// block.OpenWritten).
func (s *Store) openBlockFile(path string, first int64, rows, gen int, written *writtenBlock) (*blockRef, error) {
	f, err := s.fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	return s.openBlockFrom(path, f, first, rows, gen, written)
}

// openBlockFrom is openBlockFile for the block file f, open already, to
// be known as path. It closes f if it fails.
func (s *Store) openBlockFrom(path string, f vfs.File, first int64, rows, gen int, written *writtenBlock) (*blockRef, error) {
	var r *block.Reader
	var table []byte // the stored id table, from the file's trailer
	var err error
	if written != nil {
		r, err = block.OpenWritten(path, f, written.data, s.blockOptions(path))
	} else {
		var st os.FileInfo
		if st, err = f.Stat(); err == nil {
			var size int64
			if size, table, err = readIDTrailer(f, st.Size()); err == nil {
				r, err = block.OpenWith(path, f, size, s.blockOptions(path))
			}
		}
	}
	if err == nil {
		err = s.checkBlockEncryption(r)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	m := r.Meta()
	if m.FirstSeq != first || m.Rows != rows {
		f.Close()
		return nil, fmt.Errorf("%s: holds seqs %d+%d, its name says %d+%d", path, m.FirstSeq, m.Rows, first, rows)
	}
	b := &blockRef{path: path, first: first, rows: rows, gen: gen, f: f, r: r}
	if written != nil {
		b.ids, b.minRecv, b.maxRecv = written.ids, written.minRecv, written.maxRecv
		return b, nil
	}
	if table == nil {
		// An older file: its table is beside it.
		if table, err = readFile(s.fs, idsPath(path)); err == nil {
			b.legacyIDs = true
		}
	}
	if err == nil {
		table, err = s.openIDs(idsPath(path), table)
	}
	if err == nil {
		b.ids, b.minRecv, b.maxRecv, err = decodeIDs(table)
	}
	if err != nil {
		// The id table is derived data: rebuild it from the rows.
		s.log.Warn("rebuilding id table", "block", path, "err", err)
		if err := b.rebuildIDs(); err != nil {
			f.Close()
			return nil, err
		}
	}
	return b, nil
}

// A block file holds the block (package block), then the block's id table
// as stored (sealed when the store is encrypted), then a trailer of
// idTrailerLen bytes: the stored table's length (uint64, little-endian) and
// idTrailerMagic. One file per block, not a block file and a table file,
// halves the files a flush creates. A block ends with its footer, whose
// last eight bytes are the end of the footer's text ("LKFT") and a
// checksum, never idTrailerMagic, so a file without a trailer (written
// before the table moved in, its table in a ".ids" file beside it, or
// rewritten by someone else) is told apart.
const (
	idTrailerMagic = "trailid1"
	idTrailerLen   = 8 + len(idTrailerMagic)
)

// appendIDTrailer returns the stored id table followed by its trailer.
func appendIDTrailer(table []byte) []byte {
	table = binary.LittleEndian.AppendUint64(table, uint64(len(table)))
	return append(table, idTrailerMagic...)
}

// readIDTrailer reads the trailer of a block file of size bytes. It
// returns the size of the block and the stored id table; a file without a
// trailer is all block and has no table (nil). A trailer whose length
// does not fit the file is an error.
func readIDTrailer(f io.ReaderAt, size int64) (blockSize int64, table []byte, err error) {
	if size < int64(idTrailerLen) {
		return size, nil, nil
	}
	var tr [idTrailerLen]byte
	if _, err := f.ReadAt(tr[:], size-int64(idTrailerLen)); err != nil {
		return 0, nil, fmt.Errorf("read id table trailer: %w", err)
	}
	if string(tr[8:]) != idTrailerMagic {
		return size, nil, nil
	}
	n := binary.LittleEndian.Uint64(tr[:8])
	if n > uint64(size-int64(idTrailerLen)) {
		return 0, nil, fmt.Errorf("id table trailer: a table of %d bytes does not fit a file of %d", n, size)
	}
	blockSize = size - int64(idTrailerLen) - int64(n)
	table = make([]byte, n)
	if _, err := f.ReadAt(table, blockSize); err != nil {
		return 0, nil, fmt.Errorf("read id table: %w", err)
	}
	return blockSize, table, nil
}

// rebuildIDs recomputes the id table from the rows.
func (b *blockRef) rebuildIDs() error {
	b.ids = b.ids[:0]
	b.minRecv, b.maxRecv = 0, 0
	return b.r.Scan(0, b.rows, func(row int, data []byte) error {
		ev, err := trail.DecodeEvent(data)
		if err != nil {
			return fmt.Errorf("%s row %d: %w", b.path, row, err)
		}
		b.addID(idHash(ev.ID), ev.ReceivedAt.UnixNano(), uint32(row))
		if row == b.rows-1 {
			sortIDs(b.ids)
		}
		return nil
	})
}

// addID records the id hash and received_at (unix nanoseconds) of a row.
func (b *blockRef) addID(idh uint64, rv int64, row uint32) {
	b.ids = append(b.ids, idEntry{hash: idh, row: row})
	if len(b.ids) == 1 || rv < b.minRecv {
		b.minRecv = rv
	}
	if rv > b.maxRecv {
		b.maxRecv = rv
	}
}

// sortIDs sorts an id table by hash, then row.
func sortIDs(ids []idEntry) {
	slices.SortFunc(ids, func(a, b idEntry) int {
		if c := cmp.Compare(a.hash, b.hash); c != 0 {
			return c
		}
		return cmp.Compare(a.row, b.row)
	})
}

// loadTenant opens a tenant's blocks, tiles and tree from disk.
func (s *Store) loadTenant(name string) (*tenant, error) {
	t, err := s.newTenant(name)
	if err != nil {
		return nil, err
	}
	bdir := filepath.Join(t.dir, "blocks")
	des, err := s.fs.ReadDir(bdir)
	if errors.Is(err, fs.ErrNotExist) {
		// A tenant's first flush makes its directories; a crash may have
		// come before blocks/ was made. The checks below find any event
		// that should have been in it.
		des, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("logstore: %w", err)
	}
	type cand struct {
		name      string
		first     int64
		rows, gen int
	}
	var cands []cand
	for _, de := range des {
		n := de.Name()
		if strings.HasSuffix(n, ".tmp") {
			s.fs.Remove(filepath.Join(bdir, n)) // an unfinished write
			continue
		}
		if first, rows, gen, ok := parseBlockName(n); ok {
			cands = append(cands, cand{n, first, rows, gen})
		}
	}
	// By first seq, then the newest generation, then the most rows, so
	// that the block kept for a first seq does not depend on the order
	// the directory lists (two blocks of one first seq and generation are
	// left only when removing a discarded merge failed).
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].first != cands[j].first {
			return cands[i].first < cands[j].first
		}
		if cands[i].gen != cands[j].gen {
			return cands[i].gen > cands[j].gen
		}
		return cands[i].rows > cands[j].rows
	})
	var next int64
	var stale []string
	for _, c := range cands {
		if c.first < next || (c.first == next && len(t.blocks) > 0 && t.blocks[len(t.blocks)-1].first == c.first) {
			stale = append(stale, c.name) // replaced by a merged or rewritten block
			continue
		}
		if c.first > next {
			t.broken = &trail.TamperError{Tenant: name, Seq: next, File: t.rel("blocks"), Reason: fmt.Sprintf("blocks skip from seq %d to %d", next, c.first)}
			break
		}
		path := filepath.Join(bdir, c.name)
		b, err := s.openBlock(path, c.first, c.rows, c.gen)
		if err != nil && keyError(err) {
			return nil, fmt.Errorf("logstore: %s: %w", s.rel(path), keyCause(err))
		}
		if err != nil {
			t.broken = &trail.TamperError{Tenant: name, Seq: c.first, File: t.rel(filepath.Join("blocks", c.name)), Reason: err.Error()}
			break
		}
		t.blocks = append(t.blocks, b)
		next = b.end()
	}
	if t.broken == nil {
		for _, n := range stale {
			s.fs.Remove(filepath.Join(bdir, n))
			s.fs.Remove(idsPath(filepath.Join(bdir, n)))
		}
	}
	t.size, t.persisted = next, next
	t.head = newHeadSeg(next, nil)
	if t.tree, err = merkle.Open(next, t.tiles); err != nil {
		t.broken = &trail.TamperError{Tenant: name, Seq: -1, File: t.rel("tiles"), Reason: err.Error()}
		t.tree, _ = merkle.Open(0, t.tiles)
		t.size, t.persisted = 0, 0
		t.head = newHeadSeg(0, nil)
	}
	notes, whole, size, err := s.readCheckpointsLen(t)
	if err != nil {
		return nil, err
	}
	if whole < size && t.broken == nil {
		if err := s.repairCheckpoints(t, whole); err != nil {
			return nil, fmt.Errorf("logstore: %w", err)
		}
	}
	if len(notes) > 0 && t.broken == nil {
		cp, err := s.openCheckpoint(name, notes[len(notes)-1])
		if err != nil {
			t.broken = &trail.TamperError{Tenant: name, Seq: -1, File: t.rel(checkpointsFile), Reason: "checkpoint signature: " + err.Error()}
		} else {
			t.cp = cp
			t.head.cp = cp
			t.logged = cp.Size
		}
	}
	return t, nil
}

// blockRow is one row given to writeBlock.
type blockRow struct {
	data   []byte
	time   int64    // the event time (received_at for an erased row), unix nanoseconds
	recv   int64    // received_at, unix nanoseconds
	idh    uint64   // idHash of the event's id
	terms  termList // index entries; nil: computed from ev
	ev     *trail.Event
	erased bool // data is an erased stub, without index entries
}

// eventRow returns the row of a decoded event, its index terms computed
// by writeBlock unless erased.
func eventRow(data []byte, ev *trail.Event, erased bool) blockRow {
	r := blockRow{data: data, time: ev.Time.UnixNano(), recv: ev.ReceivedAt.UnixNano(), idh: idHash(ev.ID), ev: ev, erased: erased}
	if erased {
		r.time = r.recv
	}
	return r
}

// headRow returns the row of a head entry, with the terms computed when
// it was appended.
func headRow(e *headEntry) blockRow {
	return blockRow{data: e.leaf, time: e.time, recv: e.recv, idh: e.idh, terms: e.terms}
}

// writeBlock writes n rows (consecutive seqs from first) as a new block
// of generation gen, under temporary names in batch b, and returns it
// opened (see syncBatch for how it becomes durable and visible).
//
// seg, when not nil, is the frozen head segment the rows come from (row i
// its entry i): the index entries of the fields it indexes are then taken
// from its postings, whole, and only the others from each row's terms,
// which saves the block writer hashing the same entries again.
func (s *Store) writeBlock(b *syncBatch, t *tenant, first int64, gen int, n int, row func(i int) blockRow, seg *headSeg) (*pendingBlock, error) {
	name := filepath.Join(t.dir, "blocks", blockName(first, n, gen))
	buf := blockBufs.Get().(*bytes.Buffer)
	defer putBlockBuf(buf)
	buf.Grow(n * blockBytesPerRow)
	w := block.NewWriter(buf, t.name, first, s.blockOptions(name))
	ref := &blockRef{ids: make([]idEntry, 0, n)}
	for i := 0; i < n; i++ {
		r := row(i)
		var err error
		switch {
		case r.erased:
			err = w.Add(r.data, r.time, nil)
		case r.terms != nil && seg != nil:
			err = w.Add(r.data, r.time, unindexedTerms(r.terms))
		case r.terms != nil:
			err = w.Add(r.data, r.time, func(add func(field, key string)) {
				for it := r.terms.iter(); it.next(); {
					add(it.field, it.key)
				}
			})
		default:
			err = w.Add(r.data, r.time, func(add func(field, key string)) { trail.IndexTerms(r.ev, add) })
		}
		if err != nil {
			return nil, fmt.Errorf("write block %s: %w", name, err)
		}
		ref.addID(r.idh, r.recv, uint32(i))
	}
	if seg != nil {
		if err := seg.postings(w.AddPostings); err != nil {
			return nil, fmt.Errorf("write block %s: head postings: %w", name, err)
		}
	}
	if _, err := w.Close(); err != nil {
		return nil, fmt.Errorf("write block %s: %w", name, err)
	}
	sortIDs(ref.ids)
	return s.writePendingBlock(b, name, &writtenBlock{data: buf.Bytes(), ids: ref.ids, minRecv: ref.minRecv, maxRecv: ref.maxRecv}, first, n, gen)
}

// unindexedTerms returns the block.Writer.Add callback of a head row whose
// head-indexed fields reach the block through its segment's postings
// (block.Writer.AddPostings): it adds only the row's other terms.
func unindexedTerms(terms termList) func(add func(field, key string)) {
	return func(add func(field, key string)) {
		skip := false // the entry's field is in the segment's postings
		for it := terms.iter(); it.next(); {
			if it.newField {
				skip = headIndexed(it.field)
			}
			if !skip {
				add(it.field, it.key)
			}
		}
	}
}

// blockBufs recycles writeBlock's buffers: a flush writes one block per
// tenant, and a fresh buffer each time costs page faults and clearing.
var blockBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBlockBuf bounds the buffers kept in blockBufs.
const maxPooledBlockBuf = 8 << 20

// putBlockBuf returns a buffer to blockBufs once its bytes are written
// (writePendingBlock keeps no reference to them).
func putBlockBuf(b *bytes.Buffer) {
	if b.Cap() > maxPooledBlockBuf {
		return
	}
	b.Reset()
	blockBufs.Put(b)
}

// blockBytesPerRow sizes writeBlock's buffer: a block of realistic events
// takes about 140 bytes per row (see block.DefaultLevel).
const blockBytesPerRow = 160

// removeBlockFiles deletes a retired block's files.
func (s *Store) removeBlockFiles(b *blockRef) {
	s.fs.Remove(b.path)
	if b.legacyIDs {
		s.fs.Remove(idsPath(b.path))
	}
}
