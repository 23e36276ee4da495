package logstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// WAL payloads. Every commit of the writer is ONE WAL record, so a commit is
// replayed whole or not at all:
//
//	commit  = 0x01 uvarint(nTenants) { tenantSection }
//	tenantSection = string(tenant) uvarint(firstSeq) uvarint(count)
//	                { bytes(leaf) } bytes(signedCheckpoint)
//	string, bytes = uvarint(len) raw
const recCommit byte = 1

// commitSection is one tenant's part of a commit record.
type commitSection struct {
	tenant   string
	firstSeq int64
	leaves   [][]byte
	note     []byte
}

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func appendBytes(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

// encodeCommit appends the commit record of secs to dst, growing it at
// most once.
func encodeCommit(dst []byte, secs []commitSection) []byte {
	n := 1 + binary.MaxVarintLen64
	for _, s := range secs {
		n += len(s.tenant) + len(s.note) + 4*binary.MaxVarintLen64
		for _, l := range s.leaves {
			n += len(l) + binary.MaxVarintLen64
		}
	}
	dst = slices.Grow(dst, n)
	dst = append(dst, recCommit)
	dst = appendUvarint(dst, uint64(len(secs)))
	for _, s := range secs {
		dst = appendBytes(dst, []byte(s.tenant))
		dst = appendUvarint(dst, uint64(s.firstSeq))
		dst = appendUvarint(dst, uint64(len(s.leaves)))
		for _, l := range s.leaves {
			dst = appendBytes(dst, l)
		}
		dst = appendBytes(dst, s.note)
	}
	return dst
}

// decoder reads the fields of a payload; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

var errShort = errors.New("record truncated")

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errShort
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

// decodeCommit decodes a commit payload (after its type byte). The slices
// alias payload.
func decodeCommit(payload []byte) ([]commitSection, error) {
	d := &decoder{b: payload}
	n := d.uvarint()
	if n > uint64(len(payload)) {
		return nil, fmt.Errorf("commit record: %d tenants in %d bytes", n, len(payload))
	}
	secs := make([]commitSection, 0, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		var s commitSection
		s.tenant = string(d.bytes())
		s.firstSeq = int64(d.uvarint())
		count := d.uvarint()
		if count > uint64(len(d.b)) {
			return nil, fmt.Errorf("commit record: %d events in %d bytes", count, len(d.b))
		}
		s.leaves = make([][]byte, 0, count)
		for j := uint64(0); j < count && d.err == nil; j++ {
			s.leaves = append(s.leaves, d.bytes())
		}
		s.note = d.bytes()
		secs = append(secs, s)
	}
	if d.err != nil {
		return nil, fmt.Errorf("commit record: %w", d.err)
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("commit record: %d trailing bytes", len(d.b))
	}
	return secs, nil
}
