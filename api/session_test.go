package api_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/trail-audit/trail/api"
	"github.com/trail-audit/trail/auth"
	"github.com/trail-audit/trail/session"
)

// browserSession is a signed-in dashboard session as a browser holds it:
// the cookie value and the CSRF token the page keeps in memory.
type browserSession struct {
	Cookie string
	CSRF   string
	View   struct {
		CSRFToken   string `json:"csrf_token"`
		Role        string `json:"role"`
		Tenant      string `json:"tenant"`
		Name        string `json:"name"`
		Method      string `json:"method"`
		ExpiresAt   string `json:"expires_at"`
		IdleTimeout int    `json:"idle_timeout"`
	}
	SetCookie *http.Cookie
}

// signIn posts key to POST /v1/session and wants 201 with the cookie.
func (s *testServer) signIn(t testing.TB, key string) browserSession {
	t.Helper()
	r := s.do(t, request{Method: "POST", Path: "/v1/session", Body: map[string]string{"key": key}})
	if r.Status != http.StatusCreated {
		t.Fatalf("sign in: got %d %s, want 201", r.Status, r.Body)
	}
	var b browserSession
	r.JSON(t, &b.View)
	b.CSRF = b.View.CSRFToken
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == api.SessionCookie {
			b.SetCookie = c
			b.Cookie = c.Value
		}
	}
	if b.Cookie == "" || b.CSRF == "" {
		t.Fatalf("sign in: no cookie or CSRF token: %v %s", r.Header, r.Body)
	}
	return b
}

// with returns req sent with the session's cookie instead of a bearer
// token, and the CSRF token when csrf is true.
func (b browserSession) with(req request, csrf bool) request {
	req.Token = ""
	h := map[string]string{"Cookie": api.SessionCookie + "=" + b.Cookie}
	for k, v := range req.Header {
		h[k] = v
	}
	if csrf {
		h[api.CSRFHeader] = b.CSRF
	}
	req.Header = h
	return req
}

func TestSessionSignInByKey(t *testing.T) {
	s := newTestServer(t, nil)
	b := s.signIn(t, s.token(auth.Admin, "a"))
	c := b.SetCookie
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/, not Secure over plain HTTP", c)
	}
	if len(c.Value) != 43 {
		t.Errorf("cookie value %q: want 43 characters (256 bits)", c.Value)
	}
	v := b.View
	if v.Role != "admin" || v.Tenant != "a" || v.Name != "admin-a" || v.Method != "key" || v.IdleTimeout != 1800 {
		t.Errorf("session %+v: want admin of a by key, idle 1800s", v)
	}
	exp, err := time.Parse(time.RFC3339, v.ExpiresAt)
	if err != nil || exp.Sub(s.Clock.Now()) < 11*time.Hour || exp.Sub(s.Clock.Now()) > 12*time.Hour {
		t.Errorf("expires_at %q: want 12h from now", v.ExpiresAt)
	}
	// GET /v1/session shows the same session and token.
	r := s.do(t, b.with(request{Method: "GET", Path: "/v1/session"}, false))
	var got struct{ CSRFToken, Role string }
	json.Unmarshal(r.Body, &struct {
		CSRFToken *string `json:"csrf_token"`
		Role      *string `json:"role"`
	}{&got.CSRFToken, &got.Role})
	if r.Status != http.StatusOK || got.CSRFToken != b.CSRF || got.Role != "admin" {
		t.Errorf("GET /v1/session: %d %s", r.Status, r.Body)
	}
	// The cookie reads like the key.
	if r := s.do(t, b.with(request{Method: "GET", Path: "/v1/events"}, false)); r.Status != http.StatusOK {
		t.Errorf("GET /v1/events with the cookie: %d %s", r.Status, r.Body)
	}
	// A bearer token alone signs in too (no body).
	if r := s.do(t, request{Method: "POST", Path: "/v1/session", Token: s.token(auth.Viewer, "a")}); r.Status != http.StatusCreated {
		t.Errorf("sign in by bearer: %d %s", r.Status, r.Body)
	}
	// Sign-in is audited in the key's tenant, without the key.
	waitFor(t, "trail.session.created in a", func() bool { return slices.Contains(s.actions(t, "a"), "trail.session.created") })
	for _, e := range s.events(t, "a") {
		if e.Action == "trail.session.created" && (e.Actor.ID == "" || e.Source == nil || e.Source.Origin != "dashboard") {
			t.Errorf("session event %+v: want the key as actor, origin dashboard", e)
		}
	}
}

func TestSessionSignInFailures(t *testing.T) {
	s := newTestServer(t, nil)
	revokedID, revoked := s.createKey(auth.Viewer, "a", nil)
	if _, err := s.Keys.Revoke(context.Background(), revokedID); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		req    request
		status int
		audit  string // tenant whose log records the failure
	}{
		{"wrong key", request{Method: "POST", Path: "/v1/session", Body: map[string]string{"key": "trl_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}, 401, "_system"},
		{"revoked key", request{Method: "POST", Path: "/v1/session", Body: map[string]string{"key": revoked}}, 401, "a"},
		{"no key", request{Method: "POST", Path: "/v1/session"}, 401, "_system"},
		{"empty key", request{Method: "POST", Path: "/v1/session", Body: map[string]string{"key": ""}}, 401, "_system"},
		{"unknown field", request{Method: "POST", Path: "/v1/session", Body: `{"key":"x","password":"y"}`}, 400, ""},
		{"not JSON", request{Method: "POST", Path: "/v1/session", Body: `key=trl_x`}, 400, ""},
		{"cross-origin", request{Method: "POST", Path: "/v1/session", Body: map[string]string{"key": s.operator()}, Header: map[string]string{"Origin": "http://evil.example"}}, 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := map[string]int{"a": count(s.actions(t, "a"), "trail.session.failed"), "_system": count(s.actions(t, "_system"), "trail.session.failed")}
			r := s.do(t, tt.req)
			if r.Status != tt.status {
				t.Fatalf("got %d %s, want %d", r.Status, r.Body, tt.status)
			}
			if strings.Contains(r.Header.Get("Set-Cookie"), api.SessionCookie+"=") {
				t.Errorf("a refused sign-in set a cookie: %s", r.Header.Get("Set-Cookie"))
			}
			if tt.audit != "" {
				if got := count(s.actions(t, tt.audit), "trail.session.failed"); got != before[tt.audit]+1 {
					t.Errorf("trail.session.failed in %s: %d, want %d", tt.audit, got, before[tt.audit]+1)
				}
			}
		})
	}
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// sessionRouteCookieStatus is what the session routes answer to a signed-in
// cookie with its CSRF token (the bearer rows are in authz_test.go).
var sessionRouteCookieStatus = map[string]int{
	"POST /v1/session":       http.StatusUnauthorized, // a cookie is not a key
	"GET /v1/session":        http.StatusOK,
	"DELETE /v1/session":     http.StatusNoContent,
	"GET /v1/session/config": http.StatusOK,
}

// TestSessionAuthzMatrix runs the whole authorisation matrix of
// authz_test.go again with each principal signed in to the dashboard: the
// session cookie (and its CSRF token on state-changing requests) grants
// exactly what the key grants.
func TestSessionAuthzMatrix(t *testing.T) {
	s := newAuthzServer(t)
	for _, row := range authzTable {
		for i, p := range matrixPrincipals {
			for j, target := range []string{"a", "b"} {
				want := row.want[i][j]
				if w, ok := sessionRouteCookieStatus[row.route]; ok {
					want = w
				}
				t.Run(fmt.Sprintf("%s/%s/tenant %s", row.route, p.name, target), func(t *testing.T) {
					b := s.signIn(t, s.token(p.role, p.tenant))
					req := b.with(authzRequest(t, s, row.route, target), true)
					if got := s.status(t, req); got != want {
						t.Errorf("%s %s as %s by cookie: got %d, want %d", req.Method, req.Path, p.name, got, want)
					}
				})
			}
		}
	}
}

// unsafeRoutes are the rows of the matrix whose method may change state.
func unsafeRoutes() []string {
	var out []string
	for _, row := range authzTable {
		m, _, _ := strings.Cut(row.route, " ")
		if m != "GET" && !strings.HasPrefix(row.route, "POST /v1/session") {
			out = append(out, row.route)
		}
	}
	return out
}

// stateOf is everything an operator can see that a state-changing request
// could change: keys, tenants, and per tenant sinks, alert rules, alerts,
// settings, schemas and the events that are not self-audit.
func (s *testServer) stateOf(t *testing.T) []string {
	t.Helper()
	var parts []string
	get := func(path string) any {
		r := s.send(t, request{Method: "GET", Path: path, Token: s.operator()})
		var v any
		json.Unmarshal(r.Body, &v)
		return v
	}
	keys, _ := get("/v1/keys").(map[string]any)
	if ks, ok := keys["keys"].([]any); ok {
		for _, k := range ks {
			delete(k.(map[string]any), "last_used_at")
		}
	}
	tenants, _ := get("/v1/tenants").(map[string]any)
	if ts, ok := tenants["tenants"].([]any); ok {
		for _, x := range ts {
			delete(x.(map[string]any), "size") // grows with self-audit
		}
	}
	parts = append(parts, fmt.Sprint(keys), fmt.Sprint(tenants))
	for _, tenant := range []string{"a", "b"} {
		q := "?tenant=" + tenant
		sinks, _ := get("/v1/sinks" + q).(map[string]any)
		var ss []string
		if list, ok := sinks["sinks"].([]any); ok {
			for _, x := range list {
				m := x.(map[string]any)
				if st, ok := m["status"].(map[string]any); ok {
					m["status"] = st["state"]
				}
				ss = append(ss, fmt.Sprint(m))
			}
		}
		sort.Strings(ss)
		parts = append(parts, fmt.Sprint(ss), fmt.Sprint(get("/v1/alert-rules"+q)), fmt.Sprint(get("/v1/alerts"+q)), fmt.Sprint(get("/v1/settings"+q)), fmt.Sprint(get("/v1/schemas"+q)))
		var evs []string
		for _, e := range s.events(t, tenant) {
			if !strings.HasPrefix(e.Action, "trail.") {
				evs = append(evs, fmt.Sprintf("%s/%s/%v", e.ID, e.Action, e.Erased))
			}
		}
		sort.Strings(evs)
		parts = append(parts, fmt.Sprint(evs))
	}
	return parts
}

// TestSessionCSRF: with the cookie, every state-changing route refuses a
// request without the CSRF token, or with a wrong one, with 403 forbidden
// "missing or wrong CSRF token", and changes nothing; the right token
// passes (TestSessionAuthzMatrix). A bearer request needs no token.
func TestSessionCSRF(t *testing.T) {
	s := newAuthzServer(t)
	op := s.signIn(t, s.operator())
	// The token is random: change its first character to one it does not
	// have (a fixed "x" was the right token one time in 64).
	wrong := "x" + op.CSRF[1:]
	if op.CSRF[0] == 'x' {
		wrong = "y" + op.CSRF[1:]
	}
	for _, route := range unsafeRoutes() {
		for _, tc := range []struct {
			name  string
			token string
		}{{"missing", ""}, {"wrong", wrong}, {"other session's", s.signIn(t, s.operator()).CSRF}} {
			t.Run(route+"/"+tc.name, func(t *testing.T) {
				req := op.with(authzRequest(t, s, route, "a"), false)
				if tc.token != "" {
					req.Header[api.CSRFHeader] = tc.token
				}
				before := s.stateOf(t)
				r := s.do(t, req)
				if r.Status != http.StatusForbidden {
					t.Fatalf("got %d %s, want 403", r.Status, r.Body)
				}
				if code, msg, _ := r.errorBody(t); code != "forbidden" || msg != "missing or wrong CSRF token" {
					t.Errorf("error %q %q, want forbidden: missing or wrong CSRF token", code, msg)
				}
				after := s.stateOf(t)
				for i := range before {
					if after[i] != before[i] {
						t.Errorf("a refused request changed state:\nbefore %s\nafter  %s", before[i], after[i])
					}
				}
			})
		}
	}
	// A form post may carry the token as the field csrf_token (it passes
	// the CSRF check and then fails as a body the route does not take).
	form := op.with(request{Method: "POST", Path: "/v1/keys", Body: "csrf_token=" + op.CSRF + "&name=x&role=viewer"}, false)
	form.Header["Content-Type"] = "application/x-www-form-urlencoded"
	if r := s.do(t, form); r.Status != http.StatusBadRequest {
		t.Errorf("form with csrf_token: got %d %s, want 400 (past the CSRF check)", r.Status, r.Body)
	}
	form.Body = "csrf_token=wrong&name=x&role=viewer"
	if r := s.do(t, form); r.Status != http.StatusForbidden {
		t.Errorf("form with a wrong csrf_token: got %d %s, want 403", r.Status, r.Body)
	}
	// Refusals are audited.
	waitFor(t, "trail.auth.failed", func() bool { return slices.Contains(s.actions(t, "_system"), "trail.auth.failed") })
}

// TestSessionOrigin: a cookie request that changes state from another
// origin is refused even with the right token; same-origin passes; bearer
// requests are not affected.
func TestSessionOrigin(t *testing.T) {
	s := newTestServer(t, nil)
	b := s.signIn(t, s.token(auth.Admin, "a"))
	self := strings.TrimPrefix(s.URL, "http://")
	key := func() request {
		return request{Method: "POST", Path: "/v1/keys", Body: map[string]any{"name": "k", "role": "viewer"}}
	}
	tests := []struct {
		name   string
		cookie bool
		header map[string]string
		want   int
	}{
		{"other origin", true, map[string]string{"Origin": "http://evil.example"}, 403},
		{"other port", true, map[string]string{"Origin": "http://127.0.0.1:1"}, 403},
		{"null origin", true, map[string]string{"Origin": "null"}, 403},
		{"cross-site fetch", true, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"same-site fetch", true, map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"same origin", true, map[string]string{"Origin": "http://" + self}, 201},
		{"same-origin fetch", true, map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://" + self}, 201},
		{"no origin (not a browser)", true, nil, 201},
		{"bearer from another origin", false, map[string]string{"Origin": "http://evil.example"}, 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := key()
			req.Header = tt.header
			if tt.cookie {
				req = b.with(req, true)
			} else {
				req.Token = s.token(auth.Admin, "a")
			}
			if r := s.do(t, req); r.Status != tt.want {
				t.Errorf("got %d %s, want %d", r.Status, r.Body, tt.want)
			}
		})
	}
}

// TestSessionSecureUnderTLS: over TLS the cookie is Secure.
func TestSessionSecureUnderTLS(t *testing.T) {
	s := newTestServer(t, nil)
	hs := httptest.NewTLSServer(s.API)
	defer hs.Close()
	tlsClient := hs.Client()
	tlsClient.Transport.(*http.Transport).TLSClientConfig.MinVersion = tls.VersionTLS12
	resp, err := tlsClient.Post(hs.URL+"/v1/session", "application/json", strings.NewReader(`{"key":"`+s.operator()+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var c *http.Cookie
	for _, x := range resp.Cookies() {
		if x.Name == api.SessionCookie {
			c = x
		}
	}
	if resp.StatusCode != http.StatusCreated || c == nil || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Fatalf("over TLS: %d, cookie %+v; want 201 and a Secure, HttpOnly, SameSite=Strict cookie", resp.StatusCode, c)
	}
	// SecureCookies: Secure on plain HTTP behind a TLS proxy.
	s2 := newTestServer(t, func(c *api.Config) { c.SecureCookies = true })
	if b := s2.signIn(t, s2.operator()); !b.SetCookie.Secure {
		t.Errorf("with SecureCookies over HTTP: cookie %+v, want Secure", b.SetCookie)
	}
}

// TestSessionSignOut: DELETE /v1/session needs the CSRF token, deletes the
// session on the server (the old cookie is useless afterwards) and clears
// the cookie; it is audited.
func TestSessionSignOut(t *testing.T) {
	s := newTestServer(t, nil)
	b := s.signIn(t, s.token(auth.Admin, "a"))
	other := s.signIn(t, s.token(auth.Admin, "a"))
	if r := s.do(t, b.with(request{Method: "DELETE", Path: "/v1/session"}, false)); r.Status != http.StatusForbidden {
		t.Fatalf("sign-out without CSRF: got %d, want 403", r.Status)
	}
	if r := s.do(t, b.with(request{Method: "GET", Path: "/v1/session"}, false)); r.Status != http.StatusOK {
		t.Fatalf("after a refused sign-out: got %d, want the session alive", r.Status)
	}
	r := s.do(t, b.with(request{Method: "DELETE", Path: "/v1/session"}, true))
	if r.Status != http.StatusNoContent {
		t.Fatalf("sign-out: got %d %s, want 204", r.Status, r.Body)
	}
	sc := r.Header.Get("Set-Cookie")
	if !strings.HasPrefix(sc, api.SessionCookie+"=;") || !strings.Contains(sc, "Max-Age=0") {
		t.Errorf("Set-Cookie %q: want the cookie cleared", sc)
	}
	for _, req := range []request{{Method: "GET", Path: "/v1/session"}, {Method: "GET", Path: "/v1/events"}, {Method: "DELETE", Path: "/v1/session"}} {
		if r := s.do(t, b.with(req, true)); r.Status != http.StatusUnauthorized {
			t.Errorf("%s %s with the old cookie: got %d, want 401", req.Method, req.Path, r.Status)
		}
	}
	if r := s.do(t, other.with(request{Method: "GET", Path: "/v1/events"}, false)); r.Status != http.StatusOK {
		t.Errorf("another session after sign-out: got %d, want 200", r.Status)
	}
	waitFor(t, "trail.session.ended", func() bool { return slices.Contains(s.actions(t, "a"), "trail.session.ended") })
}

// TestSessionEndsWithItsKey: a session made from a key ends at once when
// the key is revoked, expires, or its secret is rotated away.
func TestSessionEndsWithItsKey(t *testing.T) {
	s := newTestServer(t, nil)
	get := func(b browserSession) int {
		return s.do(t, b.with(request{Method: "GET", Path: "/v1/events"}, false)).Status
	}

	id, key := s.createKey(auth.Viewer, "a", nil)
	b := s.signIn(t, key)
	if got := get(b); got != 200 {
		t.Fatalf("before revocation: %d", got)
	}
	if r := s.do(t, request{Method: "DELETE", Path: "/v1/keys/" + id, Token: s.token(auth.Admin, "a")}); r.Status != 200 {
		t.Fatalf("revoke: %d", r.Status)
	}
	if got := get(b); got != 401 {
		t.Errorf("after revocation: got %d, want 401", got)
	}

	exp := s.Clock.Now().Add(time.Hour)
	_, key = s.createKey(auth.Viewer, "a", &exp)
	b = s.signIn(t, key)
	for range 2 { // used every 20 minutes: never idle
		s.Clock.Advance(20 * time.Minute)
		if got := get(b); got != 200 {
			t.Fatalf("before expiry: %d", got)
		}
	}
	s.Clock.Advance(21 * time.Minute)
	if got := get(b); got != 401 {
		t.Errorf("after the key expired: got %d, want 401", got)
	}

	id, key = s.createKey(auth.Viewer, "a", nil)
	b = s.signIn(t, key)
	if r := s.do(t, request{Method: "POST", Path: "/v1/keys/" + id + "/rotate", Token: s.token(auth.Admin, "a"), Body: map[string]any{"grace": "10m"}}); r.Status != 200 {
		t.Fatalf("rotate: %d", r.Status)
	}
	if got := get(b); got != 200 {
		t.Errorf("within the rotation grace: got %d, want 200", got)
	}
	s.Clock.Advance(11 * time.Minute)
	if got := get(b); got != 401 {
		t.Errorf("after the grace: got %d, want 401", got)
	}
	waitFor(t, "trail.session.ended", func() bool { return count(s.actions(t, "a"), "trail.session.ended") == 3 })
}

// TestSessionTimeouts: the API refuses a session idle for longer than the
// idle timeout, and any session past the absolute timeout.
func TestSessionTimeouts(t *testing.T) {
	s := newTestServer(t, func(c *api.Config) {
		m, err := session.NewManager(session.Config{Store: &session.MemoryStore{}, Idle: 10 * time.Minute, Max: time.Hour, Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		c.Sessions = m
	})
	get := func(b browserSession) int {
		return s.do(t, b.with(request{Method: "GET", Path: "/v1/session"}, false)).Status
	}
	b := s.signIn(t, s.operator())
	if b.View.IdleTimeout != 600 {
		t.Errorf("idle_timeout %d, want 600", b.View.IdleTimeout)
	}
	s.Clock.Advance(11 * time.Minute)
	if got := get(b); got != 401 {
		t.Errorf("after 11m idle: got %d, want 401", got)
	}
	b = s.signIn(t, s.operator())
	for range 6 {
		s.Clock.Advance(9 * time.Minute)
		if got := get(b); got != 200 {
			t.Fatalf("busy session: got %d", got)
		}
	}
	s.Clock.Advance(7 * time.Minute)
	if got := get(b); got != 401 {
		t.Errorf("past the absolute timeout: got %d, want 401", got)
	}
	// Both ends are in the log, with their reasons.
	var reasons []string
	for _, e := range s.events(t, "_system") {
		if e.Action == "trail.session.ended" {
			reasons = append(reasons, fmt.Sprint(e.Metadata["reason"]))
		}
	}
	if !slices.Equal(reasons, []string{"idle timeout", "absolute timeout"}) {
		t.Errorf("trail.session.ended reasons %q, want idle timeout, absolute timeout", reasons)
	}
}

// TestSessionBearerWins: a request with an Authorization header is judged
// by it alone; a stale cookie beside it changes nothing, and needs no CSRF.
func TestSessionBearerWins(t *testing.T) {
	s := newTestServer(t, nil)
	req := request{Method: "POST", Path: "/v1/keys", Token: s.operator(), Body: map[string]any{"name": "k", "role": "viewer", "tenant": "a"},
		Header: map[string]string{"Cookie": api.SessionCookie + "=stale"}}
	if r := s.do(t, req); r.Status != http.StatusCreated {
		t.Errorf("bearer with a stale cookie: got %d %s, want 201", r.Status, r.Body)
	}
	if r := s.do(t, request{Method: "GET", Path: "/v1/session/config"}); r.Status != 200 || !strings.Contains(string(r.Body), `"oidc":false`) {
		t.Errorf("config without OIDC: %d %s", r.Status, r.Body)
	}
}

// TestSessionReplaced: signing in again from a browser that has a session
// ends the old one.
func TestSessionReplaced(t *testing.T) {
	s := newTestServer(t, nil)
	old := s.signIn(t, s.operator())
	r := s.do(t, old.with(request{Method: "POST", Path: "/v1/session", Body: map[string]string{"key": s.token(auth.Viewer, "a")}}, false))
	if r.Status != http.StatusCreated {
		t.Fatalf("second sign-in: %d %s", r.Status, r.Body)
	}
	if r := s.do(t, old.with(request{Method: "GET", Path: "/v1/session"}, false)); r.Status != http.StatusUnauthorized {
		t.Errorf("the replaced session: got %d, want 401", r.Status)
	}
}
