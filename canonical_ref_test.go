package trail

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"
)

// refAppendCanonicalParts and refCanonWriter are AppendCanonicalParts and
// its writer as they were before they were optimised. The property tests
// hold the optimised ones to them byte for byte.
func refAppendCanonicalParts(e *Event, dst []byte) (buf []byte, split int, err error) {
	w := refCanonWriter{buf: dst}
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

// refCanonWriter writes JCS. first tracks, per open container, whether the
// next member is the first (no comma).
type refCanonWriter struct {
	buf   []byte
	first []bool
	err   error
}

func (w *refCanonWriter) open(c byte) {
	w.buf = append(w.buf, c)
	w.first = append(w.first, true)
}

func (w *refCanonWriter) close(c byte) {
	w.buf = append(w.buf, c)
	w.first = w.first[:len(w.first)-1]
}

func (w *refCanonWriter) elem() {
	i := len(w.first) - 1
	if !w.first[i] {
		w.buf = append(w.buf, ',')
	}
	w.first[i] = false
}

func (w *refCanonWriter) key(k string) {
	w.elem()
	w.quote(k)
	w.buf = append(w.buf, ':')
}

func (w *refCanonWriter) str(k, v string) {
	if v != "" {
		w.key(k)
		w.quote(v)
	}
}

func (w *refCanonWriter) time(k string, t time.Time) {
	if !t.IsZero() {
		w.key(k)
		w.buf = append(w.buf, '"')
		w.buf = t.UTC().AppendFormat(w.buf, TimeFormat)
		w.buf = append(w.buf, '"')
	}
}

func (w *refCanonWriter) fail(format string, args ...any) {
	if w.err == nil {
		w.err = fmt.Errorf("canonical json: "+format, args...)
	}
}

// quote writes s as a JSON string escaped as ECMAScript JSON.stringify does
// (RFC 8785 §3.2.2.2).
func (w *refCanonWriter) quote(s string) {
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

func (w *refCanonWriter) number(f float64) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		w.fail("number %v is not finite", f)
		return
	}
	w.buf = AppendNumber(w.buf, f)
}

func (w *refCanonWriter) value(v any, depth int) {
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

// canonicalNumbers are numbers around the edges of canonWriter's integer
// shortcut and AppendNumber's notations.
var canonicalNumbers = []float64{0, math.Copysign(0, -1), 1, -1, 7, 12.5, 999999999999999, -999999999999999,
	1e15, -1e15, 1e15 + 1, 1<<53 - 1, 1 << 53, 1e20, 1e21, 1e-6, 1e-7, 5e-324, math.MaxFloat64, 0.1, 123456789012345680000}

// TestCanonicalMatchesReference holds AppendCanonicalParts to
// refAppendCanonicalParts, byte for byte and error for error, on random
// events with random texts, numbers and times.
func TestCanonicalMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for i := 0; i < 20000; i++ {
		e := randTextEvent(r)
		switch r.IntN(4) {
		case 0:
			d := pick(r, canonicalNumbers)
			if r.IntN(2) == 0 {
				d = r.NormFloat64() * math.Pow(10, float64(r.IntN(40)-20))
			}
			e.Request = &Request{DurationMS: &d, Path: randText(r)}
		case 1:
			e.Metadata = map[string]any{randText(r): randText(r), "n": pick(r, canonicalNumbers), "i": float64(r.Int64N(1<<53) - 1<<52)}
		case 2:
			e.Time = time.Unix(r.Int64N(400e9)-200e9, r.Int64N(1e9)).In(time.FixedZone("x", 3600*(r.IntN(25)-12)))
			if r.IntN(2) == 0 {
				e.Time = e.Time.Truncate(time.Duration(pick(r, []int64{1, 1e3, 1e6, 1e9})))
			}
		}
		if r.IntN(10) == 0 {
			e.Actor = Actor{}
			e.Action = ""
		}
		prefix := []byte("prefix{")[:r.IntN(8)]
		checkCanonicalMatchesReference(t, e, prefix)
	}
}

func checkCanonicalMatchesReference(t *testing.T, e *Event, prefix []byte) {
	t.Helper()
	got, gotSplit, gotErr := e.AppendCanonicalParts(append([]byte(nil), prefix...))
	want, wantSplit, wantErr := refAppendCanonicalParts(e, append([]byte(nil), prefix...))
	if !bytes.Equal(got, want) || gotSplit != wantSplit || (gotErr == nil) != (wantErr == nil) ||
		gotErr != nil && gotErr.Error() != wantErr.Error() {
		t.Fatalf("AppendCanonicalParts(%+v)\n got %q, %d, %v\nwant %q, %d, %v", e, got, gotSplit, gotErr, want, wantSplit, wantErr)
	}
}

// FuzzCanonicalMatchesReference holds AppendCanonicalParts to
// refAppendCanonicalParts on arbitrary strings, numbers and times.
func FuzzCanonicalMatchesReference(f *testing.F) {
	f.Add("Ada Lovelace", "u_42", "a\"b\\c\x00\x1f\x7f\u2028😀", 12.5, int64(1763805845), int64(123000000))
	f.Add("\xff\xc3", "", "abcdefgh\"ijklmnop", math.Copysign(0, -1), int64(-62135596800), int64(1))
	f.Add("Müller", "x", "0123456789abcdef\n", 1e21, int64(253402300799), int64(999999999))
	f.Fuzz(func(t *testing.T, s, key, text string, n float64, sec, nsec int64) {
		e := &Event{
			Action:   s,
			Actor:    Actor{ID: key, Name: text, Email: s + text},
			Reason:   text,
			Time:     time.Unix(sec, nsec),
			Metadata: map[string]any{key: text, s: n, "a": []any{text, n, s}},
			Changes:  []Change{{Field: s, Old: text, New: n}},
			Masked:   []string{key},
			Request:  &Request{DurationMS: &n, Path: text},
			Source:   &Source{UserAgent: text},
		}
		e.ReceivedAt = e.Time
		checkCanonicalMatchesReference(t, e, nil)
	})
}
