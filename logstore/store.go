package logstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"golang.org/x/mod/sumdb/note"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/checkpoint"
	"github.com/trail-audit/trail/keyring"
	"github.com/trail-audit/trail/logstore/block"
	"github.com/trail-audit/trail/logstore/vfs"
	"github.com/trail-audit/trail/logstore/wal"
	"github.com/trail-audit/trail/merkle"
)

// Options configure a Store. Dir, Signer and Verifier are required.
type Options struct {
	Dir        string
	Signer     note.Signer   // signs checkpoints
	Verifier   note.Verifier // checks stored checkpoints; must match Signer
	ServerName string        // checkpoint origin prefix; default "trail"

	FS     vfs.FS           // default vfs.OS()
	Now    func() time.Time // default time.Now
	Rand   io.Reader        // randomness for ids; default crypto/rand
	Logger *slog.Logger     // nil: discard
	Limits trail.Limits

	HeadBytes int64 // flush the head to blocks past this many leaf bytes; default 64 MiB
	// SmallHeadBytes, when positive, lets a background flush leave a
	// tenant's head of fewer leaf bytes in place, to write it with later
	// events as one larger block (see docs/design/logstore.md, "Deferring
	// small heads"). 0, the default, turns deferral off: it showed no
	// measurable gain on a quiet machine (see that section).
	SmallHeadBytes int64
	WALSegmentSize int64 // default 64 MiB
	ChunkRows      int   // rows per compressed chunk; default 128
	MaxBlockRows   int   // compaction stops merging past this; default 4M
	CacheBytes     int64 // decompressed block chunks kept for queries; default 256 MiB

	// Encryption, when not nil, encrypts every byte of event content the
	// store writes (WAL records, block chunks and indexes, id tables)
	// with AES-256-GCM under the ring's current key; any key of the ring
	// decrypts. Nil stores plaintext. Open fails with an error naming
	// the key id and the file when data needs a key the ring lacks, when
	// the ring's key of an id the store has seen has other bytes, and
	// when an encrypted store is opened without a ring. A plaintext
	// store opened with a ring stays readable and writes new data
	// encrypted. Nonces come from crypto/rand, never from Rand. See
	// docs/design/logstore.md, "Encryption at rest".
	Encryption *keyring.Ring
}

func (o *Options) setDefaults() error {
	if o.Dir == "" {
		return errors.New("logstore: Options.Dir is required")
	}
	if o.Signer == nil || o.Verifier == nil {
		return errors.New("logstore: Options.Signer and Options.Verifier are required")
	}
	if o.Signer.KeyHash() != o.Verifier.KeyHash() || o.Signer.Name() != o.Verifier.Name() {
		return errors.New("logstore: Options.Verifier does not match Options.Signer")
	}
	if o.ServerName == "" {
		o.ServerName = "trail"
	}
	if o.FS == nil {
		o.FS = vfs.OS()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Limits = o.Limits.WithDefaults()
	if o.HeadBytes <= 0 {
		o.HeadBytes = 64 << 20
	}
	if o.WALSegmentSize <= 0 {
		o.WALSegmentSize = 64 << 20
	}
	if o.ChunkRows <= 0 {
		o.ChunkRows = 128
	}
	if o.MaxBlockRows <= 0 {
		o.MaxBlockRows = 4 << 20
	}
	if o.CacheBytes <= 0 {
		o.CacheBytes = 256 << 20
	}
	return nil
}

// Store is the embedded store. It implements trail.Store; all methods are
// safe for concurrent use.
type Store struct {
	opts Options
	fs   vfs.FS
	log  *slog.Logger
	lock *os.File
	// vol is the file system of the tenants' directories, whose Sync
	// makes a whole flush durable at once; nil: sync file by file (see
	// syncBatch). Guarded by flushMu once Open returns.
	vol vfs.Volume
	// spares are emptied files of merged-away blocks that flushes write
	// over instead of creating files (see spareFiles).
	spares spareFiles

	wal *wal.Log

	mu      sync.RWMutex // guards tenants, notify
	tenants map[string]*tenant
	notify  chan struct{} // closed and replaced after every commit that created a tenant

	reqs     chan *appendReq
	quit     chan struct{}
	done     chan struct{}
	closeMu  sync.Mutex
	closed   bool
	commitMu sync.Mutex // held by the writer while it writes and publishes a commit; flush takes it to cut the head

	flushMu   sync.Mutex // one flush or retention at a time
	flushing  chan struct{}
	bgFlushes int64 // background flushes started since Open; guarded by closeMu
	idMu      sync.Mutex
	idRand    io.Reader
	walBroken error // set when the WAL is unusable; appends fail until reopen
	// pendingNotes are the checkpoints of the last commit, signed while
	// its record synced; the next commit's record (or Close) logs them.
	// Only the writer goroutine (and Close after it) touches them.
	pendingNotes []commitSection
	payload      []byte        // the writer's commit record buffer, reused
	blockOpts    block.Options // of every block; blockOptions adds a file's cipher
	enc          *encryption   // nil: plaintext
	verifier     note.Verifier
	headBytes    int64 // total leaf bytes in heads, guarded by commitMu
	bgWG         sync.WaitGroup
}

var _ trail.Store = (*Store)(nil)

// tenant is one tenant's log.
type tenant struct {
	name string
	dir  string

	mu        sync.RWMutex
	size      int64
	persisted int64 // seqs below are in blocks
	tree      *merkle.Tree
	blocks    []*blockRef
	frozen    []*headSeg // being flushed, oldest first
	head      *headSeg
	// headStart is where the WAL record that put the head's first event
	// there starts (the zero Position, the start of the log, after a
	// replay), and headDefers how many background flushes have left the
	// head in place (see deferHeads). Both are guarded by Store.commitMu.
	headStart  wal.Position
	headDefers int
	// grown is closed and replaced (under mu) whenever the tenant's size
	// grows, waking the Waits of this tenant only: with one follower per
	// tenant (alert engines, sinks, live tails), a store-wide signal woke
	// every follower at every commit.
	grown chan struct{}
	cp    *trail.Checkpoint
	// replayNote is the last checkpoint note the WAL replay found for
	// the tenant, not yet opened (see openReplayedNotes).
	replayNote []byte
	logged     int64 // size of the last checkpoint in checkpoints.log at Open
	tiles      *tileFiles
	broken     *trail.TamperError
	// dirsMade: the tenant's directories exist and are durable (a flush
	// made them, or found them). Guarded by Store.flushMu.
	dirsMade bool
}

// Open opens or creates the store in opts.Dir and recovers it: it loads
// blocks and tiles, replays the WAL (truncating a torn tail) and checks
// every tenant's root against its last signed checkpoint.
func Open(opts Options) (*Store, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	s := &Store{
		opts:      opts,
		fs:        opts.FS,
		log:       opts.Logger,
		tenants:   map[string]*tenant{},
		notify:    make(chan struct{}),
		reqs:      make(chan *appendReq, 1024),
		quit:      make(chan struct{}),
		done:      make(chan struct{}),
		idRand:    opts.Rand,
		blockOpts: block.Options{ChunkRows: opts.ChunkRows, Cache: block.NewCache(opts.CacheBytes)},
		verifier:  opts.Verifier,
	}
	if err := s.fs.MkdirAll(filepath.Join(opts.Dir, "tenants"), 0o755); err != nil {
		return nil, fmt.Errorf("logstore: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(opts.Dir, "LOCK"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("logstore: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("logstore: %s is in use by another process: %w", opts.Dir, err)
	}
	s.lock = lock
	// Opened before anything is written: a Volume reports the write-back
	// errors since it was opened.
	if s.vol, err = s.fs.OpenVolume(filepath.Join(opts.Dir, "tenants")); err != nil {
		if !errors.Is(err, errors.ErrUnsupported) {
			s.closeFiles()
			return nil, fmt.Errorf("logstore: %w", err)
		}
		s.log.Info("syncing flushes file by file", "reason", err)
		s.vol = nil
	}
	if err := s.setupEncryption(); err != nil {
		s.closeFiles()
		return nil, err
	}
	if err := s.recover(); err != nil {
		s.closeFiles()
		return nil, err
	}
	go s.writeLoop()
	return s, nil
}

// recover loads the tenants' blocks and tiles and replays the WAL.
func (s *Store) recover() error {
	entries, err := s.fs.ReadDir(filepath.Join(s.opts.Dir, "tenants"))
	if err != nil {
		return fmt.Errorf("logstore: %w", err)
	}
	for _, de := range entries {
		if !de.IsDir() || trail.ValidateTenantName(de.Name()) != nil {
			continue
		}
		t, err := s.loadTenant(de.Name())
		if err != nil {
			return err
		}
		s.tenants[t.name] = t
	}
	w, err := wal.Open(filepath.Join(s.opts.Dir, "wal"), s.walOptions())
	if err != nil {
		return fmt.Errorf("logstore: open wal: %w", err)
	}
	s.wal = w
	replayed := 0
	err = w.Replay(wal.Position{}, func(pos wal.Position, payload []byte) error {
		replayed++
		return s.replayRecord(payload)
	})
	if err != nil {
		return s.walOpenError(err)
	}
	s.openReplayedNotes()
	// Check every tenant's root against its latest signed checkpoint and
	// sign one for whatever the WAL held beyond it.
	var resign []*tenant
	for _, t := range s.tenants {
		if t.broken != nil {
			continue // logged below
		}
		if t.cp == nil {
			switch {
			case t.size == 0:
			case t.persisted == 0:
				// Only WAL events, whose checkpoint would have been logged
				// with the next commit: the crash came first. Sign the
				// replayed tree (see the write path in doc.go).
				resign = append(resign, t)
			default:
				t.broken = &trail.TamperError{Tenant: t.name, Seq: -1, File: t.rel("checkpoints.log"), Reason: "no signed checkpoint for a non-empty log"}
			}
			continue
		}
		if t.cp.Size > t.size {
			t.broken = &trail.TamperError{Tenant: t.name, Seq: t.size, File: t.missingFrom(), Reason: fmt.Sprintf("log holds %d events but the last signed checkpoint covers %d: acknowledged events are missing", t.size, t.cp.Size)}
			continue
		}
		// Every flush appends the checkpoint of its block's end to
		// checkpoints.log before the WAL records that also hold it are
		// trimmed, so some signed checkpoint always covers the blocks.
		// One that does not means checkpoints.log lost records: refuse to
		// re-sign (below) events that no signature vouches for.
		if t.cp.Size < t.persisted {
			t.broken = &trail.TamperError{Tenant: t.name, Seq: t.cp.Size, File: t.rel(checkpointsFile), Reason: fmt.Sprintf("blocks hold %d events but the last signed checkpoint covers %d", t.persisted, t.cp.Size)}
			continue
		}
		root, err := t.tree.RootAt(t.cp.Size)
		if err != nil || trail.Hash(root) != t.cp.Root {
			t.broken = &trail.TamperError{Tenant: t.name, Seq: -1, File: t.rel("tiles"), Reason: fmt.Sprintf("rebuilt root at size %d differs from the signed checkpoint", t.cp.Size)}
			continue
		}
		if t.logged < t.persisted {
			// A flush crashed after installing a block and before logging
			// its checkpoint; the WAL it had not trimmed gave t.cp, which
			// covers the block. Log it now, before a later flush trims
			// those WAL records.
			if err := s.appendCheckpoint(t, t.cp.Note, true); err != nil {
				return fmt.Errorf("logstore: %w", err)
			}
			t.logged = t.cp.Size
		}
		if t.cp.Size < t.size {
			resign = append(resign, t)
		}
	}
	for _, t := range s.tenants {
		if t.broken != nil {
			s.log.Error("tenant quarantined", "tenant", t.name, "err", t.broken)
		}
	}
	if len(resign) > 0 {
		if err := s.resign(resign); err != nil {
			return err
		}
	}
	s.log.Info("logstore open", "dir", s.opts.Dir, "tenants", len(s.tenants), "wal_records", replayed)
	return nil
}

// resign signs and durably records checkpoints for tenants whose log grew
// past their last checkpoint in a commit whose record was replayed.
func (s *Store) resign(ts []*tenant) error {
	cs := make([]checkpoint.Checkpoint, len(ts))
	for i, t := range ts {
		cs[i] = checkpoint.Checkpoint{Origin: s.origin(t.name), Size: t.tree.Size(), Root: t.tree.Root()}
	}
	cps, err := s.signCheckpoints(cs)
	if err != nil {
		return err
	}
	secs := make([]commitSection, 0, len(ts))
	for i, t := range ts {
		t.cp = cps[i]
		t.head.cp = cps[i]
		secs = append(secs, commitSection{tenant: t.name, firstSeq: t.size, note: cps[i].Note})
	}
	if _, err := s.wal.Append(encodeCommit(nil, secs)); err != nil {
		return fmt.Errorf("logstore: %w", err)
	}
	if err := s.wal.Sync(); err != nil {
		return fmt.Errorf("logstore: %w", err)
	}
	return nil
}

func (t *tenant) rel(name string) string { return filepath.Join("tenants", t.name, name) }

// missingFrom names where events found missing at recovery should have
// been: the blocks when none of the tenant's events came from the WAL
// (events past the last block are missing), else the WAL.
func (t *tenant) missingFrom() string {
	if t.size == t.persisted {
		return t.rel("blocks")
	}
	return "wal"
}

// replayRecord applies one WAL record during recovery.
func (s *Store) replayRecord(payload []byte) error {
	if keyring.IsSealed(payload) {
		return fmt.Errorf("record encrypted with key id %s and no keyring was given", keyring.KeyOf(payload))
	}
	if len(payload) == 0 || payload[0] != recCommit {
		return fmt.Errorf("unknown record type")
	}
	secs, err := decodeCommit(payload[1:])
	if err != nil {
		return err
	}
	for _, sec := range secs {
		if trail.ValidateTenantName(sec.tenant) != nil {
			return fmt.Errorf("record names invalid tenant %q", sec.tenant)
		}
		t := s.tenants[sec.tenant]
		if t == nil {
			if t, err = s.newTenant(sec.tenant); err != nil {
				return err
			}
			s.tenants[t.name] = t
		}
		if t.broken != nil {
			continue
		}
		for i, leaf := range sec.leaves {
			seq := sec.firstSeq + int64(i)
			if seq < t.size {
				continue // already in a block
			}
			if seq > t.size {
				t.broken = &trail.TamperError{Tenant: t.name, Seq: t.size, File: t.missingFrom(), Reason: fmt.Sprintf("gap: next event in the WAL is seq %d", seq)}
				break
			}
			ev, err := trail.DecodeEvent(leaf)
			if err != nil {
				t.broken = &trail.TamperError{Tenant: t.name, Seq: seq, File: "wal", Reason: "undecodable event"}
				break
			}
			l := append([]byte(nil), leaf...)
			h := trail.Hash(merkle.LeafHash(l))
			if err := t.tree.Append(merkle.Hash(h)); err != nil {
				return err
			}
			t.head.add(headEntry{leaf: l, terms: termsOf(ev), hash: h, time: ev.Time.UnixNano(), recv: ev.ReceivedAt.UnixNano(), idh: idHash(ev.ID)}, ev.ID)
			s.headBytes += int64(len(l))
			t.size++
		}
		if t.broken != nil || len(sec.note) == 0 {
			continue
		}
		// Only the last note of each tenant is opened (its signature
		// checked) once the replay ends (openReplayedNotes): a WAL of
		// single-event commits holds a note per tenant per commit, and
		// checking each signature made reopening cost seconds. The
		// notes are CRC-framed like the events; the last one is the one
		// recovery compares the rebuilt tree with.
		size, err := noteSize(sec.note)
		if err != nil {
			t.broken = &trail.TamperError{Tenant: t.name, Seq: -1, File: "wal", Reason: "checkpoint: " + err.Error()}
			continue
		}
		if size >= t.persisted {
			t.replayNote = append(t.replayNote[:0], sec.note...) // the payload is the WAL's buffer
		}
	}
	return nil
}

// noteSize returns the tree size in a signed checkpoint note's body,
// without checking its signature.
func noteSize(msg []byte) (int64, error) {
	i := bytes.LastIndex(msg, []byte("\n\n"))
	if i < 0 {
		return 0, fmt.Errorf("%w: no signature block", checkpoint.ErrMalformed)
	}
	c, err := checkpoint.ParseBody(msg[:i+1])
	if err != nil {
		return 0, err
	}
	return c.Size, nil
}

// openReplayedNotes checks the signature and origin of the last note the
// WAL held for each tenant and makes it the tenant's checkpoint.
func (s *Store) openReplayedNotes() {
	for _, t := range s.tenants {
		msg := t.replayNote
		t.replayNote = nil
		if msg == nil || t.broken != nil {
			continue
		}
		cp, err := s.openCheckpoint(t.name, msg)
		if err != nil {
			t.broken = &trail.TamperError{Tenant: t.name, Seq: -1, File: "wal", Reason: "checkpoint signature: " + err.Error()}
			continue
		}
		t.cp = cp
		t.head.cp = cp
	}
}

// newTenant returns an empty tenant. It makes no directory: the first
// flush that writes the tenant's files does (see writeTenant), so that
// a tenant's first append does no file-system work beyond the WAL's.
func (s *Store) newTenant(name string) (*tenant, error) {
	dir := filepath.Join(s.opts.Dir, "tenants", name)
	tiles := newTileFiles(s.fs, filepath.Join(dir, "tiles"))
	tree, err := merkle.Open(0, tiles)
	if err != nil {
		return nil, err
	}
	return &tenant{name: name, dir: dir, tree: tree, tiles: tiles, head: newHeadSeg(0, nil), grown: make(chan struct{})}, nil
}

// tenantByName returns an existing tenant or an ENOTFOUND/EUNAVAILABLE error.
func (s *Store) tenantByName(name string) (*tenant, error) {
	if err := trail.ValidateTenantName(name); err != nil {
		return nil, err
	}
	s.mu.RLock()
	t := s.tenants[name]
	s.mu.RUnlock()
	if t == nil {
		return nil, trail.Errorf(trail.ENOTFOUND, "tenant %q has no events", name)
	}
	if t.broken != nil {
		return nil, &trail.Error{Code: trail.EUNAVAILABLE, Message: trail.ErrorMessage(t.broken), Err: t.broken}
	}
	return t, nil
}

func (s *Store) origin(tenant string) string { return s.opts.ServerName + "/" + tenant }

// Tenants implements trail.Store.
func (s *Store) Tenants(ctx context.Context) ([]trail.Tenant, error) {
	s.mu.RLock()
	out := make([]trail.Tenant, 0, len(s.tenants))
	for _, t := range s.tenants {
		t.mu.RLock()
		out = append(out, trail.Tenant{Name: t.name, Size: t.size})
		t.mu.RUnlock()
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Close stops the writer after the commits in flight, flushes nothing
// (the WAL holds the head) and closes every file.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.quit)
	s.closeMu.Unlock()
	<-s.done
	// A background flush may be logging them too: hold commitMu, as it
	// does.
	s.commitMu.Lock()
	err := s.writePendingNotes()
	s.commitMu.Unlock()
	if err != nil {
		s.log.Error("close: log the last checkpoints", "err", err)
	}
	s.bgWG.Wait() // a background flush finishes before the files close
	// Wait for a Flush or Retain a caller started; later ones see closed.
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	err = s.closeFiles()
	s.removeSpares()
	return err
}

func (s *Store) closeFiles() error {
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	for _, t := range s.tenants {
		for _, b := range t.blocks {
			keep(b.close())
		}
		keep(t.tiles.close())
	}
	if s.wal != nil {
		keep(s.wal.Close())
	}
	if s.vol != nil {
		keep(s.vol.Close())
	}
	if s.lock != nil {
		keep(s.lock.Close())
	}
	return first
}
