package api

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"unicode/utf8"

	trail "github.com/trail-audit/trail"
)

// appendEvent appends the JSON of a stored event: when the store handed
// over its leaf (canonical JSON with every stored field), the leaf with
// "leaf_hash" added; otherwise encoding/json's rendering of e. Both are
// the same object.
func appendEvent(dst []byte, e *trail.Event) ([]byte, error) {
	if l := e.Leaf; len(l) > 2 && l[len(l)-1] == '}' && !e.Erased && e.LeafHash != nil {
		dst = append(dst, l[:len(l)-1]...)
		dst = append(dst, `,"leaf_hash":"`...)
		h, _ := e.LeafHash.MarshalText()
		dst = append(dst, h...)
		return append(dst, `"}`...), nil
	}
	b, err := json.Marshal(e)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

// writePage sends a query page without decoding and re-encoding the
// stored events.
func writePage(w http.ResponseWriter, page *trail.Page) error {
	buf := make([]byte, 0, 1024+700*len(page.Events))
	buf = append(buf, `{"events":[`...)
	for i, e := range page.Events {
		if i > 0 {
			buf = append(buf, ',')
		}
		var err error
		if buf, err = appendEvent(buf, e); err != nil {
			return err
		}
	}
	buf = append(buf, ']')
	if page.NextCursor != "" {
		buf = append(buf, `,"next_cursor":`...)
		buf = strconv.AppendQuote(buf, page.NextCursor)
	}
	buf = append(buf, "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(buf)
	return err
}

// appendString appends s as a JSON string, exactly as encoding/json
// writes it.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // escapes: never fails for a string
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// appendHash appends h as a quoted base64 string.
func appendHash(dst []byte, h trail.Hash) []byte {
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, h[:])
	return append(dst, '"')
}

// writeIngest sends the 201 answer of an ingest: encoding/json spends
// most of a large batch's response time on the receipts' hashes, so they
// are written directly in the same shape.
func writeIngest(w http.ResponseWriter, out *ingestResponse) error {
	size := 256
	for i := range out.Receipts {
		size += 160
		if p := out.Receipts[i].Inclusion; p != nil {
			size += 80 + 47*len(p.Hashes)
		}
	}
	for t, note := range out.Checkpoints {
		size += len(t) + len(note) + 16
	}
	buf := make([]byte, 0, size)
	buf = append(buf, `{"receipts":[`...)
	for i, rc := range out.Receipts {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"id":`...)
		buf = appendString(buf, rc.ID)
		buf = append(buf, `,"seq":`...)
		buf = strconv.AppendInt(buf, rc.Seq, 10)
		buf = append(buf, `,"tenant":`...)
		buf = appendString(buf, rc.Tenant)
		buf = append(buf, `,"leaf_hash":`...)
		buf = appendHash(buf, rc.LeafHash)
		if rc.Duplicate {
			buf = append(buf, `,"duplicate":true`...)
		}
		if p := rc.Inclusion; p != nil {
			buf = append(buf, `,"inclusion":{"leaf_index":`...)
			buf = strconv.AppendInt(buf, p.LeafIndex, 10)
			buf = append(buf, `,"tree_size":`...)
			buf = strconv.AppendInt(buf, p.TreeSize, 10)
			buf = append(buf, `,"hashes":[`...)
			for j, h := range p.Hashes {
				if j > 0 {
					buf = append(buf, ',')
				}
				buf = appendHash(buf, h)
			}
			buf = append(buf, "]}"...)
		}
		buf = append(buf, '}')
	}
	buf = append(buf, `],"checkpoints":{`...)
	first := true
	for tenant, note := range out.Checkpoints {
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = appendString(buf, tenant)
		buf = append(buf, ':')
		buf = appendString(buf, note)
	}
	buf = append(buf, "}}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusCreated)
	_, err := w.Write(buf)
	return err
}
