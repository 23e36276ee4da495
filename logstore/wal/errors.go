package wal

import (
	"errors"
	"fmt"
)

// CorruptionError reports a record that is damaged in a way a crash cannot
// explain: the log needs an operator, not a repair.
type CorruptionError struct {
	Segment int    // index of the segment file
	Offset  int64  // byte offset of the damaged record's frame in it
	Reason  string // what is wrong, e.g. "checksum mismatch"
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("wal: corrupt segment %s at offset %d: %s", segmentName(e.Segment), e.Offset, e.Reason)
}

// RecordError reports a record that is intact (its checksum holds) but
// that Options.Cipher could not open: encrypted with a key not at hand, or
// not where it was written. Err is the Cipher's error.
type RecordError struct {
	Segment int   // index of the segment file
	Offset  int64 // byte offset of the record's frame in it
	Err     error
}

// File returns the segment's file name, e.g. "00000001.wal".
func (e *RecordError) File() string { return segmentName(e.Segment) }

func (e *RecordError) Error() string {
	return fmt.Sprintf("wal: segment %s, record at offset %d: %v", segmentName(e.Segment), e.Offset, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

var (
	// ErrFailed is wrapped by every error a Log returns after a write or
	// sync failed and the Log could not truncate back to a record boundary.
	// The Log must be closed and reopened; Open then repairs the tail.
	ErrFailed = errors.New("wal: log failed; reopen it")
	// ErrClosed is returned by calls on a closed Log.
	ErrClosed = errors.New("wal: log closed")
)
