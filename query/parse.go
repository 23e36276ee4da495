package query

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/trail-audit/trail"
)

// Limits of the language.
const (
	MaxLength = 4096 // bytes of input
	MaxDepth  = 32   // levels of nesting below the root, as trail.Expr.Validate counts them; also of parentheses
	MaxTerms  = 256  // terms in one query, as trail.Expr.Validate allows
)

// aliases maps the accepted spellings of the indexed fields to their names.
var aliases = map[string]string{
	"actor.id":      trail.FieldActor,
	"resource.type": trail.FieldResourceType,
	"resource.id":   trail.FieldResourceID,
	"source.ip":     trail.FieldIP,
	"request.id":    trail.FieldRequestID,
}

// Parse parses s in the query language. It returns nil and no error when s is
// empty or blank. The result passes (*trail.Expr).Validate; AND and OR nodes
// always have two or more operands. Errors are *trail.Error values with Code
// trail.EINVALID, Field "q" and a Message that starts with "column N: ".
// Parse is safe for concurrent use.
func Parse(s string) (*trail.Expr, error) {
	if len(s) > MaxLength {
		return nil, &trail.Error{Code: trail.EINVALID, Field: "q",
			Message: fmt.Sprintf("query is %d bytes, the limit is %d", len(s), MaxLength)}
	}
	if !utf8.ValidString(s) {
		i := 0
		for i < len(s) {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				break
			}
			i += n
		}
		return nil, errorAt(s, i, "invalid UTF-8")
	}
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	if len(toks) == 1 { // only EOF
		return nil, nil
	}
	p := &parser{src: s, toks: toks}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, p.unexpected(t)
	}
	if err := n.x.Validate(); err != nil { // not reached: terms, depth and count are checked above
		return nil, wrapAt(s, 0, err)
	}
	return n.x, nil
}

// errorAt returns the EINVALID error for byte offset pos of s.
func errorAt(s string, pos int, format string, args ...any) *trail.Error {
	return &trail.Error{Code: trail.EINVALID, Field: "q",
		Message: fmt.Sprintf("column %d: ", column(s, pos)) + fmt.Sprintf(format, args...)}
}

// wrapAt turns a validation error into a parse error at byte offset pos.
func wrapAt(s string, pos int, err error) *trail.Error {
	msg := err.Error()
	var te *trail.Error
	if errors.As(err, &te) {
		msg = te.Message
	}
	return errorAt(s, pos, "%s", msg)
}

// column returns the 1-based column, in characters, of byte offset pos.
func column(s string, pos int) int { return utf8.RuneCountInString(s[:pos]) + 1 }

type tokKind uint8

const (
	tokEOF tokKind = iota
	tokLParen
	tokRParen
	tokMinus
	tokNot
	tokAnd
	tokOr
	tokTerm
)

// token is one lexical unit. pos and end are byte offsets into the input.
type token struct {
	kind     tokKind
	pos, end int
	field    string // tokTerm: the field as written, "" for free text
	fieldEnd int    // tokTerm: offset of the ":" after the field
	value    string // tokTerm: the unquoted value without a trailing *
	prefix   bool   // tokTerm: the value ended with an unquoted *
}

func (t token) String() string {
	switch t.kind {
	case tokEOF:
		return "end of query"
	case tokLParen:
		return `"("`
	case tokRParen:
		return `")"`
	case tokMinus:
		return `"-"`
	case tokNot:
		return "NOT"
	case tokAnd:
		return "AND"
	case tokOr:
		return "OR"
	}
	return "term"
}

func isSpace(r rune) bool { return unicode.IsSpace(r) }

// wordEnd returns the offset where the word starting at i ends: at white
// space, a parenthesis, a quote or the end.
func wordEnd(s string, i int) int {
	for i < len(s) {
		c := s[i]
		if c == '(' || c == ')' || c == '"' {
			return i
		}
		if c < utf8.RuneSelf {
			if isSpace(rune(c)) {
				return i
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if isSpace(r) {
			return i
		}
		i += n
	}
	return i
}

// lex splits s into tokens, ending with tokEOF.
func lex(s string) ([]token, error) {
	var toks []token
	i := 0
	for {
		for i < len(s) {
			r, n := utf8.DecodeRuneInString(s[i:])
			if !isSpace(r) {
				break
			}
			i += n
		}
		if i == len(s) {
			return append(toks, token{kind: tokEOF, pos: i, end: i}), nil
		}
		switch c := s[i]; c {
		case '(':
			toks = append(toks, token{kind: tokLParen, pos: i, end: i + 1})
			i++
		case ')':
			toks = append(toks, token{kind: tokRParen, pos: i, end: i + 1})
			i++
		case '-':
			toks = append(toks, token{kind: tokMinus, pos: i, end: i + 1})
			i++
		case '"':
			t := token{kind: tokTerm, pos: i}
			v, end, err := scanValue(s, i)
			if err != nil {
				return nil, err
			}
			t.value, t.prefix, t.end = v.text, v.prefix, end
			toks = append(toks, t)
			i = end
		default:
			end := wordEnd(s, i)
			word := s[i:end]
			switch word {
			case "AND":
				toks = append(toks, token{kind: tokAnd, pos: i, end: end})
				i = end
				continue
			case "OR":
				toks = append(toks, token{kind: tokOr, pos: i, end: end})
				i = end
				continue
			case "NOT":
				toks = append(toks, token{kind: tokNot, pos: i, end: end})
				i = end
				continue
			}
			t := token{kind: tokTerm, pos: i}
			vstart := i
			if c := strings.IndexByte(word, ':'); c >= 0 {
				if c == 0 {
					return nil, errorAt(s, i, `missing field name before ":"`)
				}
				t.field, t.fieldEnd = word[:c], i+c
				vstart = i + c + 1
				if vstart == end && (end == len(s) || s[end] != '"') {
					return nil, errorAt(s, i, "missing value after %q", t.field+":")
				}
			}
			v, vend, err := scanValue(s, vstart)
			if err != nil {
				return nil, err
			}
			t.value, t.prefix, t.end = v.text, v.prefix, vend
			toks = append(toks, t)
			i = vend
		}
	}
}

type value struct {
	text   string
	prefix bool
}

// scanValue scans a word or a quoted string at i, then an optional *, and
// checks that a separator follows. It returns the value and its end.
func scanValue(s string, i int) (value, int, error) {
	var v value
	var end int
	if i < len(s) && s[i] == '"' {
		text, e, err := scanQuoted(s, i)
		if err != nil {
			return v, 0, err
		}
		v.text, end = text, e
		if end < len(s) && s[end] == '*' {
			v.prefix = true
			end++
		}
	} else {
		end = wordEnd(s, i)
		v.text = s[i:end]
		if strings.HasSuffix(v.text, "*") {
			v.text, v.prefix = v.text[:len(v.text)-1], true
		}
	}
	if end < len(s) {
		switch s[end] {
		case '(', ')':
		case '"':
			return v, 0, errorAt(s, end, "unexpected '\"': put a space before a quoted value")
		default:
			r, _ := utf8.DecodeRuneInString(s[end:])
			if !isSpace(r) {
				return v, 0, errorAt(s, end, "unexpected %q after quoted value", r)
			}
		}
	}
	return v, end, nil
}

// scanQuoted decodes the quoted string that starts at s[i] == '"' and
// returns it and the offset after its closing quote.
func scanQuoted(s string, i int) (string, int, error) {
	open := i
	i++
	var b []byte
	start := i
	for i < len(s) {
		switch s[i] {
		case '"':
			if b == nil {
				return s[start:i], i + 1, nil
			}
			return string(append(b, s[start:i]...)), i + 1, nil
		case '\\':
			b = append(b, s[start:i]...)
			if i+1 == len(s) {
				return "", 0, errorAt(s, open, "unterminated quote")
			}
			r, multibyte, tail, err := strconv.UnquoteChar(s[i:], '"')
			if err != nil {
				return "", 0, errorAt(s, i, "invalid escape sequence in quoted value (use \\\" or \\\\)")
			}
			if multibyte {
				b = utf8.AppendRune(b, r)
			} else {
				b = append(b, byte(r))
			}
			i = len(s) - len(tail)
			start = i
		default:
			i++
		}
	}
	return "", 0, errorAt(s, open, "unterminated quote")
}

// node is a parsed expression with its height (a term is 1) and the byte
// offset where it starts.
type node struct {
	x      *trail.Expr
	height int
	pos    int
}

type parser struct {
	src    string
	toks   []token
	i      int
	parens int
	terms  int
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

// startsUnary reports whether t can start an operand.
func startsUnary(t token) bool {
	switch t.kind {
	case tokTerm, tokLParen, tokMinus, tokNot:
		return true
	}
	return false
}

func (p *parser) unexpected(t token) error {
	if t.kind == tokEOF {
		return errorAt(p.src, t.pos, "unexpected end of query")
	}
	return errorAt(p.src, t.pos, "unexpected %s", t)
}

// operand parses the operand that must follow the operator op.
func (p *parser) operand(op token, parse func() (node, error)) (node, error) {
	if t := p.peek(); !startsUnary(t) {
		if t.kind == tokEOF || t.kind == tokRParen {
			return node{}, errorAt(p.src, op.pos, "expected a term after %s", op)
		}
		return node{}, p.unexpected(t)
	}
	return parse()
}

func (p *parser) or() (node, error) {
	first, err := p.and()
	if err != nil {
		return node{}, err
	}
	if p.peek().kind != tokOr {
		return first, nil
	}
	ns := []node{first}
	for p.peek().kind == tokOr {
		op := p.next()
		n, err := p.operand(op, p.and)
		if err != nil {
			return node{}, err
		}
		ns = append(ns, n)
	}
	return p.join(trail.OpOr, ns)
}

func (p *parser) and() (node, error) {
	first, err := p.unary()
	if err != nil {
		return node{}, err
	}
	ns := []node{first}
	for {
		t := p.peek()
		if t.kind == tokAnd {
			p.next()
			n, err := p.operand(t, p.unary)
			if err != nil {
				return node{}, err
			}
			ns = append(ns, n)
			continue
		}
		if !startsUnary(t) {
			break
		}
		n, err := p.unary()
		if err != nil {
			return node{}, err
		}
		ns = append(ns, n)
	}
	if len(ns) == 1 {
		return first, nil
	}
	return p.join(trail.OpAnd, ns)
}

// join builds an AND or OR node of ns.
func (p *parser) join(op trail.Op, ns []node) (node, error) {
	x := &trail.Expr{Op: op, Args: make([]*trail.Expr, len(ns))}
	h := 0
	for i, n := range ns {
		x.Args[i] = n.x
		h = max(h, n.height)
	}
	return p.check(node{x: x, height: h + 1, pos: ns[0].pos})
}

// check rejects a node nested deeper than MaxDepth.
func (p *parser) check(n node) (node, error) {
	if n.height > MaxDepth+1 {
		return node{}, errorAt(p.src, n.pos, "nested deeper than %d levels", MaxDepth)
	}
	return n, nil
}

func (p *parser) unary() (node, error) {
	t := p.peek()
	if t.kind != tokMinus && t.kind != tokNot {
		return p.primary()
	}
	p.next()
	if t.kind == tokMinus {
		if n := p.peek(); n.pos != t.end || !startsUnary(n) {
			return node{}, errorAt(p.src, t.pos, `"-" must be directly followed by a term or "("`)
		}
	}
	n, err := p.operand(t, p.unary)
	if err != nil {
		return node{}, err
	}
	return p.check(node{x: trail.Not(n.x), height: n.height + 1, pos: t.pos})
}

func (p *parser) primary() (node, error) {
	t := p.next()
	switch t.kind {
	case tokTerm:
		return p.term(t)
	case tokLParen:
		if p.parens == MaxDepth {
			return node{}, errorAt(p.src, t.pos, "parentheses nested deeper than %d", MaxDepth)
		}
		if p.peek().kind == tokRParen {
			return node{}, errorAt(p.src, t.pos, "empty parentheses")
		}
		if p.peek().kind == tokEOF {
			return node{}, errorAt(p.src, t.pos, `"(" is never closed`)
		}
		p.parens++
		n, err := p.or()
		if err != nil {
			return node{}, err
		}
		p.parens--
		switch c := p.next(); c.kind {
		case tokRParen:
		case tokEOF:
			return node{}, errorAt(p.src, t.pos, `"(" is never closed`)
		default:
			return node{}, p.unexpected(c)
		}
		n.pos = t.pos
		return n, nil
	}
	return node{}, p.unexpected(t)
}

func (p *parser) term(t token) (node, error) {
	p.terms++
	if p.terms > MaxTerms {
		return node{}, errorAt(p.src, t.pos, "more than %d terms", MaxTerms)
	}
	field := trail.FieldText
	if t.field != "" {
		f, err := resolveField(t.field)
		if err != nil {
			return node{}, wrapAt(p.src, t.pos, err)
		}
		field = f
	}
	x := &trail.Expr{Op: trail.OpTerm, Field: field, Value: t.value, Prefix: t.prefix}
	if err := x.Validate(); err != nil {
		return node{}, wrapAt(p.src, t.pos, err)
	}
	return node{x: x, height: 1, pos: t.pos}, nil
}

// resolveField maps a field as written to its trail name.
func resolveField(f string) (string, error) {
	if a, ok := aliases[f]; ok {
		return a, nil
	}
	if trail.ValidField(f) {
		return f, nil
	}
	if f == "metadata" || strings.HasPrefix(f, trail.MetadataPrefix) {
		return "", fmt.Errorf("invalid metadata path %q: want metadata.key or metadata.key.key…", f)
	}
	return "", fmt.Errorf("unknown field %q", f)
}
