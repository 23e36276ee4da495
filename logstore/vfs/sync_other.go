//go:build !linux

package vfs

import "os"

// datasync is fsync(2) (F_FULLFSYNC on macOS) where fdatasync is not used.
func datasync(f *os.File) error { return f.Sync() }
