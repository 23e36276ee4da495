package logstore

import (
	"bytes"

	trail "github.com/trail-audit/trail"
)

// A rowFilter reports whether a row's leaf bytes (block or head) may match a query.
// It may accept rows that do not match (the matcher decides), never
// reject one that does: it lets a free-text query skip decoding the rows
// of a candidate chunk that cannot hold its words. (Words are indexed per
// chunk, so a rare word's candidates are whole chunks of other events.)
type rowFilter struct {
	words [][]byte // lower-case ASCII; every one must occur in a matching row
}

// newRowFilter returns the filter of rows that may match x, or nil when x
// requires no word it can check.
//
// It collects the ASCII words of the free-text terms x requires (those
// of its top-level conjunction; under OR or NOT nothing is required). A
// leaf is canonical JSON (RFC 8785), which escapes no letter or digit, so
// an event whose text has word w (compared in lower case, see
// trail.IndexTerms) holds w's bytes up to ASCII case, unless a character
// other than an ASCII letter lowers to one: that happens only for U+0130
// and U+212A (TestLowerToASCII), and a row holding either is never
// skipped. The last word of a prefix term is required as it is, since the
// event's word starts with it; a key truncated to trail.MaxIndexValue is a
// prefix of the event's word too.
func newRowFilter(x *trail.Expr) *rowFilter {
	var f rowFilter
	f.collect(x)
	if len(f.words) == 0 {
		return nil
	}
	return &f
}

func (f *rowFilter) collect(x *trail.Expr) {
	switch {
	case x == nil:
	case x.Op == trail.OpAnd:
		for _, a := range x.Args {
			f.collect(a)
		}
	case x.Op == trail.OpTerm && x.Field == trail.FieldText:
		for _, w := range trail.Words(x.Value) {
			if isASCII(w) && w != "" {
				f.words = append(f.words, []byte(w))
			}
		}
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// The only non-ASCII characters that unicode.ToLower maps to ASCII.
const (
	capitalIWithDot = "\u0130" // to 'i'
	kelvinSign      = "\u212a" // to 'k'
)

// may reports whether the row with leaf bytes data may match.
func (f *rowFilter) may(data []byte) bool {
	if len(data) == 0 {
		return true // an erased row: the matcher decides
	}
	for _, w := range f.words {
		if !containsFold(data, w) {
			// Unless a character lowering to ASCII hides it.
			return bytes.Contains(data, []byte(capitalIWithDot)) || bytes.Contains(data, []byte(kelvinSign))
		}
	}
	return true
}

// containsFold reports whether s contains w up to ASCII case; w is in
// lower case.
func containsFold(s, w []byte) bool {
	if len(w) == 0 {
		return true
	}
	c0 := w[0]
	upper := c0
	if 'a' <= c0 && c0 <= 'z' {
		upper = c0 - 'a' + 'A'
	}
	for len(s) >= len(w) {
		// The next place where w's first byte occurs in either case.
		i := bytes.IndexByte(s[:len(s)-len(w)+1], c0)
		if upper != c0 {
			if j := bytes.IndexByte(s[:len(s)-len(w)+1], upper); j >= 0 && (i < 0 || j < i) {
				i = j
			}
		}
		if i < 0 {
			return false
		}
		if equalFold(s[i+1:i+len(w)], w[1:]) {
			return true
		}
		s = s[i+1:]
	}
	return false
}

// equalFold reports whether a equals w (lower case) up to ASCII case.
func equalFold(a, w []byte) bool {
	for i, c := range w {
		d := a[i]
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if d != c {
			return false
		}
	}
	return true
}
