//go:build !linux

package vfs

import (
	"fmt"
	"os"
)

// datasync is fsync(2) (F_FULLFSYNC on macOS) where fdatasync is not used.
func datasync(f *os.File) error { return f.Sync() }

// openVolume: only Linux has syncfs(2).
func openVolume(dir string) (Volume, error) {
	return nil, fmt.Errorf("vfs: no syncfs on this platform: %w", errUnsupported)
}
