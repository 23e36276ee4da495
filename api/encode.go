package api

import (
	"encoding/json"
	"net/http"
	"strconv"

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
