// Package wal is the write-ahead log of trail's embedded store: append-only
// segment files, shared by all tenants, holding opaque records that the
// store makes durable before it acknowledges a write (DESIGN.md §4).
//
// # Format
//
// A log is a directory of segment files named by index, from 1:
//
//	00000001.wal  00000002.wal  …
//
// A segment is a sequence of records, each framed as
//
//	+---------------+---------------+---------------------+
//	| length uint32 | crc32c uint32 | payload             |
//	| little endian | little endian | length bytes        |
//	+---------------+---------------+---------------------+
//	  4 bytes         4 bytes         1 B … 64 MiB
//
// where crc32c is the CRC-32C (Castagnoli) of the payload. There is no file
// header and no padding: a segment ends at a record boundary. Payloads are
// never empty, so zeros (what some file systems leave in a file whose size
// reached the disk before its data) never parse as a record. A record never
// spans segments: a new segment starts at the first Append after the
// current one has reached Options.SegmentSize, so a segment exceeds it by at
// most one Append.
//
// With Options.Cipher, each payload is stored sealed (encrypted and
// authenticated) with additional data AAD(segment, offset) naming the
// offset of its frame; the length and CRC-32C cover the sealed bytes, so
// torn-tail recovery works without the key, and Replay opens each payload
// before handing it on.
//
// A Position names the place just after a record: its segment and the byte
// offset there. Positions order the log; the zero Position is its start.
//
// # Recovery
//
// A crash may leave the last segment with a torn tail: a final record whose
// header or payload was only partly written, or whose bytes never reached
// the disk. Such a record was never acknowledged (Sync had not returned), so
// Open truncates it away, and reports so through TornTail. What is not a
// torn tail is corruption, reported as a *CorruptionError with nothing
// modified: a bad record followed by a valid one in the last segment, or a
// bad record anywhere in an older segment.
//
// # Failures
//
// Append and Sync never leave a half-written record for a later Append to
// follow: when one fails, the Log truncates its segment back to the last
// boundary known good and returns the error; if that repair fails too, the
// Log is failed and every later call returns ErrFailed until it is reopened.
package wal
