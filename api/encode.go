package api

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
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
// writes it (HTML-escaped, invalid UTF-8 replaced by U+FFFD, U+2028 and
// U+2029 escaped): a signed checkpoint's newlines need escapes, and
// json.Marshal would allocate for every receipt answer.
func appendString[S []byte | string](dst []byte, s S) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if jsonSafe[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
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
			default: // other control bytes, and < > &
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		// A short conversion, which stays on the stack for []byte.
		c, size := utf8.DecodeRuneInString(string(s[i:min(len(s), i+utf8.UTFMax)]))
		switch {
		case c == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case c == '\u2028' || c == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// jsonSafe holds the ASCII bytes encoding/json writes unescaped in a
// string (with HTML escaping, its default).
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		switch b {
		case '"', '\\', '<', '>', '&':
		default:
			t[b] = true
		}
	}
	return t
}()

// appendHash appends h as a quoted base64 string.
func appendHash(dst []byte, h trail.Hash) []byte {
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, h[:])
	return append(dst, '"')
}

// answerPool keeps the buffers of finished ingest answers for the next
// ones: a 1000-receipt answer with proofs is about a megabyte, fresh
// memory the runtime must zero and the collector track. Buffers larger
// than maxPooledAnswer are left to the collector.
var answerPool sync.Pool // of *answerBuf

type answerBuf struct{ b []byte }

const maxPooledAnswer = 4 << 20

// Header values of every JSON answer, shared (net/http only reads them).
var (
	jsonContentType = []string{"application/json"}
	noSniff         = []string{"nosniff"}
)

// writeIngest sends the 201 answer of an ingest,
//
//	{"receipts":[{"id","seq","tenant","leaf_hash"[,"duplicate"][,"inclusion"]}…],
//	 "checkpoints":{"<tenant>":"<signed note>"…}}
//
// byte for byte what encoding/json writes for the receipts and the
// checkpoints' notes (tenants in sorted order), with its Content-Length:
// encoding/json spends most of a large batch's answer on the receipts'
// hashes, and an answer without a length goes out chunked, in more
// writes.
func writeIngest(w http.ResponseWriter, rcs []trail.Receipt, cps map[string]*trail.Checkpoint) error {
	size := 256
	for i := range rcs {
		size += 160
		if p := rcs[i].Inclusion; p != nil {
			size += 80 + 47*len(p.Hashes)
		}
	}
	for t, cp := range cps {
		size += len(t) + 2*len(cp.Note) + 16
	}
	ab, _ := answerPool.Get().(*answerBuf)
	if ab == nil {
		ab = new(answerBuf)
	}
	if cap(ab.b) < size {
		// A pooled buffer too small for this answer is dropped; room
		// to spare lets the next, slightly larger answers (trees grow,
		// and with them proofs) reuse this one.
		ab.b = make([]byte, 0, size+size/4)
	}
	buf := ab.b[:0]
	buf = append(buf, `{"receipts":[`...)
	for i := range rcs {
		rc := &rcs[i]
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
	if len(cps) == 1 { // the common case: no sorting
		for t, cp := range cps {
			buf = appendCheckpoint(buf, t, cp)
		}
	} else {
		for i, t := range slices.Sorted(maps.Keys(cps)) {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendCheckpoint(buf, t, cps[t])
		}
	}
	buf = append(buf, "}}\n"...)
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["X-Content-Type-Options"] = noSniff
	h["Content-Length"] = []string{strconv.Itoa(len(buf))}
	w.WriteHeader(http.StatusCreated)
	_, err := w.Write(buf) // Write does not keep buf
	if cap(buf) <= maxPooledAnswer {
		ab.b = buf[:0]
		answerPool.Put(ab)
	}
	return err
}

// appendCheckpoint appends "tenant":"note".
func appendCheckpoint(dst []byte, tenant string, cp *trail.Checkpoint) []byte {
	dst = appendString(dst, tenant)
	dst = append(dst, ':')
	return appendString(dst, cp.Note)
}
