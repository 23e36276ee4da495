package logstore

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// spareFiles holds the files of blocks that compaction merged away,
// emptied, for later flushes to write over instead of creating files.
// Creating a file can cost more than encoding the block it holds: ext4
// without a journal, the file system of the machines these benchmarks
// run on, skips every inode freed in the last minutes when it allocates
// one, checking each through the buffer cache, so a flush's creates after
// a compaction's deletions cost 150–350 µs each (logstore-bench.md, stop
// 18). A spare is named like a temporary file (".spare-….tmp"), so the
// ones a crash or Close leaves behind are removed by recovery.
type spareFiles struct {
	mu    sync.Mutex
	paths []string
}

// maxSpareFiles bounds the spare files kept; past it, retired block files
// are removed as before.
const maxSpareFiles = 4096

// put adds path unless the pool is full, and reports whether it did.
func (p *spareFiles) put(path string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.paths) >= maxSpareFiles {
		return false
	}
	p.paths = append(p.paths, path)
	return true
}

// take removes a spare from the pool and returns it ("" when empty).
func (p *spareFiles) take() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.paths)
	if n == 0 {
		return ""
	}
	path := p.paths[n-1]
	p.paths = p.paths[:n-1]
	return path
}

// drain empties the pool and returns what it held.
func (p *spareFiles) drain() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.paths
	p.paths = nil
	return out
}

// spareName returns a spare's name in dir.
func spareName(dir string) string {
	return filepath.Join(dir, ".spare-"+strconv.FormatUint(rand.Uint64(), 36)+".tmp")
}

// retireToSpares retires b, a block merged into another, keeping its
// files as spares: they are renamed at once (a reader holding b open
// reads on through its open file) and emptied and pooled once its last
// reader is gone. A file that cannot be renamed is removed, as
// removeBlockFiles does.
func (s *Store) retireToSpares(b *blockRef) {
	dir := filepath.Dir(b.path)
	files := []string{b.path}
	if b.legacyIDs {
		files = append(files, idsPath(b.path))
	}
	for _, p := range files {
		spare := spareName(dir)
		if err := s.fs.Rename(p, spare); err != nil {
			s.fs.Remove(p)
			continue
		}
		b.spares = append(b.spares, spare)
	}
	b.recycle = s.addSpare
	b.retire()
}

// addSpare empties the file at path and pools it, or removes it when
// that fails or the pool is full.
func (s *Store) addSpare(path string) {
	f, err := s.fs.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err == nil {
		err = f.Close()
	}
	if err != nil || !s.spares.put(path) {
		s.fs.Remove(path)
	}
}

// removeSpares removes the pooled spare files (at Close).
func (s *Store) removeSpares() {
	for _, p := range s.spares.drain() {
		s.fs.Remove(p)
	}
}
