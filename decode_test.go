package trail

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// checkDecodeAgrees decodes data with the fast decoder and with
// encoding/json and fails unless they agree: when the fast decoder
// succeeds, encoding/json succeeds with a deeply equal Event; when
// encoding/json fails, the fast decoder fails too. DecodeEvent must give
// encoding/json's Event or error. It reports whether the fast decoder
// handled data.
func checkDecodeAgrees(t *testing.T, data []byte) bool {
	t.Helper()
	want := new(Event)
	wantErr := json.Unmarshal(data, want)
	got := new(Event)
	fast := decodeEventFast(data, got)
	switch {
	case fast && wantErr != nil:
		t.Fatalf("fast decoder accepted %q, encoding/json: %v", data, wantErr)
	case fast && !reflect.DeepEqual(got, want):
		t.Fatalf("fast decoder of %q\n got %#v\nwant %#v", data, got, want)
	}
	checkClientDecodeAgrees(t, data, want, wantErr)
	e, err := DecodeEvent(data)
	switch {
	case wantErr != nil:
		if err == nil || err.Error() != "decode event: "+wantErr.Error() || reflect.TypeOf(errors.Unwrap(err)) != reflect.TypeOf(wantErr) {
			t.Fatalf("DecodeEvent(%q) error = %v, want decode event: %v", data, err, wantErr)
		}
	case err != nil:
		t.Fatalf("DecodeEvent(%q): %v", data, err)
	case !reflect.DeepEqual(e, want):
		t.Fatalf("DecodeEvent(%q)\n got %#v\nwant %#v", data, e, want)
	}
	return fast
}

// checkClientDecodeAgrees checks the client decoders on data, whose
// encoding/json decoding is want or wantErr: when DecodeClientEvent
// succeeds, encoding/json succeeds with a deeply equal Event; and
// DecodeClientEventPrefix succeeds on data, and on data with more bytes
// after it, exactly when DecodeClientEvent succeeds on the object it
// finds, with the same Event.
func checkClientDecodeAgrees(t *testing.T, data []byte, want *Event, wantErr error) {
	t.Helper()
	whole, ok := DecodeClientEvent(data)
	switch {
	case ok && wantErr != nil:
		t.Fatalf("DecodeClientEvent accepted %q, encoding/json: %v", data, wantErr)
	case ok && !reflect.DeepEqual(whole, want):
		t.Fatalf("DecodeClientEvent(%q)\n got %#v\nwant %#v", data, whole, want)
	}
	var dec ClientEventDecoder
	for _, in := range [][]byte{data, append(slices.Clip(data), `,{"x":1}]`...)} {
		pre, n, pok := DecodeClientEventPrefix(in)
		if got, gn, gok := dec.DecodePrefix(in); gok != pok || gn != n || !reflect.DeepEqual(got, pre) {
			t.Fatalf("ClientEventDecoder.DecodePrefix(%q) = %#v, %d, %v; DecodeClientEventPrefix = %#v, %d, %v", in, got, gn, gok, pre, n, pok)
		}
		if !pok {
			if ok {
				t.Fatalf("DecodeClientEventPrefix declined %q, which DecodeClientEvent accepts", in)
			}
			continue
		}
		obj, ook := DecodeClientEvent(in[:n])
		if !ook || !reflect.DeepEqual(pre, obj) {
			t.Fatalf("DecodeClientEventPrefix(%q) = %#v, %d; DecodeClientEvent of its object %q = %#v, %v", in, pre, n, in[:n], obj, ook)
		}
		if rest := bytes.TrimLeft(in[n:], " \t\r\n"); ok != (len(rest) == 0) && len(in) == len(data) {
			t.Fatalf("DecodeClientEventPrefix(%q) ends at %d, DecodeClientEvent ok %v", in, n, ok)
		}
	}
}

// TestDecodeEventRandom is the decoder's property: for random events in
// every form the store meets (the leaf; encoding/json's output, indented or
// not, with leaf_hash and erased set), the fast decoder gives exactly what
// encoding/json gives, and it handles all of them without falling back.
func TestDecodeEventRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	leaves := 0
	for i := 0; i < 3000; i++ {
		e := randEvent(r)
		e.Seq = r.Int64N(1 << 40)
		if leaf, err := e.AppendCanonical(nil); err == nil {
			leaves++
			if !checkDecodeAgrees(t, leaf) {
				t.Fatalf("fast decoder fell back on leaf %s", leaf)
			}
		}
		if r.IntN(2) == 0 {
			h := Hash{byte(i), 0xfb, 0xff}
			e.LeafHash = &h
		}
		e.Erased = r.IntN(4) == 0
		var forms [][]byte
		if b, err := json.Marshal(e); err == nil {
			forms = append(forms, b)
		}
		if b, err := json.MarshalIndent(e, "", "\t "); err == nil {
			forms = append(forms, b)
		}
		for _, b := range forms {
			if !checkDecodeAgrees(t, b) {
				t.Fatalf("fast decoder fell back on %s", b)
			}
		}
	}
	if leaves < 1500 {
		t.Fatalf("only %d of 3000 random events had a leaf", leaves)
	}
}

// TestDecodeEventGolden checks the golden inputs and leaves; the fast
// decoder must handle every leaf itself.
func TestDecodeEventGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/canonical/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		t.Run(filepath.Base(name), func(t *testing.T) {
			data, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if fast := checkDecodeAgrees(t, data); !fast && strings.HasSuffix(name, ".leaf") {
				t.Fatalf("fast decoder fell back on %s", name)
			}
		})
	}
}

// decodeCases are inputs at the edges of the event shape and of JSON.
// fast is whether the fast decoder must handle the input itself.
var decodeCases = []struct {
	name string
	in   string
	fast bool
}{
	{"empty object", `{}`, true},
	{"erased stub", `{"erased":true,"id":"evt_1","received_at":"2026-11-22T10:04:05.123Z","seq":3,"leaf_hash":"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}`, true},
	{"whitespace", " \t\r\n{ \"action\" : \"a\" ,\n\"actor\":{ \"id\" :\"u\" } , \"masked\" : [ \"x\" , \"y\" ] ,\"metadata\": { \"k\" : [ 1 , { } , [ ] ] } } \n", true},
	{"other key order", `{"time":"2026-11-22T10:04:05Z","tenant":"t","seq":1,"action":"a","actor":{"type":"user","id":"u"}}`, true},
	{"unknown fields", `{"action":"a","x":{"y":[1,true,null,"s\n",{"z":-0.5e-3}]},"actor":{"id":"u","nick":"n"},"source":{"asn":1},"request":{"q":[]},"resource":{"tags":{}},"changes":[{"field":"f","why":"w"}],"leafhash":1,"erased_":2}`, true},
	{"empty containers", `{"changes":[],"masked":[],"metadata":{},"resource":{},"source":{},"request":{},"actor":{}}`, true},
	{"escapes", `{"action":"\"\\\/\b\f\n\r\t\u0000\u001f\u00e9\u20ac","reason":"tab\there","metadata":{"k\u00e9y":"v","\n":"\u2028"}}`, true},
	{"surrogates", `{"action":"\ud83d\ude00","reason":"\ud800","actor":{"id":"\udc00\ud800x"},"metadata":{"a":"\ud83d\u0041","b":"\ud83d\ud83d\ude00","c":"\ud83d","\udfff":1}}`, true},
	{"invalid utf-8", "{\"action\":\"a\xffb\xc3\",\"reason\":\"\xed\xa0\x80\",\"metadata\":{\"\xfe\":\"\xe2\x82\"}}", true},
	{"valid utf-8", `{"action":"Müller 😀","metadata":{"ключ":"значение"}}`, true},
	{"numbers", `{"seq":-0,"request":{"status":-200,"duration_ms":-0},"metadata":{"a":-0,"b":-0.0,"c":1e400,"d":1E-400,"e":12345678901234567890,"f":0.1,"g":1.5e+3,"h":-123456789012345,"i":9007199254740993}}`, false},
	{"number range", `{"metadata":{"a":-0,"b":-0.0,"d":1E-400,"e":12345678901234567890,"f":0.1,"g":1.5e+3,"h":-123456789012345,"i":9007199254740993,"j":1234567890123456}}`, true},
	{"seq max", `{"seq":9223372036854775807}`, true},
	{"seq overflow", `{"seq":9223372036854775808}`, false},
	{"seq fraction", `{"seq":1.0}`, false},
	{"seq exponent", `{"seq":1e3}`, false},
	{"seq string", `{"seq":"1"}`, false},
	{"status overflow", `{"request":{"status":99999999999999999999}}`, false},
	{"duration overflow", `{"request":{"duration_ms":1e400}}`, false},
	{"duration string", `{"request":{"duration_ms":"1"}}`, false},
	{"metadata array", `{"metadata":[1]}`, false},
	{"metadata string", `{"metadata":"x"}`, false},
	{"metadata duplicate key", `{"metadata":{"a":1,"a":{"b":2},"c":[1],"c":null}}`, true},
	{"duplicate field", `{"action":"a","action":"b"}`, false},
	{"duplicate actor", `{"actor":{"id":"u"},"actor":{"name":"n"}}`, false},
	{"duplicate resource", `{"resource":{"id":"r"},"resource":{"name":"n"}}`, false},
	{"duplicate changes", `{"changes":[{"field":"f","old":1}],"changes":[{"new":2}]}`, false},
	{"duplicate metadata", `{"metadata":{"a":1},"metadata":{"b":2}}`, false},
	{"duplicate nested", `{"actor":{"id":"u","id":"v"},"changes":[{"old":1,"old":{"x":1},"field":"a","field":"b"}],"request":{"duration_ms":1,"duration_ms":2}}`, true},
	{"upper-case key", `{"ACTION":"a","Actor":{"ID":"u"}}`, false},
	{"upper-case unknown key", `{"Zzz":1}`, false},
	{"folded key", `{"ſeq":1,"actor":{"ıd":"u"}}`, false},
	{"kelvin key", "{\"\u212aey\":1}", false},
	{"escaped key", `{"\u0061ction":"a"}`, false},
	{"null fields", `{"id":null,"seq":null,"time":null,"actor":null,"resource":null,"metadata":null,"masked":null,"changes":null,"erased":null,"leaf_hash":null,"request":{"duration_ms":null}}`, false},
	{"null elements", `{"masked":["a",null],"changes":[null]}`, false},
	{"null values", `{"changes":[{"field":"f","old":null,"new":null}],"metadata":{"a":null,"b":[null]}}`, true},
	{"time offset", `{"time":"2026-11-22T10:04:05.123456789+05:30","received_at":"2026-11-22T10:04:05-00:00"}`, true},
	{"time bad", `{"time":"2026-11-22 10:04:05Z"}`, false},
	{"time hour 24", `{"time":"2026-11-22T24:00:00Z"}`, false},
	{"time escaped", `{"time":"2026-11-22T10:04:05\u005a"}`, false},
	{"time number", `{"time":5}`, false},
	{"erased string", `{"erased":"true"}`, false},
	{"erased false", `{"erased":false}`, true},
	{"hash short", `{"leaf_hash":"AAAA"}`, false},
	{"hash escaped", `{"leaf_hash":"47DEQpj8HBSa\u002b/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}`, true},
	{"hash number", `{"leaf_hash":1}`, false},
	{"actor string", `{"actor":"u"}`, false},
	{"change string", `{"changes":["x"]}`, false},
	{"masked number", `{"masked":[1]}`, false},
	{"top-level null", `null`, false},
	{"top-level array", `[]`, false},
	{"top-level string", `"x"`, false},
	{"empty input", ``, false},
	{"trailing comma", `{"action":"a",}`, false},
	{"trailing comma array", `{"masked":["a",]}`, false},
	{"trailing garbage", `{"action":"a"}x`, false},
	{"two values", `{} {}`, false},
	{"missing colon", `{"action" "a"}`, false},
	{"missing comma", `{"action":"a" "reason":"b"}`, false},
	{"unterminated", `{"action":"a`, false},
	{"unterminated object", `{"action":"a"`, false},
	{"control character", "{\"action\":\"a\x01\"}", false},
	{"bad escape", `{"action":"\x"}`, false},
	{"bad unicode escape", `{"action":"\u12G4"}`, false},
	{"short unicode escape", `{"action":"\u12"}`, false},
	{"leading zero", `{"metadata":{"a":01}}`, false},
	{"bare dot", `{"metadata":{"a":1.}}`, false},
	{"leading dot", `{"metadata":{"a":.5}}`, false},
	{"plus", `{"metadata":{"a":+1}}`, false},
	{"bare minus", `{"metadata":{"a":-}}`, false},
	{"bare exponent", `{"metadata":{"a":1e}}`, false},
	{"bad literal", `{"metadata":{"a":tru}}`, false},
	{"bad literal unknown", `{"x":nul}`, false},
	{"single quotes", `{'action':'a'}`, false},
	{"deep metadata", `{"metadata":{"a":` + strings.Repeat(`[`, 600) + strings.Repeat(`]`, 600) + `}}`, false},
	{"too deep", `{"metadata":{"a":` + strings.Repeat(`[`, 20000) + strings.Repeat(`]`, 20000) + `}}`, false},
	{"deep unknown", `{"x":` + strings.Repeat(`{"a":`, 20000) + `1` + strings.Repeat(`}`, 20000) + `}`, false},
}

func TestDecodeEventCases(t *testing.T) {
	for _, tt := range decodeCases {
		t.Run(tt.name, func(t *testing.T) {
			if fast := checkDecodeAgrees(t, []byte(tt.in)); fast != tt.fast {
				t.Errorf("fast decoder handled it: %v, want %v", fast, tt.fast)
			}
			checkSummaryAgrees(t, []byte(tt.in))
		})
	}
}

// FuzzDecodeEvent holds the fast decoder to encoding/json on arbitrary
// bytes: when encoding/json succeeds the fast decoder gives the same Event
// or falls back; when encoding/json fails the fast decoder fails too.
func FuzzDecodeEvent(f *testing.F) {
	files, _ := filepath.Glob("testdata/canonical/*")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, tt := range decodeCases {
		if len(tt.in) < 1000 {
			f.Add([]byte(tt.in))
		}
	}
	f.Add([]byte(`{"action":"a","actor":{"id":"u"},"metadata":{"n":1e-400,"m":-0.0,"k":"\ud800"}}`))
	f.Add([]byte(`{"ACTION":"a","actor":{"id":"u"},"actor":{"name":"n"},"request":{"duration_ms":-0}}`))
	f.Add([]byte(` {"action":"a","actor":{"id":"u"},"metadata":{"k":[1,{"x":"}]"}]}} `))
	f.Add([]byte(`{"tenant":"t","action":"a","actor":{"id":"u"},"source":{"ip":"10.0.0.1"},"changes":[{"field":"f","old":1,"new":null}]}`))
	f.Add([]byte(`{"action":"a","Time":"2026-01-01T00:00:00Z","time":"2026-01-02T00:00:00Z"}`))
	f.Add([]byte(`{"received_at":"2026-01-01T00:00:00.5Z","action":"trail.alert.fired","x":[{"time":1}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecodeAgrees(t, data)
		checkSummaryAgrees(t, data)
	})
}

// checkSummaryAgrees fails t when SummarizeEvent accepts data and its
// fields differ from DecodeEvent's.
func checkSummaryAgrees(t *testing.T, data []byte) {
	t.Helper()
	s, ok := SummarizeEvent(data)
	if !ok {
		return
	}
	e, err := DecodeEvent(data)
	if err != nil {
		// The skipped members may hold what DecodeEvent refuses (a
		// value of the wrong type); the three fields are still JSON's.
		var raw struct {
			Action     *string    `json:"action"`
			Time       *time.Time `json:"time"`
			ReceivedAt *time.Time `json:"received_at"`
		}
		if json.Unmarshal(data, &raw) != nil {
			return // a skipped member's syntax error json sees first is not ours to judge
		}
		e = &Event{}
		if raw.Action != nil {
			e.Action = *raw.Action
		}
		if raw.Time != nil {
			e.Time = *raw.Time
		}
		if raw.ReceivedAt != nil {
			e.ReceivedAt = *raw.ReceivedAt
		}
	}
	if s.Action != e.Action || !s.Time.Equal(e.Time) || !s.ReceivedAt.Equal(e.ReceivedAt) ||
		s.Time.IsZero() != e.Time.IsZero() || s.ReceivedAt.IsZero() != e.ReceivedAt.IsZero() {
		t.Fatalf("SummarizeEvent(%q) = %+v; DecodeEvent gives action %q time %v received_at %v", data, s, e.Action, e.Time, e.ReceivedAt)
	}
}

// TestSummarizeLeaves: every canonical leaf takes SummarizeEvent's path
// (the alert engine's prefilter relies on it being cheap and total for
// stored leaves), with DecodeEvent's values.
func TestSummarizeLeaves(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for range 2000 {
		e := randEvent(r)
		leaf, err := e.AppendCanonical(nil)
		if err != nil {
			continue
		}
		if _, ok := SummarizeEvent(leaf); !ok {
			t.Fatalf("SummarizeEvent declined the leaf %s", leaf)
		}
		checkSummaryAgrees(t, leaf)
	}
}

func BenchmarkDecodeEvent(b *testing.B) {
	data := benchLeaf(b)
	b.Run("new", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeEvent(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			e := new(Event)
			if err := json.Unmarshal(data, e); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSummarizeEvent measures what the alert engine pays for an
// event no rule needs whole: its action and times from the leaf.
func BenchmarkSummarizeEvent(b *testing.B) {
	data := benchLeaf(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := SummarizeEvent(data); !ok {
			b.Fatal("declined")
		}
	}
}

var _ = bytes.Equal

// TestDecodeClientEvent: for events as clients send them (no server
// fields) the fast client decoder agrees with encoding/json; any unknown
// key, at any level, or any server field makes it decline, so the caller
// reports the error its strict way.
func TestDecodeClientEvent(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	taken := 0
	for i := 0; i < 2000; i++ {
		e := randEvent(r)
		e.Seq, e.ReceivedAt, e.Masked, e.Erased, e.LeafHash = 0, time.Time{}, nil, false, nil
		data, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		data = bytes.Replace(data, []byte(`"seq":0,`), nil, 1)
		got, ok := DecodeClientEvent(data)
		want := new(Event)
		err = json.Unmarshal(data, want)
		checkClientDecodeAgrees(t, data, want, err)
		if !ok {
			continue // inputs the fast path leaves to encoding/json
		}
		if err != nil {
			t.Fatalf("encoding/json rejects what the fast path took: %v\n%s", err, data)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("DecodeClientEvent differs from encoding/json for %s", data)
		}
		taken++
	}
	if taken < 1000 {
		t.Errorf("the fast path took %d of 2000 client events, want most", taken)
	}
	declined := []string{
		`{"action":"a","actor":{"id":"u"},"colour":"red"}`,
		`{"action":"a","actor":{"id":"u","colour":"red"}}`,
		`{"action":"a","actor":{"id":"u"},"source":{"ip":"1.2.3.4","port":1}}`,
		`{"action":"a","actor":{"id":"u"},"seq":1}`,
		`{"action":"a","actor":{"id":"u"},"received_at":"2026-01-01T00:00:00Z"}`,
		`{"action":"a","actor":{"id":"u"},"leaf_hash":"AAAA"}`,
		`{"action":"a","actor":{"id":"u"},"erased":true}`,
		`{"action":"a","actor":{"id":"u"},"masked":["x"]}`,
		`{"action":"a","actor":{"id":"u"}} {"x":1}`,
	}
	for _, in := range declined {
		if _, ok := DecodeClientEvent([]byte(in)); ok {
			t.Errorf("DecodeClientEvent accepted %s", in)
		}
	}
	if _, ok := DecodeClientEvent([]byte(`{"action":"a","actor":{"id":"u"},"metadata":{"colour":"red"}}`)); !ok {
		t.Errorf("DecodeClientEvent declined free-form metadata")
	}
}

// TestClientEventDecoderBatch decodes a batch of random client events,
// with many strings, unicode and escapes, through one ClientEventDecoder,
// as the ingest handler does, and checks every event afterwards against
// encoding/json: strings cut from a shared block stay what they were
// while later events fill it and the next ones.
func TestClientEventDecoderBatch(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	var body []byte
	var want []*Event
	for len(want) < 500 {
		e := randEvent(r)
		e.Seq, e.ReceivedAt, e.Masked, e.Erased, e.LeafHash = 0, time.Time{}, nil, false, nil
		if r.IntN(4) > 0 {
			e.Tenant = "acme"
		}
		data, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		data = bytes.Replace(data, []byte(`"seq":0,`), nil, 1)
		if _, ok := DecodeClientEvent(data); !ok {
			continue
		}
		w := new(Event)
		if err := json.Unmarshal(data, w); err != nil {
			t.Fatal(err)
		}
		want = append(want, w)
		body = append(append(body, data...), ",\n"...)
	}
	var dec ClientEventDecoder
	var got []*Event
	for off := 0; off < len(body); {
		e, n, ok := dec.DecodePrefix(body[off:])
		if !ok {
			t.Fatalf("event %d declined: %.200s", len(got), body[off:])
		}
		got = append(got, e)
		off += n + 2 // ",\n"
	}
	if len(got) != len(want) {
		t.Fatalf("decoded %d events, want %d", len(got), len(want))
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("event %d:\n got %#v\nwant %#v", i, got[i], want[i])
		}
	}
}

// BenchmarkClientEventDecoder decodes a batch of 1000 generated-shape
// client events with one decoder, as the ingest handler does, against
// DecodeClientEventPrefix.
func BenchmarkClientEventDecoder(b *testing.B) {
	ev := `{"time":"2026-11-22T10:04:05.123Z","tenant":"t0001","action":"user.login","outcome":"success","actor":{"id":"u-1234","type":"user","name":"Alice Example"},"resource":{"type":"session","id":"s-99"},"source":{"ip":"10.1.2.3","user_agent":"Mozilla/5.0"},"request":{"id":"req-1","method":"POST","path":"/login","status":200,"duration_ms":12},"reason":"routine sign-in after password rotation","metadata":{"mfa":true,"attempt":1,"region":"eu-west-1"}}`
	body := []byte(strings.Repeat(ev+",", 1000))
	b.Run("prefix", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			for off := 0; off < len(body); {
				_, n, ok := DecodeClientEventPrefix(body[off:])
				if !ok {
					b.Fatal("declined")
				}
				off += n + 1
			}
		}
	})
	b.Run("decoder", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var dec ClientEventDecoder // one per batch, as in the handler
			for off := 0; off < len(body); {
				_, n, ok := dec.DecodePrefix(body[off:])
				if !ok {
					b.Fatal("declined")
				}
				off += n + 1
			}
		}
	})
}
