package sink

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// File appends events as NDJSON, one canonical event JSON per line, to
// Path under Env.FileDir (opened with os.Root, so the sink cannot write
// outside that directory, not even through symbolic links). A batch is
// acknowledged when it is written and synced. A failed write is truncated
// away so that a retry never leaves a broken line.
//
// Before a batch that would take the file past MaxSize the file rotates:
// <path>.<Keep> is removed, <path>.<i> is renamed <path>.<i+1>, and <path>
// becomes <path>.1. A batch larger than MaxSize still goes to one file.
type File struct {
	dir     string
	rel     string
	maxSize int64
	keep    int

	root *os.Root
	f    *os.File
	size int64
}

// NewFile returns the File destination of a normalised file sink.
func NewFile(s *Sink, env Env) (*File, error) {
	if env.FileDir == "" {
		return nil, fmt.Errorf("sink: file sinks are disabled (no file directory configured)")
	}
	return &File{dir: env.FileDir, rel: filepath.Clean(s.Path), maxSize: s.MaxSize, keep: s.Keep}, nil
}

func (d *File) open() error {
	if d.root == nil {
		if err := os.MkdirAll(d.dir, 0o700); err != nil {
			return err
		}
		r, err := os.OpenRoot(d.dir)
		if err != nil {
			return err
		}
		d.root = r
	}
	if dir := filepath.Dir(d.rel); dir != "." {
		if err := d.root.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	f, err := d.root.OpenFile(d.rel, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	d.f, d.size = f, st.Size()
	return nil
}

// Deliver implements Destination.
func (d *File) Deliver(ctx context.Context, batch *Batch) error {
	items := batch.Items
	var b []byte
	for _, it := range items {
		b = append(b, it.Leaf...)
		b = append(b, '\n')
	}
	if d.f == nil {
		if err := d.open(); err != nil {
			return fmt.Errorf("file sink: %w", err)
		}
	}
	if d.size > 0 && d.size+int64(len(b)) > d.maxSize {
		if err := d.rotate(); err != nil {
			return fmt.Errorf("file sink: rotate: %w", err)
		}
	}
	_, err := d.f.Write(b)
	if err == nil {
		err = d.f.Sync()
	}
	if err != nil {
		// Drop what was written so the retry appends whole lines.
		d.f.Truncate(d.size)
		d.f.Close()
		d.f = nil
		return fmt.Errorf("file sink: %w", err)
	}
	d.size += int64(len(b))
	return nil
}

func (d *File) rotate() error {
	if err := d.f.Close(); err != nil {
		return err
	}
	d.f = nil
	name := func(i int) string { return d.rel + "." + strconv.Itoa(i) }
	if err := d.root.Remove(name(d.keep)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for i := d.keep - 1; i >= 1; i-- {
		if err := d.root.Rename(name(i), name(i+1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := d.root.Rename(d.rel, name(1)); err != nil {
		return err
	}
	if dir, err := d.root.Open(filepath.Dir(d.rel)); err == nil {
		dir.Sync()
		dir.Close()
	}
	return d.open()
}

// Close implements Destination.
func (d *File) Close() error {
	var err error
	if d.f != nil {
		err = d.f.Close()
		d.f = nil
	}
	if d.root != nil {
		d.root.Close()
		d.root = nil
	}
	return err
}
