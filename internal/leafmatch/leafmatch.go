// Package leafmatch decides, from an event's stored leaf bytes alone,
// whether the event may match a filter: a necessary condition that lets
// a follower skip decoding the events that cannot match.
//
// A leaf is the canonical JSON of DESIGN.md §2 (RFC 8785): every string
// is written as its UTF-8 bytes between quotes, escaping only '"', '\\'
// and the control characters below U+0020. So a field whose value is v
// holds the bytes `"v"` when v has none of those, and an event whose
// free text has the word w (compared in lower case, see trail.Words)
// holds w's bytes up to ASCII case when w is ASCII letters and digits,
// unless a character other than an ASCII letter lowers to one: only
// U+0130 and U+212A do (TestLowerToASCII), and a leaf holding either is
// never rejected on a word.
package leafmatch

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"math/bits"
	"slices"
	"strings"

	trail "github.com/trail-audit/trail"
)

// Filter is the necessary condition of a filter expression on leaf bytes.
// The zero of *Filter, nil, accepts every leaf.
type Filter struct{ root cond }

// cond is one node of the condition.
type cond struct {
	op   condOp
	lit  []byte // opLiteral: must occur as is
	word []byte // opWord: must occur up to ASCII case (lower-case ASCII)
	args []cond // opAnd, opOr
}

type condOp uint8

const (
	opAny     condOp = iota // no condition
	opLiteral               // bytes.Contains(leaf, lit)
	opWord                  // containsFold(leaf, word)
	opAnd
	opOr
)

// New returns the condition every leaf of an event matching x satisfies,
// or nil when it cannot tell any leaf apart (x is nil, or only uses
// negation, IP ranges, metadata or values that canonical JSON escapes).
// x must be valid (trail.Expr.Validate).
func New(x *trail.Expr) *Filter {
	c := build(x)
	if c.op == opAny {
		return nil
	}
	return &Filter{root: c}
}

// Or returns the condition of a disjunction of filters: nil (every leaf)
// when any of fs is nil.
func Or(fs ...*Filter) *Filter {
	if len(fs) == 0 {
		return nil
	}
	args := make([]cond, 0, len(fs))
	for _, f := range fs {
		if f == nil {
			return nil
		}
		args = append(args, f.root)
	}
	return &Filter{root: join(opOr, args)}
}

// May reports whether an event whose leaf is data may match the filter.
// It is true for every event that matches; it may be true for others.
// An empty data (an erased event) is always accepted.
func (f *Filter) May(data []byte) bool {
	if f == nil || len(data) == 0 {
		return true
	}
	return f.root.eval(data)
}

func (c *cond) eval(data []byte) bool {
	switch c.op {
	case opLiteral:
		return bytes.Contains(data, c.lit)
	case opWord:
		return containsFold(data, c.word) || hidesASCII(data)
	case opAnd:
		for i := range c.args {
			if !c.args[i].eval(data) {
				return false
			}
		}
		return true
	case opOr:
		for i := range c.args {
			if c.args[i].eval(data) {
				return true
			}
		}
		return false
	}
	return true
}

// build returns the condition of x; opAny when there is none.
func build(x *trail.Expr) cond {
	if x == nil {
		return cond{}
	}
	switch x.Op {
	case trail.OpAnd:
		var args []cond
		for _, a := range x.Args {
			if c := build(a); c.op != opAny {
				args = append(args, c)
			}
		}
		return join(opAnd, args)
	case trail.OpOr:
		args := make([]cond, 0, len(x.Args))
		for _, a := range x.Args {
			c := build(a)
			if c.op == opAny {
				return cond{} // that branch may match anything
			}
			args = append(args, c)
		}
		return join(opOr, args)
	case trail.OpTerm:
		return term(x)
	}
	return cond{} // OpNot: a leaf lacking bytes may still match
}

// join returns the conjunction or disjunction (op) of args, cheapest
// first: an AND stops at the first argument a leaf fails, an OR at the
// first it passes, so a cheap literal (a vectorised search) often spares
// the word scans after it. The failed-login rule, for one, checks
// "failure" before its three words.
func join(op condOp, args []cond) cond {
	switch len(args) {
	case 0:
		return cond{}
	case 1:
		return args[0]
	}
	slices.SortStableFunc(args, func(a, b cond) int { return cmp.Compare(a.cost(), b.cost()) })
	return cond{op: op, args: args}
}

// cost estimates the work of eval on a leaf, in units of a literal search.
func (c *cond) cost() int {
	switch c.op {
	case opLiteral:
		return 1
	case opWord:
		return 4 // BenchmarkContainsFoldLeaves against bytes.Contains
	}
	n := 0
	for i := range c.args {
		n += c.args[i].cost()
	}
	return n
}

// term returns the condition of one field:value term.
func term(x *trail.Expr) cond {
	switch x.Field {
	case trail.FieldText:
		// Every word of the phrase occurs in a text field (the last one
		// as a prefix of a word when x.Prefix): its bytes are in the leaf.
		var args []cond
		for _, w := range trail.Words(x.Value) {
			if isASCIIWord(w) {
				args = append(args, cond{op: opWord, word: []byte(strings.ToLower(w))})
			}
		}
		return join(opAnd, args)
	case trail.FieldActor, trail.FieldAction, trail.FieldOutcome, trail.FieldSeverity,
		trail.FieldResourceType, trail.FieldResourceID, trail.FieldRequestID:
		// The field's string equals the value (or starts with it): the
		// leaf holds the quoted value (or its opening quote and the
		// prefix) when canonical JSON writes the value unescaped.
		if x.Value == "" || needsEscape(x.Value) {
			return cond{}
		}
		lit := make([]byte, 0, len(x.Value)+2)
		lit = append(lit, '"')
		lit = append(lit, x.Value...)
		if !x.Prefix {
			lit = append(lit, '"')
		}
		return cond{op: opLiteral, lit: lit}
	}
	// IP terms match normalised addresses and ranges, metadata terms
	// numbers and booleans in their query form: no byte condition.
	return cond{}
}

// needsEscape reports whether canonical JSON escapes a byte of s.
func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' {
			return true
		}
	}
	return false
}

// isASCIIWord reports whether w is a non-empty run of ASCII letters and
// digits.
func isASCIIWord(w string) bool {
	if w == "" {
		return false
	}
	for i := 0; i < len(w); i++ {
		c := w[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
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

// hidesASCII reports whether data holds a character that lowers to an
// ASCII letter without being one, so that a word may be in its text
// without its bytes being in data.
func hidesASCII(data []byte) bool {
	return bytes.Contains(data, []byte(capitalIWithDot)) || bytes.Contains(data, []byte(kelvinSign))
}

// containsFold reports whether s holds w up to ASCII case; w must be in
// lower case (its bytes other than ASCII letters are compared as they are).
func containsFold(s, w []byte) bool {
	m := len(w)
	if m == 0 {
		return true
	}
	n := len(s) - m + 1 // candidate starts are [0, n)
	if n <= 0 {
		return false
	}
	// A start i is a candidate when s[i] and s[i+m-1] equal w's first and
	// last bytes with bit 0x20 set: that holds for every match (setting
	// the bit lowers an ASCII capital and leaves w's lower-case bytes as
	// they are), and for few other starts in text. Eight starts are tested
	// at once, one byte lane each; candidates are then compared in full.
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
		bit5  = 0x2020202020202020
	)
	first, last := w[0]|0x20, w[m-1]|0x20
	wantFirst, wantLast := ones*uint64(first), ones*uint64(last)
	i := 0
	for ; i+8 <= n; i += 8 {
		// i+7 < n, so the last lane's last byte, s[i+7+m-1], is in s.
		x := (binary.LittleEndian.Uint64(s[i:]) | bit5) ^ wantFirst
		y := (binary.LittleEndian.Uint64(s[i+m-1:]) | bit5) ^ wantLast
		z := x | y // a zero lane is a candidate
		// The high bit of every zero lane is set, and of a few others
		// (a borrow past a zero lane): all are checked in full.
		for c := (z - ones) &^ z & highs; c != 0; c &= c - 1 {
			if j := i + bits.TrailingZeros64(c)>>3; equalFold(s[j:j+m], w) {
				return true
			}
		}
	}
	for ; i < n; i++ {
		if s[i]|0x20 == first && s[i+m-1]|0x20 == last && equalFold(s[i:i+m], w) {
			return true
		}
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

// String describes the condition, for tests and logs.
func (f *Filter) String() string {
	if f == nil {
		return "any"
	}
	var b strings.Builder
	f.root.format(&b)
	return b.String()
}

func (c *cond) format(b *strings.Builder) {
	switch c.op {
	case opAny:
		b.WriteString("any")
	case opLiteral:
		b.WriteString("has(")
		b.Write(c.lit)
		b.WriteString(")")
	case opWord:
		b.WriteString("word(")
		b.Write(c.word)
		b.WriteString(")")
	case opAnd, opOr:
		sep := " AND "
		if c.op == opOr {
			sep = " OR "
		}
		b.WriteString("(")
		for i := range c.args {
			if i > 0 {
				b.WriteString(sep)
			}
			c.args[i].format(b)
		}
		b.WriteString(")")
	}
}
