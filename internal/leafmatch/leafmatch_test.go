package leafmatch

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/gen"
)

// TestLowerToASCII pins the premise of the word condition: U+0130 and
// U+212A are the only non-ASCII runes that lower to ASCII.
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

var now = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

func leafOf(t testing.TB, e *trail.Event) []byte {
	t.Helper()
	leaf, err := e.AppendCanonical(nil)
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

// checkSound fails t when x matches e but its condition rejects e's
// leaf; it reports whether the condition rejected the leaf.
func checkSound(t *testing.T, e *trail.Event, leaf []byte, x *trail.Expr) (rejected bool) {
	t.Helper()
	match, err := x.Compile()
	if err != nil {
		return false
	}
	may := New(x).May(leaf)
	if match(e) && !may {
		t.Fatalf("%s matches the event but its condition %s rejects the leaf %s", x, New(x), leaf)
	}
	return !may
}

// terms returns terms on every field built from e's values (so that
// many match) and from other's (so that many do not).
func terms(e, other *trail.Event) []*trail.Expr {
	var out []*trail.Expr
	for _, ev := range []*trail.Event{e, other} {
		for _, f := range []string{trail.FieldActor, trail.FieldAction, trail.FieldOutcome, trail.FieldSeverity,
			trail.FieldResourceType, trail.FieldResourceID, trail.FieldRequestID, trail.FieldIP} {
			v := trail.FieldValue(ev, f)
			if v == "" {
				continue
			}
			out = append(out, trail.Term(f, v), trail.PrefixTerm(f, v[:max(1, len(v)/2)]))
		}
		trail.IndexTerms(ev, func(field, key string) {
			if field == trail.FieldText && len(out) < 60 {
				out = append(out, trail.Term(trail.FieldText, key), trail.PrefixTerm(trail.FieldText, key[:max(1, len(key)/2)]))
			}
			if strings.HasPrefix(field, trail.MetadataPrefix) {
				out = append(out, trail.Term(field, key))
			}
		})
	}
	return out
}

// randomExpr combines terms with AND, OR and NOT up to depth.
func randomExpr(r *rand.Rand, ts []*trail.Expr, depth int) *trail.Expr {
	if depth == 0 || r.IntN(3) == 0 {
		return ts[r.IntN(len(ts))]
	}
	switch r.IntN(5) {
	case 0:
		return trail.Not(randomExpr(r, ts, depth-1))
	case 1, 2:
		return trail.Or(randomExpr(r, ts, depth-1), randomExpr(r, ts, depth-1))
	}
	return trail.And(randomExpr(r, ts, depth-1), randomExpr(r, ts, depth-1), randomExpr(r, ts, depth-1))
}

// TestSound checks, over generated events and random filters on every
// field, that no matching event's leaf is rejected, and that the
// condition does reject: most terms built from another event's values
// reject the leaf.
func TestSound(t *testing.T) {
	g := gen.New(7, 20)
	r := rand.New(rand.NewPCG(1, 2))
	var prev *trail.Event
	rejected, checked := 0, 0 // terms the event does not match
	for i := range 400 {
		e := g.Event(g.Tenant(), now)
		e.Normalize(now, func() string { return "01" })
		if i%4 == 0 {
			e.Reason = "Rotated \u212aey for İstanbul OFFICE " + e.Reason
		}
		if i%5 == 0 {
			e.Actor.ID = `quo"te\` + e.Actor.ID
		}
		if prev == nil {
			prev = e
			continue
		}
		leaf := leafOf(t, e)
		ts := terms(e, prev)
		for _, x := range ts {
			// Count the terms the condition can judge that do not match.
			if m, _ := x.Compile(); New(x) != nil && !m(e) {
				checked++
				if checkSound(t, e, leaf, x) {
					rejected++
				}
				continue
			}
			checkSound(t, e, leaf, x)
		}
		for range 40 {
			checkSound(t, e, leaf, randomExpr(r, ts, 3))
		}
		prev = e
	}
	if rejected < checked/2 {
		t.Errorf("conditions rejected %d of %d leaves of events the term does not match: the filter is (nearly) vacuous", rejected, checked)
	}
	t.Logf("rejected %d of %d leaves of events a term does not match", rejected, checked)
}

// TestNew pins the condition of representative filters.
func TestNew(t *testing.T) {
	for _, tc := range []struct {
		x    *trail.Expr
		want string
	}{
		{nil, "any"},
		{trail.Term(trail.FieldOutcome, "failure"), `has("failure")`},
		{trail.PrefixTerm(trail.FieldAction, "user."), `has("user.)`},
		{trail.Term(trail.FieldText, "Wrong password"), `(word(wrong) AND word(password))`},
		{trail.Term(trail.FieldText, "ünïcode"), "any"},
		{trail.Term(trail.FieldActor, `a"b`), "any"},
		{trail.Term(trail.FieldIP, "10.0.0.0/8"), "any"},
		{trail.Term("metadata.plan", "pro"), "any"},
		{trail.Not(trail.Term(trail.FieldOutcome, "success")), "any"},
		{trail.Or(trail.Term(trail.FieldOutcome, "failure"), trail.Term(trail.FieldIP, "10.0.0.1")), "any"},
		{trail.And(trail.Term(trail.FieldIP, "10.0.0.1"), trail.Term(trail.FieldOutcome, "denied")), `has("denied")`},
		{trail.And(
			trail.Or(trail.Term(trail.FieldText, "login"), trail.PrefixTerm(trail.FieldAction, "auth")),
			trail.Term(trail.FieldOutcome, "failure")),
			`(has("failure") AND (has("auth) OR word(login)))`}, // cheapest first
	} {
		if got := New(tc.x).String(); got != tc.want {
			t.Errorf("New(%v) = %s, want %s", tc.x, got, tc.want)
		}
	}
	if got := Or(New(trail.Term(trail.FieldOutcome, "a")), New(trail.Term(trail.FieldOutcome, "b"))).String(); got != `(has("a") OR has("b"))` {
		t.Errorf("Or = %s", got)
	}
	if got := Or(New(trail.Term(trail.FieldText, "login")), New(trail.Term(trail.FieldOutcome, "b"))).String(); got != `(has("b") OR word(login))` {
		t.Errorf("Or = %s, want the literal first", got)
	}
	if Or(New(trail.Term(trail.FieldOutcome, "a")), nil) != nil || Or() != nil {
		t.Error("Or with a nil filter, or of nothing, is not nil")
	}
	if !New(trail.Term(trail.FieldOutcome, "failure")).May(nil) {
		t.Error("an erased event (no leaf) is rejected")
	}
}

// FuzzSound: whatever the event's strings and the query's value, a leaf
// the matcher accepts is never rejected.
func FuzzSound(f *testing.F) {
	f.Add("Rotated the signing key", "u_1", "key.rotate", "rotated")
	f.Add("\u212aelvin İstanbul", `a"b`, "x\ty", "kelvin")
	f.Add("a\"b\\c\nd", "ü", "user.login", "user.")
	f.Fuzz(func(t *testing.T, reason, actor, action, value string) {
		for _, s := range []string{reason, actor, action, value} {
			if !utf8.ValidString(s) || len(s) > 2048 {
				return
			}
		}
		e := &trail.Event{Tenant: "acme", Action: action, Actor: trail.Actor{ID: actor}, Reason: reason,
			Resource: &trail.Resource{Type: value, ID: reason}, Metadata: map[string]any{"note": reason + " " + value}}
		e.Normalize(now, func() string { return "01" })
		if e.Validate(trail.Limits{}) != nil {
			return
		}
		leaf := leafOf(t, e)
		for _, field := range []string{trail.FieldText, trail.FieldActor, trail.FieldAction, trail.FieldResourceType, trail.FieldResourceID, trail.FieldOutcome} {
			checkSound(t, e, leaf, trail.Term(field, value))
			checkSound(t, e, leaf, trail.PrefixTerm(field, value))
		}
		checkSound(t, e, leaf, trail.And(trail.Term(trail.FieldText, value), trail.Term(trail.FieldActor, actor)))
		checkSound(t, e, leaf, trail.Or(trail.Term(trail.FieldAction, action), trail.Term(trail.FieldText, value)))
	})
}

// FuzzContainsFold checks containsFold against lowering both strings.
func FuzzContainsFold(f *testing.F) {
	f.Add([]byte("Rotated the KEY"), "key")
	f.Add([]byte("kkkKey"), "key")
	f.Add([]byte(""), "a")
	f.Fuzz(func(t *testing.T, s []byte, w string) {
		w = strings.ToLower(w)
		for i := 0; i < len(w); i++ {
			if w[i] >= utf8.RuneSelf {
				return
			}
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

// BenchmarkContainsFold scans a leaf-sized text full of the first letter
// of a word it lacks, whose other case never occurs: the scan must stay
// linear in the text.
func BenchmarkContainsFold(b *testing.B) {
	s := []byte(strings.Repeat("the event was accepted; ", 40))
	w := []byte("eventually")
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		if containsFold(s, w) {
			b.Fatal("found")
		}
	}
}

// BenchmarkContainsFoldLeaves looks for words of generated events' reasons
// (as trail bench's free-text queries do) in other generated leaves: the
// work of a free-text query's row filter on rows that do not match.
func BenchmarkContainsFoldLeaves(b *testing.B) {
	g := gen.New(3, 10)
	now := time.Now()
	var leaves [][]byte
	var words [][]byte
	for range 512 {
		e := g.Event(g.Tenant(), now)
		leaf, err := e.AppendCanonical(nil)
		if err != nil {
			b.Fatal(err)
		}
		leaves = append(leaves, leaf)
		for _, w := range trail.Words(e.Reason) {
			if len(w) >= 4 && isASCIIWord(w) {
				words = append(words, []byte(strings.ToLower(w)))
			}
		}
	}
	if len(words) == 0 {
		b.Fatal("no words in the generated reasons")
	}
	size := 0
	for _, l := range leaves {
		size += len(l)
	}
	b.SetBytes(int64(size / len(leaves)))
	i, hits := 0, 0
	for b.Loop() {
		if containsFold(leaves[i%len(leaves)], words[(i*7)%len(words)]) {
			hits++
		}
		i++
	}
	b.ReportMetric(float64(hits)/float64(i), "hits/op")
}

// TestContainsFoldEveryOffset places words of every length up to 12, in
// random case, at every offset of texts of every length up to 40, among
// bytes that share the words' letters with bit 0x20 cleared or set, so
// that each of the eight lanes, the lanes' borrows and the tail are
// exercised; the answer must equal a plain search of the lowered text.
func TestContainsFoldEveryOffset(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "abcABC@`{[\x01!0 "
	for m := 1; m <= 12; m++ {
		for size := 0; size <= 40; size++ {
			for off := -1; off <= size-m; off++ { // -1: the word is not placed
				w := make([]byte, m)
				for i := range w {
					w[i] = "abc0`{"[rng.IntN(6)]
				}
				s := make([]byte, size)
				for i := range s {
					s[i] = alphabet[rng.IntN(len(alphabet))]
				}
				if off >= 0 {
					for i, c := range w {
						if 'a' <= c && c <= 'z' && rng.IntN(2) == 0 {
							c -= 'a' - 'A'
						}
						s[off+i] = c
					}
				}
				want := strings.Contains(asciiLower(string(s)), string(w))
				if got := containsFold(s, w); got != want {
					t.Fatalf("containsFold(%q, %q) = %v, want %v", s, w, got, want)
				}
			}
		}
	}
}
