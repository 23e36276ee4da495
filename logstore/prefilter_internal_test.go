package logstore

import (
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/gen"
)

// TestLowerToASCII pins what rowFilter relies on: U+0130 and U+212A are
// the only non-ASCII characters that unicode.ToLower maps into ASCII.
func TestLowerToASCII(t *testing.T) {
	var got []rune
	for r := rune(utf8.RuneSelf); r <= unicode.MaxRune; r++ {
		if l := unicode.ToLower(r); l < utf8.RuneSelf {
			got = append(got, r)
		}
	}
	want := []rune{[]rune(capitalIWithDot)[0], []rune(kelvinSign)[0]}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("non-ASCII runes lowering to ASCII: %U, want %U", got, want)
	}
}

// leafOf returns e's canonical leaf at seq 0.
func leafOf(t testing.TB, e *trail.Event) []byte {
	t.Helper()
	leaf, err := e.AppendCanonical(nil)
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

// checkSound fails t if x matches e but the row filter of x rejects e's
// leaf.
func checkSound(t *testing.T, e *trail.Event, x *trail.Expr) {
	t.Helper()
	match, err := x.Compile()
	if err != nil {
		return
	}
	f := newRowFilter(x)
	if f == nil || !match(e) {
		return
	}
	if leaf := leafOf(t, e); !f.may(leaf) {
		t.Fatalf("%s matches the event but its row filter rejects the leaf %s", x, leaf)
	}
}

func TestRowFilterSound(t *testing.T) {
	g := gen.New(3, 5)
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	rejected := 0
	for i := 0; i < 300; i++ {
		e := g.Event(g.Tenant(), now)
		e.Normalize(now, func() string { return "01" })
		if i%3 == 0 {
			e.Reason = "Rotated \u212aey for İstanbul OFFICE " + e.Reason
		}
		var words []string
		trail.IndexTerms(e, func(field, key string) {
			if field == trail.FieldText {
				words = append(words, key)
			}
		})
		for j, w := range words {
			checkSound(t, e, trail.Term(trail.FieldText, w))
			checkSound(t, e, trail.PrefixTerm(trail.FieldText, w[:max(1, len(w)/2)]))
			checkSound(t, e, trail.And(trail.Term(trail.FieldText, w), trail.Term(trail.FieldText, words[(j+1)%len(words)])))
			checkSound(t, e, trail.And(trail.Term(trail.FieldActor, e.Actor.ID), trail.Term(trail.FieldText, w+" "+words[0])))
		}
		// Not vacuous: a word the event lacks is rejected, unless the
		// leaf holds a character that lowers to ASCII.
		f := newRowFilter(trail.Term(trail.FieldText, "zzyzxabsentword"))
		if !f.may(leafOf(t, e)) {
			rejected++
		}
	}
	if rejected != 200 {
		t.Errorf("the filter of an absent word rejected %d of 300 leaves, want the 200 without U+0130 or U+212A", rejected)
	}
	// Nothing is required under OR or NOT.
	for _, x := range []*trail.Expr{
		trail.Or(trail.Term(trail.FieldText, "a"), trail.Term(trail.FieldText, "b")),
		trail.Not(trail.Term(trail.FieldText, "a")),
		trail.Term(trail.FieldActor, "u_1"),
		trail.Term(trail.FieldText, "ünïcode"),
	} {
		if newRowFilter(x) != nil {
			t.Errorf("newRowFilter(%s) is not nil", x)
		}
	}
}

// FuzzRowFilter: whatever the text of an event and the query's words, the
// row filter never rejects a leaf the matcher accepts.
func FuzzRowFilter(f *testing.F) {
	f.Add("Rotated the signing key", "rotated", "KEY")
	f.Add("\u212aelvin İstanbul", "kelvin", "istanbul")
	f.Add("a\"b\\c\nd", "b", "c")
	f.Fuzz(func(t *testing.T, reason, w1, w2 string) {
		if !utf8.ValidString(reason) || len(reason) > 4096 {
			return
		}
		e := &trail.Event{Tenant: "acme", Action: "key.rotate", Actor: trail.Actor{ID: "u_1"}, Reason: reason, Metadata: map[string]any{"note": reason + " " + w2}}
		now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
		e.Normalize(now, func() string { return "01" })
		if e.Validate(trail.Limits{}) != nil {
			return
		}
		checkSound(t, e, trail.Term(trail.FieldText, w1))
		checkSound(t, e, trail.PrefixTerm(trail.FieldText, w1))
		checkSound(t, e, trail.And(trail.Term(trail.FieldText, w1), trail.Term(trail.FieldText, w2)))
	})
}

// FuzzContainsFold checks containsFold against lowering both strings.
func FuzzContainsFold(f *testing.F) {
	f.Add([]byte("Rotated the KEY"), "key")
	f.Add([]byte("kkkKey"), "key")
	f.Add([]byte(""), "a")
	f.Fuzz(func(t *testing.T, s []byte, w string) {
		w = strings.ToLower(w)
		if !isASCII(w) {
			return
		}
		want := strings.Contains(asciiLower(string(s)), w)
		if got := containsFold(s, []byte(w)); got != want {
			t.Errorf("containsFold(%q, %q) = %v, want %v", s, w, got, want)
		}
	})
}

// asciiLower lowers the ASCII letters of s only.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
