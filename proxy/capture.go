package proxy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"unicode/utf8"
)

// bodyCapture keeps the first limit bytes of a body and counts all of
// them. It is safe for concurrent use: the transport may still read a
// request body after the response has come back.
type bodyCapture struct {
	mu    sync.Mutex
	limit int
	buf   []byte
	total int64
}

func (c *bodyCapture) add(p []byte) {
	c.mu.Lock()
	c.total += int64(len(p))
	if room := c.limit - len(c.buf); room > 0 {
		c.buf = append(c.buf, p[:min(room, len(p))]...)
	}
	c.mu.Unlock()
}

// snapshot returns a copy of what was captured and the total size.
func (c *bodyCapture) snapshot() ([]byte, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.buf), c.total
}

// teeBody passes a request body through, capturing what is read.
type teeBody struct {
	io.ReadCloser
	c *bodyCapture
}

func (t *teeBody) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if n > 0 {
		t.c.add(p[:n])
	}
	return n, err
}

// responseRecorder notes the status a handler writes and, when body is
// set, captures the response body. It passes Flush and Hijack through
// and supports http.ResponseController through Unwrap.
type responseRecorder struct {
	http.ResponseWriter
	status   int
	written  int64
	body     *bodyCapture
	hijacked bool
}

func (w *responseRecorder) WriteHeader(code int) {
	if w.status == 0 && code >= 200 || code == http.StatusSwitchingProtocols {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseRecorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.written += int64(n)
	if w.body != nil && n > 0 {
		w.body.add(p[:n])
	}
	return n, err
}

// Flush flushes the underlying writer when it can.
func (w *responseRecorder) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack takes over the connection (for protocol upgrades); the call is
// then recorded with status 101.
func (w *responseRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hijacked = true
		w.status = http.StatusSwitchingProtocols
	}
	return c, rw, err
}

// Unwrap returns the underlying writer, for http.ResponseController.
func (w *responseRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// statusCode is the status the client got: 200 when the handler wrote
// nothing.
func (w *responseRecorder) statusCode() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// bodyFields adds a captured body to metadata under prefix ("request" or
// "response"): <prefix>_body (the body as JSON, a form as an object, text
// as a string), <prefix>_body_bytes (the full size) and, when the body
// was longer than the limit, <prefix>_body_truncated. A body that is
// neither text nor JSON is not kept, only its size and
// <prefix>_body_binary. Structured bodies are what masking looks into by
// key name, so a "password" field is masked wherever it is.
func bodyFields(meta map[string]any, prefix string, data []byte, total int64, contentType string) {
	if total == 0 {
		return
	}
	meta[prefix+"_body_bytes"] = total
	truncated := total > int64(len(data))
	if truncated {
		meta[prefix+"_body_truncated"] = true
	}
	if v, ok := structuredBody(data, truncated, contentType); ok {
		meta[prefix+"_body"] = v
		return
	}
	if truncated {
		// Drop a rune cut at the limit.
		for i := 0; i < utf8.UTFMax && len(data) > 0 && !utf8.Valid(data); i++ {
			data = data[:len(data)-1]
		}
	}
	if !utf8.Valid(data) || bytes.IndexByte(data, 0) >= 0 {
		meta[prefix+"_body_binary"] = true
		return
	}
	meta[prefix+"_body"] = string(data)
}

// maxBodyDepth bounds how deeply a JSON body may nest to be kept as
// JSON; deeper bodies are kept as text (trail limits metadata nesting).
const maxBodyDepth = 16

// structuredBody parses a complete JSON or form body.
func structuredBody(data []byte, truncated bool, contentType string) (any, bool) {
	if truncated {
		return nil, false
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case mt == "application/x-www-form-urlencoded":
		q, err := url.ParseQuery(string(data))
		if err != nil || !utf8.Valid(data) {
			return nil, false
		}
		return queryObject(q), true
	case mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == "" || mt == "text/plain":
		t := bytes.TrimSpace(data)
		if len(t) == 0 || t[0] != '{' && t[0] != '[' || jsonDepth(t) > maxBodyDepth {
			return nil, false
		}
		dec := json.NewDecoder(bytes.NewReader(t))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) != nil || dec.More() {
			return nil, false
		}
		return v, true
	}
	return nil, false
}

// jsonDepth returns the deepest nesting of brackets in data, ignoring
// brackets inside strings.
func jsonDepth(data []byte) int {
	depth, most, inStr, esc := 0, 0, false, false
	for _, c := range data {
		switch {
		case inStr:
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '{' || c == '[':
			depth++
			most = max(most, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return most
}

// queryObject turns a query string or form into a JSON object: one value
// as a string, several as an array of strings. Keys and values are made
// valid UTF-8.
func queryObject(q url.Values) map[string]any {
	m := make(map[string]any, len(q))
	for k, vs := range q {
		k = clean(k, 1024)
		if len(vs) == 1 {
			m[k] = clean(vs[0], maxTextLen)
			continue
		}
		a := make([]any, len(vs))
		for i, v := range vs {
			a[i] = clean(v, maxTextLen)
		}
		m[k] = a
	}
	return m
}

// maxTextLen is trail's limit on free-text fields (request.path,
// source.user_agent).
const maxTextLen = 8192

// clean makes s valid UTF-8 and cuts it to at most n bytes on a rune
// boundary.
func clean(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}
