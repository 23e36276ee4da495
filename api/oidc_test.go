package api_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/api"
	"github.com/trail-audit/trail/auth"
	"github.com/trail-audit/trail/internal/oidctest"
)

// newOIDCServer starts a real OIDC issuer (internal/oidctest) whose user
// has claims, and a trail API server that signs in with it. The API
// server shares the store and keys of a testServer, so its helpers work.
func newOIDCServer(t *testing.T, claims map[string]any, configure func(*api.OIDCConfig)) (*testServer, *oidctest.Issuer) {
	t.Helper()
	var base api.Config
	s := newTestServer(t, func(c *api.Config) { base = *c })
	iss, err := oidctest.New("trail-dashboard", "s3cret", claims, s.Clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(iss.Close)
	hs := httptest.NewUnstartedServer(nil)
	u := "http://" + hs.Listener.Addr().String()
	oc := &api.OIDCConfig{Issuer: iss.URL, ClientID: "trail-dashboard", ClientSecret: "s3cret", RedirectURL: u + "/auth/oidc/callback", Name: "Test IdP"}
	if configure != nil {
		configure(oc)
	}
	cfg := base
	cfg.OIDC = oc
	reg := prometheus.NewRegistry()
	cfg.Registerer, cfg.Gatherer = reg, reg
	srv, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs.Config.Handler = srv
	hs.Start()
	t.Cleanup(func() { hs.CloseClientConnections(); hs.Close(); srv.Close() })
	return &testServer{t: t, URL: u, HTTP: hs, API: srv, Store: s.Store, Keys: s.Keys, Clock: s.Clock, Verifier: s.Verifier, VKey: s.VKey,
		Client: hs.Client(), Alerts: s.Alerts, tokens: map[string]string{}}, iss
}

// browser is an HTTP client with a cookie jar that follows redirects, as
// a browser would.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

// oidcSignIn walks the whole flow from /auth/oidc/login and returns the
// final response's status and body.
func oidcSignIn(t *testing.T, c *http.Client, s *testServer) (int, string) {
	t.Helper()
	resp, err := c.Get(s.URL + "/auth/oidc/login")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func sessionCookie(c *http.Client, s *testServer) string {
	u, _ := url.Parse(s.URL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == api.SessionCookie {
			return ck.Value
		}
	}
	return ""
}

var ada = map[string]any{"sub": "u-ada", "email": "ada@example.com", "trail_role": "viewer", "trail_tenant": "acme"}

func TestOIDCSignIn(t *testing.T) {
	s, iss := newOIDCServer(t, ada, nil)
	s.ingest(t, s.operator(), ev("acme", "doc.edit", "u1"))

	// The login redirect: code flow, PKCE S256, state and nonce bound to a
	// short-lived HttpOnly cookie.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(s.URL + "/auth/oidc/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	q := loc.Query()
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc.String(), iss.URL+"/authorize?") || q.Get("response_type") != "code" ||
		q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || q.Get("state") == "" || q.Get("nonce") == "" ||
		q.Get("client_id") != "trail-dashboard" || q.Get("redirect_uri") != s.URL+"/auth/oidc/callback" || !strings.Contains(q.Get("scope"), "openid") {
		t.Fatalf("login: %d to %s", resp.StatusCode, loc)
	}
	var pre *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "trail_oidc" {
			pre = c
		}
	}
	if pre == nil || !pre.HttpOnly || pre.MaxAge != 600 || pre.SameSite != http.SameSiteLaxMode || pre.Path != "/auth/oidc/" {
		t.Errorf("pre-auth cookie %+v: want HttpOnly, SameSite=Lax, Max-Age 600, Path /auth/oidc/", pre)
	}
	if strings.Contains(pre.Value, q.Get("code_challenge")) {
		t.Error("the pre-auth cookie holds the challenge, not the verifier")
	}

	// The whole flow in a client with a cookie jar.
	c := browser(t)
	status, body := oidcSignIn(t, c, s)
	if status != http.StatusOK || !strings.Contains(body, "<title>trail") {
		t.Fatalf("after sign-in: %d %.300s, want the dashboard", status, body)
	}
	vs := iss.Verifiers()
	if len(vs) != 1 || len(vs[0]) < 43 {
		t.Fatalf("the token endpoint got verifiers %q, want one PKCE verifier", vs)
	}
	cookie := sessionCookie(c, s)
	if cookie == "" {
		t.Fatal("no session cookie after the OIDC flow")
	}
	b := browserSession{Cookie: cookie}
	r := s.do(t, b.with(request{Method: "GET", Path: "/v1/session"}, false))
	var v struct {
		Role, Tenant, Name, Method string
		CSRF                       string `json:"csrf_token"`
	}
	r.JSON(t, &v)
	if r.Status != 200 || v.Role != "viewer" || v.Tenant != "acme" || v.Name != "ada@example.com" || v.Method != "oidc" {
		t.Fatalf("GET /v1/session: %d %s", r.Status, r.Body)
	}
	b.CSRF = v.CSRF
	if r := s.do(t, b.with(request{Method: "GET", Path: "/v1/events"}, false)); r.Status != 200 {
		t.Errorf("viewer reads acme: %d %s", r.Status, r.Body)
	}
	if r := s.do(t, b.with(request{Method: "GET", Path: "/v1/events?tenant=other"}, false)); r.Status != 403 {
		t.Errorf("viewer of acme reads another tenant: %d, want 403", r.Status)
	}
	if r := s.do(t, b.with(request{Method: "POST", Path: "/v1/events", Body: ev("", "x", "u")}, true)); r.Status != 403 {
		t.Errorf("viewer ingests: %d, want 403", r.Status)
	}
	// Audited in the user's tenant, as the user.
	waitFor(t, "trail.session.created in acme", func() bool { return slices.Contains(s.actions(t, "acme"), "trail.session.created") })
	for _, e := range s.events(t, "acme") {
		if e.Action == "trail.session.created" {
			if e.Actor.Type != trail.ActorUser || e.Actor.Name != "ada@example.com" || e.Metadata["subject"] != iss.URL+" u-ada" {
				t.Errorf("session event actor %+v metadata %v: want the OIDC user", e.Actor, e.Metadata)
			}
		}
	}
	// The code cannot be used twice, and sign-out works as for keys.
	if r := s.do(t, b.with(request{Method: "DELETE", Path: "/v1/session"}, true)); r.Status != 204 {
		t.Errorf("sign-out: %d", r.Status)
	}
}

func TestOIDCClaimMapping(t *testing.T) {
	tests := []struct {
		name       string
		claims     map[string]any
		configure  func(*api.OIDCConfig)
		role       string
		tenant     string
		refusal    string // a substring of the refusal page; "" = signed in
		refuseCode int
	}{
		{"role and tenant", ada, nil, "viewer", "acme", "", 0},
		{"operator needs no tenant", map[string]any{"sub": "o", "trail_role": "operator"}, nil, "operator", "*", "", 0},
		{"all-tenant auditor", map[string]any{"sub": "x", "trail_role": "auditor", "trail_tenant": "*"}, nil, "auditor", "*", "", 0},
		{"custom claim names", map[string]any{"sub": "x", "https://trail/role": "admin", "org": "acme"},
			func(c *api.OIDCConfig) { c.RoleClaim, c.TenantClaim = "https://trail/role", "org" }, "admin", "acme", "", 0},
		{"group mapped to a role", map[string]any{"sub": "x", "groups": []any{"staff", "trail-admins", "trail-viewers"}, "trail_tenant": "acme"},
			func(c *api.OIDCConfig) {
				c.GroupRoles = map[string]auth.Role{"trail-admins": auth.Admin, "trail-viewers": auth.Viewer}
			}, "admin", "acme", "", 0},
		{"no role", map[string]any{"sub": "x", "trail_tenant": "acme"}, nil, "", "", "has no trail role", 403},
		{"unmapped groups", map[string]any{"sub": "x", "groups": []any{"staff"}, "trail_tenant": "acme"},
			func(c *api.OIDCConfig) { c.GroupRoles = map[string]auth.Role{"trail-admins": auth.Admin} }, "", "", "has no trail role", 403},
		{"unknown role", map[string]any{"sub": "x", "trail_role": "root", "trail_tenant": "acme"}, nil, "", "", "is not a trail role", 403},
		{"role not a string", map[string]any{"sub": "x", "trail_role": 7, "trail_tenant": "acme"}, nil, "", "", "is not a trail role", 403},
		{"no tenant", map[string]any{"sub": "x", "trail_role": "viewer"}, nil, "", "", "has no tenant", 403},
		{"bad tenant", map[string]any{"sub": "x", "trail_role": "viewer", "trail_tenant": "Not A Tenant"}, nil, "", "", "not a valid tenant name", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newOIDCServer(t, tt.claims, tt.configure)
			c := browser(t)
			status, body := oidcSignIn(t, c, s)
			if tt.refusal != "" {
				if status != tt.refuseCode || !strings.Contains(body, tt.refusal) || sessionCookie(c, s) != "" {
					t.Fatalf("got %d %q and cookie %q, want %d with %q and no session", status, body, sessionCookie(c, s), tt.refuseCode, tt.refusal)
				}
				waitFor(t, "trail.session.failed", func() bool { return slices.Contains(s.actions(t, "_system"), "trail.session.failed") })
				return
			}
			r := s.do(t, browserSession{Cookie: sessionCookie(c, s)}.with(request{Method: "GET", Path: "/v1/session"}, false))
			var v struct{ Role, Tenant string }
			r.JSON(t, &v)
			if status != 200 || v.Role != tt.role || v.Tenant != tt.tenant {
				t.Errorf("got %d, session %s; want role %s tenant %s", status, r.Body, tt.role, tt.tenant)
			}
		})
	}
}

// TestOIDCRefusals: every way an ID token or the flow can be wrong ends
// on a refusal page, with no session, audited in _system.
func TestOIDCRefusals(t *testing.T) {
	tests := []struct {
		name   string
		faults oidctest.Faults
		status int
		says   string
	}{
		{"wrong nonce", oidctest.Faults{WrongNonce: true}, 403, "nonce does not match"},
		{"wrong audience", oidctest.Faults{Audience: "another-client"}, 403, "audience"},
		{"wrong issuer", oidctest.Faults{Issuer: "https://evil.example"}, 403, "another issuer"},
		{"expired", oidctest.Faults{Expired: true}, 403, "expired"},
		{"bad signature", oidctest.Faults{ForeignKey: true}, 403, "signature does not verify"},
		{"PKCE mismatch", oidctest.Faults{ChallengeTamper: true}, 403, "did not accept the authorisation code"},
		{"no ID token", oidctest.Faults{NoIDToken: true}, 502, "no ID token"},
		{"issuer refuses", oidctest.Faults{DenyAuthorize: "access_denied"}, 403, "refused sign-in: access_denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, iss := newOIDCServer(t, ada, nil)
			iss.SetFaults(tt.faults)
			c := browser(t)
			status, body := oidcSignIn(t, c, s)
			if status != tt.status || !strings.Contains(body, tt.says) || !strings.Contains(body, "Sign-in refused") {
				t.Errorf("got %d %q, want %d saying %q", status, body, tt.status, tt.says)
			}
			if sessionCookie(c, s) != "" {
				t.Error("a refused sign-in left a session cookie")
			}
			waitFor(t, "trail.session.failed", func() bool { return slices.Contains(s.actions(t, "_system"), "trail.session.failed") })
		})
	}
}

// TestOIDCCallbackForged: a callback that this browser did not start (no
// pre-auth cookie), or whose state is not the one sent, is refused before
// the code is exchanged.
func TestOIDCCallbackForged(t *testing.T) {
	s, iss := newOIDCServer(t, ada, nil)
	c := browser(t)
	resp, err := c.Get(s.URL + "/auth/oidc/callback?code=abc&state=xyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("callback without a pre-auth cookie: %d, want 400", resp.StatusCode)
	}
	// Start a login, then come back with another state.
	noFollow := &http.Client{Jar: c.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noFollow.Get(s.URL + "/auth/oidc/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = noFollow.Get(s.URL + "/auth/oidc/callback?code=abc&state=not-the-state")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "state does not match") {
		t.Errorf("callback with a wrong state: %d %s, want 400", resp.StatusCode, body)
	}
	if len(iss.Verifiers()) != 0 {
		t.Error("a forged callback reached the token endpoint")
	}
	// Config reports OIDC with its name.
	r := s.do(t, request{Method: "GET", Path: "/v1/session/config"})
	if r.Status != 200 || !strings.Contains(string(r.Body), `"oidc":true`) || !strings.Contains(string(r.Body), `"oidc_name":"Test IdP"`) {
		t.Errorf("config: %d %s", r.Status, r.Body)
	}
}

// TestOIDCConfigValidate names the flag of each wrong setting.
func TestOIDCConfigValidate(t *testing.T) {
	ok := api.OIDCConfig{Issuer: "https://idp", ClientID: "c", RedirectURL: "https://trail.example/auth/oidc/callback"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	tests := []struct {
		field string
		edit  func(*api.OIDCConfig)
	}{
		{"oidc-issuer", func(c *api.OIDCConfig) { c.Issuer = "" }},
		{"oidc-client-id", func(c *api.OIDCConfig) { c.ClientID = "" }},
		{"oidc-redirect-url", func(c *api.OIDCConfig) { c.RedirectURL = "/auth/oidc/callback" }},
		{"oidc-redirect-url", func(c *api.OIDCConfig) { c.RedirectURL = "https://trail.example/callback" }},
		{"oidc-group-roles", func(c *api.OIDCConfig) { c.GroupRoles = map[string]auth.Role{"g": "boss"} }},
	}
	for _, tt := range tests {
		c := ok
		tt.edit(&c)
		err := c.Validate()
		if e, isErr := err.(*trail.Error); !isErr || e.Field != tt.field {
			t.Errorf("got %v, want an error on %s", err, tt.field)
		}
	}
}
