package logstore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"github.com/trail-audit/trail/logstore/vfs"
)

// A syncBatch makes a group of file writes durable together: those of a
// flush (every tenant's tiles, blocks and checkpoints) or of a compaction
// round. Its users follow one protocol (see docs/design/logstore.md,
// "Durability of a flush"):
//
//  1. write every new file under a temporary name (writeTemp) and every
//     tile, without syncing;
//  2. sync: the data of all of them is durable;
//  3. rename the temporary files to their names (rename) and append the
//     checkpoints;
//  4. sync: the renames and appends are durable;
//  5. only then trust the new files: install them in memory, trim the
//     WAL, remove the files they replace.
//
// With a volume (syncfs(2) on Linux) each sync is one Volume.Sync of the
// whole file system. Without one (perFile), every file is synced as it is
// written, as are the checkpoint appends and tile files, and sync syncs
// the directories whose entries changed.
type syncBatch struct {
	fs     vfs.FS
	vol    vfs.Volume  // nil: per file
	spares *spareFiles // files to write over before creating any; nil: none

	mu   sync.Mutex
	dirs map[string]bool // perFile: directories whose entries changed since the last sync
}

// newSyncBatch returns a batch that syncs through the store's volume, or
// file by file if it has none.
func (s *Store) newSyncBatch() *syncBatch {
	return &syncBatch{fs: s.fs, vol: s.vol, spares: &s.spares, dirs: map[string]bool{}}
}

// perFileBatch returns a batch that syncs file by file, for a few files:
// a syncfs would write back the whole file system for them.
func (s *Store) perFileBatch() *syncBatch {
	return &syncBatch{fs: s.fs, dirs: map[string]bool{}}
}

// perFile reports whether the batch syncs each file as it is written.
func (b *syncBatch) perFile() bool { return b.vol == nil }

// changed records that entries of dir were created, renamed or removed.
func (b *syncBatch) changed(dir string) {
	if !b.perFile() {
		return
	}
	b.mu.Lock()
	b.dirs[dir] = true
	b.mu.Unlock()
}

// sync makes durable everything written, renamed or created through the
// batch so far (see syncBatch). An error means none of it may be trusted.
func (b *syncBatch) sync() error {
	if !b.perFile() {
		if err := b.vol.Sync(); err != nil {
			return fmt.Errorf("sync file system: %w", err)
		}
		return nil
	}
	b.mu.Lock()
	dirs := slices.Sorted(maps.Keys(b.dirs))
	clear(b.dirs)
	b.mu.Unlock()
	return forEach(dirs, flushWorkers, func(d string) error {
		if err := b.fs.SyncDir(d); err != nil {
			return fmt.Errorf("sync directory: %w", err)
		}
		return nil
	})
}

// writeTemp writes parts, one after another, to a new temporary file
// beside name (named after it, ending in ".tmp", which recovery removes),
// synced if the batch is per file, and returns its path and the file,
// open for reading and writing. On error nothing is left behind.
func (b *syncBatch) writeTemp(name string, parts ...[]byte) (string, vfs.File, error) {
	dir, base := filepath.Split(name)
	tmp := filepath.Join(dir, "."+base+"."+strconv.FormatUint(rand.Uint64(), 36)+".tmp")
	f := b.reuseSpare(tmp)
	if f == nil {
		var err error
		if f, err = b.fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644); err != nil {
			return "", nil, fmt.Errorf("write %s: %w", name, err)
		}
	}
	var err error
	for _, data := range parts {
		var n int
		if n, err = f.Write(data); err == nil && n < len(data) {
			err = io.ErrShortWrite
		}
		if err != nil {
			break
		}
	}
	if err == nil && b.perFile() {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		_ = b.fs.Remove(tmp) // best effort: recovery removes it too
		return "", nil, fmt.Errorf("write %s: %w", name, err)
	}
	return tmp, f, nil
}

// reuseSpare moves a spare file (see spareFiles) to tmp and opens it for
// reading and writing, empty. It returns nil when there is none or reusing
// it fails (the spare is then removed, and the caller creates tmp).
func (b *syncBatch) reuseSpare(tmp string) vfs.File {
	if b.spares == nil {
		return nil
	}
	spare := b.spares.take()
	if spare == "" {
		return nil
	}
	if err := b.fs.Rename(spare, tmp); err != nil {
		_ = b.fs.Remove(spare)
		return nil
	}
	f, err := b.fs.OpenFile(tmp, os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		_ = b.fs.Remove(tmp)
		return nil
	}
	return f
}

// rename moves a temporary file to its name. The rename is durable after
// the next sync.
func (b *syncBatch) rename(tmp, name string) error {
	if err := b.fs.Rename(tmp, name); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	b.changed(filepath.Dir(name))
	return nil
}

// mkdirs creates dir/sub for each sub, and dir and its parents, where
// they do not exist; the next sync makes them durable. (File by file,
// that syncs dir and its parent whether or not they were created.)
func (b *syncBatch) mkdirs(dir string, subs ...string) error {
	for _, sub := range subs {
		if err := b.fs.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return fmt.Errorf("create %s: %w", filepath.Join(dir, sub), err)
		}
	}
	b.changed(dir)
	b.changed(filepath.Dir(dir))
	return nil
}

// pendingBlock is a block written to a temporary file by a batch: opened,
// but not visible under its name until published, nor trusted until the
// batch's next sync after that.
type pendingBlock struct {
	ref *blockRef // open on the temporary block file, under its final path
	tmp string    // "" once renamed
}

// writePendingBlock writes a block file, the block followed by its id
// table (see appendIDTrailer), under a temporary name and opens the block
// from the bytes in hand.
func (s *Store) writePendingBlock(b *syncBatch, name string, w *writtenBlock, first int64, n, gen int) (*pendingBlock, error) {
	table := appendIDTrailer(s.sealIDs(idsPath(name), encodeIDs(w.ids, w.minRecv, w.maxRecv)))
	tmp, f, err := b.writeTemp(name, w.data, table)
	if err != nil {
		return nil, err
	}
	// The open file is the block's: a rename keeps it.
	ref, err := s.openBlockFrom(name, f, first, n, gen, w)
	if err != nil {
		_ = s.fs.Remove(tmp)
		return nil, err
	}
	return &pendingBlock{ref: ref, tmp: tmp}, nil
}

// publish renames a pending block's file to its name.
func (p *pendingBlock) publish(b *syncBatch) error {
	if err := b.rename(p.tmp, p.ref.path); err != nil {
		return err
	}
	p.tmp = ""
	return nil
}

// discard closes a pending block that will not be installed and removes
// its file, temporary or renamed already. A renamed block must go: it is
// not in memory, so a later merge could write another block of the same
// first seq and generation, and recovery could not tell the two apart.
// Removing it is safe, as the files it would replace are still there and
// the WAL still holds its events; the removal is durable by the next sync
// of the same directory or file system, before anything that could
// conflict with it.
func (p *pendingBlock) discard(fsys vfs.FS, log *slog.Logger) {
	p.ref.close()
	name := p.tmp
	if name == "" {
		name = p.ref.path
	}
	if err := fsys.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Warn("cannot remove a block file not installed", "file", name, "err", err)
	}
}

// installAlone makes one pending block durable and visible by itself,
// file by file, and returns it (retention and erasure rewrite a few
// blocks, for which syncing the whole file system would cost more).
func (s *Store) installAlone(b *syncBatch, p *pendingBlock) (*blockRef, error) {
	err := b.sync()
	if err == nil {
		err = p.publish(b)
	}
	if err == nil {
		err = b.sync()
	}
	if err != nil {
		p.discard(s.fs, s.log)
		return nil, err
	}
	return p.ref, nil
}

// volumeFailed handles a volume sync's error: a file system that turns
// out not to support syncfs makes the store sync file by file from the
// next flush on (this one failed, and the WAL still holds its events).
func (s *Store) volumeFailed(err error) {
	if errors.Is(err, errors.ErrUnsupported) && s.vol != nil {
		s.log.Warn("syncfs unsupported: syncing file by file from now on", "err", err)
		s.vol.Close()
		s.vol = nil
	}
}
