// Package vfs is the file-system interface through which every byte of
// trail's embedded store (package logstore) is read and written, so that
// tests can inject the failures real disks produce: ENOSPC, EIO, short
// writes and slow fsyncs (see Faulty).
//
// OS returns the real file system. Its File.Sync is fdatasync(2) on Linux,
// which flushes the data and the metadata needed to read it back (the file
// size) but not timestamps; elsewhere it is fsync(2) (F_FULLFSYNC on macOS).
// SyncDir fsyncs a directory, which makes created, renamed and removed
// entries durable.
//
// Durable replacement of a whole file follows the usual recipe, packaged
// as WriteFileAtomic: write a temporary file in the same directory, sync
// it, rename it over the target, sync the directory.
//
// A writer that makes many files durable at once can instead open a
// Volume on the file system that holds them and call its Sync once:
// syncfs(2) on Linux, which writes back every dirty file and commits the
// file system's metadata (created, renamed and removed entries) in one
// go. It costs one journal commit instead of one per file and directory,
// but it also writes back whatever other dirty data the file system holds.
package vfs

import (
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

// File is an open file. It is the subset of *os.File the store uses.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.Closer
	// Sync makes the file's written data durable: fdatasync(2) on Linux,
	// fsync(2) elsewhere.
	Sync() error
	Truncate(size int64) error
	Seek(offset int64, whence int) (int64, error)
	Stat() (fs.FileInfo, error)
	Name() string
}

// FS is a file system. Names are operating-system paths, as for package os.
type FS interface {
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	Rename(oldpath, newpath string) error
	Remove(name string) error
	RemoveAll(name string) error
	MkdirAll(name string, perm fs.FileMode) error
	ReadDir(name string) ([]fs.DirEntry, error)
	Stat(name string) (fs.FileInfo, error)
	// SyncDir opens the directory name and fsyncs it, making the entries
	// created, renamed or removed in it durable.
	SyncDir(name string) error
	// OpenVolume opens the file system that holds the directory dir, for
	// Volume.Sync. It returns an error wrapping errors.ErrUnsupported
	// where the platform cannot sync a whole file system with the
	// guarantees Volume.Sync promises; callers then sync each file and
	// directory themselves.
	OpenVolume(dir string) (Volume, error)
}

// Volume is an open file system, for syncing all of it at once.
type Volume interface {
	// Sync makes durable every write to any file of the file system, and
	// every entry created, renamed or removed in any of its directories,
	// that completed before Sync was called: syncfs(2) on Linux. It
	// returns an error if writing back any data of the file system failed
	// since the Volume was opened or since the previous Sync, whichever
	// is later (the failed data need not be the caller's): the caller
	// must then treat every write since its last successful Sync as not
	// durable. An error wrapping errors.ErrUnsupported means nothing was
	// synced and the platform cannot do it.
	//
	// It is safe to call concurrently with writes; writes that complete
	// after Sync starts may or may not be made durable.
	Sync() error
	Close() error
}

// WriteFileAtomic replaces name with data durably and atomically: after a
// crash, name holds either its old contents or data, never a mix. It writes
// a temporary file in the same directory (named after name, ending in
// ".tmp"), syncs it, renames it over name and syncs the directory.
//
// If writing, syncing or renaming fails, the temporary file is removed and
// name is untouched. If only the final directory sync fails, name already
// holds data but the rename may not survive a crash; the error says so.
func WriteFileAtomic(fsys FS, name string, data []byte, perm fs.FileMode) error {
	dir, base := filepath.Split(name)
	if dir == "" {
		dir = "."
	}
	tmp := filepath.Join(dir, "."+base+"."+strconv.FormatUint(rand.Uint64(), 36)+".tmp")
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("vfs: write %s: %w", name, err)
	}
	err = writeAndSync(f, data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.Rename(tmp, name)
	}
	if err != nil {
		_ = fsys.Remove(tmp) // best effort: the target is untouched either way
		return fmt.Errorf("vfs: write %s: %w", name, err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("vfs: write %s: renamed but directory not synced: %w", name, err)
	}
	return nil
}

func writeAndSync(f File, data []byte) error {
	n, err := f.Write(data)
	if err == nil && n < len(data) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return err
	}
	return f.Sync()
}
