package logstore

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/trail-audit/trail/logstore/vfs"
	"github.com/trail-audit/trail/merkle"
)

// tileFiles stores one tenant's Merkle tiles: one file per tile level,
// "tiles/L<level>", where tile N (full width 256 hashes of 32 bytes) sits at
// offset N*8192. A partial tile is the prefix of its full tile, so writing
// a wider version of the same tile simply overwrites in place.
type tileFiles struct {
	fs  vfs.FS
	dir string

	mu     sync.Mutex
	files  map[int]vfs.File
	opened bool // a file was opened (maybe created) since takeOpened
}

const tileBytes = 1 << merkle.TileHeight * 32

// newTileFiles returns the tiles in dir, which a flush creates before it
// writes the first tile (see writeTenant).
func newTileFiles(fsys vfs.FS, dir string) *tileFiles {
	return &tileFiles{fs: fsys, dir: dir, files: map[int]vfs.File{}}
}

func (tf *tileFiles) name(level int) string {
	return filepath.Join(tf.dir, "L"+strconv.Itoa(level))
}

func (tf *tileFiles) file(level int) (vfs.File, error) {
	tf.mu.Lock()
	defer tf.mu.Unlock()
	if f, ok := tf.files[level]; ok {
		return f, nil
	}
	f, err := tf.fs.OpenFile(tf.name(level), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("tiles: %w", err)
	}
	tf.files[level] = f
	tf.opened = true
	return f, nil
}

// takeOpened reports whether a tile file was opened, and so maybe
// created, since it was last called: the directory then needs a sync for
// the file to survive a crash.
func (tf *tileFiles) takeOpened() bool {
	tf.mu.Lock()
	defer tf.mu.Unlock()
	opened := tf.opened
	tf.opened = false
	return opened
}

// ReadTile implements merkle.TileReader.
func (tf *tileFiles) ReadTile(t tlog.Tile) ([]byte, error) {
	f, err := tf.file(t.L)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, t.W*32)
	if _, err := f.ReadAt(buf, t.N*tileBytes); err != nil {
		if err == io.EOF {
			return nil, fmt.Errorf("tiles: %s: tile %d of width %d missing", tf.name(t.L), t.N, t.W)
		}
		return nil, fmt.Errorf("tiles: %w", err)
	}
	return buf, nil
}

// write stores tiles (not yet durable: call sync).
func (tf *tileFiles) write(tiles []merkle.TileData) error {
	for _, td := range tiles {
		f, err := tf.file(td.Tile.L)
		if err != nil {
			return err
		}
		if _, err := writeAt(f, td.Data, td.Tile.N*tileBytes); err != nil {
			return fmt.Errorf("tiles: write %s: %w", tf.name(td.Tile.L), err)
		}
	}
	return nil
}

// writeAt writes p at off through Seek+Write, since vfs.File has no WriteAt.
func writeAt(f vfs.File, p []byte, off int64) (int, error) {
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	n, err := f.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	return n, err
}

// sync makes every written tile durable.
func (tf *tileFiles) sync() error {
	tf.mu.Lock()
	defer tf.mu.Unlock()
	for l, f := range tf.files {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("tiles: sync %s: %w", tf.name(l), err)
		}
	}
	return nil
}

func (tf *tileFiles) close() error {
	tf.mu.Lock()
	defer tf.mu.Unlock()
	var first error
	for _, f := range tf.files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	tf.files = map[int]vfs.File{}
	return first
}
