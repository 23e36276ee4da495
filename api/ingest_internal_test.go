package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	trail "github.com/trail-audit/trail"
)

// slowEvents decodes a JSON body the way readEvents did before the fast
// path: splitBatch, then decodeEvent per element.
func slowEvents(body []byte, limit int) ([]*trail.Event, error) {
	raws, err := splitBatch(body)
	if err != nil {
		return nil, err
	}
	if len(raws) == 0 || len(raws) > limit {
		return nil, trail.FieldError("events", "count")
	}
	events := make([]*trail.Event, len(raws))
	for i, raw := range raws {
		if events[i], err = decodeEvent(raw); err != nil {
			return nil, trail.AtIndex(err, "events", i)
		}
	}
	return events, nil
}

// batchSeeds are bodies, good and bad, for the cross-checks.
var batchSeeds = []string{
	`{"action":"a","actor":{"id":"u"}}`,
	` {"events":[{"action":"a","actor":{"id":"u"}}]} `,
	"\t{ \"events\" :\n[ {\"action\":\"a\",\"actor\":{\"id\":\"u\"},\"metadata\":{\"k\":[1,{\"x\":\"}]\"}]}} ,\r{\"action\":\"b\",\"actor\":{\"id\":\"v\"}} ] }\n",
	`{"events":[]}`,
	`{"events":[{"action":"a","actor":{"id":"u"}},]}`,
	`{"events":[{"action":"a","actor":{"id":"u"}}],"x":1}`,
	`{"events":[{"action":"a","actor":{"id":"u"}}]}{}`,
	`{"events":[{"action":"a","actor":{"id":"u"}} {"action":"a","actor":{"id":"u"}}]}`,
	`{"events":[{"action":"a","actor":{"id":"u"]}]}`,
	`{"events":[{"action":"a\"]}","actor":{"id":"u\\"}}]}`,
	`{"\u0065vents":[{"action":"a","actor":{"id":"u"}}]}`,
	`{"events":{"action":"a"}}`,
	`{"events":[1]}`,
	`{"eventsx":1}`,
	`{"action":"a","actor":{"id":"u"},"seq":3}`,
	`{"action":"a","actor":{"id":"u"}}x`,
	`{"action":"a","actor":{"id":"u"},"metadata":{"n":1e999}}`,
	`{}`,
	`[]`,
	``,
	"\v{\"action\":\"a\",\"actor\":{\"id\":\"u\"}}",
}

// FuzzDecodeBatchFast checks that the fast path of a JSON ingest body
// agrees with splitBatch and decodeEvent: whenever it accepts a body, the
// slow path accepts it too with equal events, and a body the slow path
// accepts with 1 to limit events the fast path accepts as well unless
// trail.DecodeClientEvent hands one of them to encoding/json.
func FuzzDecodeBatchFast(f *testing.F) {
	for _, s := range batchSeeds {
		f.Add([]byte(s))
	}
	s := &Server{limits: trail.DefaultLimits}
	s.limits.MaxBatchEvents = 3
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := s.decodeBatchFast(body)
		slow, err := slowEvents(body, s.limits.MaxBatchEvents)
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("fast path accepted %q (%d events), slow path: %v", body, len(fast), err)
		}
		if !reflect.DeepEqual(fast, slow) {
			fj, _ := json.Marshal(fast)
			sj, _ := json.Marshal(slow)
			t.Fatalf("fast and slow paths differ for %q:\nfast %s\nslow %s", body, fj, sj)
		}
	})
}

// TestReadEventsErrorsUnchanged checks that bad bodies still give the
// slow path's errors, field named, through readEvents, and that good
// ones take the fast path.
func TestReadEventsErrorsUnchanged(t *testing.T) {
	s := &Server{limits: trail.DefaultLimits}
	s.limits.MaxBatchEvents = 2
	for _, tt := range []struct {
		body, field, msg string
		fast             bool
	}{
		{body: `{"action":"a","actor":{"id":"u"}}`, fast: true},
		{body: `{"events":[{"action":"a","actor":{"id":"u"}},{"action":"b","actor":{"id":"v"}}]}`, fast: true},
		{body: `{"events":[]}`, field: "events", msg: "at least one event"},
		{body: `{"events":[{"action":"a","actor":{"id":"u"}},{"action":"a","actor":{"id":"u"}},{"action":"a","actor":{"id":"u"}}]}`, field: "events", msg: "at most 2"},
		{body: `{"events":[{"action":"a","actor":{"id":"u"}},{"action":"a","actor":{"id":"u"},"seq":1}]}`, field: "events[1].seq", msg: "set by the server"},
		{body: `{"events":[{"action":"a","actor":{"id":"u"}},{"action":"a","actor":{"id":"u"},"bogus":1}]}`, field: "events[1].bogus", msg: "unknown field"},
		{body: `{"events":[{"action":"a","actor":{"id":"u"}}],"more":1}`, field: "more", msg: "unknown field"},
		{body: `{"events":[{"action":"a","actor":{"id":"u"]}]}`, field: "events[0]", msg: "malformed JSON"},
		{body: `{"action":1,"actor":{"id":"u"}}`, field: "events[0].action", msg: "must be a string"},
	} {
		r := httptest.NewRequest("POST", "/v1/events", strings.NewReader(tt.body))
		events, err := s.readEvents(r, []byte(tt.body))
		_, fast := s.decodeBatchFast([]byte(tt.body))
		if fast != tt.fast {
			t.Errorf("%s: fast path %v, want %v", tt.body, fast, tt.fast)
		}
		if tt.field == "" {
			if err != nil || len(events) == 0 {
				t.Errorf("%s: %d events, %v", tt.body, len(events), err)
			}
			continue
		}
		var te *trail.Error
		if !errors.As(err, &te) || te.Field != tt.field || !strings.Contains(te.Message, tt.msg) {
			t.Errorf("%s: error %v, want field %s and %q", tt.body, err, tt.field, tt.msg)
		}
	}
}

// BenchmarkReadEvents measures the decoding of a 1000-event batch body.
func BenchmarkReadEvents(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString(`{"events":[`)
	for i := range 1000 {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(`{"time":"2026-11-22T10:04:05.123Z","tenant":"t0001","action":"user.login","outcome":"success","actor":{"id":"u-1234","type":"user","name":"Alice Example"},"resource":{"type":"session","id":"s-99"},"source":{"ip":"10.1.2.3","user_agent":"Mozilla/5.0"},"request":{"id":"req-1","method":"POST","path":"/login","status":200,"duration_ms":12},"reason":"routine sign-in after password rotation","metadata":{"mfa":true,"attempt":1,"region":"eu-west-1"}}`)
	}
	buf.WriteString("]}")
	body := buf.Bytes()
	s := &Server{limits: trail.DefaultLimits}
	r := httptest.NewRequest("POST", "/v1/events", nil)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.readEvents(r, body); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzAppendString checks that appendString writes what encoding/json
// writes for every string.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "t0001", "a\"b", `\`, "<&>", "é", "\u2028", "\u2029x", "\xff", "\x00\n", "\b\f\r\t\x1f", "trail.test/a\n5\nroot=\n\n\u2014 trail.test sig+/=\n", "\xe2\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Fatalf("appendString(%q) = %s, want x%s", s, got, want)
		}
		if got := appendString([]byte("x"), []byte(s)); string(got) != "x"+string(want) {
			t.Fatalf("appendString([]byte(%q)) = %s, want x%s", s, got, want)
		}
	})
}

// TestReadAllSized checks that a body shorter or longer than declared
// is still read whole.
func TestReadAllSized(t *testing.T) {
	body := strings.Repeat("0123456789", 1000)
	for _, size := range []int64{-1, 0, 1, 9999, 10000, 10001, 50000} {
		for _, buf := range [][]byte{nil, make([]byte, 3, 20000), []byte("short")} {
			got, err := readAllSized(iotest.OneByteReader(strings.NewReader(body)), size, buf)
			if err != nil || string(got) != body {
				t.Errorf("declared %d, buffer of %d: read %d bytes, %v; want %d", size, cap(buf), len(got), err, len(body))
			}
		}
	}
	if _, err := readAllSized(iotest.ErrReader(errors.New("boom")), 10, nil); err == nil || err.Error() != "boom" {
		t.Errorf("read error: got %v, want boom", err)
	}
}
