package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/api"
	"github.com/trail-audit/trail/auth"
)

// viewerSecret is the viewer-token secret of the test servers that share
// one ("nodes" of one deployment).
var viewerSecret = bytes.Repeat([]byte{9}, 32)

// newViewerServer is a server with events of actors u_1 and u_2 in
// tenants acme and globex, with fixed ids.
func newViewerServer(t *testing.T) *testServer {
	t.Helper()
	s := newTestServer(t, func(c *api.Config) { c.ViewerTokenSecret = viewerSecret })
	e := func(id, tenant, action, actor string) map[string]any {
		x := ev(tenant, action, actor)
		x["id"] = id
		return x
	}
	s.ingest(t, s.operator(),
		e("acme-u1-a", "acme", "doc.view", "u_1"),
		e("acme-u2", "acme", "doc.view", "u_2"),
		e("acme-u1-b", "acme", "doc.edit", "u_1"),
		e("globex-u1", "globex", "doc.view", "u_1"),
		e("globex-u2", "globex", "doc.view", "u_2"))
	return s
}

// viewerToken is the 201 body of POST /v1/viewer-tokens.
type viewerToken struct {
	ID, Token, Tenant, Filter string
	ExpiresAt                 time.Time `json:"expires_at"`
}

// mintViewer mints a token with key and body and wants 201.
func (s *testServer) mintViewer(t testing.TB, key string, body map[string]any) viewerToken {
	t.Helper()
	r := s.do(t, request{Method: "POST", Path: "/v1/viewer-tokens", Token: key, Body: body})
	if r.Status != http.StatusCreated {
		t.Fatalf("mint %v: got %d %s, want 201", body, r.Status, r.Body)
	}
	var v viewerToken
	r.JSON(t, &v)
	return v
}

// eventIDs queries path with token and returns the ids, wanting 200.
func (s *testServer) eventIDs(t testing.TB, path, token string) []string {
	t.Helper()
	r := s.do(t, request{Method: "GET", Path: path, Token: token})
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s: got %d %s", path, r.Status, r.Body)
	}
	var page struct{ Events []struct{ ID, Tenant string } }
	r.JSON(t, &page)
	ids := []string{}
	for _, e := range page.Events {
		ids = append(ids, e.ID)
	}
	return ids
}

func TestViewerTokenMint(t *testing.T) {
	s := newViewerServer(t)
	admin := s.token(auth.Admin, "acme")
	filtered := s.mintViewer(t, admin, map[string]any{"filter": "actor:u_1"})
	tests := []struct {
		name   string
		key    string
		body   any
		status int
		field  string // of a 4xx
		check  func(t *testing.T, v viewerToken)
	}{
		{"admin, own tenant by default, default ttl", admin, map[string]any{"filter": "actor:u_1"}, 201, "", func(t *testing.T, v viewerToken) {
			if v.Tenant != "acme" || v.Filter != "actor:u_1" || !strings.HasPrefix(v.Token, "vt_") || len(v.ID) != 32 {
				t.Errorf("got %+v", v)
			}
			if d := v.ExpiresAt.Sub(s.Clock.Now()); d < 14*time.Minute || d > 15*time.Minute {
				t.Errorf("expires in %s, want 15m", d)
			}
		}},
		{"admin names its tenant, no filter, 24h", admin, map[string]any{"tenant": "acme", "ttl": "24h"}, 201, "", func(t *testing.T, v viewerToken) {
			if v.Filter != "" || v.ExpiresAt.Sub(s.Clock.Now()) < 23*time.Hour {
				t.Errorf("got %+v", v)
			}
		}},
		{"operator for a tenant", s.operator(), map[string]any{"tenant": "globex", "filter": "action:doc.* -outcome:failure", "ttl": "1h"}, 201, "", nil},
		{"operator without a tenant", s.operator(), map[string]any{}, 400, "tenant", nil},
		{"operator for all tenants", s.operator(), map[string]any{"tenant": "*"}, 400, "tenant", nil},
		{"operator for _system", s.operator(), map[string]any{"tenant": "_system"}, 400, "tenant", nil},
		{"bad tenant name", admin, map[string]any{"tenant": "Acme"}, 400, "tenant", nil},
		{"bad filter", admin, map[string]any{"filter": "actr:u_1"}, 400, "filter", nil},
		{"unbalanced filter", admin, map[string]any{"filter": "(actor:u_1"}, 400, "filter", nil},
		{"ttl over the maximum", admin, map[string]any{"ttl": "25h"}, 400, "ttl", nil},
		{"ttl not a duration", admin, map[string]any{"ttl": "soon"}, 400, "ttl", nil},
		{"zero ttl", admin, map[string]any{"ttl": "0s"}, 400, "ttl", nil},
		{"negative ttl", admin, map[string]any{"ttl": "-1m"}, 400, "ttl", nil},
		{"unknown field", admin, map[string]any{"actor": "u_1"}, 400, "actor", nil},
		{"admin of another tenant", s.token(auth.Admin, "globex"), map[string]any{"tenant": "acme"}, 403, "tenant", nil},
		{"auditor", s.token(auth.Auditor, "acme"), map[string]any{}, 403, "", nil},
		{"viewer", s.token(auth.Viewer, "acme"), map[string]any{}, 403, "", nil},
		{"writer", s.token(auth.Writer, "acme"), map[string]any{}, 403, "", nil},
		{"a viewer token", filtered.Token, map[string]any{}, 403, "", nil},
		{"no credentials", "", map[string]any{}, 401, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, request{Method: "POST", Path: "/v1/viewer-tokens", Token: tt.key, Body: tt.body})
			if r.Status != tt.status {
				t.Fatalf("got %d %s, want %d", r.Status, r.Body, tt.status)
			}
			if tt.status >= 400 {
				if _, msg, field := r.errorBody(t); field != tt.field || msg == "" {
					t.Errorf("error field %q message %q, want field %q", field, msg, tt.field)
				}
				return
			}
			var v viewerToken
			r.JSON(t, &v)
			if tt.check != nil {
				tt.check(t, v)
			}
		})
	}

	// A bad filter's message points at the column.
	r := s.do(t, request{Method: "POST", Path: "/v1/viewer-tokens", Token: admin, Body: map[string]any{"filter": "actor:u_1 actr:x"}})
	if _, msg, _ := r.errorBody(t); !strings.HasPrefix(msg, "column 11: ") {
		t.Errorf("bad filter message %q, want it to start with column 11", msg)
	}

	// The mint is audited with its filter and ttl, never the token.
	waitFor(t, "the audit event", func() bool { return slices.Contains(s.actions(t, "acme"), "trail.viewer_token.created") })
	recs, err := s.Store.Read(context.Background(), "acme", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, rec := range recs {
		if bytes.Contains(rec.Data, []byte(filtered.Token)) || bytes.Contains(rec.Data, []byte(filtered.Token[3:40])) {
			t.Errorf("seq %d holds the token: %s", rec.Seq, rec.Data)
		}
		e, err := trail.DecodeEvent(rec.Data)
		if err != nil {
			t.Fatal(err)
		}
		if e.Action == "trail.viewer_token.created" && e.Metadata["token_id"] == filtered.ID {
			found = true
			if e.Metadata["filter"] != "actor:u_1" || e.Metadata["ttl"] != "15m0s" {
				t.Errorf("audit metadata %v, want the filter and ttl 15m0s", e.Metadata)
			}
		}
	}
	if !found {
		t.Error("no trail.viewer_token.created event names the token's id")
	}
}

// viewerAllowed are the routes a viewer token may use.
var viewerAllowed = map[string]bool{
	"GET /v1/events": true, "GET /v1/events/{id}": true, "GET /v1/stream": true, "GET /v1/stats": true,
	"GET /v1/log/checkpoint": true, "GET /v1/log/proof/inclusion": true, "GET /v1/log/proof/consistency": true,
	"GET /v1/log/key": true,
}

// TestViewerTokenRoutes: on every route of the table, a viewer token,
// with a filter or without, is served on the event and proof routes of its
// own tenant and refused (403) everywhere else, another tenant included.
func TestViewerTokenRoutes(t *testing.T) {
	s := newAuthzServer(t)
	admin := s.token(auth.Admin, "a")
	tokens := map[string]string{
		"filtered":   s.mintViewer(t, admin, map[string]any{"filter": "actor:u0"}).Token,
		"unfiltered": s.mintViewer(t, admin, map[string]any{}).Token,
	}
	for _, rt := range s.API.Routes() {
		route := rt.Method + " " + rt.Path
		public := rt.Permission == ""
		for name, tok := range tokens {
			for _, target := range []string{"a", "b"} {
				t.Run(route+"/"+name+"/tenant "+target, func(t *testing.T) {
					req := authzRequest(t, s, route, target)
					req.Token = tok
					want := http.StatusForbidden
					if viewerAllowed[route] && target == "a" {
						want = http.StatusOK
					}
					if public { // a token changes nothing on a public route
						anon := authzRequest(t, s, route, target)
						want = s.status(t, anon)
					}
					got := s.status(t, req)
					if got != want {
						t.Fatalf("%s %s: got %d, want %d", req.Method, req.Path, got, want)
					}
					// Routes a viewer key may read still refuse the token, by name.
					if got == http.StatusForbidden && rt.Permission == auth.PermRead && !viewerAllowed[route] && !strings.HasPrefix(route, "GET /v1/stream") {
						if _, msg, _ := s.do(t, req).errorBody(t); msg != "viewer tokens may only read events" {
							t.Errorf("message %q, want viewer tokens may only read events", msg)
						}
					}
				})
			}
		}
	}
	if len(viewerAllowed) != 8 {
		t.Fatal("the allow-list of this test changed")
	}
}

// TestViewerTokenScope: whatever a token for acme and actor:u_1 asks, it
// reads u_1's events of acme and nothing else.
func TestViewerTokenScope(t *testing.T) {
	s := newViewerServer(t)
	vt := s.mintViewer(t, s.token(auth.Admin, "acme"), map[string]any{"filter": "actor:u_1", "ttl": "1h"}).Token
	u1 := []string{"acme-u1-b", "acme-u1-a"}

	queries := []struct {
		name, path string
		want       []string
	}{
		{"everything", "/v1/events", u1},
		{"ascending", "/v1/events?order=asc", []string{"acme-u1-a", "acme-u1-b"}},
		{"narrowed by q", "/v1/events?q=action:doc.edit", []string{"acme-u1-b"}},
		{"another actor by q", "/v1/events?q=actor:u_2", []string{}},
		{"another actor by parameter", "/v1/events?actor=u_2", []string{}},
		{"OR another actor", "/v1/events?q=" + url.QueryEscape("actor:u_1 OR actor:u_2"), u1},
		{"OR anything", "/v1/events?q=" + url.QueryEscape("actor:u_2 OR action:doc.view OR -actor:u_1"), []string{"acme-u1-a"}},
		{"negation", "/v1/events?q=" + url.QueryEscape("-actor:u_1"), []string{}},
		{"NOT", "/v1/events?q=" + url.QueryEscape("NOT actor:u_1"), []string{}},
		{"prefix of the actor", "/v1/events?q=" + url.QueryEscape("actor:u_*"), u1},
		{"parenthesised OR", "/v1/events?q=" + url.QueryEscape("(actor:u_2 OR actor:u_1) OR (action:x)"), u1},
		{"free text of the other actor", "/v1/events?q=u_2", []string{}},
		{"own tenant named", "/v1/events?tenant=acme", u1},
	}
	for _, tt := range queries {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.eventIDs(t, tt.path, vt); !slices.Equal(got, tt.want) {
				t.Errorf("GET %s: got %v, want %v", tt.path, got, tt.want)
			}
		})
	}

	// A cursor made for the operator's wider query only positions: the
	// filter still holds on the pages it continues.
	r := s.do(t, request{Method: "GET", Path: "/v1/events?tenant=acme&limit=1&q=actor:u_2", Token: s.operator()})
	var page struct {
		NextCursor string `json:"next_cursor"`
	}
	r.JSON(t, &page)
	if page.NextCursor == "" {
		t.Fatal("no cursor from the operator's query")
	}
	if got := s.eventIDs(t, "/v1/events?cursor="+url.QueryEscape(page.NextCursor), vt); !slices.Equal(got, []string{"acme-u1-a"}) {
		t.Errorf("with another query's cursor: got %v, want [acme-u1-a]", got)
	}

	refused := []struct {
		name, path string
		status     int
	}{
		{"another tenant's events", "/v1/events?tenant=globex", 403},
		{"another tenant's event", "/v1/events/globex-u1?tenant=globex", 403},
		{"another tenant's stats", "/v1/stats?group_by=actor&tenant=globex", 403},
		{"another tenant's checkpoint", "/v1/log/checkpoint?tenant=globex", 403},
		{"another tenant's proof", "/v1/log/proof/inclusion?seq=0&tenant=globex", 403},
		{"another tenant's stream", "/v1/stream?tenant=globex", 403},
		{"_system", "/v1/events?tenant=_system", 403},
		{"export", "/v1/export", 403},
		{"settings", "/v1/settings", 403},
		{"alerts", "/v1/alerts", 403},
		{"schemas", "/v1/schemas", 403},
		{"another actor's event", "/v1/events/acme-u2", 404},
		{"another tenant's event id in this tenant", "/v1/events/globex-u1", 404},
		{"another actor's event with proof", "/v1/events/acme-u2?proof=1", 404},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.status(t, request{Method: "GET", Path: tt.path, Token: vt}); got != tt.status {
				t.Errorf("GET %s: got %d, want %d", tt.path, got, tt.status)
			}
		})
	}

	// No existence oracle: an event outside the filter and an id that
	// does not exist get the same answer, byte for byte but for the id.
	outside := s.do(t, request{Method: "GET", Path: "/v1/events/acme-u2", Token: vt})
	missing := s.do(t, request{Method: "GET", Path: "/v1/events/acme-u3", Token: vt})
	if a, b := string(outside.Body), strings.ReplaceAll(string(missing.Body), "acme-u3", "acme-u2"); outside.Status != missing.Status || a != b {
		t.Errorf("outside the filter: %d %s; missing: %d %s", outside.Status, a, missing.Status, b)
	}
	for _, id := range u1 {
		if r := s.do(t, request{Method: "GET", Path: "/v1/events/" + id + "?proof=1", Token: vt}); r.Status != http.StatusOK {
			t.Errorf("own event %s: got %d %s", id, r.Status, r.Body)
		}
	}

	// Stats count u_1's events only, whatever the grouping or q.
	for _, q := range []string{"", "&q=" + url.QueryEscape("actor:u_2 OR actor:u_1")} {
		r := s.do(t, request{Method: "GET", Path: "/v1/stats?group_by=actor" + q, Token: vt})
		var st struct {
			Counts []struct {
				Value string
				Count int
			}
		}
		r.JSON(t, &st)
		if len(st.Counts) != 1 || st.Counts[0].Value != "u_1" || st.Counts[0].Count != 2 {
			t.Errorf("stats%s: %s, want u_1: 2 only", q, r.Body)
		}
	}
	// Proofs and the checkpoint are the tenant's, as for any viewer.
	for _, p := range []string{"/v1/log/checkpoint", "/v1/log/proof/inclusion?seq=0", "/v1/log/proof/consistency?from=1"} {
		if r := s.do(t, request{Method: "GET", Path: p, Token: vt}); r.Status != http.StatusOK {
			t.Errorf("GET %s: got %d %s", p, r.Status, r.Body)
		}
	}
}

// TestViewerTokenStream: the live tail of a filtered token carries only
// its events, from the start (from_seq=0), after Last-Event-ID of an event
// it could not see, and with a q that tries to widen it.
func TestViewerTokenStream(t *testing.T) {
	s := newViewerServer(t)
	vt := s.mintViewer(t, s.token(auth.Admin, "acme"), map[string]any{"filter": "actor:u_1"}).Token
	tail := func(path, lastID string) []string {
		ch := s.openStream(t, path, vt, lastID)
		marker := "marker-" + strconv.Itoa(int(time.Now().UnixNano()))
		s.ingest(t, s.operator(), map[string]any{"id": marker + "-u2", "tenant": "acme", "action": "doc.view", "actor": map[string]any{"id": "u_2"}},
			map[string]any{"id": marker, "tenant": "acme", "action": "doc.view", "actor": map[string]any{"id": "u_1"}})
		var ids []string
		if strings.Contains(path, "u_2") && !strings.Contains(path, "u_1") {
			// Nothing can match: wait for a second, and whatever came is
			// checked by the caller.
			deadline := time.After(time.Second)
			for {
				select {
				case e := <-ch:
					ids = append(ids, e.ID+":"+e.Data)
				case <-deadline:
					return ids
				}
			}
		}
		for {
			e := next(t, ch, 1)[0]
			var x struct{ ID string }
			json.Unmarshal([]byte(e.Data), &x)
			ids = append(ids, x.ID)
			if x.ID == marker {
				return ids
			}
		}
	}
	check := func(name string, ids []string, wantFirst []string) {
		t.Helper()
		for _, id := range ids {
			if strings.Contains(id, "u2") || strings.HasPrefix(id, "globex") {
				t.Errorf("%s: the stream carried %s", name, id)
			}
		}
		if len(ids) < len(wantFirst) || !slices.Equal(ids[:len(wantFirst)], wantFirst) {
			t.Errorf("%s: got %v, want it to start with %v", name, ids, wantFirst)
		}
	}
	check("from the start", tail("/v1/stream?from_seq=0", ""), []string{"acme-u1-a", "acme-u1-b"})
	check("q with OR", tail("/v1/stream?from_seq=0&q="+url.QueryEscape("actor:u_2 OR -actor:u_1 OR actor:u_1"), ""), []string{"acme-u1-a", "acme-u1-b"})
	// seq 1 is acme-u2: resuming after it still skips u_2's events.
	check("after Last-Event-ID", tail("/v1/stream", "0"), []string{"acme-u1-b"})
	if got := tail("/v1/stream?from_seq=0&q=actor:u_2", ""); len(got) != 0 {
		t.Errorf("q for the other actor only: the stream carried %v", got)
	}
}

// TestViewerTokenRefused: expired, tampered and foreign tokens are 401; a
// token does not sign in to the dashboard; it works on every node that
// shares the secret.
func TestViewerTokenRefused(t *testing.T) {
	s := newViewerServer(t)
	admin := s.token(auth.Admin, "acme")
	short := s.mintViewer(t, admin, map[string]any{"filter": "actor:u_1", "ttl": "1m"}).Token
	good := s.mintViewer(t, admin, map[string]any{"filter": "actor:u_1", "ttl": "1h"}).Token

	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(good, "vt_"))
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) string {
		b := bytes.Clone(raw)
		b[i] ^= 0x01
		return "vt_" + base64.RawURLEncoding.EncodeToString(b)
	}
	// The tenant starts at byte 34: "acme" → "acmd" would be a valid name.
	other := newTestServer(t, func(c *api.Config) { c.ViewerTokenSecret = bytes.Repeat([]byte{8}, 32) })
	foreign := other.mintViewer(t, other.operator(), map[string]any{"tenant": "acme"}).Token

	for _, tt := range []struct{ name, token, msg string }{
		{"tampered tenant", flip(37), "invalid viewer token"},
		{"tampered filter", flip(len(raw) - 33), "invalid viewer token"},
		{"tampered expiry", flip(16), "invalid viewer token"},
		{"tampered MAC", flip(len(raw) - 1), "invalid viewer token"},
		{"truncated", good[:len(good)-2], "invalid viewer token"},
		{"another deployment's", foreign, "invalid viewer token"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, request{Method: "GET", Path: "/v1/events", Token: tt.token})
			if code, msg, _ := r.errorBody(t); r.Status != http.StatusUnauthorized || code != "unauthenticated" || msg != tt.msg {
				t.Errorf("got %d %s %q, want 401 %q", r.Status, code, msg, tt.msg)
			}
		})
	}

	// A viewer token cannot be exchanged for a dashboard session, which
	// would not carry its scope.
	for _, req := range []request{
		{Method: "POST", Path: "/v1/session", Body: map[string]any{"key": good}},
		{Method: "POST", Path: "/v1/session", Token: good},
	} {
		r := s.do(t, req)
		if r.Status != http.StatusUnauthorized || r.Header.Get("Set-Cookie") != "" {
			t.Errorf("sign in with a viewer token: got %d, Set-Cookie %q; want 401 and no cookie", r.Status, r.Header.Get("Set-Cookie"))
		}
	}

	if got := s.eventIDs(t, "/v1/events", short); len(got) != 2 {
		t.Fatalf("before expiry: %v", got)
	}
	s.Clock.Advance(time.Minute)
	r := s.do(t, request{Method: "GET", Path: "/v1/events", Token: short})
	if _, msg, _ := r.errorBody(t); r.Status != http.StatusUnauthorized || msg != "viewer token expired" {
		t.Errorf("after expiry: got %d %q, want 401 viewer token expired", r.Status, msg)
	}
	waitFor(t, "the failed authentication in _system", func() bool {
		return slices.Contains(s.actions(t, "_system"), "trail.auth.failed")
	})

	// A second node with the same secret (its own store) accepts the token.
	node2 := newTestServer(t, func(c *api.Config) { c.ViewerTokenSecret = viewerSecret })
	node2.ingest(t, node2.operator(), ev("acme", "doc.view", "u_1"))
	if r := node2.do(t, request{Method: "GET", Path: "/v1/events", Token: good}); r.Status != http.StatusOK {
		t.Errorf("on a second node: got %d %s, want 200", r.Status, r.Body)
	}
}

// TestViewerTokenMaxTTL: the maximum lifetime is the server's setting.
func TestViewerTokenMaxTTL(t *testing.T) {
	s := newTestServer(t, func(c *api.Config) { c.ViewerTokenMaxTTL = time.Hour })
	admin := s.token(auth.Admin, "acme")
	if r := s.do(t, request{Method: "POST", Path: "/v1/viewer-tokens", Token: admin, Body: map[string]any{"ttl": "61m"}}); r.Status != http.StatusBadRequest {
		t.Errorf("61m with a 1h maximum: got %d, want 400", r.Status)
	}
	s.mintViewer(t, admin, map[string]any{"ttl": "1h"})
}

// TestEmbedRoute: /embed is served with frame-ancestors from the
// configuration, and the dashboard keeps 'none'.
func TestEmbedRoute(t *testing.T) {
	s := newTestServer(t, func(c *api.Config) { c.EmbedOrigins = []string{"https://app.example.com", "https://*.example.org"} })
	get := func(path string) *http.Response {
		res, err := s.Client.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	res := get("/embed?token=vt_x")
	if csp := res.Header.Get("Content-Security-Policy"); res.StatusCode != 200 || !strings.HasSuffix(csp, "frame-ancestors https://app.example.com https://*.example.org") {
		t.Errorf("/embed: %d, CSP %q", res.StatusCode, csp)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("/embed: Cache-Control %q, want no-store", cc)
	}
	if csp := get("/").Header.Get("Content-Security-Policy"); !strings.HasSuffix(csp, "frame-ancestors 'none'") {
		t.Errorf("/: CSP %q, want frame-ancestors 'none'", csp)
	}
	if _, err := api.New(api.Config{Store: s.Store, Keys: s.Keys, EmbedOrigins: []string{"https://x.example; script-src *"}}); err == nil {
		t.Error("api.New accepted an origin that injects a directive")
	}
}
