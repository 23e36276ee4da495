package proxy

import (
	"strings"
	"testing"
)

func TestTemplateMatch(t *testing.T) {
	tests := []struct {
		tmpl, path string
		want       bool
		params     string // name=value pairs joined by ","
	}{
		{"/", "/", true, ""},
		{"/", "/x", false, ""},
		{"/v1/projects", "/v1/projects", true, ""},
		{"/v1/projects", "/v1/projects/", false, ""},
		{"/v1/projects/", "/v1/projects/", true, ""},
		{"/v1/projects/", "/v1/projects", false, ""},
		{"/v1/projects/{id}", "/v1/projects/p_1", true, "id=p_1"},
		{"/v1/projects/{id}", "/v1/projects/", false, ""},
		{"/v1/projects/{id}", "/v1/projects/p_1/x", false, ""},
		{"/v1/projects/{id}/members/{uid}", "/v1/projects/p/members/u", true, "id=p,uid=u"},
		{"/files/{path...}", "/files/a/b/c.txt", true, "path=a/b/c.txt"},
		{"/files/{path...}", "/files/", true, "path="},
		{"/files/{path...}", "/files", false, ""},
		{"/v1/x", "v1/x", false, ""},
		{"/v1/x", "", false, ""},
		{"/v1/files/{name}", "/v1/files/a%2Fb", true, "name=a%2Fb"},
		{"/v1/caf\u00e9/{id}", "/v1/caf%C3%A9/1", true, "id=1"},
	}
	for _, tt := range tests {
		tm, err := parseTemplate(tt.tmpl)
		if err != nil {
			t.Fatalf("%s: %v", tt.tmpl, err)
		}
		var got []string
		ok := tm.match(tt.path, func(n, v string) { got = append(got, n+"="+v) })
		if ok != tt.want || ok && strings.Join(got, ",") != tt.params {
			t.Errorf("%s ~ %q = %v %v, want %v %s", tt.tmpl, tt.path, ok, got, tt.want, tt.params)
		}
	}
}

// TestRoutePrecedence picks the most specific route, whatever the order.
func TestRoutePrecedence(t *testing.T) {
	c := Config{Routes: []Route{
		{Path: "/v1/{rest...}", Action: "any.v1"},
		{Path: "/v1/projects/{id}", Action: "project.any"},
		{Method: "GET", Path: "/v1/projects/{id}", Action: "project.get"},
		{Path: "/v1/projects/archived", Action: "project.archived"},
	}}
	r := newRouter(&c)
	tests := []struct{ method, path, want string }{
		{"GET", "/v1/projects/archived", "project.archived"},
		{"GET", "/v1/projects/p1", "project.get"},
		{"PUT", "/v1/projects/p1", "project.any"},
		{"GET", "/v1/other/thing", "any.v1"},
		{"GET", "/v2/x", "http.get"},
		{"HEAD", "/v1/projects/p1", "project.get"},
	}
	for _, tt := range tests {
		if got := action(r.find(tt.method, tt.path), tt.method); got != tt.want {
			t.Errorf("%s %s → %s, want %s", tt.method, tt.path, got, tt.want)
		}
	}
}

// TestActionNames derives actions from the method and template, and takes
// the configured name when there is one.
func TestActionNames(t *testing.T) {
	tests := []struct {
		route  Route
		method string
		want   string
	}{
		{Route{Path: "/routes/{id}"}, "PUT", "route.update"},
		{Route{Path: "/routes/{id}"}, "PATCH", "route.update"},
		{Route{Path: "/routes/{id}"}, "GET", "route.read"},
		{Route{Path: "/routes/{id}"}, "DELETE", "route.delete"},
		{Route{Path: "/routes"}, "GET", "route.list"},
		{Route{Path: "/routes"}, "POST", "route.create"},
		{Route{Path: "/api/v2/policies/{id}"}, "GET", "policy.read"},
		{Route{Path: "/v1/addresses"}, "GET", "address.list"},
		{Route{Path: "/v1/status"}, "GET", "status.list"},
		{Route{Path: "/v1/projects/{id}/archive"}, "POST", "project.archive"},
		{Route{Path: "/v1/projects/{id}/members"}, "GET", "project.members.list"},
		{Route{Path: "/v1/Projects/{id}"}, "OPTIONS", "project.options"},
		{Route{Path: "/v1"}, "GET", "root.list"},
		{Route{Path: "/v1/files/{path...}"}, "GET", "file.list"},
		{Route{Path: "/v1/projects/{id}", Action: "project.changed"}, "PUT", "project.changed"},
		{Route{Path: "/v1/projects/{id}", ResourceType: "workspace"}, "PUT", "workspace.update"},
	}
	for _, tt := range tests {
		c := Config{Routes: []Route{tt.route}}
		r := newRouter(&c)
		cr := r.find(tt.method, strings.NewReplacer("{id}", "x1", "{path...}", "a/b").Replace(tt.route.Path))
		if cr == nil {
			t.Fatalf("%s did not match its own path", tt.route.Path)
		}
		if got := action(cr, tt.method); got != tt.want {
			t.Errorf("%s %s → %q, want %q", tt.method, tt.route.Path, got, tt.want)
		}
		if err := checkAction(action(cr, tt.method)); err != nil {
			t.Errorf("derived action invalid: %v", err)
		}
	}
	if got := action(nil, "M-SEARCH"); got != "http.m-search" {
		t.Errorf("unmatched M-SEARCH → %q", got)
	}
}

// FuzzTemplate: parsing never panics; a path a template matches is the
// template with each parameter replaced by its value; derived actions are
// valid action names.
func FuzzTemplate(f *testing.F) {
	f.Add("/v1/projects/{id}", "/v1/projects/p_1")
	f.Add("/files/{path...}", "/files/a/b")
	f.Add("/", "/")
	f.Add("/a/", "/a/")
	f.Add("/{a}/{b}/c", "/x/y/c")
	f.Add("/v1/{x}/{", "/v1/a/{")
	f.Fuzz(func(t *testing.T, tmpl, path string) {
		tm, err := parseTemplate(tmpl)
		if err != nil {
			return
		}
		var vals []string
		if !tm.match(path, func(_, v string) { vals = append(vals, v) }) {
			return
		}
		// Rebuild the path from the template and the values.
		var b strings.Builder
		i := 0
		for _, s := range tm.segs {
			b.WriteByte('/')
			if s.kind == segLiteral {
				b.WriteString(s.text)
				continue
			}
			b.WriteString(vals[i])
			i++
		}
		if tm.slash || len(tm.segs) == 0 {
			b.WriteByte('/')
		}
		if b.String() != path {
			t.Fatalf("%q matched %q with values %q, which rebuild %q", tmpl, path, vals, b.String())
		}
		i = 0
		for _, s := range tm.segs {
			if s.kind == segLiteral {
				continue
			}
			if v := vals[i]; s.kind == segParam && (v == "" || strings.Contains(v, "/")) {
				t.Fatalf("parameter value %q is not one segment", v)
			}
			i++
		}
		res, _ := deriveResource(tm)
		cr := &compiledRoute{tmpl: tm, resourceType: res}
		for _, m := range []string{"GET", "POST", "PUT", "DELETE"} {
			if err := checkAction(action(cr, m)); err != nil {
				t.Fatalf("action for %s %s: %v", m, tmpl, err)
			}
		}
	})
}
