package query

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/trail-audit/trail"
)

// Format returns x in the query language, such that Parse(Format(x)) is an
// Expr with the same structure as x when x is valid and its AND and OR nodes
// have two or more operands (as Parse returns them). It is x.String() with
// values quoted wherever the parser needs it. A nil x formats as "".
func Format(x *trail.Expr) string {
	var b strings.Builder
	format(&b, x)
	return b.String()
}

func format(b *strings.Builder, x *trail.Expr) {
	if x == nil {
		return
	}
	switch x.Op {
	case trail.OpTerm:
		text := x.Field == trail.FieldText
		if !text {
			b.WriteString(x.Field)
			b.WriteByte(':')
		}
		if NeedsQuote(x.Value, text) {
			b.WriteString(strconv.Quote(x.Value))
		} else {
			b.WriteString(x.Value)
		}
		if x.Prefix {
			b.WriteByte('*')
		}
	case trail.OpNot:
		b.WriteByte('-')
		if len(x.Args) > 0 {
			formatOperand(b, x.Args[0])
		}
	case trail.OpAnd, trail.OpOr:
		for i, a := range x.Args {
			if i > 0 {
				if x.Op == trail.OpOr {
					b.WriteString(" OR ")
				} else {
					b.WriteByte(' ')
				}
			}
			formatOperand(b, a)
		}
	default:
		b.WriteByte('?')
	}
}

func formatOperand(b *strings.Builder, x *trail.Expr) {
	if x != nil && (x.Op == trail.OpAnd || x.Op == trail.OpOr) {
		b.WriteByte('(')
		format(b, x)
		b.WriteByte(')')
		return
	}
	format(b, x)
}

// NeedsQuote reports whether a term value must be quoted to read back as
// itself: when it is empty, not valid UTF-8, holds white space, a control
// character, a quote or a parenthesis, or ends with *; and for free text
// (text true) also when it is AND, OR or NOT, starts with "-" or holds a
// colon.
func NeedsQuote(v string, text bool) bool {
	if v == "" || !utf8.ValidString(v) || strings.HasSuffix(v, "*") {
		return true
	}
	if text && (v[0] == '-' || v == "AND" || v == "OR" || v == "NOT") {
		return true
	}
	for _, r := range v {
		switch r {
		case '"', '(', ')':
			return true
		case ':':
			if text {
				return true
			}
		}
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return true
		}
	}
	return false
}
