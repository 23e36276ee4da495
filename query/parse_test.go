package query

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/trail-audit/trail"
)

var (
	term   = trail.Term
	prefix = trail.PrefixTerm
	and    = trail.And
	or     = trail.Or
	not    = trail.Not
)

func text(v string) *trail.Expr       { return term(trail.FieldText, v) }
func textPrefix(v string) *trail.Expr { return prefix(trail.FieldText, v) }

// parseTests are valid queries and the Expr each parses to. They also seed
// FuzzParse.
var parseTests = []struct {
	name string
	in   string
	want *trail.Expr
}{
	{"empty", "", nil},
	{"blank", " \t\n ", nil},
	{"field term", "action:user.login", term("action", "user.login")},
	{"every field", "actor:u_42 action:a outcome:failure severity:high resource_type:route resource_id:r_9 ip:203.0.113.7 request_id:req_1",
		and(term("actor", "u_42"), term("action", "a"), term("outcome", "failure"), term("severity", "high"),
			term("resource_type", "route"), term("resource_id", "r_9"), term("ip", "203.0.113.7"), term("request_id", "req_1"))},
	{"alias actor.id", "actor.id:u_1", term("actor", "u_1")},
	{"alias resource.type", "resource.type:route", term("resource_type", "route")},
	{"alias resource.id", "resource.id:r_1", term("resource_id", "r_1")},
	{"alias source.ip", "source.ip:10.0.0.1", term("ip", "10.0.0.1")},
	{"alias request.id", "request.id:req_1", term("request_id", "req_1")},
	{"explicit text field", "text:hello", text("hello")},
	{"metadata", "metadata.plan:pro", term("metadata.plan", "pro")},
	{"metadata nested path", "metadata.billing.plan.tier:gold", term("metadata.billing.plan.tier", "gold")},
	{"metadata number", "metadata.count:42", term("metadata.count", "42")},
	{"design example", "action:user.login outcome:failure ip:10.0.0.0/8 actor:u_42 metadata.plan:pro",
		and(term("action", "user.login"), term("outcome", "failure"), term("ip", "10.0.0.0/8"), term("actor", "u_42"), term("metadata.plan", "pro"))},
	{"ip cidr", "ip:10.0.0.0/8", term("ip", "10.0.0.0/8")},
	{"ipv6 unquoted", "ip:2001:db8::/32", term("ip", "2001:db8::/32")},
	{"ipv6 address", "ip:::1", term("ip", "::1")},
	{"ipv4-mapped", "ip:::ffff:10.0.0.1", term("ip", "::ffff:10.0.0.1")},
	{"value with colon", "resource_id:urn:x:1", term("resource_id", "urn:x:1")},
	{"prefix", "action:user.*", prefix("action", "user.")},
	{"prefix of nothing", "actor:*", prefix("actor", "")},
	{"star inside value", "action:a*b", term("action", "a*b")},
	{"double star", "action:a**", prefix("action", "a*")},
	{"outcome prefix", "outcome:fail*", prefix("outcome", "fail")},
	{"quoted value", `actor:"Ada Lovelace"`, term("actor", "Ada Lovelace")},
	{"quoted value is exact", `action:"user.*"`, term("action", "user.*")},
	{"quoted prefix", `actor:"Ada L"*`, prefix("actor", "Ada L")},
	{"quoted empty prefix", `actor:""*`, prefix("actor", "")},
	{"quoted escapes", `actor:"a\"b\\c"`, term("actor", `a"b\c`)},
	{"quoted go escapes", `actor:"tab\there\u00e9\x41"`, term("actor", "tab\there\u00e9A")},
	{"quoted raw newline", "actor:\"a\nb\"", term("actor", "a\nb")},
	{"quoted keyword value", `actor:"OR"`, term("actor", "OR")},
	{"keyword as field value", "actor:OR", term("actor", "OR")},
	{"backslash in word", `actor:a\b`, term("actor", `a\b`)},
	{"dash inside value", "actor:-x", term("actor", "-x")},
	{"word", "timeout", text("timeout")},
	{"word prefix", "time*", textPrefix("time")},
	{"lowercase or is a word", "a or b", and(text("a"), text("or"), text("b"))},
	{"phrase", `"payment failed"`, text("payment failed")},
	{"phrase prefix", `"payment fail"*`, textPrefix("payment fail")},
	{"quoted keyword", `"OR"`, text("OR")},
	{"quoted dash", `"-5"`, text("-5")},
	{"quoted colon", `"a:b"`, text("a:b")},
	{"unicode word", "Müller", text("Müller")},
	{"implicit and", "a b c", and(text("a"), text("b"), text("c"))},
	{"explicit and", "a AND b", and(text("a"), text("b"))},
	{"or", "a OR b", or(text("a"), text("b"))},
	{"or of three", "a OR b OR c", or(text("a"), text("b"), text("c"))},
	{"and binds tighter than or", "a b OR c", or(and(text("a"), text("b")), text("c"))},
	{"and binds tighter than or, right", "a OR b c", or(text("a"), and(text("b"), text("c")))},
	{"explicit and with or", "a AND b OR c AND d", or(and(text("a"), text("b")), and(text("c"), text("d")))},
	{"parentheses", "(a OR b) c", and(or(text("a"), text("b")), text("c"))},
	{"nested groups kept", "(a b) c", and(and(text("a"), text("b")), text("c"))},
	{"single child group collapses", "((a))", text("a")},
	{"parentheses without spaces", "a(b OR c)d", and(text("a"), or(text("b"), text("c")), text("d"))},
	{"minus term", "-outcome:success", not(term("outcome", "success"))},
	{"minus word", "-debug", not(text("debug"))},
	{"minus phrase", `-"health check"`, not(text("health check"))},
	{"minus group", "-(a OR b)", not(or(text("a"), text("b")))},
	{"double minus", "--a", not(not(text("a")))},
	{"NOT term", "NOT outcome:success", not(term("outcome", "success"))},
	{"NOT group", "NOT(a b)", not(and(text("a"), text("b")))},
	{"NOT minus", "NOT -a", not(not(text("a")))},
	{"negation in or", "a OR -b", or(text("a"), not(text("b")))},
	{"white space everywhere", " \ta\n\r OR\u00a0( b ) ", or(text("a"), text("b"))},
	{"word with dash", "user-agent", text("user-agent")},
	{"text prefix with dash", "-user*", not(textPrefix("user"))},
}

func TestParse(t *testing.T) {
	for _, tt := range parseTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Parse(%q) = %s, want %s", tt.in, dump(got), dump(tt.want))
			}
			if got != nil {
				if err := got.Validate(); err != nil {
					t.Fatalf("Parse(%q) does not validate: %v", tt.in, err)
				}
			}
		})
	}
}

// TestRoundTrip checks Parse(Format(x)) == x for every parsed query.
func TestRoundTrip(t *testing.T) {
	for _, tt := range parseTests {
		t.Run(tt.name, func(t *testing.T) {
			x, err := Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			s := Format(x)
			y, err := Parse(s)
			if err != nil {
				t.Fatalf("Parse(Format(Parse(%q))) = Parse(%q): %v", tt.in, s, err)
			}
			if !reflect.DeepEqual(x, y) {
				t.Fatalf("Parse(%q) = %s, want %s (formatted from %q)", s, dump(y), dump(x), tt.in)
			}
			if s2 := Format(y); s2 != s {
				t.Fatalf("Format not stable: %q then %q", s, s2)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		name string
		x    *trail.Expr
		want string
	}{
		{"nil", nil, ""},
		{"term", term("action", "user.login"), "action:user.login"},
		{"prefix", prefix("action", "user."), "action:user.*"},
		{"empty prefix", prefix("actor", ""), `actor:""*`},
		{"space", term("actor", "Ada L"), `actor:"Ada L"`},
		{"value ending in star", term("action", "a*"), `action:"a*"`},
		{"ipv6 not quoted", term("ip", "2001:db8::/32"), "ip:2001:db8::/32"},
		{"field value keyword", term("actor", "OR"), "actor:OR"},
		{"field value dash", term("actor", "-x"), "actor:-x"},
		{"quote and backslash", term("actor", `a"b\c`), `actor:"a\"b\\c"`},
		{"newline", term("actor", "a\nb"), `actor:"a\nb"`},
		{"no-break space", term("actor", "a\u00a0b"), `actor:"a\u00a0b"`},
		{"parenthesis", term("actor", "f(x)"), `actor:"f(x)"`},
		{"text word", text("timeout"), "timeout"},
		{"text prefix", textPrefix("time"), "time*"},
		{"text phrase", text("a b"), `"a b"`},
		{"text keywords", and(text("AND"), text("OR"), text("NOT")), `"AND" "OR" "NOT"`},
		{"text dash", text("-5"), `"-5"`},
		{"text colon", text("a:b"), `"a:b"`},
		{"and", and(text("a"), text("b")), "a b"},
		{"or", or(text("a"), text("b")), "a OR b"},
		{"or in and", and(or(text("a"), text("b")), text("c")), "(a OR b) c"},
		{"and in or", or(and(text("a"), text("b")), text("c")), "(a b) OR c"},
		{"not term", not(text("a")), "-a"},
		{"not group", not(and(text("a"), text("b"))), "-(a b)"},
		{"not not", not(not(text("a"))), "--a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Format(tt.x); got != tt.want {
				t.Fatalf("Format(%s) = %q, want %q", dump(tt.x), got, tt.want)
			}
			if tt.x == nil {
				return
			}
			back, err := Parse(tt.want)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.want, err)
			}
			if !reflect.DeepEqual(back, tt.x) {
				t.Fatalf("Parse(%q) = %s, want %s", tt.want, dump(back), dump(tt.x))
			}
		})
	}
}

// errorTests are invalid queries and the exact message of each error. They
// also seed FuzzParse.
var errorTests = []struct {
	name string
	in   string
	want string
}{
	{"unknown field", "action:login actr:u_42", `column 14: unknown field "actr"`},
	{"unknown field after unicode", "äöü actr:x", `column 5: unknown field "actr"`},
	{"metadata without path", "metadata:x", `column 1: invalid metadata path "metadata": want metadata.key or metadata.key.key…`},
	{"metadata empty key", "metadata.a..b:x", `column 1: invalid metadata path "metadata.a..b": want metadata.key or metadata.key.key…`},
	{"missing field", ":x", `column 1: missing field name before ":"`},
	{"missing value", "a actor: b", `column 3: missing value after "actor:"`},
	{"missing value at end", "actor:", `column 1: missing value after "actor:"`},
	{"unterminated quote", `action:x "foo`, `column 10: unterminated quote`},
	{"unterminated field quote", `actor:"foo`, `column 7: unterminated quote`},
	{"unterminated after backslash", `"foo\`, `column 1: unterminated quote`},
	{"escaped closing quote", `"foo\"`, `column 1: unterminated quote`},
	{"bad escape", `"a\qb"`, `column 3: invalid escape sequence in quoted value (use \" or \\)`},
	{"quote inside word", `ab"c"`, `column 3: unexpected '"': put a space before a quoted value`},
	{"quote inside value", `actor:ab"c"`, `column 9: unexpected '"': put a space before a quoted value`},
	{"text after quote", `"ab"c`, `column 5: unexpected 'c' after quoted value`},
	{"two quotes", `"a""b"`, `column 4: unexpected '"': put a space before a quoted value`},
	{"close paren", ")", `column 1: unexpected ")"`},
	{"extra close paren", "(a b))", `column 6: unexpected ")"`},
	{"unclosed paren", "a (b c", `column 3: "(" is never closed`},
	{"unclosed paren alone", "(", `column 1: "(" is never closed`},
	{"empty parentheses", "a ()", `column 3: empty parentheses`},
	{"leading or", "OR a", `column 1: unexpected OR`},
	{"trailing or", "a OR", `column 3: expected a term after OR`},
	{"or or", "a OR OR b", `column 6: unexpected OR`},
	{"or before paren", "(a OR) b", `column 4: expected a term after OR`},
	{"leading and", "AND a", `column 1: unexpected AND`},
	{"trailing and", "a AND", `column 3: expected a term after AND`},
	{"and or", "a AND OR b", `column 7: unexpected OR`},
	{"trailing not", "a NOT", `column 3: expected a term after NOT`},
	{"not or", "NOT OR a", `column 5: unexpected OR`},
	{"lone minus", "-", `column 1: "-" must be directly followed by a term or "("`},
	{"minus space", "a - b", `column 3: "-" must be directly followed by a term or "("`},
	{"minus paren", "(a -)", `column 4: "-" must be directly followed by a term or "("`},
	{"bad outcome", "outcome:fail", `column 1: outcome: must be one of success, failure, denied, error, unknown`},
	{"bad severity", "a severity:urgent", `column 3: severity: must be one of info, low, medium, high, critical`},
	{"bad ip", "ip:10.0.0.300", `column 1: ip: "10.0.0.300" is not an IP address or CIDR prefix`},
	{"ip prefix star", "ip:10.*", `column 1: ip: use CIDR notation instead of *`},
	{"empty field value", `actor:""`, `column 1: actor: empty value`},
	{"text without words", `a "--"`, `column 3: free text "--" has no words`},
	{"bare star", "*", `column 1: free text "" has no words`},
	{"punctuation only", "a ...", `column 3: free text "..." has no words`},
	{"invalid utf-8 input", "ab\xffc", `column 3: invalid UTF-8`},
	{"invalid utf-8 escape", `actor:"\xff"`, `column 1: actor: value is not valid UTF-8`},
	{"too long", strings.Repeat("a", MaxLength+1), `query is 4097 bytes, the limit is 4096`},
	{"too many terms", strings.Repeat("a ", MaxTerms) + "b", `column 513: more than 256 terms`},
	{"parentheses too deep", strings.Repeat("(", MaxDepth+1) + "a" + strings.Repeat(")", MaxDepth+1), `column 33: parentheses nested deeper than 32`},
	{"negation too deep", strings.Repeat("-", MaxDepth+1) + "a", `column 1: nested deeper than 32 levels`},
}

func TestParseErrors(t *testing.T) {
	for _, tt := range errorTests {
		t.Run(tt.name, func(t *testing.T) {
			x, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %s, want error %q", tt.in, dump(x), tt.want)
			}
			var e *trail.Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse(%q) error %T, want *trail.Error", tt.in, err)
			}
			if e.Code != trail.EINVALID || e.Field != "q" {
				t.Errorf("Parse(%q) error code %q field %q, want %q and %q", tt.in, e.Code, e.Field, trail.EINVALID, "q")
			}
			if e.Message != tt.want {
				t.Errorf("Parse(%q) error message\n got %q\nwant %q", tt.in, e.Message, tt.want)
			}
		})
	}
}

func TestLimitsAccepted(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"max length", strings.Repeat("a", MaxLength)},
		{"max terms", strings.TrimSpace(strings.Repeat("a ", MaxTerms))},
		{"max parentheses", strings.Repeat("(", MaxDepth) + "a" + strings.Repeat(")", MaxDepth)},
		{"max negations", strings.Repeat("-", MaxDepth) + "a"},
		{"max depth of groups", nestedOr(MaxDepth / 2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if err := x.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

// nestedOr returns "a (b OR a (b OR … ))" with n groups: each group adds
// an AND and an OR level.
func nestedOr(n int) string {
	s := "c"
	for i := 0; i < n; i++ {
		s = "a (b OR " + s + ")"
	}
	return s
}

func TestDepthOfGroups(t *testing.T) {
	// Each group of nestedOr adds two levels: 16 groups reach depth 32.
	if _, err := Parse(nestedOr(MaxDepth / 2)); err != nil {
		t.Fatalf("depth %d: %v", MaxDepth, err)
	}
	_, err := Parse("-(" + nestedOr(MaxDepth/2) + ")")
	if err == nil {
		t.Fatalf("depth %d: no error", MaxDepth+1)
	}
	if msg := trail.ErrorMessage(err); !strings.HasSuffix(msg, "nested deeper than 32 levels") {
		t.Fatalf("depth %d: got %q, want nested deeper than 32 levels", MaxDepth+1, msg)
	}
}

// TestMatches checks that parsed queries select the events one expects,
// through the reference semantics of trail.Expr.Compile.
func TestMatches(t *testing.T) {
	login := &trail.Event{Action: "user.login", Outcome: "failure", Severity: "high",
		Actor:    trail.Actor{ID: "u_42", Name: "Ada Lovelace"},
		Source:   &trail.Source{IP: "10.1.2.3"},
		Reason:   "Payment failed: card declined",
		Metadata: map[string]any{"plan": "pro", "seats": float64(5)}}
	update := &trail.Event{Action: "route.update", Outcome: "success", Severity: "info",
		Actor:    trail.Actor{ID: "svc_deploy", Type: "service"},
		Resource: &trail.Resource{Type: "route", ID: "r_9"},
		Source:   &trail.Source{IP: "2001:db8::7"}}
	tests := []struct {
		q            string
		login, route bool
	}{
		{"action:user.login", true, false},
		{"action:user.*", true, false},
		{"-action:user.*", false, true},
		{"ip:10.0.0.0/8", true, false},
		{"ip:2001:db8::/32", false, true},
		{"metadata.plan:pro", true, false},
		{"metadata.seats:5", true, false},
		{`"payment failed"`, true, false},
		{`"PAYMENT fail"*`, true, false},
		{`"failed payment"`, false, false},
		{"lovelace outcome:failure", true, false},
		{"lovelace OR resource_type:route", true, true},
		{"(actor:u_42 OR actor:svc_*) -severity:info", true, false},
		{"NOT (outcome:failure OR outcome:error)", false, true},
		{"actor.id:svc_deploy resource.id:r_9", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			x, err := Parse(tt.q)
			if err != nil {
				t.Fatal(err)
			}
			m, err := x.Compile()
			if err != nil {
				t.Fatal(err)
			}
			if got := m(login); got != tt.login {
				t.Errorf("matches login event = %v, want %v", got, tt.login)
			}
			if got := m(update); got != tt.route {
				t.Errorf("matches route event = %v, want %v", got, tt.route)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, tt := range parseTests {
		f.Add(tt.in)
	}
	for _, tt := range errorTests {
		if len(tt.in) < 200 {
			f.Add(tt.in)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		x, err := Parse(s)
		if err != nil {
			var e *trail.Error
			if !errors.As(err, &e) || e.Code != trail.EINVALID || e.Field != "q" {
				t.Fatalf("Parse(%q): error %#v, want an EINVALID *trail.Error for q", s, err)
			}
			if !strings.HasPrefix(e.Message, "column ") && len(s) <= MaxLength {
				t.Fatalf("Parse(%q): message %q has no column", s, e.Message)
			}
			return
		}
		if x == nil {
			if strings.TrimSpace(s) != "" {
				t.Fatalf("Parse(%q) = nil for a non-blank query", s)
			}
			return
		}
		if err := x.Validate(); err != nil {
			t.Fatalf("Parse(%q) = %s, which does not validate: %v", s, dump(x), err)
		}
		if _, err := x.Compile(); err != nil {
			t.Fatalf("Parse(%q): Compile: %v", s, err)
		}
		formatted := Format(x)
		if len(formatted) > MaxLength {
			return // the formatted form may be longer than the input
		}
		y, err := Parse(formatted)
		if err != nil {
			t.Fatalf("Parse(%q) = %s; Parse(Format) = Parse(%q): %v", s, dump(x), formatted, err)
		}
		if !reflect.DeepEqual(x, y) {
			t.Fatalf("Parse(%q) = %s; Parse(%q) = %s", s, dump(x), formatted, dump(y))
		}
		if got := Format(y); got != formatted {
			t.Fatalf("Format not stable: %q then %q", formatted, got)
		}
	})
}

func ExampleParse() {
	x, err := Parse(`action:user.* -outcome:success ip:10.0.0.0/8 "card declined" OR severity:critical`)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(Format(x))

	_, err = Parse("action:login actr:u_42")
	fmt.Println(trail.ErrorCode(err), trail.ErrorMessage(err))
	// Output:
	// (action:user.* -outcome:success ip:10.0.0.0/8 "card declined") OR severity:critical
	// invalid column 14: unknown field "actr"
}

// dump shows the structure of x for failure messages.
func dump(x *trail.Expr) string {
	if x == nil {
		return "<nil>"
	}
	switch x.Op {
	case trail.OpTerm:
		s := fmt.Sprintf("%s:%q", x.Field, x.Value)
		if x.Prefix {
			s += "*"
		}
		return s
	case trail.OpNot, trail.OpAnd, trail.OpOr:
		name := map[trail.Op]string{trail.OpNot: "NOT", trail.OpAnd: "AND", trail.OpOr: "OR"}[x.Op]
		parts := make([]string, len(x.Args))
		for i, a := range x.Args {
			parts[i] = dump(a)
		}
		return name + "(" + strings.Join(parts, ", ") + ")"
	}
	return fmt.Sprintf("Op(%d)", x.Op)
}
