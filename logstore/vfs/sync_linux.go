package vfs

import (
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// datasync calls fdatasync(2), retrying on EINTR.
func datasync(f *os.File) error {
	return retrySync(f, "fdatasync", unix.Fdatasync)
}

// retrySync calls sync (fdatasync or syncfs) on f's descriptor, again
// while it fails with EINTR, and names op and f in the error it returns.
// An error from the call itself is a *fs.PathError wrapping the errno.
func retrySync(f *os.File, op string, sync func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			if serr = sync(int(fd)); serr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &fs.PathError{Op: op, Path: f.Name(), Err: serr}
	}
	return nil
}

// openVolume opens dir for syncfs(2). Before Linux 5.8 syncfs did not
// report write-back errors, so a failed write could pass for durable:
// there it returns ErrUnsupported.
func openVolume(dir string) (Volume, error) {
	if ok, release := kernelAtLeast(5, 8); !ok {
		return nil, fmt.Errorf("vfs: syncfs reports write-back errors from Linux 5.8, this is %s: %w", release, errUnsupported)
	}
	// The directory stays open: syncfs reports the errors that happened
	// since this descriptor was opened, so it must be opened before the
	// writes whose errors it should report.
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	return &osVolume{d: d}, nil
}

type osVolume struct{ d *os.File }

func (v *osVolume) Sync() error {
	err := retrySync(v.d, "syncfs", unix.Syncfs)
	if pe, ok := err.(*fs.PathError); ok && pe.Err == unix.ENOSYS {
		pe.Err = errUnsupported
	}
	return err
}

func (v *osVolume) Close() error { return v.d.Close() }

// kernelAtLeast reports whether the running kernel's release is at least
// major.minor, and the release.
func kernelAtLeast(major, minor int) (bool, string) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return false, "unknown (" + err.Error() + ")"
	}
	release := unix.ByteSliceToString(u.Release[:])
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return false, release
	}
	maj, err1 := strconv.Atoi(parts[0])
	minStr := parts[1]
	if i := strings.IndexFunc(minStr, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		minStr = minStr[:i]
	}
	mnr, err2 := strconv.Atoi(minStr)
	if err1 != nil || err2 != nil {
		return false, release
	}
	return maj > major || maj == major && mnr >= minor, release
}
