package proxy

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
)

// segKind is the kind of one template segment.
type segKind uint8

// Ordered by precedence: a literal segment is more specific than a
// parameter, which is more specific than a wildcard.
const (
	segLiteral segKind = iota
	segParam
	segWildcard
)

// segment is one "/"-separated part of a template.
type segment struct {
	kind segKind
	text string // the literal, or the parameter's name
}

// template is a parsed route template.
type template struct {
	raw   string
	segs  []segment
	slash bool // the template ends in "/" after a literal or parameter
}

// parseTemplate parses a route template: "/" followed by segments joined
// by "/", each a literal without "{" and "}", "{name}" (one segment) or,
// last only, "{name...}" (the rest of the path, possibly empty). Names are
// [A-Za-z_][A-Za-z0-9_]* and distinct. "/" alone is the root. A trailing
// "/" is part of the template and must be in the path too.
func parseTemplate(s string) (template, error) {
	t := template{raw: s}
	if len(s) > maxTemplateLen {
		return t, errors.New("at most " + strconv.Itoa(maxTemplateLen) + " bytes")
	}
	if !strings.HasPrefix(s, "/") {
		return t, errors.New(strconv.Quote(s) + " must start with /")
	}
	if strings.ContainsAny(s, "?#") {
		return t, errors.New(strconv.Quote(s) + ": a template is a path, without ? or #")
	}
	if s == "/" {
		return t, nil
	}
	rest := s[1:]
	if strings.HasSuffix(rest, "/") {
		t.slash = true
		rest = rest[:len(rest)-1]
	}
	names := map[string]bool{}
	parts := strings.Split(rest, "/")
	for i, p := range parts {
		if p == "" {
			return t, errors.New(strconv.Quote(s) + " has an empty segment (//)")
		}
		if !strings.ContainsAny(p, "{}") {
			t.segs = append(t.segs, segment{kind: segLiteral, text: p})
			continue
		}
		if p[0] != '{' || p[len(p)-1] != '}' || strings.Count(p, "{") != 1 || strings.Count(p, "}") != 1 {
			return t, errors.New(strconv.Quote(p) + ": a parameter is a whole segment, {name} or {name...}")
		}
		name := p[1 : len(p)-1]
		kind := segParam
		if n, ok := strings.CutSuffix(name, "..."); ok {
			if i != len(parts)-1 || t.slash {
				return t, errors.New(strconv.Quote(p) + ": {name...} must be the last segment")
			}
			name, kind = n, segWildcard
		}
		if !validParamName(name) {
			return t, errors.New(strconv.Quote(p) + ": parameter names are letters, digits and _, not starting with a digit")
		}
		if names[name] {
			return t, errors.New(strconv.Quote(p) + ": parameter " + name + " appears twice")
		}
		names[name] = true
		t.segs = append(t.segs, segment{kind: kind, text: name})
	}
	return t, nil
}

func validParamName(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// shape is the template with parameter names erased: two templates with
// the same shape match the same paths.
func (t template) shape() string {
	var b strings.Builder
	for _, s := range t.segs {
		b.WriteByte('/')
		switch s.kind {
		case segLiteral:
			b.WriteString(s.text)
		case segParam:
			b.WriteString("{}")
		case segWildcard:
			b.WriteString("{...}")
		}
	}
	if t.slash || len(t.segs) == 0 {
		b.WriteByte('/')
	}
	return b.String()
}

// match reports whether path (a URL path as sent, escaped, so that an
// escaped "/" stays inside its segment) matches t, and calls param for
// each parameter with its value, still escaped. Literal segments compare
// with the segment unescaped; "{name}" matches one non-empty segment;
// "{name...}" matches the rest, possibly empty.
func (t template) match(path string, param func(name, value string)) bool {
	if path == "" || path[0] != '/' {
		return false
	}
	rest := path[1:]
	for i, s := range t.segs {
		if s.kind == segWildcard {
			if param != nil {
				param(s.text, rest)
			}
			return true
		}
		var seg string
		j := strings.IndexByte(rest, '/')
		last := i == len(t.segs)-1
		switch {
		case j >= 0:
			seg, rest = rest[:j], rest[j+1:]
			if last && !t.slash {
				return false // more path follows
			}
			if last && rest != "" {
				return false
			}
		default:
			if last && t.slash {
				return false // the template wants a trailing "/"
			}
			seg, rest = rest, ""
			if !last {
				return false
			}
		}
		if seg == "" {
			return false
		}
		if s.kind == segLiteral {
			if seg != s.text && !unescapedEqual(seg, s.text) {
				return false
			}
		} else if param != nil {
			param(s.text, seg)
		}
	}
	if len(t.segs) == 0 {
		return rest == ""
	}
	return true
}

// unescapedEqual reports whether the escaped segment seg is lit.
func unescapedEqual(seg, lit string) bool {
	if strings.IndexByte(seg, '%') < 0 {
		return false
	}
	u, err := url.PathUnescape(seg)
	return err == nil && u == lit
}

// moreSpecific reports whether t is more specific than u: at the first
// segment where their kinds differ, t's kind has precedence; a longer
// template wins over its prefix.
func (t template) moreSpecific(u template) bool {
	for i := 0; i < len(t.segs) && i < len(u.segs); i++ {
		if t.segs[i].kind != u.segs[i].kind {
			return t.segs[i].kind < u.segs[i].kind
		}
	}
	if len(t.segs) != len(u.segs) {
		return len(t.segs) > len(u.segs)
	}
	return t.slash && !u.slash
}

// compiledRoute is a Route ready to match.
type compiledRoute struct {
	Route
	tmpl         template
	method       string // "*" for any
	capture      Capture
	bodyLimit    int
	resourceType string // derived or configured
	verbSeg      string // a final literal after a parameter, used as the verb of POST
	endsInParam  bool
	lastParam    string
}

// router finds the route of a request.
type router struct {
	routes []*compiledRoute
}

func newRouter(c *Config) *router {
	r := &router{}
	for _, rt := range c.Routes {
		t, _ := parseTemplate(rt.Path) // validated
		cr := &compiledRoute{Route: rt, tmpl: t, method: normMethod(rt.Method), capture: rt.Capture, bodyLimit: rt.BodyLimit}
		cr.resourceType, cr.verbSeg = deriveResource(t)
		if rt.ResourceType != "" {
			cr.resourceType = rt.ResourceType
		}
		if n := len(t.segs); n > 0 && t.segs[n-1].kind == segParam {
			cr.endsInParam = true
			cr.lastParam = t.segs[n-1].text
		}
		r.routes = append(r.routes, cr)
	}
	return r
}

// find returns the most specific route matching method and path (escaped),
// or nil. A GET route matches HEAD too, as in net/http.ServeMux. A route
// naming the method beats one for any method with the same template;
// otherwise the more specific template wins (see moreSpecific).
func (r *router) find(method, path string) *compiledRoute {
	var best *compiledRoute
	for _, cr := range r.routes {
		if cr.method != "*" && cr.method != method && !(cr.method == "GET" && method == "HEAD") {
			continue
		}
		if !cr.tmpl.match(path, nil) {
			continue
		}
		if best == nil || cr.tmpl.moreSpecific(best.tmpl) ||
			!best.tmpl.moreSpecific(cr.tmpl) && best.method == "*" && cr.method != "*" {
			best = cr
		}
	}
	return best
}

// deriveResource returns the resource type a template names (the last
// literal segment that is not an API prefix such as "api" or "v1", made
// singular) and, when the template ends in a literal that follows a
// parameter ("/projects/{id}/archive"), that literal as a verb.
func deriveResource(t template) (resource, verb string) {
	segs := t.segs
	n := len(segs)
	if n >= 2 && segs[n-1].kind == segLiteral && segs[n-2].kind == segParam {
		verb = actionWord(segs[n-1].text)
		segs = segs[:n-1]
	}
	for i := len(segs) - 1; i >= 0; i-- {
		s := segs[i]
		if s.kind == segLiteral && !isAPIPrefix(s.text) {
			return singular(actionWord(s.text)), verb
		}
	}
	return "root", verb
}

// isAPIPrefix reports whether a literal segment is a version or API
// prefix rather than a resource name: "api", "v1", "v2beta1".
func isAPIPrefix(s string) bool {
	s = strings.ToLower(s)
	if s == "api" || s == "apis" || s == "rest" {
		return true
	}
	if len(s) < 2 || s[0] != 'v' || s[1] < '0' || s[1] > '9' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'z') {
			return false
		}
	}
	return true
}

// actionWord lowercases s and keeps only characters allowed in action
// names, mapping others to "_", at most 64 bytes.
func actionWord(s string) string {
	b := make([]byte, 0, min(len(s), 64))
	for i := 0; i < len(s) && len(b) < 64; i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z':
			b = append(b, c+'a'-'A')
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_', c == '-':
			b = append(b, c)
		default:
			b = append(b, '_')
		}
	}
	if len(b) == 0 {
		return "root"
	}
	return string(b)
}

// singular makes an English plural singular for the common regular
// forms: "policies" → "policy", "addresses" → "address", "routes" →
// "route". Words that do not look plural are kept.
func singular(w string) string {
	switch {
	case len(w) > 4 && strings.HasSuffix(w, "ies"):
		return w[:len(w)-3] + "y"
	case len(w) > 4 && (strings.HasSuffix(w, "sses") || strings.HasSuffix(w, "xes") || strings.HasSuffix(w, "ches") || strings.HasSuffix(w, "shes")):
		return w[:len(w)-2]
	case len(w) > 2 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") && !strings.HasSuffix(w, "us") && !strings.HasSuffix(w, "is"):
		return w[:len(w)-1]
	}
	return w
}

// action returns the action name of a call of method on route cr: the
// configured one, or resource.verb where the verb follows the method:
// GET and HEAD → "read" on an item (the template ends in a parameter)
// and "list" otherwise; POST → "create", or the final literal after a
// parameter ("/projects/{id}/archive" → "project.archive"); PUT and PATCH
// → "update"; DELETE → "delete"; other methods their lower-case name.
// Without a route the action is "http." and the method in lower case.
func action(cr *compiledRoute, method string) string {
	if cr == nil {
		return "http." + actionWord(method)
	}
	if cr.Action != "" {
		return cr.Action
	}
	var verb string
	switch method {
	case "GET", "HEAD":
		verb = "list"
		if cr.endsInParam {
			verb = "read"
		}
	case "POST":
		verb = "create"
	case "PUT", "PATCH":
		verb = "update"
	case "DELETE":
		verb = "delete"
	default:
		verb = actionWord(method)
	}
	if cr.verbSeg != "" {
		if method == "POST" {
			verb = cr.verbSeg
		} else {
			verb = cr.verbSeg + "." + verb
		}
	}
	return actionWord(cr.resourceType) + "." + verb
}
