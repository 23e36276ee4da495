package trail

import (
	"bytes"
	"cmp"
	"encoding/json"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var (
	goldenNow = time.Date(2026, 11, 22, 10, 4, 5, 123000000, time.UTC)
	goldenID  = func() string { return "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b" }
)

const goldenSeq = 1042

// decodeInput decodes an event as ingest does: encoding/json with UseNumber.
func decodeInput(data []byte) (*Event, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	e := new(Event)
	if err := d.Decode(e); err != nil {
		return nil, err
	}
	return e, nil
}

// TestCanonicalGolden encodes each testdata/canonical/*.json event, normalised
// with a fixed clock and id and given seq 1042, and compares the leaf byte for
// byte with the .leaf file beside it. Run with -update to rewrite them.
func TestCanonicalGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/canonical/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) < 8 {
		t.Fatalf("found %d golden inputs, want at least 8", len(inputs))
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			e, err := decodeInput(data)
			if err != nil {
				t.Fatal(err)
			}
			e.Normalize(goldenNow, goldenID)
			if err := e.Validate(Limits{}); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			e.Seq = goldenSeq
			got, err := e.AppendCanonical(nil)
			if err != nil {
				t.Fatalf("AppendCanonical: %v", err)
			}
			golden := strings.TrimSuffix(in, ".json") + ".leaf"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("leaf differs from %s\n got %s\nwant %s", golden, got, want)
			}
			checkReencodes(t, got)
		})
	}
}

// checkReencodes checks that leaf is valid JSON and that decoding it with
// DecodeEvent and encoding it again gives the same bytes.
func checkReencodes(t *testing.T, leaf []byte) {
	t.Helper()
	if !json.Valid(leaf) {
		t.Fatalf("leaf is not valid JSON: %s", leaf)
	}
	d, err := DecodeEvent(leaf)
	if err != nil {
		t.Fatalf("DecodeEvent(%s): %v", leaf, err)
	}
	again, err := d.AppendCanonical(nil)
	if err != nil {
		t.Fatalf("AppendCanonical of decoded leaf: %v", err)
	}
	if !bytes.Equal(again, leaf) {
		t.Fatalf("leaf does not survive DecodeEvent\n got %s\nwant %s", again, leaf)
	}
}

// TestCanonicalMinimal spells out one leaf in full, so that the golden files
// are anchored to a reviewed example.
func TestCanonicalMinimal(t *testing.T) {
	e := &Event{Action: "user.login", Actor: Actor{ID: "u_42"}}
	e.Normalize(goldenNow, goldenID)
	e.Seq = 7
	got, err := e.AppendCanonical(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"action":"user.login","actor":{"id":"u_42"},"id":"0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",` +
		`"outcome":"unknown","received_at":"2026-11-22T10:04:05.123Z","seq":7,"severity":"info",` +
		`"tenant":"default","time":"2026-11-22T10:04:05.123Z"}`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// TestAppendNumberRFC8785 checks the number samples of RFC 8785 Appendix B:
// IEEE 754 bits and their ECMAScript text.
func TestAppendNumberRFC8785(t *testing.T) {
	tests := []struct {
		bits uint64
		want string
	}{
		{0x0000000000000000, "0"},
		{0x8000000000000000, "0"}, // minus zero
		{0x0000000000000001, "5e-324"},
		{0x8000000000000001, "-5e-324"},
		{0x7fefffffffffffff, "1.7976931348623157e+308"},
		{0xffefffffffffffff, "-1.7976931348623157e+308"},
		{0x4340000000000000, "9007199254740992"},
		{0xc340000000000000, "-9007199254740992"},
		{0x4430000000000000, "295147905179352830000"},
		{0x44b52d02c7e14af5, "9.999999999999997e+22"},
		{0x44b52d02c7e14af6, "1e+23"},
		{0x44b52d02c7e14af7, "1.0000000000000001e+23"},
		{0x444b1ae4d6e2ef4e, "999999999999999700000"},
		{0x444b1ae4d6e2ef4f, "999999999999999900000"},
		{0x444b1ae4d6e2ef50, "1e+21"},
		{0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"},
		{0x3eb0c6f7a0b5ed8d, "0.000001"},
		{0x41b3de4355555553, "333333333.3333332"},
		{0x41b3de4355555554, "333333333.33333325"},
		{0x41b3de4355555555, "333333333.3333333"},
		{0x41b3de4355555556, "333333333.3333334"},
		{0x41b3de4355555557, "333333333.33333343"},
		{0xbecbf647612f3696, "-0.0000033333333333333333"},
		{0x43143ff3c1cb0959, "1424953923781206.2"},
	}
	for _, tt := range tests {
		f := math.Float64frombits(tt.bits)
		t.Run(strconv.FormatUint(tt.bits, 16), func(t *testing.T) {
			if got := FormatNumber(f); got != tt.want {
				t.Errorf("FormatNumber(%016x) = %q, want %q", tt.bits, got, tt.want)
			}
			if got := string(AppendNumber([]byte("x"), f)); got != "x"+tt.want {
				t.Errorf("AppendNumber appended %q, want %q", got, "x"+tt.want)
			}
		})
	}
}

func TestAppendNumberMore(t *testing.T) {
	tests := []struct {
		f    float64
		want string
	}{
		{1e21, "1e+21"},
		{1e-7, "1e-7"},
		{1e-6, "0.000001"},
		{1.5e-7, "1.5e-7"},
		{0.1, "0.1"},
		{123456789012345680000, "123456789012345680000"},
		{-1e21, "-1e+21"},
		{1e300, "1e+300"},
		{100, "100"},
		{-17.25, "-17.25"},
		{math.SmallestNonzeroFloat64, "5e-324"},
		{math.MaxFloat64, "1.7976931348623157e+308"},
	}
	for _, tt := range tests {
		if got := FormatNumber(tt.f); got != tt.want {
			t.Errorf("FormatNumber(%v) = %q, want %q", tt.f, got, tt.want)
		}
	}
}

func TestCanonicalRejectsNonFinite(t *testing.T) {
	for _, v := range []any{math.NaN(), math.Inf(1), math.Inf(-1), json.Number("1e400"), struct{}{}, "\xff"} {
		e := &Event{Action: "a", Actor: Actor{ID: "u"}, Metadata: map[string]any{"x": v}}
		if _, err := e.AppendCanonical(nil); err == nil {
			t.Errorf("AppendCanonical with metadata %#v: no error", v)
		}
	}
	d := math.NaN()
	e := &Event{Action: "a", Actor: Actor{ID: "u"}, Request: &Request{DurationMS: &d}}
	if got, err := e.AppendCanonical([]byte("keep")); err == nil || string(got) != "keep" {
		t.Errorf("AppendCanonical with NaN duration = %q, %v; want dst unchanged and an error", got, err)
	}
}

// metadataLeaf returns the canonical JSON of m as the value of "metadata".
func metadataLeaf(t *testing.T, m map[string]any) string {
	t.Helper()
	e := &Event{Action: "a", Actor: Actor{ID: "u"}, Metadata: m}
	leaf, err := e.AppendCanonical(nil)
	if err != nil {
		t.Fatal(err)
	}
	s := string(leaf)
	start := strings.Index(s, `"metadata":`) + len(`"metadata":`)
	end := strings.LastIndex(s, `,"seq":`)
	return s[start:end]
}

// TestCanonicalKeyOrderRFC8785 uses the example of RFC 8785 §3.2.3: keys sort
// by UTF-16 code units, so U+1F600 (D83D DE00) sorts before U+FB33.
func TestCanonicalKeyOrderRFC8785(t *testing.T) {
	in := `{
	  "\u20ac": "Euro Sign",
	  "\r": "Carriage Return",
	  "\ufb33": "Hebrew Letter Dalet With Dagesh",
	  "1": "One",
	  "\ud83d\ude00": "Emoji: Grinning Face",
	  "\u0080": "Control",
	  "\u00f6": "Latin Small Letter O With Diaeresis"
	}`
	var m map[string]any
	if err := json.Unmarshal([]byte(in), &m); err != nil {
		t.Fatal(err)
	}
	want := "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\"," +
		"\"\u00f6\":\"Latin Small Letter O With Diaeresis\",\"\u20ac\":\"Euro Sign\"," +
		"\"\U0001F600\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}"
	if got := metadataLeaf(t, m); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// TestCanonicalRFC8785Example is the example of RFC 8785 §3.2.2 (numbers,
// string escapes, literals) placed in metadata.
func TestCanonicalRFC8785Example(t *testing.T) {
	in := `{
	  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
	  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
	  "literals": [null, true, false]
	}`
	for _, useNumber := range []bool{false, true} {
		d := json.NewDecoder(strings.NewReader(in))
		if useNumber {
			d.UseNumber()
		}
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			t.Fatal(err)
		}
		want := `{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`
		if got := metadataLeaf(t, m); got != want {
			t.Errorf("UseNumber=%v\n got %s\nwant %s", useNumber, got, want)
		}
	}
}

func TestLessUTF16(t *testing.T) {
	// In UTF-16 order: U+FF01 < U+10000 is false (D800 < FF01), so the
	// supplementary character sorts first, unlike in byte order.
	ordered := []string{"", "\r", "1", "A", "Z", "a", "ab", "b", "\u0080", "\u00f6", "\u20ac", "\ud7ff",
		"\U00010000", "\U0001F600", "\U0010FFFF", "\ue000", "\ufb33", "\uff01", "\uffff"}
	for i := range ordered {
		for j := range ordered {
			if got, want := lessUTF16(ordered[i], ordered[j]), i < j; got != want {
				t.Errorf("lessUTF16(%+q, %+q) = %v, want %v", ordered[i], ordered[j], got, want)
			}
			// The same with a shared prefix, so the difference is inside.
			a, b := "key_"+ordered[i], "key_"+ordered[j]
			if got, want := compareUTF16(a, b) < 0, i < j; got != want {
				t.Errorf("compareUTF16(%+q, %+q) < 0 = %v, want %v", a, b, got, want)
			}
			if got, want := compareUTF16(ordered[i], ordered[j]), cmp.Compare(i, j); got*want <= 0 && got != want {
				t.Errorf("compareUTF16(%+q, %+q) = %d, want the sign of %d", ordered[i], ordered[j], got, want)
			}
		}
	}
	keys := []string{"\uffff", "\U00010000", "ab", "a", "\ue000", ""}
	sortUTF16(keys)
	if want := []string{"", "a", "ab", "\U00010000", "\ue000", "\uffff"}; strings.Join(keys, "|") != strings.Join(want, "|") {
		t.Errorf("sortUTF16 = %+q, want %+q", keys, want)
	}
}

func TestCanonicalStringEscapes(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", `"plain"`},
		{`q"b\`, `"q\"b\\"`},
		{"\b\f\n\r\t", `"\b\f\n\r\t"`},
		{"\x00\x01\x1f", `"\u0000\u0001\u001f"`},
		{"\x7f", "\"\x7f\""},
		{"/", `"/"`},
		{"\u2028\u2029", "\"\u2028\u2029\""},
		{"😀", `"😀"`},
		{"<&>", `"<&>"`},
	}
	for _, tt := range tests {
		var w canonWriter
		w.quote(tt.in)
		if w.err != nil || string(w.buf) != tt.want {
			t.Errorf("quote(%+q) = %s, %v; want %s", tt.in, w.buf, w.err, tt.want)
		}
	}
}

// TestAppendCanonicalParts checks, for random events and seqs, that the leaf
// equals the parts with the seq digits spliced in at split, also after a
// prefix already in dst, and that the leaf survives DecodeEvent.
func TestAppendCanonicalParts(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	seqs := []int64{0, 1, 9, 10, 99, 1000, math.MaxInt64}
	checked := 0
	for i := 0; i < 2000; i++ {
		e := randEvent(r)
		if err := e.Validate(Limits{}); err != nil {
			continue
		}
		checked++
		e.Seq = pick(r, seqs)
		if r.IntN(2) == 0 {
			e.Seq = r.Int64N(math.MaxInt64)
		}
		prefix := []byte("prefix")[:r.IntN(7)]
		leaf, err := e.AppendCanonical(append([]byte(nil), prefix...))
		if err != nil {
			t.Fatalf("AppendCanonical: %v", err)
		}
		parts, split, err := e.AppendCanonicalParts(append([]byte(nil), prefix...))
		if err != nil {
			t.Fatalf("AppendCanonicalParts: %v", err)
		}
		spliced := string(parts[:split]) + strconv.FormatInt(e.Seq, 10) + string(parts[split:])
		if string(leaf) != spliced {
			t.Fatalf("seq %d:\nAppendCanonical %s\nparts spliced   %s", e.Seq, leaf, spliced)
		}
		if !bytes.HasPrefix(leaf, prefix) {
			t.Fatalf("dst prefix %q lost: %s", prefix, leaf)
		}
		checkReencodes(t, leaf[len(prefix):])
	}
	if checked < 1000 {
		t.Fatalf("only %d of 2000 random events were valid", checked)
	}
}

// FuzzCanonical decodes arbitrary JSON into an Event as ingest does; when the
// normalised event is valid, its leaf must be valid JSON that survives
// DecodeEvent byte for byte.
func FuzzCanonical(f *testing.F) {
	inputs, _ := filepath.Glob("testdata/canonical/*.json")
	for _, in := range inputs {
		data, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"action":"a","actor":{"id":"u"},"metadata":{"n":1e-400,"m":-0.0,"k":"\ud800"}}`))
	f.Add([]byte(`{"action":"a","actor":{"id":"u"},"time":"1970-01-01T00:00:00+01:00"}`))
	f.Add([]byte(`{"ACTION":"a","actor":{"id":"u"},"actor":{"name":"n"},"request":{"duration_ms":-0}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := decodeInput(data)
		if err != nil {
			return
		}
		e.Normalize(goldenNow, goldenID)
		if err := e.Validate(Limits{}); err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("Validate: %v has code %q, want %q", err, ErrorCode(err), EINVALID)
			}
			return
		}
		leaf, err := e.AppendCanonical(nil)
		if err != nil {
			t.Fatalf("valid event: AppendCanonical: %v", err)
		}
		checkReencodes(t, leaf)
		// Matching and indexing a valid event never fails.
		IndexTerms(e, func(string, string) {})
	})
}

// FuzzCompareUTF16 checks the byte-wise fast path of compareUTF16 against
// the rune-by-rune lessUTF16.
func FuzzCompareUTF16(f *testing.F) {
	f.Add("a", "b")
	f.Add("key\uffff", "key\U00010000")
	f.Add("\u00e9t\u00e9", "\u00e9t\u00e8")
	f.Fuzz(func(t *testing.T, a, b string) {
		if !utf8.ValidString(a) || !utf8.ValidString(b) {
			return // keys are valid UTF-8 (Validate)
		}
		want := 0
		switch {
		case lessUTF16(a, b):
			want = -1
		case lessUTF16(b, a):
			want = 1
		}
		got := compareUTF16(a, b)
		if got < 0 {
			got = -1
		} else if got > 0 {
			got = 1
		}
		if got != want {
			t.Errorf("compareUTF16(%+q, %+q) = %d, want %d", a, b, got, want)
		}
	})
}

// BenchmarkAppendCanonical encodes a realistic event (the full golden leaf).
func BenchmarkAppendCanonical(b *testing.B) {
	e := benchEvent(b)
	buf, err := e.AppendCanonical(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if buf, err = e.AppendCanonical(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}
