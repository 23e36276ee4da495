package export

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"strconv"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/merkle"
)

// NDJSONWriter writes events as NDJSON, one leaf per line (see the package
// documentation). It buffers its output; call Flush when done.
type NDJSONWriter struct {
	w   *bufio.Writer
	buf []byte
}

// NewNDJSON returns an NDJSONWriter that writes to w.
func NewNDJSON(w io.Writer) *NDJSONWriter {
	return &NDJSONWriter{w: bufio.NewWriterSize(w, 64<<10)}
}

// Write writes e's line: its leaf and "\n", or for an erased event its stub.
// When e.LeafHash is set, the leaf must hash to it; a mismatch is a
// *trail.TamperError, since the line would not verify. An event whose leaf
// cannot be built (see Event.AppendCanonical) and an erased event without a
// LeafHash are errors. On these errors nothing is written; errors from the
// underlying writer are returned as they are.
func (x *NDJSONWriter) Write(e *trail.Event) error {
	line, err := appendLine(x.buf[:0], e)
	if err != nil {
		return err
	}
	x.buf = append(line, '\n')
	_, err = x.w.Write(x.buf)
	return err
}

// WriteLeaf writes a stored leaf as one line, after checking that it
// hashes to leafHash (a mismatch is a *trail.TamperError naming tenant and
// seq, and nothing is written). It is the fast path for exporting records
// read with trail.Store.Read, which carry the leaf bytes already.
func (x *NDJSONWriter) WriteLeaf(tenant string, seq int64, leaf []byte, leafHash trail.Hash) error {
	if trail.Hash(merkle.LeafHash(leaf)) != leafHash {
		return &trail.TamperError{Tenant: tenant, Seq: seq, Reason: "stored event does not match its leaf hash"}
	}
	x.buf = append(append(x.buf[:0], leaf...), '\n')
	_, err := x.w.Write(x.buf)
	return err
}

// Flush writes any buffered data to the underlying writer.
func (x *NDJSONWriter) Flush() error {
	return x.w.Flush()
}

// appendLine appends e's NDJSON line, without its newline, to dst.
func appendLine(dst []byte, e *trail.Event) ([]byte, error) {
	if e.Erased {
		if e.LeafHash == nil {
			return dst, fmt.Errorf("ndjson: erased event seq %d: no leaf hash", e.Seq)
		}
		return appendStub(dst, e), nil
	}
	var out []byte
	var err error
	if e.Leaf != nil {
		out = append(dst, e.Leaf...) // the stored leaf: no need to encode again
	} else {
		out, err = e.AppendCanonical(dst)
	}
	if err != nil {
		return dst, fmt.Errorf("ndjson: event seq %d: %w", e.Seq, err)
	}
	if e.LeafHash != nil && trail.Hash(merkle.LeafHash(out[len(dst):])) != *e.LeafHash {
		return dst, &trail.TamperError{Tenant: e.Tenant, Seq: e.Seq,
			Reason: "leaf hash mismatch: the event does not reproduce its leaf hash"}
	}
	return out, nil
}

// appendStub appends the line of an erased event: its server fields and its
// leaf hash, as canonical JSON (keys in order, empty fields left out).
func appendStub(dst []byte, e *trail.Event) []byte {
	dst = append(dst, `{"erased":true`...)
	if e.ID != "" {
		dst = append(dst, `,"id":`...)
		dst = appendJSONString(dst, e.ID)
	}
	dst = append(dst, `,"leaf_hash":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, e.LeafHash[:])
	dst = append(dst, '"')
	if !e.ReceivedAt.IsZero() {
		dst = append(dst, `,"received_at":"`...)
		dst = e.ReceivedAt.UTC().AppendFormat(dst, trail.TimeFormat)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendInt(dst, e.Seq, 10)
	if e.Tenant != "" {
		dst = append(dst, `,"tenant":`...)
		dst = appendJSONString(dst, e.Tenant)
	}
	return append(dst, '}')
}

// appendJSONString appends s as a JSON string escaped as RFC 8785 §3.2.2.2
// requires. Invalid UTF-8 is copied as it is: ids and tenant names are
// validated as printable text before they are stored.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
