package trail

import (
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func mustCompile(t *testing.T, x *Expr) Matcher {
	t.Helper()
	m, err := x.Compile()
	if err != nil {
		t.Fatalf("Compile(%s): %v", x, err)
	}
	return m
}

// TestCompile checks the reference semantics of each kind of term.
func TestCompile(t *testing.T) {
	ev := func(mod func(e *Event)) *Event {
		e := &Event{Action: "user.login", Outcome: OutcomeFailure, Severity: SeverityHigh,
			Actor: Actor{ID: "u_42", Name: "Ada Lovelace", Email: "ada@example.com"}}
		if mod != nil {
			mod(e)
		}
		return e
	}
	base := ev(nil)
	withIP := func(ip string) *Event { return ev(func(e *Event) { e.Source = &Source{IP: ip} }) }
	withMeta := func(m map[string]any) *Event { return ev(func(e *Event) { e.Metadata = m }) }
	full := ev(func(e *Event) {
		e.Resource = &Resource{Type: "route", ID: "r_9", Name: "Payments API"}
		e.Request = &Request{ID: "req_1", Path: "/v1/routes/9"}
		e.Source = &Source{IP: "203.0.113.7", UserAgent: "Mozilla/5.0 Firefox/120"}
		e.Reason = "Card DECLINED by issuer"
		e.Changes = []Change{{Field: "upstream_host", Old: "alpha.internal", New: map[string]any{"host": "beta.internal"}}}
	})
	tests := []struct {
		name string
		x    *Expr
		e    *Event
		want bool
	}{
		{"action exact", Term(FieldAction, "user.login"), base, true},
		{"action exact is case-sensitive", Term(FieldAction, "User.Login"), base, false},
		{"action exact not prefix", Term(FieldAction, "user"), base, false},
		{"action prefix", PrefixTerm(FieldAction, "user."), base, true},
		{"action prefix other", PrefixTerm(FieldAction, "route."), base, false},
		{"empty prefix matches a set field", PrefixTerm(FieldAction, ""), base, true},
		{"empty prefix needs the field", PrefixTerm(FieldResourceType, ""), base, false},
		{"actor", Term(FieldActor, "u_42"), base, true},
		{"actor prefix", PrefixTerm(FieldActor, "u_"), base, true},
		{"outcome", Term(FieldOutcome, OutcomeFailure), base, true},
		{"outcome other", Term(FieldOutcome, OutcomeSuccess), base, false},
		{"severity", Term(FieldSeverity, SeverityHigh), base, true},
		{"resource_type", Term(FieldResourceType, "route"), full, true},
		{"resource_type without resource", Term(FieldResourceType, "route"), base, false},
		{"resource_id", Term(FieldResourceID, "r_9"), full, true},
		{"request_id", Term(FieldRequestID, "req_1"), full, true},
		{"request_id without request", Term(FieldRequestID, "req_1"), base, false},

		{"ip address", Term(FieldIP, "203.0.113.7"), full, true},
		{"ip other address", Term(FieldIP, "203.0.113.8"), full, false},
		{"ip without source", Term(FieldIP, "203.0.113.7"), base, false},
		{"ip v4 cidr", Term(FieldIP, "10.0.0.0/8"), withIP("10.1.2.3"), true},
		{"ip v4 cidr outside", Term(FieldIP, "10.0.0.0/8"), withIP("11.1.2.3"), false},
		{"ip v4 cidr host bits", Term(FieldIP, "10.1.2.3/8"), withIP("10.200.0.1"), true},
		{"ip v4 /32", Term(FieldIP, "10.1.2.3/32"), withIP("10.1.2.3"), true},
		{"ip v4 /0", Term(FieldIP, "0.0.0.0/0"), withIP("192.0.2.1"), true},
		{"ip v6 cidr", Term(FieldIP, "2001:db8::/32"), withIP("2001:db8:1::7"), true},
		{"ip v6 cidr outside", Term(FieldIP, "2001:db8::/32"), withIP("2001:db9::7"), false},
		{"ip v6 address other form", Term(FieldIP, "2001:0db8:0:0:0:0:0:7"), withIP("2001:db8::7"), true},
		{"ip v6 cidr does not match v4", Term(FieldIP, "::/0"), withIP("10.1.2.3"), false},
		{"ip v4 cidr does not match v6", Term(FieldIP, "0.0.0.0/0"), withIP("2001:db8::1"), false},
		{"ip mapped event in v4 cidr", Term(FieldIP, "10.0.0.0/8"), withIP("::ffff:10.1.2.3"), true},
		{"ip mapped event equals v4", Term(FieldIP, "10.1.2.3"), withIP("::ffff:10.1.2.3"), true},
		{"ip mapped query equals v4 event", Term(FieldIP, "::ffff:10.1.2.3"), withIP("10.1.2.3"), true},
		{"ip mapped cidr", Term(FieldIP, "::ffff:10.0.0.0/104"), withIP("10.1.2.3"), true},
		{"ip mapped cidr outside", Term(FieldIP, "::ffff:10.0.0.0/104"), withIP("11.1.2.3"), false},
		{"ip zone ignored", Term(FieldIP, "fe80::1"), withIP("fe80::1%eth0"), true},
		{"ip link-local cidr", Term(FieldIP, "fe80::/10"), withIP("fe80::1%eth0"), true},
		{"ip unparsable event", Term(FieldIP, "0.0.0.0/0"), withIP("bogus"), false},

		{"metadata string", Term("metadata.plan", "pro"), withMeta(map[string]any{"plan": "pro"}), true},
		{"metadata string other", Term("metadata.plan", "free"), withMeta(map[string]any{"plan": "pro"}), false},
		{"metadata missing", Term("metadata.plan", "pro"), base, false},
		// A missing key is not a JSON null: the first commit matched these.
		{"metadata missing is not null", Term("metadata.plan", "null"), base, false},
		{"metadata missing no prefix match", PrefixTerm("metadata.plan", ""), base, false},
		{"metadata missing nested is not null", Term("metadata.a.b", "null"), withMeta(map[string]any{"a": map[string]any{}}), false},
		{"metadata explicit null", PrefixTerm("metadata.plan", "nu"), withMeta(map[string]any{"plan": nil}), true},
		{"metadata prefix", PrefixTerm("metadata.plan", "pr"), withMeta(map[string]any{"plan": "pro"}), true},
		{"metadata nested", Term("metadata.billing.plan", "pro"), withMeta(map[string]any{"billing": map[string]any{"plan": "pro"}}), true},
		{"metadata nested wrong level", Term("metadata.plan", "pro"), withMeta(map[string]any{"billing": map[string]any{"plan": "pro"}}), false},
		{"metadata path through scalar", Term("metadata.plan.x", "pro"), withMeta(map[string]any{"plan": "pro"}), false},
		{"metadata object is not a scalar", Term("metadata.billing", "pro"), withMeta(map[string]any{"billing": map[string]any{"plan": "pro"}}), false},
		{"metadata array element", Term("metadata.tags", "b"), withMeta(map[string]any{"tags": []any{"a", "b"}}), true},
		{"metadata array element prefix", PrefixTerm("metadata.tags", "be"), withMeta(map[string]any{"tags": []any{"alpha", "beta"}}), true},
		{"metadata array of objects", Term("metadata.tags.k", "v"), withMeta(map[string]any{"tags": []any{map[string]any{"k": "v"}}}), false},
		{"metadata float", Term("metadata.seats", "5"), withMeta(map[string]any{"seats": 5.0}), true},
		{"metadata float fraction", Term("metadata.ratio", "0.1"), withMeta(map[string]any{"ratio": 0.1}), true},
		{"metadata big float", Term("metadata.n", "1e+21"), withMeta(map[string]any{"n": 1e21}), true},
		{"metadata json.Number", Term("metadata.n", "1e+21"), withMeta(map[string]any{"n": json.Number("1E21")}), true},
		{"metadata json.Number trailing zeros", Term("metadata.n", "5"), withMeta(map[string]any{"n": json.Number("5.00")}), true},
		{"metadata int", Term("metadata.n", "7"), withMeta(map[string]any{"n": 7}), true},
		{"metadata bool", Term("metadata.ok", "true"), withMeta(map[string]any{"ok": true}), true},
		{"metadata null", Term("metadata.x", "null"), withMeta(map[string]any{"x": nil}), true},
		{"metadata numbers in array", Term("metadata.n", "2"), withMeta(map[string]any{"n": []any{1.0, 2.0}}), true},
		{"metadata is case-sensitive", Term("metadata.plan", "Pro"), withMeta(map[string]any{"plan": "pro"}), false},

		{"text word", Term(FieldText, "lovelace"), base, true},
		{"text word upper case query", Term(FieldText, "LOVELACE"), base, true},
		{"text word in reason", Term(FieldText, "declined"), full, true},
		{"text partial word", Term(FieldText, "love"), base, false},
		{"text prefix", PrefixTerm(FieldText, "love"), base, true},
		{"text prefix upper", PrefixTerm(FieldText, "LOVE"), base, true},
		{"text phrase", Term(FieldText, "card declined"), full, true},
		{"text phrase punctuation ignored", Term(FieldText, "card, declined!"), full, true},
		{"text phrase wrong order", Term(FieldText, "declined card"), full, false},
		{"text phrase not adjacent", Term(FieldText, "card by"), full, false},
		{"text phrase prefix", PrefixTerm(FieldText, "card decl"), full, true},
		{"text phrase prefix only last word", PrefixTerm(FieldText, "car decl"), full, false},
		{"text phrase across fields", Term(FieldText, "lovelace card"), full, false},
		{"text in email", Term(FieldText, "example"), base, true},
		{"text in resource name", Term(FieldText, "payments api"), full, true},
		{"text in path", Term(FieldText, "routes"), full, true},
		{"text in user agent", Term(FieldText, "firefox"), full, true},
		{"text in change field", Term(FieldText, "upstream_host"), full, true},
		{"text in change field words", Term(FieldText, "host"), full, true},
		{"text in change old", Term(FieldText, "alpha"), full, true},
		{"text in nested change new", Term(FieldText, "beta"), full, true},
		{"text in metadata", Term(FieldText, "gold"), withMeta(map[string]any{"a": map[string]any{"b": []any{"Gold tier"}}}), true},
		{"text not in metadata keys", Term(FieldText, "tier"), withMeta(map[string]any{"tier": 1.0}), false},
		{"text unicode case", Term(FieldText, "müller"), ev(func(e *Event) { e.Reason = "MÜLLER" }), true},
		{"text digits", Term(FieldText, "42"), base, true},

		{"and", And(Term(FieldAction, "user.login"), Term(FieldOutcome, OutcomeFailure)), base, true},
		{"and one false", And(Term(FieldAction, "user.login"), Term(FieldOutcome, OutcomeSuccess)), base, false},
		{"or", Or(Term(FieldOutcome, OutcomeSuccess), Term(FieldOutcome, OutcomeFailure)), base, true},
		{"or none", Or(Term(FieldOutcome, OutcomeSuccess), Term(FieldOutcome, OutcomeError)), base, false},
		{"not", Not(Term(FieldOutcome, OutcomeSuccess)), base, true},
		{"not matching", Not(Term(FieldOutcome, OutcomeFailure)), base, false},
		{"not of missing field", Not(Term(FieldResourceType, "route")), base, true},
		{"nested", And(Or(Term(FieldActor, "x"), PrefixTerm(FieldActor, "u_")), Not(Or(Term(FieldSeverity, SeverityInfo), Term(FieldSeverity, SeverityLow)))), base, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustCompile(t, tt.x)(tt.e); got != tt.want {
				t.Fatalf("%s matches = %v, want %v", tt.x, got, tt.want)
			}
		})
	}
	if m := mustCompile(t, nil); !m(base) {
		t.Error("nil Expr does not match everything")
	}
}

func TestExprValidate(t *testing.T) {
	deep := Term(FieldText, "a")
	for i := 0; i < 33; i++ {
		deep = Not(deep)
	}
	many := make([]*Expr, 257)
	for i := range many {
		many[i] = Term(FieldText, "a")
	}
	tests := []struct {
		name string
		x    *Expr
		ok   bool
	}{
		{"term", Term(FieldAction, "a"), true},
		{"unknown field", Term("actr", "a"), false},
		{"metadata path", Term("metadata.a.b", "x"), true},
		{"metadata empty key", Term("metadata.a..b", "x"), false},
		{"metadata no path", Term("metadata.", "x"), false},
		{"empty value", Term(FieldActor, ""), false},
		{"empty prefix", PrefixTerm(FieldActor, ""), true},
		{"invalid utf-8", Term(FieldActor, "\xff"), false},
		{"bad outcome", Term(FieldOutcome, "ok"), false},
		{"outcome prefix", PrefixTerm(FieldOutcome, "fail"), true},
		{"bad severity", Term(FieldSeverity, "urgent"), false},
		{"ip prefix", PrefixTerm(FieldIP, "10."), false},
		{"bad ip", Term(FieldIP, "10.0.0.0/33"), false},
		{"ip with zone", Term(FieldIP, "fe80::1%eth0"), true},
		{"text without words", Term(FieldText, "--"), false},
		{"nil", nil, false},
		{"empty and", And(), false},
		{"empty or", Or(), false},
		{"not with two", &Expr{Op: OpNot, Args: []*Expr{Term(FieldText, "a"), Term(FieldText, "b")}}, false},
		{"nil arg", And(Term(FieldText, "a"), nil), false},
		{"unknown op", &Expr{Op: 9}, false},
		{"depth 32", deep.Args[0], true},
		{"depth 33", deep, false},
		{"256 terms", And(many[:256]...), true},
		{"257 terms", And(many...), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.x.Validate()
			if tt.ok != (err == nil) {
				t.Fatalf("Validate(%s) = %v, want ok=%v", tt.x, err, tt.ok)
			}
			if err != nil {
				if e, ok := err.(*Error); !ok || e.Code != EINVALID || e.Field != "q" {
					t.Fatalf("Validate error %#v, want EINVALID on q", err)
				}
			}
		})
	}
}

// TestExprString checks that String writes values so that the query
// language reads them back as the same term: quoted when empty, holding
// white space or ( ) " :, ending in * (else it reads as a prefix), or, for
// free text, starting with - (else a negation) or being a keyword.
func TestExprString(t *testing.T) {
	tests := []struct {
		name string
		x    *Expr
		want string
	}{
		{"term", Term(FieldAction, "user.login"), "action:user.login"},
		{"prefix", PrefixTerm(FieldAction, "user."), "action:user.*"},
		{"quoted", Term(FieldActor, "Ada L"), `actor:"Ada L"`},
		{"text", Term(FieldText, "word"), "word"},
		{"text phrase prefix", PrefixTerm(FieldText, "a b"), `"a b"*`},
		{"or in and", And(Or(Term(FieldText, "a"), Term(FieldText, "b")), Term(FieldText, "c")), "(a OR b) c"},
		{"not group", Not(And(Term(FieldText, "a"), Term(FieldText, "b"))), "-(a b)"},
		{"text OR keyword", Term(FieldText, "OR"), `"OR"`},
		// The cases below fail with the String of the first commit.
		{"exact value ending in star", Term(FieldAction, "user.*"), `action:"user.*"`},
		{"text ending in star", Term(FieldText, "a*"), `"a*"`},
		{"text starting with dash", Term(FieldText, "-5"), `"-5"`},
		{"text AND keyword", Term(FieldText, "AND"), `"AND"`},
		{"text NOT keyword", Term(FieldText, "NOT"), `"NOT"`},
		{"newline", Term(FieldActor, "a\nb"), `actor:"a\nb"`},
		{"carriage return", Term(FieldActor, "a\rb"), `actor:"a\rb"`},
		{"no-break space", Term(FieldActor, "a\u00a0b"), `actor:"a\u00a0b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.x.String(); got != tt.want {
				t.Fatalf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestParseIPMatch checks the normalisation of ip term values.
func TestParseIPMatch(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"10.1.2.3", "10.1.2.3/32"},
		{"10.1.2.3/8", "10.0.0.0/8"},
		{"::ffff:10.1.2.3", "10.1.2.3/32"},
		{"::ffff:10.1.2.3/104", "10.0.0.0/8"},
		{"::ffff:10.1.2.3/128", "10.1.2.3/32"},
		{"::ffff:0.0.0.0/96", "0.0.0.0/0"},
		{"2001:db8::7/32", "2001:db8::/32"},
		{"fe80::1%eth0", "fe80::1/128"},
		{"::/0", "::/0"},
		// An IPv4-mapped prefix shorter than /96 covers more than IPv4:
		// it must stay a valid IPv6 prefix (the first commit made it invalid,
		// so it matched nothing although Validate accepted it).
		{"::ffff:0:0/95", "::fffe:0:0/95"},
		{"::ffff:10.0.0.0/0", "::/0"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := ParseIPMatch(tt.in)
			if err != nil {
				t.Fatalf("ParseIPMatch(%q): %v", tt.in, err)
			}
			if !p.IsValid() || p.String() != tt.want {
				t.Fatalf("ParseIPMatch(%q) = %v (valid %v), want %s", tt.in, p, p.IsValid(), tt.want)
			}
		})
	}
	for _, bad := range []string{"", "10.0.0.256", "10.0.0.0/33", "host", "10.0.0.0/8/8", "fe80::/10%eth0"} {
		if _, err := ParseIPMatch(bad); err == nil {
			t.Errorf("ParseIPMatch(%q): no error", bad)
		}
	}
	if got := CanonicalIP("::ffff:10.1.2.3"); got != "10.1.2.3" {
		t.Errorf("CanonicalIP = %q", got)
	}
	if got := CanonicalIP("2001:0DB8::0007%eth0"); got != "2001:db8::7" {
		t.Errorf("CanonicalIP = %q", got)
	}
	if got := CanonicalIP("bogus"); got != "" {
		t.Errorf("CanonicalIP(bogus) = %q", got)
	}
}

func TestWords(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"", ""},
		{"Hello, World!", "hello|world"},
		{"user.login", "user|login"},
		{"u_42", "u|42"},
		{"MÜLLER straße", "müller|straße"},
		{"😀 emoji", "emoji"},
		{strings.Repeat("A", 130), strings.Repeat("a", 128)},
	}
	for _, tt := range tests {
		if got := strings.Join(Words(tt.in), "|"); got != tt.want {
			t.Errorf("Words(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestIndexTermsSuperset is the index contract: for random events and random
// terms, whenever a term's matcher accepts an event, the event's IndexTerms
// hold the term's lookup key. Stores rely on it to prune with indexes.
func TestIndexTermsSuperset(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	events := make([]*Event, 0, 300)
	for len(events) < 300 {
		if e := randEvent(r); e.Validate(Limits{}) == nil {
			events = append(events, e)
		}
	}
	matched := map[string]int{}
	for i := 0; i < 3000; i++ {
		x := randTerm(r, pick(r, events))
		if x.Validate() != nil {
			continue
		}
		m := mustCompile(t, x)
		for _, e := range events {
			if !m(e) {
				continue
			}
			kind := x.Field
			if strings.HasPrefix(kind, MetadataPrefix) {
				if !MetadataIndexed(x.Field) {
					continue
				}
				kind = "metadata"
			}
			if x.Prefix {
				kind += "*"
			}
			matched[kind]++
			if !indexHas(e, x) {
				t.Fatalf("%s matches event %+v but its IndexTerms lack the lookup key", x, e)
			}
		}
	}
	for _, kind := range []string{"actor", "actor*", "action", "action*", "outcome", "ip", "metadata", "metadata*", "text", "text*"} {
		if matched[kind] < 10 {
			t.Errorf("only %d matches of %s terms: the property is not exercised", matched[kind], kind)
		}
	}
}

// indexHas reports whether e's index entries hold the lookup key of term x.
func indexHas(e *Event, x *Expr) bool {
	keys := map[string][]string{}
	IndexTerms(e, func(field, key string) { keys[field] = append(keys[field], key) })
	has := func(field, key string, prefix bool) bool {
		for _, k := range keys[field] {
			if k == key || prefix && strings.HasPrefix(k, key) {
				return true
			}
		}
		return false
	}
	switch x.Field {
	case FieldIP:
		p, err := ParseIPMatch(x.Value)
		if err != nil {
			return false
		}
		for _, k := range keys[FieldIP] {
			if a, err := netip.ParseAddr(k); err == nil && p.Contains(a) {
				return true
			}
		}
		return false
	case FieldText:
		words := Words(x.Value)
		for i, w := range words {
			if !has(FieldText, w, x.Prefix && i == len(words)-1) {
				return false
			}
		}
		return true
	}
	return has(x.Field, IndexKey(x.Value), x.Prefix)
}

// randTerm returns a random term, often built from the values of e.
func randTerm(r *rand.Rand, e *Event) *Expr {
	cut := func(s string) string {
		if s == "" {
			return s
		}
		return s[:r.IntN(len(s)+1)]
	}
	mk := func(field, v string) *Expr {
		if r.IntN(3) == 0 {
			return PrefixTerm(field, cut(v))
		}
		return Term(field, v)
	}
	switch r.IntN(6) {
	case 0: // an indexed field
		f := pick(r, []string{FieldActor, FieldAction, FieldOutcome, FieldSeverity, FieldResourceType, FieldResourceID, FieldRequestID})
		v := FieldValue(e, f)
		if v == "" || r.IntN(4) == 0 {
			v = pick(r, append(genStrings, genActions...))
		}
		return mk(f, v)
	case 1: // ip
		if r.IntN(2) == 0 && e.Source != nil && e.Source.IP != "" {
			return Term(FieldIP, e.Source.IP)
		}
		return Term(FieldIP, pick(r, []string{"10.0.0.0/8", "10.1.2.3", "10.1.2.3/32", "::ffff:10.0.0.0/104", "::ffff:10.1.2.3",
			"2001:db8::/32", "2001:db8::7", "::/0", "0.0.0.0/0", "fe80::/10", "fe80::1", "127.0.0.0/8", "::1"}))
	case 2, 3: // metadata
		var path []string
		var v any = e.Metadata
		for depth := 0; depth < 6; depth++ {
			obj, ok := v.(map[string]any)
			if !ok || len(obj) == 0 {
				break
			}
			k := pick(r, genKeys)
			for key := range obj {
				if r.IntN(2) == 0 {
					k = key
					break
				}
			}
			path = append(path, k)
			v = obj[k]
			if r.IntN(4) == 0 {
				break
			}
		}
		if len(path) == 0 {
			path = []string{pick(r, genKeys)}
		}
		if a, ok := v.([]any); ok && len(a) > 0 {
			v = pick(r, a)
		}
		s, ok := ScalarString(v)
		if !ok || r.IntN(5) == 0 {
			s, _ = ScalarString(randScalar(r))
		}
		return mk(MetadataPrefix+strings.Join(path, "."), s)
	default: // free text: a run of words from one of e's text fields
		var texts []string
		TextFields(e, func(s string) bool { texts = append(texts, s); return true })
		words := Words(pick(r, append(texts, genStrings...)))
		if len(words) == 0 {
			words = []string{"payment"}
		}
		i := r.IntN(len(words))
		j := i + 1 + r.IntN(min(3, len(words)-i))
		phrase := strings.Join(words[i:j], " ")
		if r.IntN(2) == 0 {
			phrase = strings.ToUpper(phrase)
		}
		if r.IntN(3) == 0 {
			return PrefixTerm(FieldText, strings.TrimRight(cut(phrase), " "))
		}
		return Term(FieldText, phrase)
	}
}

func TestMetadataIndexed(t *testing.T) {
	tests := []struct {
		field string
		want  bool
	}{
		{"metadata.a", true},
		{"metadata.a.b.c.d", true},
		{"metadata.a.b.c.d.e", false},
		{"actor", false},
	}
	for _, tt := range tests {
		if got := MetadataIndexed(tt.field); got != tt.want {
			t.Errorf("MetadataIndexed(%q) = %v, want %v", tt.field, got, tt.want)
		}
	}
}

func TestCursor(t *testing.T) {
	for _, seq := range []int64{0, 1, 99, 1 << 40, 1<<63 - 1} {
		for _, order := range []Order{OrderAsc, OrderDesc} {
			c := EncodeCursor(seq, order)
			gotSeq, gotOrder, err := DecodeCursor(c)
			if err != nil || gotSeq != seq || gotOrder != order {
				t.Errorf("DecodeCursor(EncodeCursor(%d, %s)) = %d, %s, %v", seq, order, gotSeq, gotOrder, err)
			}
			if strings.ContainsAny(c, "+/=") {
				t.Errorf("cursor %q is not URL-safe", c)
			}
		}
	}
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, bad := range []string{"", "!!!", "c1:asc:5", enc("c1:asc:-1"), enc("c1:up:1"), enc("c2:asc:1"),
		enc("c1:asc:1:2"), enc("c1:asc:"), enc("c1:asc:x"), enc("c1::1"), enc("c1:asc:99999999999999999999"),
		base64.URLEncoding.EncodeToString([]byte("c1:asc:1"))} {
		_, _, err := DecodeCursor(bad)
		if err == nil {
			t.Errorf("DecodeCursor(%q): no error", bad)
			continue
		}
		if e, ok := err.(*Error); !ok || e.Code != EINVALID || e.Field != "cursor" {
			t.Errorf("DecodeCursor(%q) = %#v, want EINVALID on cursor", bad, err)
		}
	}
}

func TestQueryNormalize(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		q     Query
		field string
		after int64
		has   bool
	}{
		{"defaults", Query{Tenant: "acme"}, "", 0, false},
		{"bad tenant", Query{Tenant: "Acme"}, "tenant", 0, false},
		{"bad order", Query{Tenant: "acme", Order: "up"}, "order", 0, false},
		{"limit too big", Query{Tenant: "acme", Limit: MaxLimit + 1}, "limit", 0, false},
		{"negative limit", Query{Tenant: "acme", Limit: -1}, "limit", 0, false},
		{"from after to", Query{Tenant: "acme", From: t0, To: t0}, "from", 0, false},
		{"bad filter", Query{Tenant: "acme", Filter: Term("actr", "x")}, "q", 0, false},
		{"cursor", Query{Tenant: "acme", Order: OrderAsc, Cursor: EncodeCursor(41, OrderAsc)}, "", 41, true},
		{"cursor of other order", Query{Tenant: "acme", Cursor: EncodeCursor(41, OrderAsc)}, "cursor", 0, false},
		{"bad cursor", Query{Tenant: "acme", Cursor: "x"}, "cursor", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tt.q
			after, has, err := q.Normalize()
			if tt.field != "" {
				if e, ok := err.(*Error); !ok || e.Field != tt.field || e.Code != EINVALID {
					t.Fatalf("Normalize = %v, want EINVALID on %s", err, tt.field)
				}
				return
			}
			if err != nil || after != tt.after || has != tt.has {
				t.Fatalf("Normalize = %d, %v, %v; want %d, %v", after, has, err, tt.after, tt.has)
			}
			if q.Limit != DefaultLimit || q.Order == "" {
				t.Fatalf("defaults not set: %+v", q)
			}
		})
	}
}
