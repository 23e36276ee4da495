package client

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	trail "github.com/trail-audit/trail"
)

// ErrSpoolFull is returned (wrapped) when writing to the spool would take
// it past Config.SpoolMaxBytes.
var ErrSpoolFull = &trail.Error{Code: trail.EUNAVAILABLE, Field: "SpoolMaxBytes", Message: "the spool is full"}

// spool is a bounded, append-only, on-disk queue of events: a directory of
// segment files named seg-<16 hex digits>.spool, in order of that number,
// and a LOCK file flock'd while it is open. The newest segment (the active
// one) takes appends; the others are sealed and are read whole, delivered
// and deleted, oldest first. See record.go for the file format.
//
// All methods are safe for concurrent use.
type spool struct {
	dir    string
	max    int64 // bound on the bytes of all segments
	segMax int64 // an active segment at least this large is sealed
	log    *slog.Logger
	lock   *os.File

	// wmu is held while writing to the active segment and while sealing
	// it; it is taken before mu. mu guards the rest; the active segment
	// changes only with both held.
	wmu        sync.Mutex
	mu         sync.Mutex
	sealed     []segment // oldest first
	active     *os.File  // nil until the first append after a seal
	activeSeg  segment
	group      *group // appends waiting for the next write
	reserved   int64  // bytes of appends not yet written
	syncs      int64  // group writes (fsyncs) so far
	nextSeq    uint64
	total      int64 // bytes of all segments, sealed and active
	closed     bool
	recovered  int   // records kept from earlier runs at open
	truncated  int64 // bytes cut off torn tails at open
	notifyData chan struct{}
}

// segment is one segment file.
type segment struct {
	seq     uint64
	size    int64
	records int
}

func (s *spool) path(seq uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("seg-%016x.spool", seq))
}

// openSpool opens (creating it when needed) the spool in dir, bounded by
// max bytes. It checks every segment left by an earlier run, truncates a
// torn tail (logging it) and deletes segments that hold no record. It fails
// when another process holds the spool open.
func openSpool(dir string, maxBytes int64, log *slog.Logger) (*spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, &trail.Error{Code: trail.ECONFLICT, Field: "SpoolDir", Message: "spool " + dir + " is in use by another client", Err: err}
	}
	s := &spool{dir: dir, max: maxBytes, log: log, lock: lock, notifyData: make(chan struct{}, 1)}
	s.segMax = min(max(maxBytes/8, 64<<10), 8<<20)
	if err := s.recover(); err != nil {
		lock.Close()
		return nil, err
	}
	if len(s.sealed) > 0 {
		s.notify()
	}
	return s, nil
}

// recover scans the segments of an earlier run: all of them are sealed.
func (s *spool) recover() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	var seqs []uint64
	for _, e := range entries {
		name := e.Name()
		hex, ok1 := strings.CutPrefix(name, "seg-")
		hex, ok2 := strings.CutSuffix(hex, ".spool")
		if !ok1 || !ok2 || len(hex) != 16 {
			continue
		}
		seq, err := strconv.ParseUint(hex, 16, 64)
		if err != nil {
			continue
		}
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	changed := false
	for _, seq := range seqs {
		s.nextSeq = seq + 1
		seg, err := s.check(seq)
		if err != nil {
			return err
		}
		if seg.records == 0 {
			if err := os.Remove(s.path(seq)); err != nil {
				return fmt.Errorf("spool: %w", err)
			}
			changed = true
			continue
		}
		s.sealed = append(s.sealed, seg)
		s.total += seg.size
		s.recovered += seg.records
	}
	if changed {
		return syncDir(s.dir)
	}
	return nil
}

// check reads one segment of an earlier run and truncates a torn tail.
func (s *spool) check(seq uint64) (segment, error) {
	p := s.path(seq)
	data, err := os.ReadFile(p)
	if err != nil {
		return segment{}, fmt.Errorf("spool: %w", err)
	}
	if len(data) < len(segmentMagic) || string(data[:len(segmentMagic)]) != segmentMagic {
		s.log.Warn("trail client: spool segment without a valid header, discarded", "file", p, "bytes", len(data))
		s.truncated += int64(len(data))
		return segment{seq: seq}, nil
	}
	recs, good, err := readRecords(data[len(segmentMagic):])
	size := int64(len(segmentMagic) + good)
	if err != nil {
		s.log.Warn("trail client: torn spool tail truncated", "file", p, "kept_records", len(recs), "cut_bytes", int64(len(data))-size)
		s.truncated += int64(len(data)) - size
		if err := truncateSync(p, size); err != nil {
			return segment{}, err
		}
	}
	return segment{seq: seq, size: size, records: len(recs)}, nil
}

func truncateSync(p string, size int64) error {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("spool: sync dir: %w", err)
	}
	return nil
}

// append writes the payloads as records and fsyncs them: when it returns
// nil they survive a crash. It writes all or none: ErrSpoolFull (wrapped)
// when they do not fit under the bound, ErrClosed after close.
//
// Appends that arrive while another is writing form a group that the next
// writer writes with a single fsync (group commit), so concurrent callers
// share the cost of an fsync rather than queue for one each.
func (s *spool) append(payloads [][]byte) error {
	var buf []byte
	for _, p := range payloads {
		buf = appendRecord(buf, p)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	// The magic of a segment that may have to be created is kept free.
	if s.total+s.reserved+int64(len(buf))+int64(len(segmentMagic)) > s.max {
		s.mu.Unlock()
		return fmt.Errorf("spool %d bytes more: %w", len(buf), ErrSpoolFull)
	}
	if s.group == nil {
		s.group = &group{done: make(chan struct{})}
	}
	g := s.group
	g.buf = append(g.buf, buf...)
	g.records += len(payloads)
	s.reserved += int64(len(buf))
	s.mu.Unlock()

	s.wmu.Lock()
	defer s.wmu.Unlock()
	select {
	case <-g.done: // an earlier writer took our group along
		return g.err
	default:
	}
	s.mu.Lock()
	s.group = nil // g: groups are only taken while wmu is held
	s.mu.Unlock()
	g.err = s.write(g)
	close(g.done)
	return g.err
}

// group is a set of appends written with one fsync.
type group struct {
	buf     []byte
	records int
	done    chan struct{} // closed once written (err set)
	err     error
}

// write appends a group to the active segment, creating one when needed,
// and fsyncs it; s.wmu is held. On a write error the segment is cut back
// to its last good size and sealed.
func (s *spool) write(g *group) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		s.unreserve(g)
		return ErrClosed
	}
	if s.active == nil {
		p := s.path(s.nextSeq)
		f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		if _, err = f.Write([]byte(segmentMagic)); err == nil {
			err = syncDir(s.dir)
		}
		if err != nil {
			f.Close()
			os.Remove(p)
			s.unreserve(g)
			return fmt.Errorf("spool: %w", err)
		}
		s.mu.Lock()
		s.active, s.activeSeg = f, segment{seq: s.nextSeq, size: int64(len(segmentMagic))}
		s.nextSeq++
		s.total += s.activeSeg.size
		s.mu.Unlock()
	}
	_, err := s.active.Write(g.buf)
	if err == nil {
		err = s.active.Sync()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reserved -= int64(len(g.buf))
	s.syncs++
	if err != nil {
		// What was written may be partly on disk: cut it off and seal.
		s.active.Truncate(s.activeSeg.size)
		s.sealLocked()
		return fmt.Errorf("spool: %w", err)
	}
	s.activeSeg.size += int64(len(g.buf))
	s.activeSeg.records += g.records
	s.total += int64(len(g.buf))
	if s.activeSeg.size >= s.segMax {
		s.sealLocked()
	}
	s.notify()
	return nil
}

func (s *spool) unreserve(g *group) {
	s.mu.Lock()
	s.reserved -= int64(len(g.buf))
	s.mu.Unlock()
}

// sealLocked closes the active segment; s.wmu and s.mu are held.
func (s *spool) sealLocked() {
	if s.active == nil {
		return
	}
	s.active.Close()
	s.active = nil
	if s.activeSeg.records == 0 {
		os.Remove(s.path(s.activeSeg.seq))
		s.total -= s.activeSeg.size
		return
	}
	s.sealed = append(s.sealed, s.activeSeg)
}

func (s *spool) notify() {
	select {
	case s.notifyData <- struct{}{}:
	default:
	}
}

// next returns the oldest segment and its records, sealing the active
// segment first when it is the only one. ok is false when the spool is
// empty.
func (s *spool) next() (seg segment, recs [][]byte, ok bool, err error) {
	s.mu.Lock()
	if len(s.sealed) == 0 {
		s.mu.Unlock()
		s.wmu.Lock() // sealing the active segment waits for a write
		s.mu.Lock()
		if len(s.sealed) == 0 {
			s.sealLocked()
		}
		s.wmu.Unlock()
	}
	if len(s.sealed) == 0 {
		s.mu.Unlock()
		return segment{}, nil, false, nil
	}
	seg = s.sealed[0]
	s.mu.Unlock()
	data, err := os.ReadFile(s.path(seg.seq))
	if err != nil {
		return seg, nil, false, fmt.Errorf("spool: %w", err)
	}
	if len(data) < len(segmentMagic) {
		return seg, nil, true, nil
	}
	recs, _, rerr := readRecords(data[len(segmentMagic):])
	if rerr != nil {
		s.log.Warn("trail client: spool segment damaged since it was written; replaying the records before the damage", "file", s.path(seg.seq), "records", len(recs))
	}
	return seg, recs, true, nil
}

// remove deletes a delivered sealed segment. A segment whose file cannot
// be removed is replayed again by the next run (trail keeps one copy).
func (s *spool) remove(seg segment) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.sealed, func(x segment) bool { return x.seq == seg.seq })
	if i < 0 {
		return nil
	}
	// Forgotten even when the file cannot be removed: its events are
	// delivered, and sending them again each round would gain nothing.
	s.sealed = slices.Delete(s.sealed, i, i+1)
	s.total -= seg.size
	if err := os.Remove(s.path(seg.seq)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// bytes returns the size of all segments.
func (s *spool) bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// empty reports whether the spool holds no record.
func (s *spool) empty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sealed) == 0 && (s.active == nil || s.activeSeg.records == 0)
}

// close seals the active segment and releases the lock.
func (s *spool) close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.wmu.Lock()
	s.mu.Lock()
	s.sealLocked()
	s.mu.Unlock()
	s.wmu.Unlock()
	return s.lock.Close()
}
