package api

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/auth"
	"github.com/trail-audit/trail/session"
)

// OIDCConfig configures dashboard sign-in with an OpenID Connect issuer:
// the authorisation code flow with PKCE (S256), the ID token checked for
// issuer, audience, expiry, nonce and signature (the issuer's JWKS), and
// claims mapped to a role and a tenant.
type OIDCConfig struct {
	Issuer       string // the issuer URL; its /.well-known/openid-configuration is read on first use
	ClientID     string
	ClientSecret string // empty for a public client
	RedirectURL  string // this server's /auth/oidc/callback as registered at the issuer
	Name         string // shown on the sign-in page: "Sign in with <Name>"; default "OIDC"
	Scopes       []string
	// RoleClaim names the claim holding the role (default "trail_role");
	// TenantClaim the claim holding the tenant (default "trail_tenant"),
	// which operators need not have. "*" as tenant means all tenants.
	RoleClaim   string
	TenantClaim string
	// GroupsClaim names a claim holding a list of groups (default
	// "groups"); GroupRoles maps a group to a role, used when the role
	// claim is absent. Of several matching groups the most powerful role
	// wins.
	GroupsClaim string
	GroupRoles  map[string]auth.Role
	// HTTPClient talks to the issuer; nil: http.DefaultClient.
	HTTPClient *http.Client
	// Rand is the source of state, nonce and PKCE verifier; nil: crypto/rand.
	Rand io.Reader
}

// Validate names the first missing or wrong setting by its flag.
func (c OIDCConfig) Validate() error {
	switch {
	case c.Issuer == "":
		return trail.FieldError("oidc-issuer", "required")
	case c.ClientID == "":
		return trail.FieldError("oidc-client-id", "required")
	case c.RedirectURL == "" || !(strings.HasPrefix(c.RedirectURL, "https://") || strings.HasPrefix(c.RedirectURL, "http://")):
		return trail.FieldError("oidc-redirect-url", "required: an absolute http(s) URL ending in /auth/oidc/callback")
	case !strings.HasSuffix(c.RedirectURL, "/auth/oidc/callback"):
		return trail.FieldError("oidc-redirect-url", "must end in /auth/oidc/callback")
	}
	for g, r := range c.GroupRoles {
		if !r.Valid() {
			return trail.FieldError("oidc-group-roles", "group %q: unknown role %q", g, r)
		}
	}
	return nil
}

// oidcCookie holds state, nonce and PKCE verifier between the login
// redirect and the callback.
const oidcCookie = "trail_oidc"

// oidcLoginTTL is how long a started sign-in may take at the issuer.
const oidcLoginTTL = 10 * time.Minute

// oidcClient is the configured OIDC relying party. The issuer's discovery
// document is fetched on the first sign-in (so the server starts while the
// issuer is down) and kept once it was read.
type oidcClient struct {
	cfg  OIDCConfig
	now  func() time.Time
	rand io.Reader

	mu       sync.Mutex
	provider *oidc.Provider
}

func newOIDCClient(cfg OIDCConfig, now func() time.Time) (*oidcClient, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Name == "" {
		cfg.Name = "OIDC"
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{oidc.ScopeOpenID, "profile", "email"}
	} else if !contains(cfg.Scopes, oidc.ScopeOpenID) {
		cfg.Scopes = append([]string{oidc.ScopeOpenID}, cfg.Scopes...)
	}
	if cfg.RoleClaim == "" {
		cfg.RoleClaim = "trail_role"
	}
	if cfg.TenantClaim == "" {
		cfg.TenantClaim = "trail_tenant"
	}
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = "groups"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	c := &oidcClient{cfg: cfg, now: now, rand: cfg.Rand}
	if c.rand == nil {
		c.rand = rand.Reader
	}
	return c, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (c *oidcClient) ctx(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, c.cfg.HTTPClient)
}

// discover returns the issuer's provider, reading its discovery document
// on first use.
func (c *oidcClient) discover(ctx context.Context) (*oidc.Provider, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.provider != nil {
		return c.provider, nil
	}
	p, err := oidc.NewProvider(c.ctx(ctx), c.cfg.Issuer)
	if err != nil {
		return nil, err
	}
	c.provider = p
	return p, nil
}

func (c *oidcClient) oauth2(p *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{ClientID: c.cfg.ClientID, ClientSecret: c.cfg.ClientSecret, RedirectURL: c.cfg.RedirectURL,
		Endpoint: p.Endpoint(), Scopes: c.cfg.Scopes}
}

func (c *oidcClient) random() (string, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(c.rand, b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// refusal is a failed OIDC sign-in: the status and the message the page
// shows, and the reason audited.
type refusal struct {
	status int
	msg    string
}

func (r *refusal) Error() string { return r.msg }

func refuse(status int, format string, args ...any) *refusal {
	return &refusal{status, fmt.Sprintf(format, args...)}
}

// oidcLogin is GET /auth/oidc/login: redirect to the issuer.
func (s *Server) oidcLogin(w http.ResponseWriter, r *http.Request) {
	c := s.sess.oidc
	if c == nil {
		s.oidcPage(w, refuse(http.StatusNotFound, "OIDC sign-in is not configured on this server."))
		return
	}
	p, err := c.discover(r.Context())
	if err != nil {
		s.log.Error("oidc discovery failed", "issuer", c.cfg.Issuer, "err", err)
		s.oidcFailed(w, r, "", refuse(http.StatusBadGateway, "The identity provider could not be reached; try again later."), err)
		return
	}
	state, err1 := c.random()
	nonce, err2 := c.random()
	verifier, err3 := c.random() // 43 characters of base64url: a valid RFC 7636 verifier
	if err1 != nil || err2 != nil || err3 != nil {
		s.oidcPage(w, refuse(http.StatusInternalServerError, "Could not start sign-in."))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: state + "." + nonce + "." + verifier, Path: "/auth/oidc/",
		MaxAge: int(oidcLoginTTL / time.Second), HttpOnly: true, Secure: s.sess.secureRequest(r),
		// Lax, not Strict: the callback is a top-level navigation from the
		// issuer's site, which must bring this cookie back.
		SameSite: http.SameSiteLaxMode})
	u := c.oauth2(p).AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u, http.StatusFound)
}

// oidcCallback is GET /auth/oidc/callback: check state, exchange the code
// with the PKCE verifier, verify the ID token and its nonce, map its claims
// and start a session.
func (s *Server) oidcCallback(w http.ResponseWriter, r *http.Request) {
	c := s.sess.oidc
	if c == nil {
		s.oidcPage(w, refuse(http.StatusNotFound, "OIDC sign-in is not configured on this server."))
		return
	}
	// The pre-auth cookie is single-use.
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: "", Path: "/auth/oidc/", MaxAge: -1, HttpOnly: true,
		Secure: s.sess.secureRequest(r), SameSite: http.SameSiteLaxMode})
	p, subject, ref, err := s.oidcIdentity(r, c)
	if ref != nil {
		s.oidcFailed(w, r, subject, ref, err)
		return
	}
	id, sess, err := s.sess.m.Create(r.Context(), p, session.MethodOIDC, "", subject)
	if err != nil {
		s.oidcFailed(w, r, subject, refuse(http.StatusInternalServerError, "Could not start the session."), err)
		return
	}
	s.sess.setCookie(w, r, id)
	s.auditSession(sessionAudience(p), r, sess, "trail.session.created", trail.OutcomeSuccess, map[string]any{"subject": subject})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, "/", http.StatusFound)
}

// oidcIdentity does the checks of the callback and returns the principal
// and the subject ("issuer subject"), or why sign-in is refused with the
// underlying error for the log.
func (s *Server) oidcIdentity(r *http.Request, c *oidcClient) (auth.Principal, string, *refusal, error) {
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		return auth.Principal{}, "", refuse(http.StatusForbidden, "The identity provider refused sign-in: %s %s", e, q.Get("error_description")), nil
	}
	ck, err := r.Cookie(oidcCookie)
	if err != nil {
		return auth.Principal{}, "", refuse(http.StatusBadRequest, "This sign-in was not started here or took longer than %v; start again.", oidcLoginTTL), nil
	}
	parts := strings.Split(ck.Value, ".")
	if len(parts) != 3 || q.Get("state") == "" || subtle.ConstantTimeCompare([]byte(parts[0]), []byte(q.Get("state"))) != 1 {
		return auth.Principal{}, "", refuse(http.StatusBadRequest, "The sign-in state does not match; start again."), nil
	}
	nonce, verifier := parts[1], parts[2]
	code := q.Get("code")
	if code == "" {
		return auth.Principal{}, "", refuse(http.StatusBadRequest, "The identity provider sent no authorisation code."), nil
	}
	p, err := c.discover(r.Context())
	if err != nil {
		return auth.Principal{}, "", refuse(http.StatusBadGateway, "The identity provider could not be reached; try again later."), err
	}
	ctx := c.ctx(r.Context())
	tok, err := c.oauth2(p).Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return auth.Principal{}, "", refuse(http.StatusForbidden, "The identity provider did not accept the authorisation code."), err
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return auth.Principal{}, "", refuse(http.StatusBadGateway, "The identity provider returned no ID token."), nil
	}
	idt, err := p.VerifierContext(ctx, &oidc.Config{ClientID: c.cfg.ClientID, Now: c.now}).Verify(ctx, raw)
	if err != nil {
		return auth.Principal{}, "", refuse(http.StatusForbidden, "The ID token was not valid: %s.", idTokenProblem(err)), err
	}
	subject := idt.Issuer + " " + idt.Subject
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return auth.Principal{}, subject, refuse(http.StatusForbidden, "The ID token was not valid: its nonce does not match this sign-in."), nil
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return auth.Principal{}, subject, refuse(http.StatusBadGateway, "The ID token's claims could not be read."), err
	}
	pr, ref := c.principal(idt.Subject, claims)
	return pr, subject, ref, nil
}

// idTokenProblem names what go-oidc found wrong, without its detail.
func idTokenProblem(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "expired"):
		return "it has expired"
	case strings.Contains(msg, "audience"):
		return "it was issued for another client (audience)"
	case strings.Contains(msg, "issuer"), strings.Contains(msg, "different provider"):
		return "it was issued by another issuer"
	case strings.Contains(msg, "signature"):
		return "its signature does not verify against the issuer's keys"
	}
	return "it failed verification"
}

// principal maps verified claims to a role and a tenant.
func (c *oidcClient) principal(sub string, claims map[string]any) (auth.Principal, *refusal) {
	var role auth.Role
	if v, ok := claims[c.cfg.RoleClaim]; ok {
		s, _ := v.(string)
		r, err := auth.ParseRole(s)
		if err != nil {
			return auth.Principal{}, refuse(http.StatusForbidden, "Your account's %s claim %q is not a trail role (operator, admin, auditor, viewer or writer).", c.cfg.RoleClaim, fmt.Sprint(v))
		}
		role = r
	} else if groups, ok := claims[c.cfg.GroupsClaim].([]any); ok && len(c.cfg.GroupRoles) > 0 {
		best := -1
		all := auth.Roles()
		for _, g := range groups {
			gs, _ := g.(string)
			if r, ok := c.cfg.GroupRoles[gs]; ok {
				for i, x := range all {
					if x == r && (best < 0 || i < best) {
						best = i
					}
				}
			}
		}
		if best >= 0 {
			role = all[best]
		}
	}
	if role == "" {
		return auth.Principal{}, refuse(http.StatusForbidden, "Your account has no trail role: the identity provider must send the %s claim (or a group mapped to a role).", c.cfg.RoleClaim)
	}
	tenant := auth.AllTenants
	if role != auth.Operator {
		t, _ := claims[c.cfg.TenantClaim].(string)
		switch {
		case t == "":
			return auth.Principal{}, refuse(http.StatusForbidden, "Your account has no tenant: the identity provider must send the %s claim.", c.cfg.TenantClaim)
		case t != auth.AllTenants && trail.ValidateTenantName(t) != nil:
			return auth.Principal{}, refuse(http.StatusForbidden, "Your account's %s claim %q is not a valid tenant name.", c.cfg.TenantClaim, t)
		}
		tenant = t
	}
	name := sub
	for _, k := range []string{"email", "preferred_username", "name"} {
		if v, _ := claims[k].(string); v != "" {
			name = v
			break
		}
	}
	return auth.Principal{KeyID: auth.OIDCPrefix + clip(sub, 200), Name: clip(name, 200), Role: role, Tenant: tenant}, nil
}

// clip cuts s to at most n bytes of valid UTF-8 (invalid bytes become
// U+FFFD first).
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// oidcFailed audits a refused sign-in in _system and shows the page.
func (s *Server) oidcFailed(w http.ResponseWriter, r *http.Request, subject string, ref *refusal, err error) {
	s.m.authFailures.Inc()
	if err != nil {
		s.log.Warn("oidc sign-in refused", "reason", ref.msg, "err", err)
	}
	meta := map[string]any{"reason": ref.msg, "method": session.MethodOIDC}
	if subject != "" {
		meta["subject"] = subject
	}
	s.auditSession(trail.SystemTenant, r, session.Session{Method: session.MethodOIDC}, "trail.session.failed", trail.OutcomeFailure, meta)
	s.oidcPage(w, ref)
}

// oidcPage shows a refusal as a small HTML page with a way back.
func (s *Server) oidcPage(w http.ResponseWriter, ref *refusal) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(ref.status)
	fmt.Fprintf(w, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>trail: sign-in refused</title></head>\n"+
		"<body><h1>Sign-in refused</h1>\n<p id=\"reason\">%s</p>\n<p><a href=\"/\">Back to sign-in</a></p></body></html>\n", html.EscapeString(ref.msg))
}
