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

var (
	// ErrFailed is wrapped by every error a Log returns after a write or
	// sync failed and the Log could not truncate back to a record boundary.
	// The Log must be closed and reopened; Open then repairs the tail.
	ErrFailed = errors.New("wal: log failed; reopen it")
	// ErrClosed is returned by calls on a closed Log.
	ErrClosed = errors.New("wal: log closed")
)
