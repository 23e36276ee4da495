package trail

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
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
	// The members of the event's own objects are written with their keys
	// quoted ahead of time: `"action":` and so on.
	w.buf = append(w.buf, '{')
	w.str(`"action":`, e.Action)
	w.key(`"actor":`)
	w.buf = append(w.buf, '{')
	w.str(`"email":`, e.Actor.Email)
	w.str(`"id":`, e.Actor.ID)
	w.str(`"name":`, e.Actor.Name)
	w.str(`"type":`, e.Actor.Type)
	w.buf = append(w.buf, '}')
	if len(e.Changes) > 0 {
		w.key(`"changes":[`)
		for i, c := range e.Changes {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			w.buf = append(w.buf, '{')
			w.str(`"field":`, c.Field)
			if c.New != nil {
				w.key(`"new":`)
				w.value(c.New, 0)
			}
			if c.Old != nil {
				w.key(`"old":`)
				w.value(c.Old, 0)
			}
			w.buf = append(w.buf, '}')
		}
		w.buf = append(w.buf, ']')
	}
	w.str(`"id":`, e.ID)
	if len(e.Masked) > 0 {
		w.key(`"masked":[`)
		for i, m := range e.Masked {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			w.quote(m)
		}
		w.buf = append(w.buf, ']')
	}
	if len(e.Metadata) > 0 {
		w.key(`"metadata":`)
		w.value(e.Metadata, 0)
	}
	w.str(`"outcome":`, e.Outcome)
	w.str(`"reason":`, e.Reason)
	w.time(`"received_at":`, e.ReceivedAt)
	if r := e.Request; r != nil && (r.DurationMS != nil || r.ID != "" || r.Method != "" || r.Path != "" || r.Status != 0) {
		w.key(`"request":{`)
		if r.DurationMS != nil {
			w.key(`"duration_ms":`)
			w.number(*r.DurationMS)
		}
		w.str(`"id":`, r.ID)
		w.str(`"method":`, r.Method)
		w.str(`"path":`, r.Path)
		if r.Status != 0 {
			w.key(`"status":`)
			w.buf = strconv.AppendInt(w.buf, int64(r.Status), 10)
		}
		w.buf = append(w.buf, '}')
	}
	if r := e.Resource; r != nil && (r.ID != "" || r.Name != "" || r.Type != "") {
		w.key(`"resource":{`)
		w.str(`"id":`, r.ID)
		w.str(`"name":`, r.Name)
		w.str(`"type":`, r.Type)
		w.buf = append(w.buf, '}')
	}
	w.key(`"seq":`)
	split = len(w.buf)
	w.str(`"severity":`, e.Severity)
	if s := e.Source; s != nil && (s.IP != "" || s.Origin != "" || s.UserAgent != "") {
		w.key(`"source":{`)
		w.str(`"ip":`, s.IP)
		w.str(`"origin":`, s.Origin)
		w.str(`"user_agent":`, s.UserAgent)
		w.buf = append(w.buf, '}')
	}
	w.str(`"tenant":`, e.Tenant)
	w.time(`"time":`, e.Time)
	w.buf = append(w.buf, '}')
	if w.err != nil {
		return dst, 0, w.err
	}
	return w.buf, split, nil
}

// canonWriter writes JCS into buf. It keeps no stack of open containers:
// a member or element needs a comma before it unless it is the first,
// which is when the last byte written opened its container.
type canonWriter struct {
	buf []byte
	err error
}

// key writes the comma the next member needs, if any, then k: a quoted
// key and its colon, maybe followed by the bracket that opens the value.
func (w *canonWriter) key(k string) {
	if c := w.buf[len(w.buf)-1]; c != '{' && c != '[' {
		w.buf = append(w.buf, ',')
	}
	w.buf = append(w.buf, k...)
}

// str writes the member k (a quoted key and its colon) with the string v,
// unless v is empty.
func (w *canonWriter) str(k, v string) {
	if v != "" {
		w.key(k)
		w.quote(v)
	}
}

// time writes the member k (a quoted key and its colon) with t in
// TimeFormat, unless t is zero.
func (w *canonWriter) time(k string, t time.Time) {
	if !t.IsZero() {
		w.key(k)
		w.buf = append(w.buf, '"')
		w.buf = appendTime(w.buf, t)
		w.buf = append(w.buf, '"')
	}
}

// appendTime appends t in UTC formatted with TimeFormat. Years 0 to 9999,
// the only ones Validate accepts, are formatted here without parsing the
// layout; others by time.Time.AppendFormat.
func appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, TimeFormat)
	}
	hour, minute, sec := t.Clock()
	b = append(b,
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+month/10), byte('0'+month%10), '-',
		byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':',
		byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+sec/10), byte('0'+sec%10))
	if ns := t.Nanosecond(); ns != 0 {
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i > 0; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := len(frac)
		for frac[n-1] == '0' {
			n--
		}
		b = append(b, frac[:n]...)
	}
	return append(b, 'Z')
}

func (w *canonWriter) fail(format string, args ...any) {
	if w.err == nil {
		w.err = fmt.Errorf("canonical json: "+format, args...)
	}
}

const hexDigits = "0123456789abcdef"

// Masks of one byte value repeated in each byte of a uint64.
const (
	bytes01 = 0x0101010101010101
	bytes20 = 0x2020202020202020
	bytes22 = 0x2222222222222222 // '"'
	bytes5c = 0x5c5c5c5c5c5c5c5c // '\\'
	bytes80 = 0x8080808080808080
)

// escapeMaskString returns a mask with the high bit of the i-th byte set when
// s[i] >= 0x80, and for the first i where s[i] < 0x20, '"' or '\\';
// bytes above such a one may be marked as well (by a borrow). s has eight
// bytes. The first marked byte is the first that quote must look at.
func escapeMaskString(s string) uint64 {
	return escapeMask(uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56)
}

// escapeMask is escapeMaskString for eight bytes loaded little-endian
// into x (the first byte lowest).
func escapeMask(x uint64) uint64 {
	return (x | (x - bytes20) | ((x ^ bytes22) - bytes01) | ((x ^ bytes5c) - bytes01)) & bytes80
}

// quote writes s as a JSON string escaped as ECMAScript JSON.stringify does
// (RFC 8785 §3.2.2.2). Runs of ASCII that need no escape, most strings
// entirely, are found eight bytes at a time and copied whole.
func (w *canonWriter) quote(s string) {
	buf := append(w.buf, '"')
	start := 0
	for i := 0; i < len(s); {
		if n := len(s); n >= 8 {
			// Check the eight bytes from i, or the last eight when fewer
			// are left, ignoring those before i (checked already).
			at, done := i, 0
			if n-i < 8 {
				at, done = n-8, 8-(n-i)
			}
			m := escapeMaskString(s[at:at+8]) &^ (1<<(8*done) - 1)
			if m == 0 {
				i = at + 8
				continue
			}
			i = at + bits.TrailingZeros64(m)/8
		}
		c := s[i]
		if c >= utf8.RuneSelf {
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
		buf = append(buf, s[start:i]...)
		switch c {
		case '"', '\\':
			buf = append(buf, '\\', c)
		case '\b':
			buf = append(buf, '\\', 'b')
		case '\f':
			buf = append(buf, '\\', 'f')
		case '\n':
			buf = append(buf, '\\', 'n')
		case '\r':
			buf = append(buf, '\\', 'r')
		case '\t':
			buf = append(buf, '\\', 't')
		default:
			buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	buf = append(buf, s[start:]...)
	w.buf = append(buf, '"')
}

// number writes f as AppendNumber does; integers of up to 15 digits, whose
// shortest form is their digits, are formatted as integers.
func (w *canonWriter) number(f float64) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		w.fail("number %v is not finite", f)
		return
	}
	if f > -1e15 && f < 1e15 && f == float64(int64(f)) {
		w.buf = strconv.AppendInt(w.buf, int64(f), 10)
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
		w.buf = append(w.buf, '[')
		for i, x := range t {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			w.value(x, depth+1)
		}
		w.buf = append(w.buf, ']')
	case map[string]any:
		var small [16]string // most objects: no allocation for their keys
		keys := small[:0]
		for k := range t {
			keys = append(keys, k)
		}
		sortUTF16(keys)
		w.buf = append(w.buf, '{')
		for i, k := range keys {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			w.quote(k)
			w.buf = append(w.buf, ':')
			w.value(t[k], depth+1)
		}
		w.buf = append(w.buf, '}')
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
