package trail

import (
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// The reference implementations below are Words, TextFields and IndexTerms
// as they were before they were optimised. The property tests hold the
// optimised ones to them.

func refWords(s string) []string {
	var out []string
	start := -1
	flush := func(end int) {
		if start >= 0 {
			w := strings.ToLower(s[start:end])
			out = append(out, IndexKey(w))
			start = -1
		}
	}
	for i, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if start < 0 {
				start = i
			}
		} else {
			flush(i)
		}
	}
	flush(len(s))
	return out
}

func refTextFields(e *Event, fn func(string) bool) {
	list := []string{e.Action, e.Reason, e.Actor.ID, e.Actor.Name, e.Actor.Email}
	if r := e.Resource; r != nil {
		list = append(list, r.Type, r.ID, r.Name)
	}
	if s := e.Source; s != nil {
		list = append(list, s.UserAgent)
	}
	if r := e.Request; r != nil {
		list = append(list, r.Path)
	}
	for _, s := range list {
		if s != "" && !fn(s) {
			return
		}
	}
	for _, c := range e.Changes {
		if !fn(c.Field) || !walkStrings(c.Old, fn) || !walkStrings(c.New, fn) {
			return
		}
	}
	walkStrings(e.Metadata, fn)
}

func refIndexTerms(e *Event, fn func(field, key string)) {
	for _, f := range IndexedFields {
		if v := FieldValue(e, f); v != "" {
			fn(f, IndexKey(v))
		}
	}
	refIndexMetadata(MetadataPrefix, e.Metadata, 0, fn)
	seen := make(map[string]struct{}, 32)
	refTextFields(e, func(s string) bool {
		for _, w := range refWords(s) {
			if _, ok := seen[w]; !ok {
				seen[w] = struct{}{}
				fn(FieldText, w)
			}
		}
		return true
	})
}

func refIndexMetadata(prefix string, m map[string]any, depth int, fn func(field, key string)) {
	if depth >= 4 {
		return
	}
	for k, v := range m {
		if k == "" || strings.Contains(k, ".") {
			continue // not addressable by a dotted path
		}
		if obj, ok := v.(map[string]any); ok {
			refIndexMetadata(prefix+k+".", obj, depth+1, fn)
			continue
		}
		metadataScalars(v, func(s string) { fn(prefix+k, IndexKey(s)) })
	}
}

// textPieces are the parts random texts are made of: ASCII of both cases,
// separators, letters whose lower case has another length in UTF-8 (İ, K
// as Kelvin sign, ẞ), title case, non-Latin letters and digits, marks,
// emoji and invalid UTF-8.
var textPieces = []string{
	"a", "Z", "q", "Hello", "WORLD", "x1", "42", "_", " ", ".", "-", ":", "/", "\t", "\n",
	"İ", "I", "ı", "K", "ſ", "ẞ", "ß", "Σ", "σ", "ς", "ǅ", "Ǆ", "Ω", "Ⅻ", "ⅻ", "٣", "৩",
	"é", "É", "e\u0301", "ж", "Ж", "中文", "😀", "\u2028", "\u00a0", "\ufffd",
	"\xff", "\xc3", "\xe2\x82", "\xed\xa0\x80",
}

func randText(r *rand.Rand) string {
	var b strings.Builder
	for n := r.IntN(12); n > 0; n-- {
		p := pick(r, textPieces)
		if r.IntN(20) == 0 {
			p = strings.Repeat(p, 30+r.IntN(100)) // long words: keys truncate, maybe inside a rune
		}
		b.WriteString(p)
	}
	return b.String()
}

// randTextEvent is randEvent with random texts in its text fields.
func randTextEvent(r *rand.Rand) *Event {
	e := randEvent(r)
	if r.IntN(2) == 0 {
		e.Reason = randText(r)
		e.Actor.Name = randText(r)
		if e.Metadata == nil {
			e.Metadata = map[string]any{}
		}
		e.Metadata[randText(r)] = []any{randText(r), randText(r), 1.5, 7.0, -3.0, 99.0, 100.0}
		e.Changes = append(e.Changes, Change{Field: randText(r), Old: randText(r), New: map[string]any{"x": randText(r)}})
	}
	return e
}

func TestWordsMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	inputs := append([]string{}, genStrings...)
	for i := 0; i < 20000; i++ {
		inputs = append(inputs, randText(r))
	}
	for _, s := range inputs {
		if got, want := Words(s), refWords(s); !reflect.DeepEqual(got, want) {
			t.Fatalf("Words(%q)\n got %q\nwant %q", s, got, want)
		}
	}
}

// collect returns the strings TextFields gives, sorted: metadata comes in
// map order.
func collectText(e *Event, textFields func(*Event, func(string) bool)) []string {
	var out []string
	textFields(e, func(s string) bool { out = append(out, s); return true })
	slices.Sort(out)
	return out
}

func TestTextFieldsMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for i := 0; i < 3000; i++ {
		e := randTextEvent(r)
		got, want := collectText(e, TextFields), collectText(e, refTextFields)
		if !slices.Equal(got, want) {
			t.Fatalf("TextFields(%+v)\n got %q\nwant %q", e, got, want)
		}
		// Stopping early: fn returning false ends the walk at once.
		stop := r.IntN(len(want) + 1)
		calls := 0
		TextFields(e, func(string) bool { calls++; return calls < stop })
		if wantCalls := min(max(stop, 1), len(want)); calls != wantCalls {
			t.Fatalf("TextFields stopping after %d: %d calls, want %d", stop, calls, wantCalls)
		}
	}
}

// collectTerms returns the entries IndexTerms gives, sorted: metadata comes
// in map order. It checks that text keys are distinct.
func collectTerms(t *testing.T, e *Event, indexTerms func(*Event, func(string, string))) []string {
	t.Helper()
	var out []string
	seen := map[string]bool{}
	indexTerms(e, func(field, key string) {
		if field == FieldText {
			if seen[key] {
				t.Fatalf("text key %q given twice", key)
			}
			seen[key] = true
		}
		out = append(out, field+"\x00"+key)
	})
	slices.Sort(out)
	return out
}

func TestIndexTermsMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for i := 0; i < 5000; i++ {
		e := randTextEvent(r)
		if i%100 == 0 {
			// Enough words to outgrow wordSet's table.
			var b strings.Builder
			for j := 0; j < 300; j++ {
				b.WriteString(strconv.Itoa(r.IntN(400)))
				b.WriteString(pick(r, []string{" ", " X", " é"}))
			}
			e.Reason = b.String()
		}
		got, want := collectTerms(t, e, IndexTerms), collectTerms(t, e, refIndexTerms)
		if !slices.Equal(got, want) {
			t.Fatalf("IndexTerms(%+v)\n got %q\nwant %q", e, got, want)
		}
	}
}

func TestTextContainsPhrase(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	matched := 0
	for i := 0; i < 20000; i++ {
		s := randText(r)
		var phrase []string
		if words := Words(s); len(words) > 0 && r.IntN(2) == 0 {
			// A run of s's own words, the last maybe cut short.
			from := r.IntN(len(words))
			phrase = slices.Clone(words[from : from+1+r.IntN(len(words)-from)])
			if last := phrase[len(phrase)-1]; r.IntN(2) == 0 && len(last) > 1 {
				phrase[len(phrase)-1] = last[:1+r.IntN(len(last)-1)]
			}
		} else {
			phrase = Words(randText(r))
		}
		if len(phrase) == 0 {
			continue
		}
		prefix := r.IntN(2) == 0
		got, want := textContainsPhrase(s, phrase, prefix), containsPhrase(refWords(s), phrase, prefix)
		if got != want {
			t.Fatalf("textContainsPhrase(%q, %q, %v) = %v, want %v", s, phrase, prefix, got, want)
		}
		if got {
			matched++
		}
	}
	if matched < 2000 {
		t.Fatalf("only %d phrases matched: the property is not exercised", matched)
	}
}

func TestCanonicalIPNoCopy(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"10.1.2.3", "10.1.2.3"},
		{"::ffff:10.1.2.3", "10.1.2.3"},
		{"2001:DB8::7", "2001:db8::7"},
		{"2001:db8:0::1", "2001:db8::1"},
		{"fe80::1%eth0", "fe80::1"},
		{"x", ""},
	} {
		if got := CanonicalIP(tt.in); got != tt.want {
			t.Errorf("CanonicalIP(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { CanonicalIP("203.0.113.7") }); n != 0 {
		t.Errorf("CanonicalIP of a canonical address: %v allocations, want 0", n)
	}
}

func TestScalarStringSmallIntegers(t *testing.T) {
	for _, f := range []float64{0, math.Copysign(0, -1), 1, 7, 42, 99, 99.5, 100, -1, 0.5, 1e21} {
		if got, _ := ScalarString(f); got != FormatNumber(f) {
			t.Errorf("ScalarString(%v) = %q, want %q", f, got, FormatNumber(f))
		}
	}
}

// benchEvent decodes testdata/canonical/full.leaf, a realistic leaf of
// about 700 bytes.
func benchLeaf(tb testing.TB) []byte {
	data, err := os.ReadFile("testdata/canonical/full.leaf")
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func benchEvent(tb testing.TB) *Event {
	e, err := DecodeEvent(benchLeaf(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

func BenchmarkIndexTerms(b *testing.B) {
	e := benchEvent(b)
	for _, impl := range []struct {
		name string
		fn   func(*Event, func(string, string))
	}{{"new", IndexTerms}, {"reference", refIndexTerms}} {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				impl.fn(e, func(string, string) { n++ })
			}
		})
	}
}

func BenchmarkWords(b *testing.B) {
	const s = "Payment FAILED for invoice 4711: card declined by the issuer (Müller GmbH)"
	for _, impl := range []struct {
		name string
		fn   func(string) []string
	}{{"new", Words}, {"reference", refWords}} {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				impl.fn(s)
			}
		})
	}
}

// BenchmarkMatchText runs a free-text matcher over a realistic event: the
// phrase is found in the last text field, so every field is split.
func BenchmarkMatchText(b *testing.B) {
	e := benchEvent(b)
	phrase := Words("linux x86")
	for _, impl := range []struct {
		name     string
		contains func(s string) bool
	}{
		{"new", func(s string) bool { return textContainsPhrase(s, phrase, true) }},
		{"reference", func(s string) bool { return containsPhrase(refWords(s), phrase, true) }},
	} {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				found := false
				TextFields(e, func(s string) bool {
					found = impl.contains(s)
					return !found
				})
				if !found {
					b.Fatal("no match")
				}
			}
		})
	}
}
