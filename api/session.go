package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/auth"
	"github.com/trail-audit/trail/session"
)

// Dashboard sessions (DESIGN.md §6, §7): the browser signs in once, with an
// API key (POST /v1/session) or OIDC (/auth/oidc/…), and then calls the API
// with the HttpOnly cookie SessionCookie instead of a bearer token. Every
// state-changing request made with the cookie carries the session's CSRF
// token in the X-CSRF-Token header (or a csrf_token form field) and, when
// the browser names one, an Origin of this server.

// SessionCookie is the name of the session cookie.
const SessionCookie = "trail_session"

// CSRFHeader is the request header that carries the CSRF token.
const CSRFHeader = "X-CSRF-Token"

// sessionAuth is the server's part of sessions: the manager, the
// cross-origin check and the OIDC client.
type sessionAuth struct {
	m       *session.Manager
	origins *http.CrossOriginProtection
	secure  bool // Secure cookies even on plain HTTP (behind a TLS proxy)
	oidc    *oidcClient
}

func newSessionAuth(cfg Config) (*sessionAuth, error) {
	m := cfg.Sessions
	if m == nil {
		var err error
		if m, err = session.NewManager(session.Config{Store: &session.MemoryStore{}, Now: cfg.Now}); err != nil {
			return nil, err
		}
	}
	sa := &sessionAuth{m: m, origins: http.NewCrossOriginProtection(), secure: cfg.SecureCookies}
	if cfg.OIDC != nil {
		c, err := newOIDCClient(*cfg.OIDC, cfg.Now)
		if err != nil {
			return nil, err
		}
		sa.oidc = c
	}
	return sa, nil
}

// secureRequest reports whether cookies set in answer to r get Secure: the
// request came over TLS, or the server is told it sits behind TLS.
func (sa *sessionAuth) secureRequest(r *http.Request) bool { return r.TLS != nil || sa.secure }

func (sa *sessionAuth) setCookie(w http.ResponseWriter, r *http.Request, id string) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id, Path: "/", HttpOnly: true,
		Secure: sa.secureRequest(r), SameSite: http.SameSiteStrictMode})
}

func (sa *sessionAuth) clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: sa.secureRequest(r), SameSite: http.SameSiteStrictMode})
}

// unsafeMethod reports whether m may change state and so needs the CSRF
// token with a cookie.
func unsafeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// errCSRF is the refusal of a cookie request without the right token.
var errCSRF = trail.Errorf(trail.EFORBIDDEN, "missing or wrong CSRF token")

// cookieSession returns the live session of r's cookie. For a session
// made from an API key it also checks the key: a key revoked or expired,
// or a secret replaced by rotation past its grace period, ends the session
// at once. Every failure is EUNAUTHENTICATED.
func (s *Server) cookieSession(r *http.Request) (session.Session, string, error) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return session.Session{}, "", session.ErrNoSession
	}
	sess, err := s.sess.m.Lookup(r.Context(), c.Value)
	if errors.Is(err, session.ErrIdle) || errors.Is(err, session.ErrExpired) {
		reason := "idle timeout"
		if errors.Is(err, session.ErrExpired) {
			reason = "absolute timeout"
		}
		s.auditSession(sessionAudience(sess.Principal), r, sess, "trail.session.ended", trail.OutcomeSuccess, map[string]any{"reason": reason})
	}
	if err != nil {
		return session.Session{}, "", err
	}
	if sess.Method == session.MethodKey {
		if why := s.keyStillValid(r.Context(), sess); why != "" {
			if err := s.sess.m.End(r.Context(), c.Value); err != nil {
				return session.Session{}, "", err
			}
			s.auditSession(sessionAudience(sess.Principal), r, sess, "trail.session.ended", trail.OutcomeSuccess, map[string]any{"reason": why})
			return session.Session{}, "", trail.Errorf(trail.EUNAUTHENTICATED, "session ended: %s", why)
		}
	}
	return sess, c.Value, nil
}

// keyStillValid returns why the key a session was made from no longer
// works, or "" when it does.
func (s *Server) keyStillValid(ctx context.Context, sess session.Session) string {
	k, err := s.cfg.Keys.Get(ctx, sess.Principal.KeyID)
	now := s.now()
	switch {
	case err != nil:
		return "API key deleted"
	case k.RevokedAt != nil:
		return "API key revoked"
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return "API key expired"
	case sess.KeyHash == k.Hash:
		return ""
	case sess.KeyHash == k.PrevHash && k.PrevValidUntil != nil && now.Before(*k.PrevValidUntil):
		return ""
	}
	return "API key secret was replaced by rotation"
}

// authenticateSession is authenticate for a request with the session
// cookie and no Authorization header. A state-changing request must also
// pass checkCSRF.
func (s *Server) authenticateSession(r *http.Request) (auth.Principal, error) {
	sess, _, err := s.cookieSession(r)
	if err != nil {
		return auth.Principal{}, err
	}
	if err := s.checkCSRF(r, sess); err != nil {
		return auth.Principal{}, err
	}
	return sess.Principal, nil
}

// checkCSRF refuses a state-changing cookie request from another origin
// (by Sec-Fetch-Site or Origin, see http.CrossOriginProtection) or without
// the session's CSRF token, in the X-CSRF-Token header or, for a form, the
// csrf_token field. Refusals are EFORBIDDEN and audited in the session's
// tenant. Safe methods pass.
func (s *Server) checkCSRF(r *http.Request, sess session.Session) error {
	if !unsafeMethod(r.Method) {
		return nil
	}
	var refusal error
	if err := s.sess.origins.Check(r); err != nil {
		refusal = trail.Errorf(trail.EFORBIDDEN, "cross-origin request refused")
	} else if !sess.CheckCSRF(csrfToken(r)) {
		refusal = errCSRF
	}
	if refusal != nil {
		s.m.authFailures.Inc()
		s.auditSession(sessionAudience(sess.Principal), r, sess, "trail.auth.failed", trail.OutcomeDenied, map[string]any{"reason": trail.ErrorMessage(refusal)})
	}
	return refusal
}

// csrfToken is the token r carries: the header, or the csrf_token field of
// a form body (which this reads).
func csrfToken(r *http.Request) string {
	if t := r.Header.Get(CSRFHeader); t != "" {
		return t
	}
	ct := r.Header.Get("Content-Type")
	if strings.HasPrefix(ct, "application/x-www-form-urlencoded") || strings.HasPrefix(ct, "multipart/form-data") {
		r.Body = http.MaxBytesReader(nil, r.Body, 1<<20)
		return r.PostFormValue("csrf_token")
	}
	return ""
}

// sessionAudience is the tenant whose log records a session event.
func sessionAudience(p auth.Principal) string {
	if p.Tenant == "" || p.Tenant == auth.AllTenants {
		return trail.SystemTenant
	}
	return p.Tenant
}

// auditSession appends a session event before the response: the actor is
// the key (key sign-in) or the user (OIDC), the origin the dashboard.
func (s *Server) auditSession(tenant string, r *http.Request, sess session.Session, action, outcome string, meta map[string]any) {
	var p *auth.Principal
	if sess.Principal.Role != "" {
		p = &sess.Principal
	}
	e := auditEvent(tenant, r, p, action, outcome, meta)
	e.Source.Origin = "dashboard"
	if sess.Method == session.MethodOIDC {
		e.Actor.Type = trail.ActorUser
	}
	if sess.IDHash != "" {
		if e.Metadata == nil {
			e.Metadata = map[string]any{}
		}
		e.Metadata["session"] = sess.IDHash[:16] // names the session in the log without revealing it
		e.Metadata["method"] = sess.Method
	}
	if _, err := s.cfg.Store.Append(context.WithoutCancel(r.Context()), []*trail.Event{e}); err != nil {
		s.log.Error("self-audit append failed", "tenant", tenant, "action", action, "err", err)
	}
}

// sessionView is the body of POST and GET /v1/session.
type sessionView struct {
	CSRFToken   string    `json:"csrf_token"`
	Role        auth.Role `json:"role"`
	Tenant      string    `json:"tenant"`
	Name        string    `json:"name"`
	Method      string    `json:"method"`
	ExpiresAt   time.Time `json:"expires_at"`
	IdleTimeout int       `json:"idle_timeout"` // seconds
}

func (s *Server) viewSession(sess session.Session) sessionView {
	return sessionView{CSRFToken: sess.CSRFToken, Role: sess.Principal.Role, Tenant: sess.Principal.Tenant, Name: sess.Principal.Name,
		Method: sess.Method, ExpiresAt: sess.ExpiresAt, IdleTimeout: int(s.sess.m.Idle() / time.Second)}
}

// createSession is POST /v1/session: sign in with an API key, given as
// {"key":"trl_…"} or, with no body, as the bearer token. A browser request
// from another origin is refused, so that no other site can sign a
// visitor in to a key of its choosing (login CSRF).
func (s *Server) createSession(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	if err := s.sess.origins.Check(r); err != nil {
		return trail.Errorf(trail.EFORBIDDEN, "cross-origin request refused")
	}
	var in struct {
		Key string `json:"key"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return trail.FieldError("", "read body: %v", err)
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		if err := decodeBody(r, &in); err != nil {
			return err
		}
	} else if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		in.Key = strings.TrimSpace(tok)
	}
	p, err := s.cfg.Keys.Authenticate(r.Context(), in.Key)
	if in.Key == "" {
		err = &trail.Error{Code: trail.EUNAUTHENTICATED, Field: "key", Message: "missing API key: send {\"key\":\"trl_…\"}"}
	}
	if err != nil {
		s.m.authFailures.Inc()
		s.auditSession(s.tokenAudience(r.Context(), in.Key), r, session.Session{Method: session.MethodKey}, "trail.session.failed", trail.OutcomeFailure,
			map[string]any{"reason": trail.ErrorMessage(err), "method": session.MethodKey})
		return err
	}
	return s.startSession(w, r, p, session.MethodKey, auth.HashToken(in.Key), "")
}

// startSession creates a session for p, sets its cookie, audits it and
// answers 201 with the session.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, p auth.Principal, method, keyHash, subject string) error {
	// A session this browser already had is replaced, not left behind.
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		if err := s.sess.m.End(r.Context(), c.Value); err != nil {
			return err
		}
	}
	id, sess, err := s.sess.m.Create(r.Context(), p, method, keyHash, subject)
	if err != nil {
		return err
	}
	s.sess.setCookie(w, r, id)
	meta := map[string]any{}
	if subject != "" {
		meta["subject"] = subject
	}
	s.auditSession(sessionAudience(p), r, sess, "trail.session.created", trail.OutcomeSuccess, meta)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, s.viewSession(sess))
	return nil
}

// tokenAudience is the tenant whose log records a failed sign-in with
// token: the tenant of the key it names, when that key exists and is
// scoped to one tenant; _system otherwise.
func (s *Server) tokenAudience(ctx context.Context, token string) string {
	id, ok := auth.TokenID(token)
	if !ok {
		return trail.SystemTenant
	}
	k, err := s.cfg.Keys.Get(ctx, id)
	if err != nil {
		return trail.SystemTenant
	}
	return keyAudience(k.Tenant)
}

// getSession is GET /v1/session: the signed-in session, with its CSRF
// token, or 401.
func (s *Server) getSession(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	sess, _, err := s.cookieSession(r)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, s.viewSession(sess))
	return nil
}

// deleteSession is DELETE /v1/session: sign out. It needs the CSRF token;
// it deletes the session on the server and clears the cookie.
func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	sess, id, err := s.cookieSession(r)
	if err != nil {
		if errors.Is(err, session.ErrNoSession) {
			s.sess.clearCookie(w, r)
		}
		return err
	}
	if err := s.checkCSRF(r, sess); err != nil {
		return err
	}
	if err := s.sess.m.End(r.Context(), id); err != nil {
		return err
	}
	s.sess.clearCookie(w, r)
	s.auditSession(sessionAudience(sess.Principal), r, sess, "trail.session.ended", trail.OutcomeSuccess, map[string]any{"reason": "signed out"})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// sessionConfig is GET /v1/session/config: what the sign-in page offers.
func (s *Server) sessionConfig(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	out := struct {
		OIDC     bool   `json:"oidc"`
		OIDCName string `json:"oidc_name"`
	}{}
	if s.sess.oidc != nil {
		out.OIDC, out.OIDCName = true, s.sess.oidc.cfg.Name
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// hasCookie reports whether r carries a non-empty cookie name.
func hasCookie(r *http.Request, name string) bool {
	c, err := r.Cookie(name)
	return err == nil && c.Value != ""
}
