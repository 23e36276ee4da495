package vfs_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trail-audit/trail/logstore/vfs"
)

// openRW creates name with some content and returns it open read-write.
func openRW(t *testing.T, fsys vfs.FS, name string) vfs.File {
	t.Helper()
	if err := os.WriteFile(name, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := fsys.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestFaultyFaults(t *testing.T) {
	type op func(t *testing.T, fsys vfs.FS, dir string) error
	write := func(t *testing.T, fsys vfs.FS, dir string) error {
		f := openRW(t, fsys, filepath.Join(dir, "data"))
		_, err := f.Write([]byte("world"))
		return err
	}
	tests := []struct {
		name  string
		fault vfs.Fault
		op    op
	}{
		{"open", vfs.Fault{Op: "open", Err: syscall.EACCES}, func(t *testing.T, fsys vfs.FS, dir string) error {
			f, err := fsys.OpenFile(filepath.Join(dir, "x"), os.O_CREATE|os.O_RDWR, 0o644)
			if err == nil {
				f.Close()
			}
			return err
		}},
		{"write", vfs.Fault{Op: "write", Err: syscall.ENOSPC}, write},
		{"read", vfs.Fault{Op: "read", Err: syscall.EIO}, func(t *testing.T, fsys vfs.FS, dir string) error {
			f := openRW(t, fsys, filepath.Join(dir, "data"))
			_, err := f.Read(make([]byte, 5))
			return err
		}},
		{"readat", vfs.Fault{Op: "read", Err: syscall.EIO}, func(t *testing.T, fsys vfs.FS, dir string) error {
			f := openRW(t, fsys, filepath.Join(dir, "data"))
			_, err := f.ReadAt(make([]byte, 5), 0)
			return err
		}},
		{"sync", vfs.Fault{Op: "sync", Err: syscall.EIO}, func(t *testing.T, fsys vfs.FS, dir string) error {
			return openRW(t, fsys, filepath.Join(dir, "data")).Sync()
		}},
		{"truncate", vfs.Fault{Op: "truncate", Err: syscall.EIO}, func(t *testing.T, fsys vfs.FS, dir string) error {
			return openRW(t, fsys, filepath.Join(dir, "data")).Truncate(1)
		}},
		{"rename", vfs.Fault{Op: "rename", Err: syscall.EXDEV}, func(t *testing.T, fsys vfs.FS, dir string) error {
			openRW(t, fsys, filepath.Join(dir, "data"))
			err := fsys.Rename(filepath.Join(dir, "data"), filepath.Join(dir, "data2"))
			if err == nil { // undo, so the next iteration starts alike
				err2 := fsys.Rename(filepath.Join(dir, "data2"), filepath.Join(dir, "data"))
				if err2 != nil {
					t.Fatal(err2)
				}
			}
			return err
		}},
		{"remove", vfs.Fault{Op: "remove", Err: syscall.EPERM}, func(t *testing.T, fsys vfs.FS, dir string) error {
			openRW(t, fsys, filepath.Join(dir, "data"))
			return fsys.Remove(filepath.Join(dir, "data"))
		}},
		{"syncdir", vfs.Fault{Op: "syncdir", Err: syscall.EIO}, func(t *testing.T, fsys vfs.FS, dir string) error {
			return fsys.SyncDir(dir)
		}},
		{"syncfs", vfs.Fault{Op: "syncfs", Err: syscall.EIO}, func(t *testing.T, fsys vfs.FS, dir string) error {
			v, err := fsys.OpenVolume(dir)
			if err != nil {
				return err
			}
			defer v.Close()
			return v.Sync()
		}},
		{"path matches", vfs.Fault{Op: "write", Path: "data", Err: syscall.ENOSPC}, write},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			fsys := vfs.NewFaulty(vfs.OS())

			if err := tt.op(t, fsys, dir); err != nil {
				t.Fatalf("before Inject: got %v, want nil", err)
			}
			fsys.Inject(tt.fault)
			for i := range 2 { // Times 0: fires until cleared
				if err := tt.op(t, fsys, dir); !errors.Is(err, tt.fault.Err) {
					t.Fatalf("armed, call %d: got %v, want %v", i, err, tt.fault.Err)
				}
			}
			if got, want := fsys.Hits(), 2; got != want {
				t.Errorf("Hits: got %d, want %d", got, want)
			}
			fsys.Clear()
			if err := tt.op(t, fsys, dir); err != nil {
				t.Fatalf("after Clear: got %v, want nil", err)
			}
			if got, want := fsys.Hits(), 2; got != want {
				t.Errorf("Hits after Clear: got %d, want %d", got, want)
			}
		})
	}
}

func TestFaultyPathMismatch(t *testing.T) {
	dir := t.TempDir()
	fsys := vfs.NewFaulty(vfs.OS())
	fsys.Inject(vfs.Fault{Op: "write", Path: "other", Err: syscall.ENOSPC})
	f := openRW(t, fsys, filepath.Join(dir, "data"))
	if _, err := f.Write([]byte("x")); err != nil {
		t.Fatalf("write to a file the fault does not name: got %v, want nil", err)
	}
	if got := fsys.Hits(); got != 0 {
		t.Errorf("Hits: got %d, want 0", got)
	}
}

func TestFaultyTimes(t *testing.T) {
	dir := t.TempDir()
	fsys := vfs.NewFaulty(vfs.OS())
	fsys.Inject(vfs.Fault{Op: "sync", Err: syscall.EIO, Times: 2})
	f := openRW(t, fsys, filepath.Join(dir, "data"))
	var got []bool
	for range 4 {
		got = append(got, f.Sync() != nil)
	}
	want := []bool{true, true, false, false}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("sync failures: got %v, want %v", got, want)
		}
	}
	if got, want := fsys.Hits(), 2; got != want {
		t.Errorf("Hits: got %d, want %d", got, want)
	}
}

func TestFaultyShortWrite(t *testing.T) {
	tests := []struct {
		name    string
		fault   vfs.Fault
		wantN   int
		wantErr error
	}{
		{"default error", vfs.Fault{Op: "write", Short: 3}, 3, io.ErrShortWrite},
		{"given error", vfs.Fault{Op: "write", Short: 2, Err: syscall.ENOSPC}, 2, syscall.ENOSPC},
		{"nothing written", vfs.Fault{Op: "write", Err: syscall.ENOSPC}, 0, syscall.ENOSPC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			name := filepath.Join(dir, "data")
			fsys := vfs.NewFaulty(vfs.OS())
			f, err := fsys.OpenFile(name, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			fsys.Inject(tt.fault)
			n, err := f.Write([]byte("abcdefgh"))
			if n != tt.wantN || !errors.Is(err, tt.wantErr) {
				t.Fatalf("Write: got (%d, %v), want (%d, %v)", n, err, tt.wantN, tt.wantErr)
			}
			data, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := string(data), "abcdefgh"[:tt.wantN]; got != want {
				t.Errorf("file: got %q, want %q", got, want)
			}
		})
	}
}

func TestFaultyDelay(t *testing.T) {
	dir := t.TempDir()
	fsys := vfs.NewFaulty(vfs.OS())
	f := openRW(t, fsys, filepath.Join(dir, "data"))
	const delay = 50 * time.Millisecond
	fsys.Inject(vfs.Fault{Op: "sync", Delay: delay, Times: 1})
	start := time.Now()
	if err := f.Sync(); err != nil {
		t.Fatalf("slow sync: got %v, want nil", err)
	}
	if got := time.Since(start); got < delay {
		t.Errorf("slow sync took %v, want at least %v", got, delay)
	}
	if got, want := fsys.Hits(), 1; got != want {
		t.Errorf("Hits: got %d, want %d", got, want)
	}
}

func TestFaultyConcurrent(t *testing.T) {
	dir := t.TempDir()
	fsys := vfs.NewFaulty(vfs.OS())
	f := openRW(t, fsys, filepath.Join(dir, "data"))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			fsys.Inject(vfs.Fault{Op: "read", Err: syscall.EIO, Times: 1})
			fsys.Hits()
			fsys.Clear()
		}
	}()
	buf := make([]byte, 1)
	for range 100 {
		f.ReadAt(buf, 0) // either outcome is fine: this checks for races
	}
	<-done
}

// TestFaultyVolumeSyncsDirtyFiles checks that a Volume's Sync writes back
// the files written since they were last synced, as syncfs(2) does: a
// "sync" fault on such a file fails it, naming the file, and a file
// synced already is not written back again.
func TestFaultyVolumeSyncsDirtyFiles(t *testing.T) {
	dir := t.TempDir()
	fsys := vfs.NewFaulty(vfs.OS())
	v, err := fsys.OpenVolume(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	dirty := openRW(t, fsys, filepath.Join(dir, "dirty"))
	clean := openRW(t, fsys, filepath.Join(dir, "clean"))
	for _, f := range []vfs.File{dirty, clean} {
		if _, err := f.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := clean.Sync(); err != nil {
		t.Fatal(err)
	}
	fsys.Inject(vfs.Fault{Op: "sync", Path: "clean", Err: syscall.EIO})
	if err := v.Sync(); err != nil {
		t.Fatalf("Sync with a fault on a file synced already: got %v, want nil", err)
	}
	fsys.Clear()
	if _, err := dirty.Write([]byte("y")); err != nil {
		t.Fatal(err)
	}
	fsys.Inject(vfs.Fault{Op: "sync", Path: "dirty", Err: syscall.EIO, Times: 1})
	err = v.Sync()
	if !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), "dirty") {
		t.Fatalf("Sync with a fault on a written file: got %v, want EIO naming the file", err)
	}
	if err := v.Sync(); err != nil {
		t.Fatalf("Sync after the fault fired: got %v, want nil", err)
	}
}

// TestFaultyVolumeUnsupported checks that a "syncfs" fault fails
// OpenVolume too, so that a store can be made to sync file by file.
func TestFaultyVolumeUnsupported(t *testing.T) {
	fsys := vfs.NewFaulty(vfs.OS())
	fsys.Inject(vfs.Fault{Op: "syncfs", Err: errors.ErrUnsupported})
	if v, err := fsys.OpenVolume(t.TempDir()); !errors.Is(err, errors.ErrUnsupported) {
		if v != nil {
			v.Close()
		}
		t.Fatalf("OpenVolume: got %v, want ErrUnsupported", err)
	}
}
