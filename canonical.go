package trail

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// TimeFormat is the text form of every time in canonical JSON: RFC 3339 in
// UTC with as many fractional digits as needed (none when whole seconds).
const TimeFormat = "2006-01-02T15:04:05.999999999Z07:00"

// AppendCanonical appends the leaf of e, its RFC 8785 (JCS) canonical JSON,
// to dst. The leaf contains every field of the wire shape that is set, the
// server fields id, seq, tenant and received_at, and never leaf_hash or
// erased. Metadata and change values must be JSON values as produced by
// encoding/json (map[string]any, []any, string, float64, json.Number, bool,
// nil; int and int64 are accepted too); anything else is an error, as are
// non-finite numbers and invalid UTF-8.
func (e *Event) AppendCanonical(dst []byte) ([]byte, error) {
	buf, split, err := e.AppendCanonicalParts(dst)
	if err != nil {
		return dst, err
	}
	// Insert the seq digits at split.
	var num [20]byte
	digits := strconv.AppendInt(num[:0], e.Seq, 10)
	buf = append(buf, digits...)
	copy(buf[split+len(digits):], buf[split:len(buf)-len(digits)])
	copy(buf[split:], digits)
	return buf, nil
}

// AppendCanonicalParts appends the leaf of e without the digits of its seq
// and returns the offset in the result where they belong, so that a writer
// that assigns seqs in order can build the leaf with two copies:
//
//	leaf = buf[:split] + strconv.Itoa(seq) + buf[split:]
func (e *Event) AppendCanonicalParts(dst []byte) (buf []byte, split int, err error) {
	w := canonWriter{buf: dst}
	// Keys in UTF-16 order: action actor changes id masked metadata outcome
	// reason received_at request resource seq severity source tenant time.
	w.open('{')
	w.str("action", e.Action)
	w.key("actor")
	w.open('{')
	w.str("email", e.Actor.Email)
	w.str("id", e.Actor.ID)
	w.str("name", e.Actor.Name)
	w.str("type", e.Actor.Type)
	w.close('}')
	if len(e.Changes) > 0 {
		w.key("changes")
		w.open('[')
		for _, c := range e.Changes {
			w.elem()
			w.open('{')
			w.str("field", c.Field)
			if c.New != nil {
				w.key("new")
				w.value(c.New, 0)
			}
			if c.Old != nil {
				w.key("old")
				w.value(c.Old, 0)
			}
			w.close('}')
		}
		w.close(']')
	}
	w.str("id", e.ID)
	if len(e.Masked) > 0 {
		w.key("masked")
		w.open('[')
		for _, m := range e.Masked {
			w.elem()
			w.quote(m)
		}
		w.close(']')
	}
	if len(e.Metadata) > 0 {
		w.key("metadata")
		w.value(e.Metadata, 0)
	}
	w.str("outcome", e.Outcome)
	w.str("reason", e.Reason)
	w.time("received_at", e.ReceivedAt)
	if r := e.Request; r != nil && (r.DurationMS != nil || r.ID != "" || r.Method != "" || r.Path != "" || r.Status != 0) {
		w.key("request")
		w.open('{')
		if r.DurationMS != nil {
			w.key("duration_ms")
			w.number(*r.DurationMS)
		}
		w.str("id", r.ID)
		w.str("method", r.Method)
		w.str("path", r.Path)
		if r.Status != 0 {
			w.key("status")
			w.buf = strconv.AppendInt(w.buf, int64(r.Status), 10)
		}
		w.close('}')
	}
	if r := e.Resource; r != nil && (r.ID != "" || r.Name != "" || r.Type != "") {
		w.key("resource")
		w.open('{')
		w.str("id", r.ID)
		w.str("name", r.Name)
		w.str("type", r.Type)
		w.close('}')
	}
	w.key("seq")
	split = len(w.buf)
	w.str("severity", e.Severity)
	if s := e.Source; s != nil && (s.IP != "" || s.Origin != "" || s.UserAgent != "") {
		w.key("source")
		w.open('{')
		w.str("ip", s.IP)
		w.str("origin", s.Origin)
		w.str("user_agent", s.UserAgent)
		w.close('}')
	}
	w.str("tenant", e.Tenant)
	w.time("time", e.Time)
	w.close('}')
	if w.err != nil {
		return dst, 0, w.err
	}
	return w.buf, split, nil
}

// canonWriter writes JCS. first tracks, per open container, whether the
// next member is the first (no comma).
type canonWriter struct {
	buf   []byte
	first []bool
	err   error
}

func (w *canonWriter) open(c byte) {
	w.buf = append(w.buf, c)
	w.first = append(w.first, true)
}

func (w *canonWriter) close(c byte) {
	w.buf = append(w.buf, c)
	w.first = w.first[:len(w.first)-1]
}

func (w *canonWriter) elem() {
	i := len(w.first) - 1
	if !w.first[i] {
		w.buf = append(w.buf, ',')
	}
	w.first[i] = false
}

func (w *canonWriter) key(k string) {
	w.elem()
	w.quote(k)
	w.buf = append(w.buf, ':')
}

func (w *canonWriter) str(k, v string) {
	if v != "" {
		w.key(k)
		w.quote(v)
	}
}

func (w *canonWriter) time(k string, t time.Time) {
	if !t.IsZero() {
		w.key(k)
		w.buf = append(w.buf, '"')
		w.buf = t.UTC().AppendFormat(w.buf, TimeFormat)
		w.buf = append(w.buf, '"')
	}
}

func (w *canonWriter) fail(format string, args ...any) {
	if w.err == nil {
		w.err = fmt.Errorf("canonical json: "+format, args...)
	}
}

const hexDigits = "0123456789abcdef"

// quote writes s as a JSON string escaped as ECMAScript JSON.stringify does
// (RFC 8785 §3.2.2.2).
func (w *canonWriter) quote(s string) {
	w.buf = append(w.buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x80 {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				w.fail("invalid UTF-8 in %q", s)
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		w.buf = append(w.buf, s[start:i]...)
		switch c {
		case '"', '\\':
			w.buf = append(w.buf, '\\', c)
		case '\b':
			w.buf = append(w.buf, '\\', 'b')
		case '\f':
			w.buf = append(w.buf, '\\', 'f')
		case '\n':
			w.buf = append(w.buf, '\\', 'n')
		case '\r':
			w.buf = append(w.buf, '\\', 'r')
		case '\t':
			w.buf = append(w.buf, '\\', 't')
		default:
			w.buf = append(w.buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	w.buf = append(w.buf, s[start:]...)
	w.buf = append(w.buf, '"')
}

func (w *canonWriter) number(f float64) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		w.fail("number %v is not finite", f)
		return
	}
	w.buf = AppendNumber(w.buf, f)
}

const maxValueDepth = 32

func (w *canonWriter) value(v any, depth int) {
	if depth > maxValueDepth {
		w.fail("nested deeper than %d", maxValueDepth)
		return
	}
	switch t := v.(type) {
	case nil:
		w.buf = append(w.buf, "null"...)
	case bool:
		w.buf = strconv.AppendBool(w.buf, t)
	case string:
		w.quote(t)
	case float64:
		w.number(t)
	case int:
		w.number(float64(t))
	case int64:
		w.number(float64(t))
	case json.Number:
		f, err := strconv.ParseFloat(string(t), 64)
		if err != nil {
			w.fail("number %s out of range", t)
			return
		}
		w.number(f)
	case []any:
		w.open('[')
		for _, x := range t {
			w.elem()
			w.value(x, depth+1)
		}
		w.close(']')
	case map[string]any:
		var small [16]string // most objects: no allocation for their keys
		keys := small[:0]
		for k := range t {
			keys = append(keys, k)
		}
		sortUTF16(keys)
		w.open('{')
		for _, k := range keys {
			w.key(k)
			w.value(t[k], depth+1)
		}
		w.close('}')
	default:
		w.fail("unsupported value of type %T", v)
	}
}

// sortUTF16 sorts keys by their UTF-16 code units, as RFC 8785 §3.2.3
// requires. Byte order equals code point order, which differs from UTF-16
// order only between U+E000–U+FFFF and supplementary characters.
func sortUTF16(keys []string) {
	slices.SortFunc(keys, compareUTF16)
}

// compareUTF16 orders a and b by their UTF-16 code units: by bytes up to
// their first difference, which decides alone when both differing bytes
// are ASCII (or one string is a prefix of the other).
func compareUTF16(a, b string) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	switch {
	case i == len(a) && i == len(b):
		return 0
	case i == len(a):
		return -1
	case i == len(b):
		return 1
	case a[i] < utf8.RuneSelf && b[i] < utf8.RuneSelf:
		return int(a[i]) - int(b[i])
	}
	// Back up to the start of the rune holding the first difference.
	for i > 0 && !utf8.RuneStart(a[i]) {
		i--
	}
	if lessUTF16(a[i:], b[i:]) {
		return -1
	}
	return 1
}

func lessUTF16(a, b string) bool {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb {
			return utf16Key(ra) < utf16Key(rb)
		}
		a, b = a[na:], b[nb:]
	}
	return a == "" && b != ""
}

// utf16Key maps a rune to a value ordered as its first UTF-16 code unit
// (then its second).
func utf16Key(r rune) uint32 {
	if r >= 0x10000 {
		hi, lo := utf16.EncodeRune(r)
		return uint32(hi)<<16 | uint32(lo)
	}
	return uint32(r) << 16
}

// AppendNumber appends f formatted as ECMAScript Number.prototype.toString
// does (RFC 8785 §3.2.2.3): the shortest round-trip digits, plain notation
// for 1e-6 <= |f| < 1e21, otherwise exponent notation like 1e+21 or 1.5e-7.
// Negative zero is "0". f must be finite.
func AppendNumber(dst []byte, f float64) []byte {
	if f == 0 {
		return append(dst, '0')
	}
	abs := math.Abs(f)
	if abs >= 1e-6 && abs < 1e21 {
		return strconv.AppendFloat(dst, f, 'f', -1, 64)
	}
	var tmp [32]byte
	s := strconv.AppendFloat(tmp[:0], f, 'e', -1, 64)
	// Go writes e+07 / e-07; ECMAScript writes e+7 / e-7.
	i := 0
	for i < len(s) && s[i] != 'e' {
		i++
	}
	dst = append(dst, s[:i+2]...) // mantissa, 'e', sign
	exp := s[i+2:]
	for len(exp) > 1 && exp[0] == '0' {
		exp = exp[1:]
	}
	return append(dst, exp...)
}

// FormatNumber returns AppendNumber's text for f.
func FormatNumber(f float64) string { return string(AppendNumber(nil, f)) }
