package vfs_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/trail-audit/trail/logstore/vfs"
)

func TestWriteFileAtomic(t *testing.T) {
	const old, next = "old contents", "new contents"
	tests := []struct {
		name    string
		fault   *vfs.Fault
		want    string // contents of the target afterwards
		wantErr error
	}{
		{"success", nil, next, nil},
		{"write fails", &vfs.Fault{Op: "write", Err: syscall.ENOSPC}, old, syscall.ENOSPC},
		{"short write", &vfs.Fault{Op: "write", Short: 3}, old, nil},
		{"sync fails", &vfs.Fault{Op: "sync", Err: syscall.EIO}, old, syscall.EIO},
		{"rename fails", &vfs.Fault{Op: "rename", Err: syscall.EXDEV}, old, syscall.EXDEV},
		{"open fails", &vfs.Fault{Op: "open", Err: syscall.EMFILE}, old, syscall.EMFILE},
		{"syncdir fails", &vfs.Fault{Op: "syncdir", Err: syscall.EIO}, next, syscall.EIO},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			name := filepath.Join(dir, "settings.json")
			fsys := vfs.NewFaulty(vfs.OS())
			if err := vfs.WriteFileAtomic(fsys, name, []byte(old), 0o600); err != nil {
				t.Fatal(err)
			}
			if tt.fault != nil {
				fsys.Inject(*tt.fault)
			}
			err := vfs.WriteFileAtomic(fsys, name, []byte(next), 0o600)
			switch {
			case tt.fault == nil && err != nil:
				t.Fatalf("got %v, want nil", err)
			case tt.fault != nil && err == nil:
				t.Fatalf("got nil error, want one")
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
			got, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("contents: got %q, want %q", got, tt.want)
			}
			st, err := os.Stat(name)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := st.Mode().Perm(), os.FileMode(0o600); got != want {
				t.Errorf("mode: got %v, want %v", got, want)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if strings.HasSuffix(e.Name(), ".tmp") {
					t.Errorf("temporary file %s left behind", e.Name())
				}
			}
		})
	}
}

func TestOSSync(t *testing.T) {
	dir := t.TempDir()
	fsys := vfs.OS()
	f, err := fsys.OpenFile(filepath.Join(dir, "f"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("data")); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Errorf("Sync: got %v, want nil", err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		t.Errorf("SyncDir: got %v, want nil", err)
	}
	if err := fsys.SyncDir(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("SyncDir of a missing directory: got %v, want ErrNotExist", err)
	}
}

func TestOSVolume(t *testing.T) {
	dir := t.TempDir()
	fsys := vfs.OS()
	v, err := fsys.OpenVolume(dir)
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("no syncfs here: %v", err)
	}
	if err != nil {
		t.Fatalf("OpenVolume: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := v.Sync(); err != nil {
		t.Errorf("Sync: got %v, want nil", err)
	}
	if err := v.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := fsys.OpenVolume(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenVolume of a missing directory: got %v, want ErrNotExist", err)
	}
}
