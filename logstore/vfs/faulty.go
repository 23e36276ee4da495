package vfs

import (
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// Fault describes a failure that Faulty injects into matching operations.
type Fault struct {
	// Op is the operation that fails: "open", "read" (Read and ReadAt),
	// "write", "sync" (File.Sync), "truncate", "rename", "remove" (Remove
	// and RemoveAll), "syncdir" or "syncfs" (OpenVolume and Volume.Sync,
	// matched against the volume's directory).
	//
	// Volume.Sync writes back every file written through the Faulty and
	// not synced since, as syncfs(2) does: a "sync" fault on such a file
	// fires at the Volume's Sync too (the file's own Sync, or the Volume's,
	// whichever comes first), and fails it with an error naming the file.
	Op string
	// Path is a substring the file name must contain; "" matches any file.
	// For "rename" either the old or the new name may match.
	Path string
	// Err is the error the operation returns, wrapped in an *fs.PathError.
	// If Err is nil and Short is 0, the fault only delays the operation,
	// which then runs normally.
	Err error
	// Short, for "write", makes the write store at most Short bytes of its
	// buffer and then fail with Err (io.ErrShortWrite if Err is nil).
	Short int
	// Delay is how long to sleep before the operation (a slow fsync).
	Delay time.Duration
	// Times is how many operations the fault fires on; 0 means until Clear.
	Times int
}

// Faulty is an FS that forwards to another FS except where an injected Fault
// matches. It is for tests, in this non-test file so every package's tests
// can use it. Its methods, and the files it opens, are safe for concurrent use
// as far as the inner FS's are.
type Faulty struct {
	inner FS

	mu     sync.Mutex
	faults []*armedFault
	hits   int
	dirty  map[string]bool // files written and not synced since
}

type armedFault struct {
	Fault
	left int // remaining firings when Times > 0
}

var _ FS = (*Faulty)(nil)

// NewFaulty returns a Faulty wrapping inner with no faults armed.
func NewFaulty(inner FS) *Faulty { return &Faulty{inner: inner, dirty: map[string]bool{}} }

// Inject arms ft. Faults are tried in the order they were injected and the
// first that matches an operation fires.
func (f *Faulty) Inject(ft Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, &armedFault{Fault: ft, left: ft.Times})
}

// Clear disarms every fault. Hits keeps counting from where it was.
func (f *Faulty) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = nil
}

// Hits reports how many times a fault has fired since NewFaulty.
func (f *Faulty) Hits() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits
}

// fire finds the first armed fault for op on one of names, counts it and
// sleeps its Delay. It reports whether one fired.
func (f *Faulty) fire(op string, names ...string) (Fault, bool) {
	f.mu.Lock()
	var ft Fault
	found := false
	for i, a := range f.faults {
		if a.Op != op || !matches(a.Path, names) {
			continue
		}
		ft, found = a.Fault, true
		f.hits++
		if a.Times > 0 {
			a.left--
			if a.left == 0 {
				f.faults = append(f.faults[:i:i], f.faults[i+1:]...)
			}
		}
		break
	}
	f.mu.Unlock()
	if found && ft.Delay > 0 {
		time.Sleep(ft.Delay)
	}
	return ft, found
}

func matches(sub string, names []string) bool {
	for _, n := range names {
		if strings.Contains(n, sub) {
			return true
		}
	}
	return false
}

// failing reports whether ft makes the operation fail, rather than only delay it.
func (ft Fault) failing() bool { return ft.Err != nil || ft.Short > 0 }

func (f *Faulty) err(op, name string) error {
	if ft, ok := f.fire(op, name); ok && ft.failing() {
		return pathError(op, name, ft.Err)
	}
	return nil
}

func pathError(op, name string, err error) error {
	return &fs.PathError{Op: op, Path: name, Err: orShortWrite(err)}
}

func orShortWrite(err error) error {
	if err == nil {
		return io.ErrShortWrite
	}
	return err
}

// OpenFile opens name through the inner FS; faults then apply to the file.
func (f *Faulty) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	if err := f.err("open", name); err != nil {
		return nil, err
	}
	file, err := f.inner.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultyFile{File: file, fs: f, name: name}, nil
}

// setDirty records that name was written (true) or synced or removed
// (false).
func (f *Faulty) setDirty(name string, dirty bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if dirty {
		f.dirty[name] = true
	} else {
		delete(f.dirty, name)
	}
}

// Rename renames through the inner FS unless a "rename" fault matches.
func (f *Faulty) Rename(oldpath, newpath string) error {
	if ft, ok := f.fire("rename", oldpath, newpath); ok && ft.failing() {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: orShortWrite(ft.Err)}
	}
	err := f.inner.Rename(oldpath, newpath)
	if err == nil {
		f.mu.Lock()
		if f.dirty[oldpath] {
			delete(f.dirty, oldpath)
			f.dirty[newpath] = true
		}
		f.mu.Unlock()
	}
	return err
}

// Remove removes through the inner FS unless a "remove" fault matches.
func (f *Faulty) Remove(name string) error {
	if err := f.err("remove", name); err != nil {
		return err
	}
	f.setDirty(name, false)
	return f.inner.Remove(name)
}

// RemoveAll removes through the inner FS unless a "remove" fault matches.
func (f *Faulty) RemoveAll(name string) error {
	if err := f.err("remove", name); err != nil {
		return err
	}
	f.mu.Lock()
	for n := range f.dirty {
		if n == name || strings.HasPrefix(n, name+string(os.PathSeparator)) {
			delete(f.dirty, n)
		}
	}
	f.mu.Unlock()
	return f.inner.RemoveAll(name)
}

// OpenVolume opens the inner FS's volume unless a "syncfs" fault matches
// dir: inject one with errors.ErrUnsupported before opening a store to
// make it sync file by file.
func (f *Faulty) OpenVolume(dir string) (Volume, error) {
	if err := f.err("syncfs", dir); err != nil {
		return nil, err
	}
	v, err := f.inner.OpenVolume(dir)
	if err != nil {
		return nil, err
	}
	return &faultyVolume{Volume: v, fs: f, dir: dir}, nil
}

// faultyVolume applies its Faulty's "syncfs" faults, and its "sync"
// faults on the files written since the last sync, to Sync.
type faultyVolume struct {
	Volume
	fs  *Faulty
	dir string
}

func (v *faultyVolume) Sync() error {
	if err := v.fs.err("syncfs", v.dir); err != nil {
		return err
	}
	v.fs.mu.Lock()
	dirty := slices.Sorted(maps.Keys(v.fs.dirty))
	v.fs.mu.Unlock()
	for _, name := range dirty {
		if ft, ok := v.fs.fire("sync", name); ok && ft.failing() {
			return pathError("syncfs", name, ft.Err)
		}
	}
	if err := v.Volume.Sync(); err != nil {
		return err
	}
	v.fs.mu.Lock()
	for _, name := range dirty {
		delete(v.fs.dirty, name)
	}
	v.fs.mu.Unlock()
	return nil
}

// SyncDir syncs through the inner FS unless a "syncdir" fault matches.
func (f *Faulty) SyncDir(name string) error {
	if err := f.err("syncdir", name); err != nil {
		return err
	}
	return f.inner.SyncDir(name)
}

// MkdirAll forwards to the inner FS.
func (f *Faulty) MkdirAll(name string, perm fs.FileMode) error { return f.inner.MkdirAll(name, perm) }

// ReadDir forwards to the inner FS.
func (f *Faulty) ReadDir(name string) ([]fs.DirEntry, error) { return f.inner.ReadDir(name) }

// Stat forwards to the inner FS.
func (f *Faulty) Stat(name string) (fs.FileInfo, error) { return f.inner.Stat(name) }

// faultyFile applies its Faulty's faults to one open file. Faults match the
// name the file was opened with.
type faultyFile struct {
	File
	fs   *Faulty
	name string
}

func (f *faultyFile) Read(p []byte) (int, error) {
	if err := f.fs.err("read", f.name); err != nil {
		return 0, err
	}
	return f.File.Read(p)
}

func (f *faultyFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.fs.err("read", f.name); err != nil {
		return 0, err
	}
	return f.File.ReadAt(p, off)
}

func (f *faultyFile) Write(p []byte) (int, error) {
	f.fs.setDirty(f.name, true)
	ft, ok := f.fs.fire("write", f.name)
	if !ok || !ft.failing() {
		return f.File.Write(p)
	}
	n := min(ft.Short, len(p))
	if n > 0 {
		var err error
		if n, err = f.File.Write(p[:n]); err != nil {
			return n, err
		}
	}
	return n, pathError("write", f.name, ft.Err)
}

func (f *faultyFile) Sync() error {
	if err := f.fs.err("sync", f.name); err != nil {
		return err
	}
	if err := f.File.Sync(); err != nil {
		return err
	}
	f.fs.setDirty(f.name, false)
	return nil
}

func (f *faultyFile) Truncate(size int64) error {
	if err := f.fs.err("truncate", f.name); err != nil {
		return err
	}
	f.fs.setDirty(f.name, true)
	return f.File.Truncate(size)
}
