package trail

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Query fields: the names a filter Expr may use. A field "metadata.<path>"
// matches a scalar inside Metadata by a dotted path of object keys.
const (
	FieldActor        = "actor"         // actor.id
	FieldAction       = "action"        // action
	FieldOutcome      = "outcome"       // outcome
	FieldSeverity     = "severity"      // severity
	FieldResourceType = "resource_type" // resource.type
	FieldResourceID   = "resource_id"   // resource.id
	FieldIP           = "ip"            // source.ip; the value is an address or a CIDR prefix
	FieldRequestID    = "request_id"    // request.id
	FieldText         = "text"          // free text: a word or a phrase of words, case-insensitive
	MetadataPrefix    = "metadata."
)

// IndexedFields lists the fields with a value index, in a fixed order.
var IndexedFields = []string{FieldActor, FieldAction, FieldOutcome, FieldSeverity,
	FieldResourceType, FieldResourceID, FieldIP, FieldRequestID}

// Query limits.
const (
	DefaultLimit  = 100
	MaxLimit      = 1000
	MaxIndexValue = 128 // index keys are values truncated to this many bytes
	maxExprDepth  = 32
	maxExprTerms  = 256
)

// Order is the order of results by seq.
type Order string

// Orders. The zero Order means OrderDesc.
const (
	OrderDesc Order = "desc"
	OrderAsc  Order = "asc"
)

// Query selects events of one tenant. From is inclusive and To exclusive,
// both on the event's Time; zero values mean unbounded. Filter nil matches
// everything. Limit 0 means DefaultLimit. Cursor continues a previous page.
type Query struct {
	Tenant string
	From   time.Time
	To     time.Time
	Filter *Expr
	Order  Order
	Limit  int
	Cursor string
}

// Page is one page of query results.
type Page struct {
	Events     []*Event `json:"events"`
	NextCursor string   `json:"next_cursor,omitempty"`
}

// Normalize fills defaults and validates q. It returns an EINVALID *Error
// naming the field. The decoded cursor, if any, is returned as the seq
// strictly after (asc) or before (desc) which the page starts, and ok.
func (q *Query) Normalize() (after int64, hasCursor bool, err error) {
	if err := ValidateTenantName(q.Tenant); err != nil {
		return 0, false, err
	}
	switch q.Order {
	case "":
		q.Order = OrderDesc
	case OrderAsc, OrderDesc:
	default:
		return 0, false, FieldError("order", "must be asc or desc")
	}
	if q.Limit == 0 {
		q.Limit = DefaultLimit
	}
	if q.Limit < 0 || q.Limit > MaxLimit {
		return 0, false, FieldError("limit", "must be between 1 and %d", MaxLimit)
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return 0, false, FieldError("from", "must be before to")
	}
	if q.Filter != nil {
		if err := q.Filter.Validate(); err != nil {
			return 0, false, err
		}
	}
	if q.Cursor != "" {
		seq, order, err := DecodeCursor(q.Cursor)
		if err != nil {
			return 0, false, err
		}
		if order != q.Order {
			return 0, false, FieldError("cursor", "was made for order=%s", order)
		}
		return seq, true, nil
	}
	return 0, false, nil
}

// EncodeCursor returns the opaque cursor of a page that ended at seq.
func EncodeCursor(seq int64, order Order) string {
	return base64.RawURLEncoding.EncodeToString([]byte("c1:" + string(order) + ":" + strconv.FormatInt(seq, 10)))
}

// DecodeCursor decodes a cursor made by EncodeCursor.
func DecodeCursor(s string) (seq int64, order Order, err error) {
	bad := FieldError("cursor", "not a cursor returned by this server")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, "", bad
	}
	parts := strings.Split(string(b), ":")
	if len(parts) != 3 || parts[0] != "c1" || (parts[1] != string(OrderAsc) && parts[1] != string(OrderDesc)) {
		return 0, "", bad
	}
	seq, err = strconv.ParseInt(parts[2], 10, 64)
	if err != nil || seq < 0 {
		return 0, "", bad
	}
	return seq, Order(parts[1]), nil
}

// Op is the kind of an Expr node.
type Op uint8

// Expr operators.
const (
	OpTerm Op = iota // Field:Value
	OpAnd            // all Args
	OpOr             // any Arg
	OpNot            // not Args[0]
)

// Expr is a boolean filter over events, the parsed form of the query
// language. A term compares one field with Value exactly (case-sensitive),
// or by prefix when Prefix is set; FieldIP compares by address or CIDR
// containment; FieldText matches a case-insensitive phrase of words (Prefix:
// the last word is a prefix).
type Expr struct {
	Op     Op
	Args   []*Expr
	Field  string
	Value  string
	Prefix bool
}

// Term returns the term field:value.
func Term(field, value string) *Expr { return &Expr{Op: OpTerm, Field: field, Value: value} }

// PrefixTerm returns the term field:value*.
func PrefixTerm(field, value string) *Expr {
	return &Expr{Op: OpTerm, Field: field, Value: value, Prefix: true}
}

// And returns the conjunction of xs.
func And(xs ...*Expr) *Expr { return &Expr{Op: OpAnd, Args: xs} }

// Or returns the disjunction of xs.
func Or(xs ...*Expr) *Expr { return &Expr{Op: OpOr, Args: xs} }

// Not returns the negation of x.
func Not(x *Expr) *Expr { return &Expr{Op: OpNot, Args: []*Expr{x}} }

// String returns x in the query language.
func (x *Expr) String() string {
	if x == nil {
		return ""
	}
	switch x.Op {
	case OpTerm:
		v := x.Value
		if needsQuote(v, x.Field == FieldText) {
			v = strconv.Quote(v)
		}
		if x.Prefix {
			v += "*"
		}
		if x.Field == FieldText {
			return v
		}
		return x.Field + ":" + v
	case OpNot:
		return "-" + x.Args[0].paren()
	case OpAnd, OpOr:
		sep := " "
		if x.Op == OpOr {
			sep = " OR "
		}
		parts := make([]string, len(x.Args))
		for i, a := range x.Args {
			parts[i] = a.paren()
		}
		return strings.Join(parts, sep)
	}
	return "?"
}

// needsQuote reports whether a term value must be quoted to read back as
// itself: when it is empty, not valid UTF-8, holds white space, a control
// character, a quote or a parenthesis, or ends with *; and for free text
// also when it is AND, OR or NOT, starts with "-" or holds a colon.
func needsQuote(v string, text bool) bool {
	if v == "" || !utf8.ValidString(v) || strings.HasSuffix(v, "*") {
		return true
	}
	if text && (v[0] == '-' || v == "AND" || v == "OR" || v == "NOT") {
		return true
	}
	for _, r := range v {
		switch {
		case r == '"' || r == '(' || r == ')' || text && r == ':':
			return true
		case unicode.IsSpace(r) || unicode.IsControl(r):
			return true
		}
	}
	return false
}

func (x *Expr) paren() string {
	if x.Op == OpAnd || x.Op == OpOr {
		return "(" + x.String() + ")"
	}
	return x.String()
}

// ValidField reports whether f names a query field.
func ValidField(f string) bool {
	switch f {
	case FieldActor, FieldAction, FieldOutcome, FieldSeverity, FieldResourceType,
		FieldResourceID, FieldIP, FieldRequestID, FieldText:
		return true
	}
	if p, ok := strings.CutPrefix(f, MetadataPrefix); ok {
		for _, k := range strings.Split(p, ".") {
			if k == "" {
				return false
			}
		}
		return true
	}
	return false
}

// Validate checks the structure, the field names and the values of x. It
// returns an EINVALID *Error with Field "q".
func (x *Expr) Validate() error {
	terms := 0
	return x.validate(0, &terms)
}

func (x *Expr) validate(depth int, terms *int) error {
	if x == nil {
		return FieldError("q", "empty expression")
	}
	if depth > maxExprDepth {
		return FieldError("q", "nested deeper than %d", maxExprDepth)
	}
	switch x.Op {
	case OpTerm:
		*terms++
		if *terms > maxExprTerms {
			return FieldError("q", "more than %d terms", maxExprTerms)
		}
		return validateTerm(x)
	case OpNot:
		if len(x.Args) != 1 {
			return FieldError("q", "negation takes one operand")
		}
	case OpAnd, OpOr:
		if len(x.Args) == 0 {
			return FieldError("q", "empty AND/OR")
		}
	default:
		return FieldError("q", "unknown operator %d", x.Op)
	}
	for _, a := range x.Args {
		if err := a.validate(depth+1, terms); err != nil {
			return err
		}
	}
	return nil
}

func validateTerm(x *Expr) error {
	if !ValidField(x.Field) {
		return FieldError("q", "unknown field %q", x.Field)
	}
	if !utf8.ValidString(x.Value) {
		return FieldError("q", "%s: value is not valid UTF-8", x.Field)
	}
	switch x.Field {
	case FieldIP:
		if x.Prefix {
			return FieldError("q", "ip: use CIDR notation instead of *")
		}
		if _, err := parseIPMatch(x.Value); err != nil {
			return FieldError("q", "ip: %q is not an IP address or CIDR prefix", x.Value)
		}
	case FieldOutcome:
		if !x.Prefix && !validOutcome(x.Value) {
			return FieldError("q", "outcome: must be one of success, failure, denied, error, unknown")
		}
	case FieldSeverity:
		if !x.Prefix && !validSeverity(x.Value) {
			return FieldError("q", "severity: must be one of info, low, medium, high, critical")
		}
	case FieldText:
		if len(Words(x.Value)) == 0 {
			return FieldError("q", "free text %q has no words", x.Value)
		}
	default:
		if x.Value == "" && !x.Prefix {
			return FieldError("q", "%s: empty value", x.Field)
		}
	}
	return nil
}

func parseIPMatch(v string) (netip.Prefix, error) {
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return p, err
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ParseIPMatch parses the value of an ip term: an address (a prefix of full
// length) or a CIDR prefix, normalised (IPv4-mapped addresses unmapped,
// host bits cleared).
func ParseIPMatch(v string) (netip.Prefix, error) { return parseIPMatch(v) }

// CanonicalIP returns the normalised text form of an address, as indexed,
// or "" when s is not an address.
func CanonicalIP(s string) string {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return ""
	}
	var buf [64]byte
	b := a.Unmap().WithZone("").AppendTo(buf[:0])
	if string(b) == s {
		return s // already canonical: no copy
	}
	return string(b)
}

// Matcher reports whether an event matches a filter.
type Matcher func(*Event) bool

// Compile validates x and returns its matcher. A nil x matches everything.
// The matcher is the reference semantics of the query language: stores may
// prune with indexes but must return exactly the events it accepts.
func (x *Expr) Compile() (Matcher, error) {
	if x == nil {
		return func(*Event) bool { return true }, nil
	}
	if err := x.Validate(); err != nil {
		return nil, err
	}
	return x.compile(), nil
}

func (x *Expr) compile() Matcher {
	switch x.Op {
	case OpAnd:
		ms := compileAll(x.Args)
		return func(e *Event) bool {
			for _, m := range ms {
				if !m(e) {
					return false
				}
			}
			return true
		}
	case OpOr:
		ms := compileAll(x.Args)
		return func(e *Event) bool {
			for _, m := range ms {
				if m(e) {
					return true
				}
			}
			return false
		}
	case OpNot:
		m := x.Args[0].compile()
		return func(e *Event) bool { return !m(e) }
	}
	return compileTerm(x)
}

func compileAll(xs []*Expr) []Matcher {
	ms := make([]Matcher, len(xs))
	for i, a := range xs {
		ms[i] = a.compile()
	}
	return ms
}

func compileTerm(x *Expr) Matcher {
	value, prefix := x.Value, x.Prefix
	cmp := func(s string) bool {
		if prefix {
			return strings.HasPrefix(s, value)
		}
		return s == value
	}
	switch x.Field {
	case FieldIP:
		p, _ := parseIPMatch(value)
		return func(e *Event) bool {
			if e.Source == nil {
				return false
			}
			a, err := netip.ParseAddr(e.Source.IP)
			return err == nil && p.Contains(a.Unmap().WithZone(""))
		}
	case FieldText:
		phrase := Words(value)
		return func(e *Event) bool {
			found := false
			TextFields(e, func(s string) bool {
				found = textContainsPhrase(s, phrase, prefix)
				return !found
			})
			return found
		}
	}
	if path, ok := strings.CutPrefix(x.Field, MetadataPrefix); ok {
		keys := strings.Split(path, ".")
		return func(e *Event) bool {
			v, ok := lookupPath(e.Metadata, keys)
			if !ok {
				return false
			}
			found := false
			metadataScalars(v, func(s string) {
				found = found || cmp(s)
			})
			return found
		}
	}
	field := x.Field
	return func(e *Event) bool {
		v := FieldValue(e, field)
		return v != "" && cmp(v)
	}
}

// textContainsPhrase reports whether Words(s) holds phrase, as
// containsPhrase(Words(s), phrase, prefix) does, without allocating.
func textContainsPhrase(s string, phrase []string, prefix bool) bool {
	if len(phrase) == 0 {
		return true
	}
	var buf wordBuf
	for i := 0; ; {
		start, end := nextWord(s, i)
		if start == end {
			return false
		}
		i = end
		// Match the phrase against the words from start on.
		j, at := 0, start
		for {
			from, to := nextWord(s, at)
			if from == to {
				break
			}
			at = to
			p := phrase[j]
			last := j == len(phrase)-1
			key, lowered := buf.key(s[from:to])
			var ok bool
			switch {
			case prefix && last && lowered != nil:
				ok = len(lowered) >= len(p) && string(lowered[:len(p)]) == p
			case prefix && last:
				ok = strings.HasPrefix(key, p)
			case lowered != nil:
				ok = string(lowered) == p
			default:
				ok = key == p
			}
			if !ok {
				break
			}
			if last {
				return true
			}
			j++
		}
	}
}

func containsPhrase(words, phrase []string, prefix bool) bool {
	n := len(phrase)
	for i := 0; i+n <= len(words); i++ {
		ok := true
		for j := 0; j < n; j++ {
			w, p := words[i+j], phrase[j]
			if prefix && j == n-1 {
				ok = strings.HasPrefix(w, p)
			} else {
				ok = w == p
			}
			if !ok {
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// FieldValue returns the value of an indexed field of e, "" when unset.
// For FieldIP it is the normalised address.
func FieldValue(e *Event, field string) string {
	switch field {
	case FieldActor:
		return e.Actor.ID
	case FieldAction:
		return e.Action
	case FieldOutcome:
		return e.Outcome
	case FieldSeverity:
		return e.Severity
	case FieldResourceType:
		if e.Resource != nil {
			return e.Resource.Type
		}
	case FieldResourceID:
		if e.Resource != nil {
			return e.Resource.ID
		}
	case FieldIP:
		if e.Source != nil {
			return CanonicalIP(e.Source.IP)
		}
	case FieldRequestID:
		if e.Request != nil {
			return e.Request.ID
		}
	}
	return ""
}

func lookupPath(m map[string]any, keys []string) (any, bool) {
	var v any = m
	for _, k := range keys {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

// metadataScalars calls fn with the string form of v when v is a scalar,
// or of each scalar element when v is an array.
func metadataScalars(v any, fn func(string)) {
	if arr, ok := v.([]any); ok {
		for _, a := range arr {
			if s, ok := ScalarString(a); ok {
				fn(s)
			}
		}
		return
	}
	if s, ok := ScalarString(v); ok {
		fn(s)
	}
}

// ScalarString returns the query form of a JSON scalar: a string as is, a
// number as in canonical JSON, true/false, null. ok is false for objects
// and arrays.
func ScalarString(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case float64:
		if t >= 0 && t < 100 && t == float64(int(t)) {
			return strconv.Itoa(int(t)), true // the same digits, without allocating
		}
		return FormatNumber(t), true
	case bool:
		return strconv.FormatBool(t), true
	case nil:
		return "null", true
	case int:
		return strconv.Itoa(t), true
	case int64:
		return strconv.FormatInt(t, 10), true
	case interface{ String() string }: // json.Number
		if f, err := strconv.ParseFloat(t.String(), 64); err == nil {
			return FormatNumber(f), true
		}
		return t.String(), true
	}
	return "", false
}

// TextFields calls fn with every free-text field of e until fn returns
// false: action, reason, actor id/name/email, resource type/id/name, user
// agent, request path, changes (field and string values) and every string
// in metadata.
func TextFields(e *Event, fn func(string) bool) {
	if !textField(e.Action, fn) || !textField(e.Reason, fn) ||
		!textField(e.Actor.ID, fn) || !textField(e.Actor.Name, fn) || !textField(e.Actor.Email, fn) {
		return
	}
	if r := e.Resource; r != nil && (!textField(r.Type, fn) || !textField(r.ID, fn) || !textField(r.Name, fn)) {
		return
	}
	if s := e.Source; s != nil && !textField(s.UserAgent, fn) {
		return
	}
	if r := e.Request; r != nil && !textField(r.Path, fn) {
		return
	}
	for _, c := range e.Changes {
		if !fn(c.Field) || !walkStrings(c.Old, fn) || !walkStrings(c.New, fn) {
			return
		}
	}
	walkStrings(e.Metadata, fn)
}

// textField calls fn with s unless s is empty and returns whether to go on.
func textField(s string, fn func(string) bool) bool {
	return s == "" || fn(s)
}

func walkStrings(v any, fn func(string) bool) bool {
	switch t := v.(type) {
	case string:
		return fn(t)
	case map[string]any:
		for _, x := range t {
			if !walkStrings(x, fn) {
				return false
			}
		}
	case []any:
		for _, x := range t {
			if !walkStrings(x, fn) {
				return false
			}
		}
	}
	return true
}

// Words splits s into lowercase words: maximal runs of letters and digits.
// Words longer than MaxIndexValue bytes are truncated.
func Words(s string) []string {
	n := 0
	for i := 0; ; n++ {
		start, end := nextWord(s, i)
		if start == end {
			break
		}
		i = end
	}
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	var buf wordBuf
	for i := 0; ; {
		start, end := nextWord(s, i)
		if start == end {
			return out
		}
		i = end
		out = append(out, buf.keyString(s[start:end]))
	}
}

// isWordByte reports which ASCII bytes are letters or digits.
var isWordByte = [utf8.RuneSelf]bool{
	'0': true, '1': true, '2': true, '3': true, '4': true, '5': true, '6': true, '7': true, '8': true, '9': true,
	'A': true, 'B': true, 'C': true, 'D': true, 'E': true, 'F': true, 'G': true, 'H': true, 'I': true,
	'J': true, 'K': true, 'L': true, 'M': true, 'N': true, 'O': true, 'P': true, 'Q': true, 'R': true,
	'S': true, 'T': true, 'U': true, 'V': true, 'W': true, 'X': true, 'Y': true, 'Z': true,
	'a': true, 'b': true, 'c': true, 'd': true, 'e': true, 'f': true, 'g': true, 'h': true, 'i': true,
	'j': true, 'k': true, 'l': true, 'm': true, 'n': true, 'o': true, 'p': true, 'q': true, 'r': true,
	's': true, 't': true, 'u': true, 'v': true, 'w': true, 'x': true, 'y': true, 'z': true,
}

// nextWord returns the bounds of the first word of s at or after byte i: a
// maximal run of letters and digits (unicode.IsLetter, unicode.IsDigit).
// start == end == len(s) when there is none. Invalid UTF-8 separates words.
func nextWord(s string, i int) (start, end int) {
	for i < len(s) {
		if c := s[i]; c < utf8.RuneSelf {
			if isWordByte[c] {
				break
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			break
		}
		i += n
	}
	start = i
	for i < len(s) {
		if c := s[i]; c < utf8.RuneSelf {
			if !isWordByte[c] {
				break
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			break
		}
		i += n
	}
	return start, i
}

// wordBuf is room for the index key of one lowered word.
type wordBuf [MaxIndexValue + utf8.UTFMax]byte

// key returns the index key of the word w, IndexKey(strings.ToLower(w)),
// without allocating. When lowering changes none of the key's bytes, the
// key is a substring of w and lowered is nil; otherwise key is "" and
// lowered holds the key in b, valid until the next call.
func (b *wordBuf) key(w string) (key string, lowered []byte) {
	// ASCII without upper case is its own lower case.
	i := 0
	for i < len(w) && i < MaxIndexValue {
		if c := w[i]; c >= utf8.RuneSelf || 'A' <= c && c <= 'Z' {
			break
		}
		i++
	}
	if i == len(w) || i == MaxIndexValue {
		return IndexKey(w), nil
	}
	// strings.ToLower maps each rune with unicode.ToLower; a key needs
	// only the first MaxIndexValue bytes of the result.
	out := append(b[:0], w[:i]...)
	changed := false
	for i < len(w) && len(out) < MaxIndexValue {
		c := w[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
				changed = true
			}
			out = append(out, c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(w[i:])
		if l := unicode.ToLower(r); l != r {
			r, changed = l, true
		}
		out = utf8.AppendRune(out, r)
		i += n
	}
	if !changed {
		return IndexKey(w), nil
	}
	return "", out[:min(len(out), MaxIndexValue)]
}

// keyString returns the index key of w as a string.
func (b *wordBuf) keyString(w string) string {
	key, lowered := b.key(w)
	if lowered != nil {
		return string(lowered)
	}
	return key
}

// wordSet is a set of the distinct words of one event: an open-addressed
// table over words while they are few, a map beyond.
type wordSet struct {
	buf   wordBuf
	n     int                   // words in the table
	words [wordSlots / 2]string // the table's words, in order of insertion
	slots [wordSlots]uint8      // 1 + an index into words; 0 is empty
	big   map[string]struct{}   // every word, once the table is full
}

const wordSlots = 128 // a power of two; the table holds at most half as many words

// add calls fn(FieldText, key) for each word of s whose key is not in the
// set yet, and adds it. Words of ASCII letters and digits no longer than
// MaxIndexValue, nearly all, are found, lowered and hashed in one pass;
// the others take addWord.
func (ws *wordSet) add(s string, fn func(field, key string)) {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			i = ws.addWord(s, i, fn)
			continue
		}
		if !isWordByte[c] {
			i++
			continue
		}
		start, h, upper := i, uint32(fnvOffset), false
		for ; i < len(s); i++ {
			c := s[i]
			if !isWordByte[c&0x7f] || c >= utf8.RuneSelf {
				break
			}
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
				upper = true
			}
			h = (h ^ uint32(c)) * fnvPrime
		}
		if i < len(s) && s[i] >= utf8.RuneSelf || i-start > MaxIndexValue {
			i = ws.addWord(s, start, fn) // the word goes on past ASCII, or is cut
			continue
		}
		w := s[start:i]
		if upper {
			lowered := append(ws.buf[:0], w...)
			for j, c := range lowered {
				if 'A' <= c && c <= 'Z' {
					lowered[j] = c + 'a' - 'A'
				}
			}
			if ws.hasBytes(lowered, h) {
				continue
			}
			w = string(lowered)
		}
		if ws.insert(w, h) {
			fn(FieldText, w)
		}
	}
}

// addWord calls fn(FieldText, key) for the first word of s at or after
// byte i if its key is not in the set yet, adds it, and returns the end of
// the word (len(s) when there is none).
func (ws *wordSet) addWord(s string, i int, fn func(field, key string)) int {
	start, end := nextWord(s, i)
	if start == end {
		return end
	}
	key, lowered := ws.buf.key(s[start:end])
	if lowered != nil {
		h := hashWordBytes(lowered)
		if ws.hasBytes(lowered, h) {
			return end
		}
		key = string(lowered)
		ws.insert(key, h)
		fn(FieldText, key)
		return end
	}
	if ws.insert(key, hashWord(key)) {
		fn(FieldText, key)
	}
	return end
}

// The parameters of FNV-1a, the hash of wordSet's table.
const (
	fnvOffset = 2166136261
	fnvPrime  = 16777619
)

// hashWord is FNV-1a.
func hashWord(s string) uint32 {
	h := uint32(fnvOffset)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * fnvPrime
	}
	return h
}

func hashWordBytes(s []byte) uint32 {
	h := uint32(fnvOffset)
	for _, c := range s {
		h = (h ^ uint32(c)) * fnvPrime
	}
	return h
}

// hasBytes reports whether the set holds the word w, whose hash is h.
func (ws *wordSet) hasBytes(w []byte, h uint32) bool {
	if ws.big != nil {
		_, ok := ws.big[string(w)]
		return ok
	}
	for i := h; ; i++ {
		j := ws.slots[i%wordSlots]
		if j == 0 {
			return false
		}
		if ws.words[j-1] == string(w) {
			return true
		}
	}
}

// insert adds w, whose hash is h, and reports whether it was new.
func (ws *wordSet) insert(w string, h uint32) bool {
	if ws.big != nil {
		if _, ok := ws.big[w]; ok {
			return false
		}
		ws.big[w] = struct{}{}
		return true
	}
	i := h
	for ; ; i++ {
		j := ws.slots[i%wordSlots]
		if j == 0 {
			break
		}
		if ws.words[j-1] == w {
			return false
		}
	}
	ws.words[ws.n] = w
	ws.n++
	ws.slots[i%wordSlots] = uint8(ws.n)
	if ws.n == len(ws.words) {
		ws.big = make(map[string]struct{}, 2*ws.n)
		for _, w := range ws.words {
			ws.big[w] = struct{}{}
		}
	}
	return true
}

// IndexKey is the form under which a value is indexed: truncated to
// MaxIndexValue bytes. Every index lookup must use the same form.
func IndexKey(v string) string {
	if len(v) > MaxIndexValue {
		return v[:MaxIndexValue]
	}
	return v
}

// IndexTerms calls fn(field, key) for every index entry of e: each indexed
// field that is set, every scalar in Metadata under its dotted path
// ("metadata.plan"), and each distinct free-text word under FieldText. Keys
// are in IndexKey form. For every term that e matches, the term's lookup key
// is among these entries, so an index built from them never misses a match.
func IndexTerms(e *Event, fn func(field, key string)) {
	for _, f := range IndexedFields {
		if v := FieldValue(e, f); v != "" {
			fn(f, IndexKey(v))
		}
	}
	if len(e.Metadata) > 0 {
		var prefix [64]byte
		indexMetadata(append(prefix[:0], MetadataPrefix...), e.Metadata, 0, fn)
	}
	var words wordSet
	TextFields(e, func(s string) bool {
		words.add(s, fn)
		return true
	})
}

// indexMetadata calls fn for the scalars of m under the dotted paths that
// start with prefix. A field name is allocated once per key that has
// scalars.
func indexMetadata(prefix []byte, m map[string]any, depth int, fn func(field, key string)) {
	if depth >= 4 {
		return
	}
	for k, v := range m {
		if k == "" || strings.Contains(k, ".") {
			continue // not addressable by a dotted path
		}
		if obj, ok := v.(map[string]any); ok {
			indexMetadata(append(append(prefix, k...), '.'), obj, depth+1, fn)
			continue
		}
		field := ""
		metadataScalars(v, func(s string) {
			if field == "" {
				field = string(append(prefix, k...))
			}
			fn(field, IndexKey(s))
		})
	}
}

// MetadataIndexed reports whether a metadata field is covered by
// IndexTerms (its path is at most four keys deep).
func MetadataIndexed(field string) bool {
	p, ok := strings.CutPrefix(field, MetadataPrefix)
	return ok && strings.Count(p, ".") < 4
}

// GoString helps debugging.
func (x *Expr) GoString() string { return fmt.Sprintf("Expr(%s)", x.String()) }
