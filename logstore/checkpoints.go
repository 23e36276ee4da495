package logstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/checkpoint"
)

// signCheckpoints signs cs as one batch (checkpoint.SignAll shares one
// field inversion across it) and returns them as trail checkpoints, in
// order.
func (s *Store) signCheckpoints(cs []checkpoint.Checkpoint) ([]*trail.Checkpoint, error) {
	notes, err := checkpoint.SignAll(cs, s.opts.Signer)
	if err != nil {
		return nil, fmt.Errorf("logstore: sign checkpoints: %w", err)
	}
	out := make([]*trail.Checkpoint, len(cs))
	for i, c := range cs {
		out[i] = &trail.Checkpoint{Origin: c.Origin, Size: c.Size, Root: trail.Hash(c.Root), Note: notes[i]}
	}
	return out, nil
}

// openCheckpoint verifies a stored note and checks its origin.
func (s *Store) openCheckpoint(tenant string, msg []byte) (*trail.Checkpoint, error) {
	c, err := checkpoint.Open(msg, s.verifier)
	if err != nil {
		return nil, err
	}
	if c.Origin != s.origin(tenant) {
		return nil, fmt.Errorf("origin %q, want %q", c.Origin, s.origin(tenant))
	}
	return &trail.Checkpoint{Origin: c.Origin, Size: c.Size, Root: trail.Hash(c.Root), Note: append([]byte(nil), msg...)}, nil
}

// checkpoints.log holds every checkpoint signed at a block boundary, each
// framed as uvarint(len) note.
const checkpointsFile = "checkpoints.log"

// appendCheckpoint appends a note to the tenant's checkpoint log, and
// syncs it if sync is set (a flush with a volume leaves that to its next
// sync instead).
func (s *Store) appendCheckpoint(t *tenant, note []byte, sync bool) error {
	name := filepath.Join(t.dir, checkpointsFile)
	f, err := s.fs.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("checkpoints: %w", err)
	}
	defer f.Close()
	rec := binary.AppendUvarint(nil, uint64(len(note)))
	rec = append(rec, note...)
	if n, err := f.Write(rec); err != nil || n != len(rec) {
		if err == nil {
			err = io.ErrShortWrite
		}
		return fmt.Errorf("checkpoints: write %s: %w", name, err)
	}
	if !sync {
		return nil
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("checkpoints: sync %s: %w", name, err)
	}
	return nil
}

// readCheckpoints returns the raw notes of the tenant's checkpoint log. A
// torn final record (crash while appending) is ignored.
func (s *Store) readCheckpoints(t *tenant) ([][]byte, error) {
	notes, _, _, err := s.readCheckpointsLen(t)
	return notes, err
}

// readCheckpointsLen is readCheckpoints that also returns the length of
// the whole records and of the file.
func (s *Store) readCheckpointsLen(t *tenant) (notes [][]byte, whole, size int64, err error) {
	f, err := s.fs.OpenFile(filepath.Join(t.dir, checkpointsFile), os.O_RDONLY, 0)
	if os.IsNotExist(err) {
		return nil, 0, 0, nil
	}
	if err != nil {
		return nil, 0, 0, fmt.Errorf("checkpoints: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("checkpoints: %w", err)
	}
	r := bytes.NewReader(data)
	for r.Len() > 0 {
		n, err := binary.ReadUvarint(r)
		if err != nil || n > uint64(r.Len()) {
			break
		}
		off := len(data) - r.Len()
		notes = append(notes, data[off:off+int(n)])
		r.Seek(int64(n), io.SeekCurrent)
		whole = int64(off) + int64(n)
	}
	return notes, whole, int64(len(data)), nil
}

// repairCheckpoints truncates a torn final record off the tenant's
// checkpoint log, durably, so that the next append is not framed after
// garbage. The record was being appended by a flush that crashed; the WAL,
// which that flush had not yet trimmed, still holds its checkpoint.
func (s *Store) repairCheckpoints(t *tenant, whole int64) error {
	name := filepath.Join(t.dir, checkpointsFile)
	f, err := s.fs.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("checkpoints: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(whole); err != nil {
		return fmt.Errorf("checkpoints: truncate torn record of %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("checkpoints: truncate torn record of %s: %w", name, err)
	}
	return nil
}
