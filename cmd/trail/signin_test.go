package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/trail-audit/trail/internal/browsertest"
	"github.com/trail-audit/trail/internal/oidctest"
	"github.com/trail-audit/trail/pgstore/pgtest"
)

// sessionActions returns the trail.* session and auth actions in tenant's
// log, oldest first, read with the operator key.
func (d *dash) sessionActions(tenant string) []string {
	d.t.Helper()
	var page struct {
		Events []struct{ Action string }
	}
	d.call(d.opKey, "GET", "/v1/events?order=asc&limit=1000&action=trail.*&tenant="+tenant, nil, &page)
	var out []string
	for _, e := range page.Events {
		if strings.HasPrefix(e.Action, "trail.session.") || e.Action == "trail.auth.failed" {
			out = append(out, e.Action)
		}
	}
	return out
}

// TestSignInChromiumKeyAndCSRF signs in by key in headless Chromium: the
// key is not kept by the page and the cookie is out of reach of scripts;
// a forged form on another origin that auto-submits POST /v1/keys is
// refused and creates nothing; a same-origin fetch without the CSRF token
// is refused; the app's own requests pass; sign-out ends the session on
// the server. Sign-in, the refusals and sign-out are events in the log.
func TestSignInChromiumKeyAndCSRF(t *testing.T) {
	ctx := browsertest.New(t, 2*time.Minute)
	d := newDash(t)
	admin := d.key("dash admin", "admin", "acme")
	d.ingest(admin, `{"action":"user.login","actor":{"id":"u_42"}}`+"\n")

	var leaks []bool
	browse(t, ctx, "sign in", signIn(d.url, admin, ""),
		until(`document.querySelectorAll("#results tbody tr").length >= 1`),
		chromedp.Evaluate(fmt.Sprintf(`[document.cookie.includes("trail_session"), JSON.stringify(sessionStorage).includes(%q), JSON.stringify(localStorage).includes(%q), document.querySelector("#key").value !== ""]`, admin, admin), &leaks))
	if slices.Contains(leaks, true) {
		t.Errorf("after sign-in [cookie readable, key in sessionStorage, key in localStorage, key in the form] = %v, want all false", leaks)
	}

	// The app's own state-changing request passes (it sends the token).
	var created string
	browse(t, ctx, "create a key through api.js", chromedp.Evaluate(`import("/ui/api.js").then(m => m.apiJSON("/v1/keys", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({name: "made in the page", role: "viewer"})})).then(k => k.name, e => "error: " + e.message)`, &created, awaitPromise))
	if created != "made in the page" {
		t.Errorf("apiJSON POST /v1/keys: %q", created)
	}
	// A same-origin fetch with the cookie but no token is refused.
	var bare string
	browse(t, ctx, "fetch without the token", chromedp.Evaluate(`fetch("/v1/keys", {method: "POST", credentials: "same-origin", headers: {"Content-Type": "application/json"}, body: JSON.stringify({name: "no token", role: "viewer"})}).then(async r => r.status + " " + (await r.json()).error.message)`, &bare, awaitPromise))
	if bare != "403 missing or wrong CSRF token" {
		t.Errorf("fetch without X-CSRF-Token: %q, want 403 missing or wrong CSRF token", bare)
	}

	// A page on another origin (same host, other port: the same site, so
	// the SameSite=Strict cookie is sent) auto-submits a form to the API.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>prize</title>
<form id="f" method="POST" action="%s/v1/keys" enctype="text/plain">
<input type="hidden" name='{"name":"forged","role":"admin","x":"' value='"}'>
<input type="hidden" name="csrf_token" value="guessed">
</form><script>document.getElementById("f").submit()</script>`, d.url)
	}))
	defer evil.Close()
	var landed string
	browse(t, ctx, "forged form", chromedp.Navigate(evil.URL),
		chromedp.Poll(`location.href.includes("/v1/keys") && document.body && document.body.innerText.length > 0`, nil, chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.Evaluate(`document.body.innerText`, &landed))
	if !strings.Contains(landed, `"forbidden"`) {
		t.Errorf("the forged form got %q, want a 403 forbidden", landed)
	}
	var keys struct{ Keys []struct{ Name string } }
	d.call(d.opKey, "GET", "/v1/keys", nil, &keys)
	for _, k := range keys.Keys {
		if k.Name == "forged" || k.Name == "no token" {
			t.Errorf("a refused request created key %q", k.Name)
		}
	}

	// Still signed in; sign-out ends the session on the server.
	var after int
	browse(t, ctx, "sign out", chromedp.Navigate(d.url+"/"), chromedp.WaitVisible("#nav", chromedp.ByID),
		chromedp.Click("#signout", chromedp.ByID), chromedp.WaitVisible("#signin-form", chromedp.ByID),
		chromedp.Evaluate(`fetch("/v1/session", {credentials: "same-origin"}).then(r => r.status)`, &after, awaitPromise))
	if after != 401 {
		t.Errorf("GET /v1/session after sign-out: %d, want 401", after)
	}
	var acts []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		acts = d.sessionActions("acme")
		if slices.Contains(acts, "trail.session.ended") || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, want := range []string{"trail.session.created", "trail.auth.failed", "trail.session.ended"} {
		if !slices.Contains(acts, want) {
			t.Errorf("acme's log has %q, want %s", acts, want)
		}
	}
	// A wrong key on the sign-in page is a failure in _system.
	browse(t, ctx, "wrong key", chromedp.WaitVisible("#key", chromedp.ByID), chromedp.SendKeys("#key", "trl_0123456789abcdef_wrong", chromedp.ByID),
		chromedp.Click(`#signin-form button[type=submit]`, chromedp.ByQuery),
		until(`document.querySelector("#signin-message").textContent !== ""`))
	if acts := d.sessionActions("_system"); !slices.Contains(acts, "trail.session.failed") {
		t.Errorf("_system's log has %q, want trail.session.failed", acts)
	}
}

// TestSignInChromiumRoles: each role signs in by key and its navigation
// offers exactly the pages its permissions allow (the server refuses the
// rest whatever the page shows: TestSessionAuthzMatrix in package api).
func TestSignInChromiumRoles(t *testing.T) {
	d := newDash(t)
	d.ingest(d.opKey, `{"tenant":"acme","action":"user.login","actor":{"id":"u_42"}}`+"\n")
	read := []string{"events", "insights", "alerts", "integrity"}
	tests := []struct {
		role, tenant string
		pages        []string
	}{
		{"operator", "*", append(slices.Clone(read), "settings")},
		{"admin", "acme", append(slices.Clone(read), "settings")},
		{"auditor", "acme", read},
		{"viewer", "acme", read},
		{"writer", "acme", nil},
	}
	for _, tt := range tests {
		t.Run(tt.role, func(t *testing.T) {
			ctx := browsertest.New(t, time.Minute)
			key := d.key(tt.role+" key", tt.role, tt.tenant)
			var pages []string
			var role string
			browse(t, ctx, "sign in as "+tt.role, signIn(d.url, key, ""),
				chromedp.Text("#role", &role, chromedp.ByID),
				chromedp.Evaluate(`[...document.querySelectorAll("#nav a")].map(a => a.dataset.page)`, &pages))
			if role != tt.role || !slices.Equal(pages, tt.pages) {
				t.Errorf("as %s: role %q, pages %q; want %q", tt.role, role, pages, tt.pages)
			}
		})
	}
}

// freeAddr returns a loopback address with a port free now, for a server
// whose URL must be known before it starts (the OIDC redirect URL).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestSignInChromiumOIDC signs in through a real OIDC issuer started in
// the test: "Sign in with Test IdP" on the sign-in page, the issuer's
// authorize endpoint, the callback, and the events page as the user's role
// and tenant; the sign-in is an event in the tenant's log.
func TestSignInChromiumOIDC(t *testing.T) {
	ctx := browsertest.New(t, 2*time.Minute)
	iss, err := oidctest.New("trail", "secret-of-trail", map[string]any{"sub": "u-ada", "email": "ada@example.com", "trail_role": "auditor", "trail_tenant": "acme"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer iss.Close()
	addr := freeAddr(t)
	cfg := ServeConfig{Addr: addr, Data: t.TempDir(), ServerName: "oidc.test", BootstrapKey: dashOperatorKey, AutoTenants: true,
		SignInConfig: SignInConfig{OIDCIssuer: iss.URL, OIDCClientID: "trail", OIDCClientSecret: "secret-of-trail",
			OIDCRedirectURL: "http://" + addr + "/auth/oidc/callback", OIDCName: "Test IdP"}}
	s, _ := startServer(t, cfg, io.Discard)
	d := &dash{t: t, s: s, url: s.URL(), opKey: dashOperatorKey}
	d.ingest(d.opKey, `{"tenant":"acme","action":"doc.edit","actor":{"id":"u_7"}}`+"\n")

	var button, role string
	var rows int
	browse(t, ctx, "OIDC sign-in", chromedp.Navigate(d.url+"/"),
		chromedp.WaitVisible("#signin-oidc", chromedp.ByID),
		chromedp.Text("#signin-oidc", &button, chromedp.ByID),
		chromedp.Click("#signin-oidc", chromedp.ByID),
		chromedp.WaitVisible("#nav", chromedp.ByID),
		until(`document.querySelectorAll("#results tbody tr").length >= 1`),
		chromedp.Text("#role", &role, chromedp.ByID),
		chromedp.Evaluate(`document.querySelectorAll("#results tbody tr").length`, &rows))
	if button != "Sign in with Test IdP" || role != "auditor" || rows < 1 {
		t.Errorf("button %q, role %q, %d rows; want Sign in with Test IdP, auditor, the events page", button, role, rows)
	}
	var who map[string]any
	browse(t, ctx, "session", chromedp.Evaluate(`fetch("/v1/session").then(r => r.json())`, &who, awaitPromise))
	if who["method"] != "oidc" || who["name"] != "ada@example.com" || who["tenant"] != "acme" {
		t.Errorf("GET /v1/session in the page: %v", who)
	}
	if acts := d.sessionActions("acme"); !slices.Contains(acts, "trail.session.created") {
		t.Errorf("acme's log has %q, want trail.session.created", acts)
	}
	// A user without a role is refused with a page that says why.
	iss.SetUser(map[string]any{"sub": "u-eve", "trail_tenant": "acme"})
	var reason string
	browse(t, ctx, "refused OIDC sign-in", chromedp.Click("#signout", chromedp.ByID), chromedp.WaitVisible("#signin-oidc", chromedp.ByID),
		chromedp.Click("#signin-oidc", chromedp.ByID), chromedp.WaitVisible("#reason", chromedp.ByID), chromedp.Text("#reason", &reason, chromedp.ByID))
	if !strings.Contains(reason, "no trail role") {
		t.Errorf("refusal page says %q", reason)
	}
}

// TestSignInTwoNodes: two "trail serve --postgres" processes on one
// database share dashboard sessions: a session made through node A works
// on node B, and a sign-out through B ends it on A at once.
func TestSignInTwoNodes(t *testing.T) {
	_, dsn := pgtest.Schema(t)
	const key = "operator-key-for-two-nodes-0123456789"
	dirA, dirB := t.TempDir(), t.TempDir()
	a := startNode(t, dsn, dirA, key)
	sk, err := os.ReadFile(filepath.Join(dirA, "signing.key")) // every node signs with the same key
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dirB, "signing.key"), sk, 0o600); err != nil {
		t.Fatal(err)
	}
	b := startNode(t, dsn, dirB, key)
	req := func(method, url, cookie, csrf, body string) (int, string) {
		t.Helper()
		r, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Content-Type", "application/json")
		if cookie != "" {
			r.AddCookie(&http.Cookie{Name: "trail_session", Value: cookie})
		}
		if csrf != "" {
			r.Header.Set("X-CSRF-Token", csrf)
		}
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		for _, c := range res.Cookies() {
			if c.Name == "trail_session" && c.Value != "" {
				return res.StatusCode, c.Value + " " + string(out)
			}
		}
		return res.StatusCode, string(out)
	}
	status, out := req("POST", a.url+"/v1/session", "", "", `{"key":"`+key+`"}`)
	cookie, body, _ := strings.Cut(out, " ")
	var v struct {
		CSRF string `json:"csrf_token"`
	}
	if status != 201 || json.Unmarshal([]byte(body), &v) != nil || v.CSRF == "" {
		t.Fatalf("sign in on node A: %d %s", status, out)
	}
	if status, out := req("GET", b.url+"/v1/session", cookie, "", ""); status != 200 || !strings.Contains(out, v.CSRF) {
		t.Fatalf("the session on node B: %d %s", status, out)
	}
	if status, out := req("DELETE", b.url+"/v1/session", cookie, v.CSRF, ""); status != 204 {
		t.Fatalf("sign out on node B: %d %s", status, out)
	}
	if status, _ := req("GET", a.url+"/v1/events?tenant=_system", cookie, "", ""); status != 401 {
		t.Errorf("the session on node A after sign-out on B: %d, want 401", status)
	}
}

// FuzzSignInFlags: --oidc-group-roles and --oidc-scopes parse into valid
// roles and scopes with openid, or fail naming the flag.
func FuzzSignInFlags(f *testing.F) {
	f.Add("trail-admins=admin,staff=viewer", "openid profile email")
	f.Add("a=boss", "email,profile")
	f.Add("=admin", "")
	f.Add("noequals", "openid")
	f.Fuzz(func(t *testing.T, groups, scopes string) {
		c := SignInConfig{OIDCIssuer: "https://idp.example", OIDCClientID: "trail", OIDCRedirectURL: "https://trail.example/auth/oidc/callback",
			OIDCGroupRoles: groups, OIDCScopes: scopes}
		oc, err := c.oidc()
		if err != nil {
			if !strings.HasPrefix(err.Error(), "--oidc-group-roles") {
				t.Fatalf("error %q does not name --oidc-group-roles", err)
			}
			return
		}
		for g, r := range oc.GroupRoles {
			if g == "" || !r.Valid() {
				t.Fatalf("group %q → role %q", g, r)
			}
		}
	})
}

// TestSignInFlagErrors: wrong sign-in flags stop "trail serve" with a
// message naming the flag.
func TestSignInFlagErrors(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--session-idle", "10s"}, "--session-idle"},
		{[]string{"--session-max", "-1h"}, "--session-max"},
		{[]string{"--oidc-client-id", "trail"}, "--oidc-issuer"},
		{[]string{"--oidc-issuer", "https://idp", "--oidc-redirect-url", "https://t/auth/oidc/callback"}, "--oidc-client-id"},
		{[]string{"--oidc-issuer", "https://idp", "--oidc-client-id", "c"}, "--oidc-redirect-url"},
		{[]string{"--oidc-issuer", "https://idp", "--oidc-client-id", "c", "--oidc-redirect-url", "https://t/auth/oidc/callback", "--oidc-client-secret", "x", "--oidc-client-secret-file", secret}, "--oidc-client-secret-file"},
		{[]string{"--oidc-issuer", "https://idp", "--oidc-client-id", "c", "--oidc-redirect-url", "https://t/auth/oidc/callback", "--oidc-group-roles", "ops=root"}, "--oidc-group-roles"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", t.TempDir()}, tt.args...)
			code, _, errOut := runCmd(t, map[string]string{"TRAIL_BOOTSTRAP_KEY": dashOperatorKey}, "", args...)
			if code == exitOK || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want a failure naming %s", code, errOut, tt.want)
			}
		})
	}
	// The secret file is read and the environment twin works.
	c := SignInConfig{OIDCIssuer: "https://idp", OIDCClientID: "c", OIDCRedirectURL: "https://t/auth/oidc/callback", OIDCClientSecretFile: secret}
	oc, err := c.oidc()
	if err != nil || oc.ClientSecret != "s3cret" {
		t.Errorf("secret from file: %v, %+v", err, oc)
	}
}

// TestSignInSecureCookieOverTLS: "trail serve --tls-cert/--tls-key" sets
// the session cookie Secure, HttpOnly and SameSite=Strict.
func TestSignInSecureCookieOverTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key, pool := writeSelfSigned(t, dir)
	s, _ := startServer(t, ServeConfig{Addr: "127.0.0.1:0", Data: filepath.Join(dir, "data"), ServerName: "tls.test", BootstrapKey: dashOperatorKey,
		TLSCert: cert, TLSKey: key}, io.Discard)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	res, err := c.Post(s.URL()+"/v1/session", "application/json", strings.NewReader(`{"key":"`+dashOperatorKey+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var got *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Name == "trail_session" {
			got = ck
		}
	}
	if res.StatusCode != http.StatusCreated || got == nil || !got.Secure || !got.HttpOnly || got.SameSite != http.SameSiteStrictMode || got.Path != "/" {
		t.Fatalf("over TLS: %d, cookie %+v; want 201 and a Secure, HttpOnly, SameSite=Strict cookie for /", res.StatusCode, got)
	}
}
