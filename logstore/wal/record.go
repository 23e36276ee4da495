package wal

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

const (
	// MaxPayload is the largest payload a record may hold.
	MaxPayload = 64 << 20
	// headerSize is the length and checksum in front of each payload.
	headerSize = 8
)

// castagnoli is the CRC-32C table; crc32 uses the CPU's instruction for it.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendFrame appends the framed record of payload to dst.
func appendFrame(dst, payload []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	dst = binary.LittleEndian.AppendUint32(dst, crc32.Checksum(payload, castagnoli))
	return append(dst, payload...)
}

// validFrame reports whether data begins with a complete, valid record.
func validFrame(data []byte) bool {
	if len(data) < headerSize {
		return false
	}
	n := binary.LittleEndian.Uint32(data)
	if n == 0 || n > MaxPayload || int64(n) > int64(len(data)-headerSize) {
		return false
	}
	return crc32.Checksum(data[headerSize:headerSize+int(n)], castagnoli) == binary.LittleEndian.Uint32(data[4:])
}

// scanner reads the records of one segment, from an offset up to a size
// fixed when it starts.
type scanner struct {
	r    *bufio.Reader
	off  int64 // offset of the next frame
	size int64
	hdr  [headerSize]byte // here, not on the stack, so reading it does not allocate
	buf  []byte
}

func newScanner(f io.ReaderAt, off, size int64) *scanner {
	return &scanner{
		r:    bufio.NewReaderSize(io.NewSectionReader(f, off, size-off), 256<<10),
		off:  off,
		size: size,
	}
}

// next returns the payload of the record at s.off and moves past it. The
// payload is valid until the next call. At the end of the segment it
// returns io.EOF. If the frame at s.off is not a valid record it returns a
// non-empty reason and leaves s.off at that frame. Other errors come from
// reading the file.
func (s *scanner) next() (payload []byte, reason string, err error) {
	rem := s.size - s.off
	if rem == 0 {
		return nil, "", io.EOF
	}
	if rem < headerSize {
		return nil, "truncated header", nil
	}
	hdr := s.hdr[:]
	if _, err := io.ReadFull(s.r, hdr); err != nil {
		return nil, "", unexpected(err)
	}
	n := int64(binary.LittleEndian.Uint32(hdr))
	switch {
	case n == 0:
		return nil, "zero length", nil
	case n > MaxPayload:
		return nil, fmt.Sprintf("length %d exceeds the limit of %d", n, MaxPayload), nil
	case n > rem-headerSize:
		return nil, "truncated payload", nil
	}
	if int64(cap(s.buf)) < n {
		s.buf = make([]byte, n)
	}
	p := s.buf[:n]
	if _, err := io.ReadFull(s.r, p); err != nil {
		return nil, "", unexpected(err)
	}
	if crc32.Checksum(p, castagnoli) != binary.LittleEndian.Uint32(hdr[4:]) {
		return nil, "checksum mismatch", nil
	}
	s.off += headerSize + n
	return p, "", nil
}

// unexpected turns an EOF inside the known size (the file shrank) into
// io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// frameAfter reports whether a valid record frame starts at any byte offset
// in [from, size) of f. It tells a torn tail (nothing valid after the bad
// record) from corruption in the middle of the log.
func frameAfter(f io.ReaderAt, from, size int64) (bool, error) {
	if size-from < headerSize {
		return false, nil
	}
	data := make([]byte, size-from)
	if n, err := f.ReadAt(data, from); n < len(data) {
		return false, unexpected(err)
	}
	for i := 0; i+headerSize <= len(data); i++ {
		if validFrame(data[i:]) {
			return true, nil
		}
	}
	return false, nil
}
