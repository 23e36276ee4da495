package wal

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/trail-audit/trail/logstore/vfs"
)

// DefaultSegmentSize is the segment size when Options.SegmentSize is 0.
const DefaultSegmentSize = 64 << 20

// maxKeptBuffer is the largest append buffer a Log keeps between Appends.
const maxKeptBuffer = 4 << 20

// Options configure a Log.
type Options struct {
	// SegmentSize is the size at which the next Append starts a new
	// segment; 0 means DefaultSegmentSize.
	SegmentSize int64
	// FS is the file system; nil means vfs.OS().
	FS vfs.FS
	// Cipher, when not nil, seals every record's payload as Append
	// writes it and opens it as Replay reads it, binding it to its place
	// in the log (see Cipher).
	Cipher Cipher
	// Preallocate makes the log write zeros ahead of its records in the
	// current segment, a step at a time (64 KiB at first in each segment,
	// doubling up to a quarter of SegmentSize, at least 4 KiB and at most
	// 16 MiB, so a small log stays small), so that most Syncs overwrite
	// blocks the file already has and fdatasync need not commit a new
	// file size (on ext4 here a third to a half less latency per Sync,
	// BenchmarkSyncLatency). The zeros after the
	// last record are the segment's preallocated tail: Open treats a
	// segment whose bytes after the last valid record are all zero as
	// ending cleanly there (TornTail reports nothing removed) and keeps
	// the tail. A segment is truncated to its last record when the log
	// moves on to the next one; should a crash come before that is
	// durable, Open treats a sealed segment's zero tail the same way.
	Preallocate bool
}

// Bounds of the preallocation step (see Options.Preallocate).
const (
	minPreallocStep   = 4 << 10
	firstPreallocStep = 64 << 10
	maxPreallocStep   = 16 << 20
	zeroChunk         = 1 << 20 // bytes of zeros written per call
)

// Cipher encrypts and authenticates record payloads (Options.Cipher).
// The Log passes as aad the record's place, AAD(segment, offset), so a
// record copied or moved to another place no longer opens. Framing and
// checksums cover the sealed bytes: Open's recovery never needs the
// Cipher.
type Cipher interface {
	// Seal appends the sealed form of payload to dst and returns the
	// extended slice; payload and dst do not overlap.
	Seal(dst, payload, aad []byte) []byte
	// Open appends the payload that sealed holds to dst and returns the
	// extended slice, or an error when sealed does not open with aad.
	Open(dst, sealed, aad []byte) ([]byte, error)
}

// AADSize is the size of a record's additional data.
const AADSize = 24

// AAD returns the additional data that binds a sealed record to its place:
// "trailwal", then the segment index and the byte offset of the record's
// frame, each a big-endian uint64.
func AAD(segment int, offset int64) [AADSize]byte {
	var b [AADSize]byte
	copy(b[:], "trailwal")
	binary.BigEndian.PutUint64(b[8:], uint64(segment))
	binary.BigEndian.PutUint64(b[16:], uint64(offset))
	return b
}

// Position is the place just after a record: a segment index and a byte
// offset in that segment. Positions are comparable; the zero Position is
// the start of the log.
type Position struct {
	Segment int
	Offset  int64
}

// Compare returns -1, 0 or +1 as p is before, at or after q in the log.
func (p Position) Compare(q Position) int {
	if c := cmp.Compare(p.Segment, q.Segment); c != 0 {
		return c
	}
	return cmp.Compare(p.Offset, q.Offset)
}

func (p Position) String() string { return fmt.Sprintf("%d:%d", p.Segment, p.Offset) }

// segment is a sealed (no longer written) segment and its size.
type segment struct {
	index int
	size  int64
}

// Log is an open write-ahead log.
//
// Its methods are safe to call from several goroutines (they serialise on
// a mutex, so End and RemoveBefore may run beside the writer), but the Log
// has one writer: the store calls Append and Sync from a single goroutine,
// and records appended from several goroutines would be ordered only by
// call order. Replay may run only before the first Append.
type Log struct {
	fs     vfs.FS
	dir    string
	max    int64 // segment size
	cipher Cipher

	prealloc int64 // largest preallocation step; 0: off

	mu       sync.Mutex
	sealed   []segment // older segments, ascending
	f        vfs.File  // the current (last) segment, open read-write
	alloc    int64     // size of the current segment's file: end.Offset plus its zero tail
	step     int64     // the next preallocation step in the current segment
	zeros    []byte    // zeroChunk zeros, allocated on the first preallocation
	end      Position  // end of the last record written
	synced   Position  // end of the last record known durable; same segment as end
	dirDirty bool      // a segment was created since the directory was last synced
	appended bool      // Append has been called; Replay is no longer allowed
	lost     error     // records an earlier Append returned were discarded; Sync reports it
	failed   error     // wraps ErrFailed: the Log is unusable until reopened
	closed   bool
	buf      []byte

	tornAt      Position
	tornRemoved int64
}

func segmentName(index int) string { return fmt.Sprintf("%08d.wal", index) }

func (l *Log) path(index int) string { return filepath.Join(l.dir, segmentName(index)) }

// Open opens the write-ahead log in dir, creating dir and a first segment
// if needed.
//
// Open reads every segment once and checks every record's checksum. If the
// last segment ends in a torn tail (its final record's header or payload
// runs past the end of the file, or its checksum fails, and no valid record
// frame starts anywhere after it in that segment), Open truncates the tail
// away and makes that durable; TornTail reports it. Any other bad record, a
// bad record in an older segment, or a missing segment in the sequence is
// returned as a *CorruptionError, and nothing is modified.
func Open(dir string, opts Options) (*Log, error) {
	if opts.SegmentSize < 0 {
		return nil, fmt.Errorf("wal: SegmentSize %d is negative", opts.SegmentSize)
	}
	if opts.SegmentSize == 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	if opts.FS == nil {
		opts.FS = vfs.OS()
	}
	l := &Log{fs: opts.FS, dir: dir, max: opts.SegmentSize, cipher: opts.Cipher}
	if opts.Preallocate {
		l.prealloc = min(max(opts.SegmentSize/4, minPreallocStep), maxPreallocStep)
	}
	if err := l.fs.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("wal: open: %w", err)
	}
	indexes, err := l.list()
	if err != nil {
		return nil, err
	}
	if len(indexes) == 0 {
		f, err := l.fs.OpenFile(l.path(1), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return nil, fmt.Errorf("wal: create first segment: %w", err)
		}
		if err := l.fs.SyncDir(dir); err != nil {
			f.Close()
			return nil, fmt.Errorf("wal: create first segment: %w", err)
		}
		l.f, l.end = f, Position{Segment: 1}
		l.synced, l.tornAt = l.end, l.end
		return l, nil
	}
	for i, index := range indexes[:len(indexes)-1] {
		if next := indexes[i+1]; next != index+1 {
			return nil, &CorruptionError{Segment: index + 1, Reason: fmt.Sprintf("segment missing before %s", segmentName(next))}
		}
		size, err := l.check(index)
		if err != nil {
			return nil, err
		}
		l.sealed = append(l.sealed, segment{index, size})
	}
	if err := l.openLast(indexes[len(indexes)-1]); err != nil {
		return nil, err
	}
	return l, nil
}

// zeroTail reports whether every byte of f in [from, size) is zero.
func zeroTail(f io.ReaderAt, from, size int64) (bool, error) {
	buf := make([]byte, min(size-from, 256<<10))
	for from < size {
		n := min(int64(len(buf)), size-from)
		if _, err := f.ReadAt(buf[:n], from); err != nil {
			return false, unexpected(err)
		}
		for _, c := range buf[:n] {
			if c != 0 {
				return false, nil
			}
		}
		from += n
	}
	return true, nil
}

// list returns the indexes of the segment files in the directory, ascending.
func (l *Log) list() ([]int, error) {
	entries, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("wal: open: %w", err)
	}
	var indexes []int
	for _, e := range entries {
		digits, ok := strings.CutSuffix(e.Name(), ".wal")
		if !ok || e.IsDir() {
			continue
		}
		n, err := strconv.Atoi(digits)
		if err != nil || n < 1 || segmentName(n) != e.Name() {
			continue
		}
		indexes = append(indexes, n)
	}
	slices.Sort(indexes)
	return indexes, nil
}

// check verifies every record of the sealed segment index and returns its size.
func (l *Log) check(index int) (int64, error) {
	f, err := l.fs.OpenFile(l.path(index), os.O_RDONLY, 0)
	if err != nil {
		return 0, fmt.Errorf("wal: open segment: %w", err)
	}
	defer f.Close()
	size, err := fileSize(f)
	if err != nil {
		return 0, err
	}
	s := newScanner(f, 0, size)
	for {
		_, reason, err := s.next()
		switch {
		case err == io.EOF:
			return size, nil
		case err != nil:
			return 0, fmt.Errorf("wal: read segment %s: %w", segmentName(index), err)
		case reason != "":
			if l.prealloc > 0 {
				// The zero tail of a segment sealed just before a crash.
				zero, err := zeroTail(f, s.off, size)
				if err != nil {
					return 0, fmt.Errorf("wal: read segment %s: %w", segmentName(index), err)
				}
				if zero {
					return s.off, nil
				}
			}
			return 0, &CorruptionError{Segment: index, Offset: s.off, Reason: reason}
		}
	}
}

// openLast opens the last segment for appending, truncating a torn tail.
func (l *Log) openLast(index int) error {
	f, err := l.fs.OpenFile(l.path(index), os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("wal: open segment: %w", err)
	}
	if err := l.recover(f, index); err != nil {
		f.Close()
		return err
	}
	l.f = f
	return nil
}

func (l *Log) recover(f vfs.File, index int) error {
	size, err := fileSize(f)
	if err != nil {
		return err
	}
	s := newScanner(f, 0, size)
	reason := ""
	for reason == "" {
		var err error
		_, reason, err = s.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("wal: read segment %s: %w", segmentName(index), err)
		}
	}
	end := s.off
	if reason != "" && l.prealloc > 0 {
		zero, err := zeroTail(f, end, size)
		if err != nil {
			return fmt.Errorf("wal: read segment %s: %w", segmentName(index), err)
		}
		if zero { // the preallocated tail: a clean end
			reason = ""
		}
	}
	l.alloc = size
	if reason != "" {
		later, err := frameAfter(f, end+1, size)
		if err != nil {
			return fmt.Errorf("wal: read segment %s: %w", segmentName(index), err)
		}
		if later {
			return &CorruptionError{Segment: index, Offset: end, Reason: reason + ", with valid records after it"}
		}
		// A torn tail: the record was never acknowledged.
		if err := f.Truncate(end); err != nil {
			return fmt.Errorf("wal: truncate torn tail of %s: %w", segmentName(index), err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("wal: truncate torn tail of %s: %w", segmentName(index), err)
		}
		l.tornRemoved = size - end
		l.alloc = end
	}
	if _, err := f.Seek(end, io.SeekStart); err != nil {
		return fmt.Errorf("wal: open segment: %w", err)
	}
	l.end = Position{Segment: index, Offset: end}
	l.synced, l.tornAt = l.end, l.end
	return nil
}

func fileSize(f vfs.File) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("wal: stat segment: %w", err)
	}
	return fi.Size(), nil
}

// TornTail reports what Open removed from the end of the last segment: the
// position where the log then ended and how many bytes it removed (0 when
// the log ended at a record boundary).
func (l *Log) TornTail() (at Position, removed int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tornAt, l.tornRemoved
}

// usable returns the error every call returns once the Log is closed or failed.
func (l *Log) usable() error {
	switch {
	case l.failed != nil:
		return l.failed
	case l.closed:
		return ErrClosed
	}
	return nil
}

// Replay calls fn for every record after from, in log order, with the
// position just after the record and its payload (opened by
// Options.Cipher, if any), which is valid only during the call. The zero Position (or one in a segment already removed)
// replays from the oldest record still stored. If fn returns an error,
// Replay stops and returns it.
//
// Replay may run only before the first Append. It returns a
// *CorruptionError for a bad record, a *RecordError for one the Cipher
// cannot open, and an error if from is past End.
func (l *Log) Replay(from Position, fn func(pos Position, payload []byte) error) error {
	l.mu.Lock()
	err := l.usable()
	if err == nil && l.appended {
		err = errors.New("wal: Replay after Append")
	}
	segs := append(slices.Clone(l.sealed), segment{l.end.Segment, l.end.Offset})
	l.mu.Unlock()
	if err != nil {
		return err
	}
	if from.Compare(Position{Segment: segs[0].index}) < 0 {
		from = Position{Segment: segs[0].index}
	}
	if last := segs[len(segs)-1]; from.Compare(Position{last.index, last.size}) > 0 {
		return fmt.Errorf("wal: replay from %v: past the end of the log at %v", from, Position{last.index, last.size})
	}
	for _, seg := range segs {
		if seg.index < from.Segment {
			continue
		}
		start := int64(0)
		if seg.index == from.Segment {
			start = from.Offset
			if start > seg.size {
				return fmt.Errorf("wal: replay from %v: past the end of segment %s (%d bytes)", from, segmentName(seg.index), seg.size)
			}
		}
		if err := l.replaySegment(seg, start, fn); err != nil {
			return err
		}
	}
	return nil
}

func (l *Log) replaySegment(seg segment, start int64, fn func(Position, []byte) error) error {
	f, err := l.fs.OpenFile(l.path(seg.index), os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("wal: replay: %w", err)
	}
	defer f.Close()
	s := newScanner(f, start, seg.size)
	var plain []byte
	for {
		p, reason, err := s.next()
		switch {
		case err == io.EOF:
			return nil
		case err != nil:
			return fmt.Errorf("wal: read segment %s: %w", segmentName(seg.index), err)
		case reason != "":
			return &CorruptionError{Segment: seg.index, Offset: s.off, Reason: reason}
		}
		if l.cipher != nil {
			at := s.off - headerSize - int64(len(p))
			aad := AAD(seg.index, at)
			if plain, err = l.cipher.Open(plain[:0], p, aad[:]); err != nil {
				return &RecordError{Segment: seg.index, Offset: at, Err: err}
			}
			p = plain
		}
		if err := fn(Position{seg.index, s.off}, p); err != nil {
			return err
		}
	}
}

// Append writes one record per payload, in order, and returns the position
// after the last one. Each payload must hold 1 to MaxPayload bytes. The
// records go out in one write call, into the current segment, or into a
// new one if the current segment has reached Options.SegmentSize (the old
// segment is then synced first).
//
// Append does not sync: the records are durable only once Sync returns nil.
//
// If the write fails, Append truncates the segment back to where it ended
// before the call, so no partial record remains, and returns the error; the
// records of earlier Appends are kept. If syncing the old segment when
// starting a new one fails, the records appended since the last Sync are
// discarded too, and the next Sync reports that. If the truncation itself
// fails, the Log is failed: this and every later call return an error
// wrapping ErrFailed and the cause, until the Log is reopened.
func (l *Log) Append(payloads ...[]byte) (Position, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return l.end, err
	}
	size := 0
	for i, p := range payloads {
		if len(p) == 0 || len(p) > MaxPayload {
			return l.end, fmt.Errorf("wal: append: payload %d has %d bytes, want 1 to %d", i, len(p), MaxPayload)
		}
		size += headerSize + len(p)
	}
	l.appended = true
	if len(payloads) == 0 {
		return l.end, nil
	}
	if l.end.Offset >= l.max {
		if err := l.rotate(); err != nil {
			return l.end, err
		}
	}
	buf := l.buf[:0]
	if cap(buf) < size {
		buf = make([]byte, 0, size)
	}
	for i, p := range payloads {
		if l.cipher == nil {
			buf = appendFrame(buf, p)
			continue
		}
		start := len(buf)
		aad := AAD(l.end.Segment, l.end.Offset+int64(start))
		buf = l.cipher.Seal(append(buf, make([]byte, headerSize)...), p, aad[:])
		sealed := buf[start+headerSize:]
		if len(sealed) > MaxPayload {
			return l.end, fmt.Errorf("wal: append: payload %d is %d bytes sealed, more than %d", i, len(sealed), MaxPayload)
		}
		binary.LittleEndian.PutUint32(buf[start:], uint32(len(sealed)))
		binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(sealed, castagnoli))
	}
	if cap(buf) <= maxKeptBuffer {
		l.buf = buf
	}
	if l.prealloc > 0 && l.end.Offset+int64(len(buf)) > l.alloc {
		if err := l.extend(l.end.Offset + int64(len(buf)) + l.nextStep()); err != nil {
			return l.end, l.repair(l.end.Offset, fmt.Errorf("wal: preallocate %s: %w", segmentName(l.end.Segment), err))
		}
	}
	n, err := l.f.Write(buf)
	if err == nil && n < len(buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return l.end, l.repair(l.end.Offset, fmt.Errorf("wal: append to %s: %w", segmentName(l.end.Segment), err))
	}
	l.end.Offset += int64(n)
	return l.end, nil
}

// nextStep returns the size of the next preallocation step and doubles
// it for the one after, up to the largest.
func (l *Log) nextStep() int64 {
	if l.step == 0 {
		l.step = min(firstPreallocStep, l.prealloc)
	}
	step := l.step
	l.step = min(2*l.step, l.prealloc)
	return step
}

// extend writes zeros from the end of the current segment's file up to
// size, then moves the file offset back to the end of the last record.
func (l *Log) extend(size int64) error {
	if _, err := l.f.Seek(l.alloc, io.SeekStart); err != nil {
		return err
	}
	if l.zeros == nil {
		l.zeros = make([]byte, zeroChunk)
	}
	for l.alloc < size {
		n, err := l.f.Write(l.zeros[:min(int64(len(l.zeros)), size-l.alloc)])
		l.alloc += int64(n)
		if err != nil {
			return err
		}
	}
	_, err := l.f.Seek(l.end.Offset, io.SeekStart)
	return err
}

// rotate syncs the current segment and starts the next one.
func (l *Log) rotate() error {
	if l.alloc > l.end.Offset {
		// A sealed segment ends at its last record. (Unless a crash
		// comes before the truncation is durable: check accepts a
		// sealed segment's zero tail too.)
		if err := l.f.Truncate(l.end.Offset); err != nil {
			err = l.repair(l.synced.Offset, fmt.Errorf("wal: trim the preallocated tail of %s, records appended since the last Sync discarded: %w", segmentName(l.end.Segment), err))
			l.lost = err
			return err
		}
		l.alloc = l.end.Offset
	}
	if l.synced != l.end {
		if err := l.f.Sync(); err != nil {
			err = l.repair(l.synced.Offset, fmt.Errorf("wal: sync %s before starting a new segment, records appended since the last Sync discarded: %w", segmentName(l.end.Segment), err))
			l.lost = err
			return err
		}
		l.synced = l.end
	}
	next := l.end.Segment + 1
	f, err := l.fs.OpenFile(l.path(next), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("wal: create segment: %w", err)
	}
	// The old segment is durable, so an error closing it loses nothing.
	_ = l.f.Close()
	l.sealed = append(l.sealed, segment{l.end.Segment, l.end.Offset})
	l.f = f
	l.end = Position{Segment: next}
	l.synced = l.end
	l.alloc, l.step = 0, 0
	l.dirDirty = true
	return nil
}

// repair truncates the current segment back to the record boundary at
// offset at, makes that durable and returns cause. If it cannot, the Log
// is failed and the returned error wraps ErrFailed and cause.
func (l *Log) repair(at int64, cause error) error {
	err := l.f.Truncate(at)
	if err == nil {
		_, err = l.f.Seek(at, io.SeekStart)
	}
	if err == nil {
		err = l.f.Sync()
	}
	if err != nil {
		l.failed = fmt.Errorf("%w: %w (truncating %s back to %d failed: %v)", ErrFailed, cause, segmentName(l.end.Segment), at, err)
		return l.failed
	}
	l.end.Offset = at
	l.synced = l.end
	l.alloc = at
	return cause
}

// Sync makes every record appended so far durable: it fdatasyncs the
// current segment and, if a segment was created since the last Sync, fsyncs
// the directory. It returns nil only if every record whose Append returned
// nil since the previous successful Sync is durable.
//
// If Sync fails, the records appended since the last successful Sync are
// discarded: the segment is truncated back to where it then ended, so they
// will not reappear after a restart, and the error is returned. If that
// truncation fails, the Log is failed: every later call returns an error
// wrapping ErrFailed and the cause, until the Log is reopened.
func (l *Log) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if l.lost != nil {
		err := l.lost
		l.lost = nil
		return err
	}
	if l.end == l.synced && !l.dirDirty {
		return nil
	}
	if err := l.f.Sync(); err != nil {
		return l.repair(l.synced.Offset, fmt.Errorf("wal: sync %s: %w", segmentName(l.end.Segment), err))
	}
	if l.dirDirty {
		if err := l.fs.SyncDir(l.dir); err != nil {
			return l.repair(l.synced.Offset, fmt.Errorf("wal: sync directory: %w", err))
		}
		l.dirDirty = false
	}
	l.synced = l.end
	return nil
}

// End returns the position after the last record appended.
func (l *Log) End() Position {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.end
}

// RemoveBefore deletes, oldest first, every segment that ends at or before
// p, except the current one, then fsyncs the directory. Records are removed
// only with their whole segment, so records after p are always kept. After
// a crash part-way, the remaining segments still form an unbroken sequence.
func (l *Log) RemoveBefore(p Position) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	n := 0
	var err error
	for _, s := range l.sealed {
		if (Position{s.index, s.size}).Compare(p) > 0 {
			break
		}
		if err = l.fs.Remove(l.path(s.index)); err != nil {
			err = fmt.Errorf("wal: remove segment: %w", err)
			break
		}
		n++
	}
	l.sealed = slices.Delete(l.sealed, 0, n)
	if n > 0 {
		if serr := l.fs.SyncDir(l.dir); serr != nil && err == nil {
			err = fmt.Errorf("wal: remove segments: %w", serr)
		}
	}
	return err
}

// Close closes the current segment. It does not sync: records appended
// since the last successful Sync may be lost. Closing a failed Log releases
// its file and returns its failure.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	l.closed = true
	err := l.f.Close()
	if l.failed != nil {
		return l.failed
	}
	if err != nil {
		return fmt.Errorf("wal: close: %w", err)
	}
	return nil
}
