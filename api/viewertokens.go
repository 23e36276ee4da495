package api

import (
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/auth"
	"github.com/trail-audit/trail/query"
	"github.com/trail-audit/trail/viewtoken"
)

// Viewer tokens (POST /v1/viewer-tokens, package viewtoken) let a
// customer's application show one tenant's events, optionally bounded by a
// fixed filter, in an iframe (/embed, package ui). A token authenticates as
// a viewer of its tenant with Principal.Filter and Principal.EventsOnly set,
// and two checks keep it in its scope whatever a handler does:
//
//   - wrap refuses every route outside eventsOnlyRoute for it (so a route
//     added later is refused until it is listed there), and
//   - scopedFilter, through which every filtered read passes (readQuery for
//     query, stream and stats; getEvent), ANDs its filter into the read.

// newViewTokens returns the minter of cfg, with a secret for this process
// only when cfg has none (tokens then die with it).
func newViewTokens(cfg Config, log *slog.Logger) (*viewtoken.Minter, error) {
	secret := cfg.ViewerTokenSecret
	if len(secret) == 0 {
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, err
		}
		log.Warn("api: no viewer-token secret configured; viewer tokens work on this process only, until restart")
	}
	return viewtoken.New(viewtoken.Config{Secret: secret, MaxTTL: cfg.ViewerTokenMaxTTL, Now: cfg.Now})
}

// eventsOnlyRoute reports whether the route pattern may be used by a
// principal with EventsOnly or a Filter (a viewer token): reading events
// and checking the log's proofs. Everything else is refused to it.
func eventsOnlyRoute(pattern string) bool {
	switch pattern {
	case "GET /v1/events", "GET /v1/events/{id}", "GET /v1/stream", "GET /v1/stats",
		"GET /v1/log/checkpoint", "GET /v1/log/proof/inclusion", "GET /v1/log/proof/consistency", "GET /v1/log/key":
		return true
	}
	return false
}

// checkEventsOnly is wrap's scope check of a principal on a route.
func checkEventsOnly(pattern string, p auth.Principal) error {
	if (p.EventsOnly || p.Filter != "") && !eventsOnlyRoute(pattern) {
		return trail.Errorf(trail.EFORBIDDEN, "viewer tokens may only read events")
	}
	return nil
}

// viewerPrincipal authenticates a viewer token ("vt_…"). Its filter was
// checked when it was minted; one that no longer parses (after a change of
// the query language) is refused rather than ignored.
func (s *Server) viewerPrincipal(token string) (auth.Principal, error) {
	t, err := s.viewTokens.Verify(token)
	if err != nil {
		return auth.Principal{}, err
	}
	if _, err := query.Parse(t.Filter); err != nil {
		return auth.Principal{}, trail.Errorf(trail.EUNAUTHENTICATED, "invalid viewer token")
	}
	return auth.Principal{KeyID: "viewer-token-" + t.ID, Name: "viewer token", Role: auth.Viewer,
		Tenant: t.Tenant, Filter: t.Filter, EventsOnly: true}, nil
}

// scopedFilter returns x ANDed with p's own filter (either may be nil), in
// the search form of tenant's masking rules; nil when both are nil. Every
// read that filters events goes through it, so a viewer token's filter
// cannot be left out: a caller's q only ever narrows it.
func (s *Server) scopedFilter(p *auth.Principal, tenant string, x *trail.Expr) (*trail.Expr, error) {
	if p != nil && p.Filter != "" {
		pf, err := query.Parse(p.Filter)
		if err != nil {
			return nil, trail.Errorf(trail.EUNAUTHENTICATED, "invalid viewer token")
		}
		switch {
		case pf == nil:
		case x == nil:
			x = pf
		default:
			x = trail.And(pf, x)
			if err := x.Validate(); err != nil { // the caller's q is at the nesting or term limit
				return nil, err
			}
		}
	}
	if x == nil {
		return nil, nil
	}
	m, err := s.maskers.get(tenant)
	if err != nil {
		return nil, err
	}
	return searchForm(m, x), nil
}

// viewerTokenResponse is the 201 body of POST /v1/viewer-tokens.
type viewerTokenResponse struct {
	ID        string    `json:"id"`
	Token     string    `json:"token"`
	Tenant    string    `json:"tenant"`
	Filter    string    `json:"filter"`
	ExpiresAt time.Time `json:"expires_at"`
}

// createViewerToken mints a viewer token: {"tenant"?, "filter"?, "ttl"?}.
// A key scoped to one tenant mints for that tenant only; the filter must
// parse; the TTL defaults to 15m and is at most the server's maximum. The
// token is in the response only, never in the audit log.
func (s *Server) createViewerToken(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	var in struct {
		Tenant string `json:"tenant"`
		Filter string `json:"filter"`
		TTL    string `json:"ttl"`
	}
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	tenant := in.Tenant
	if tenant == "" {
		tenant = p.Tenant
	}
	if tenant == auth.AllTenants {
		return trail.FieldError("tenant", "required with a key scoped to all tenants: a viewer token reads one tenant")
	}
	if err := trail.ValidateTenantName(tenant); err != nil || tenant == trail.SystemTenant {
		return trail.FieldError("tenant", "must be a tenant name matching [a-z0-9][a-z0-9_-]{0,62}")
	}
	if err := p.Authorize(auth.PermKeys, tenant); err != nil {
		return &trail.Error{Code: trail.EFORBIDDEN, Field: "tenant", Message: "a key scoped to tenant " + p.Tenant + " can only mint viewer tokens for it"}
	}
	filter := strings.TrimSpace(in.Filter)
	if _, err := query.Parse(filter); err != nil {
		var te *trail.Error
		if errors.As(err, &te) {
			c := *te
			c.Field = "filter"
			return &c
		}
		return err
	}
	var ttl time.Duration
	if in.TTL != "" {
		d, err := time.ParseDuration(in.TTL)
		if err != nil {
			return trail.FieldError("ttl", "must be a duration such as 15m or 1h, at most %s", s.viewTokens.MaxTTL())
		}
		if d == 0 {
			return trail.FieldError("ttl", "must be between 1s and %s", s.viewTokens.MaxTTL())
		}
		ttl = d
	}
	token, t, err := s.viewTokens.Mint(tenant, filter, ttl)
	if err != nil {
		return err
	}
	if err := s.audit.recordSync(tenant, r, p, "trail.viewer_token.created", map[string]any{
		"token_id": t.ID, "filter": t.Filter, "ttl": t.ExpiresAt.Sub(t.IssuedAt).String(), "expires_at": t.ExpiresAt.Format(time.RFC3339),
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, viewerTokenResponse{ID: t.ID, Token: token, Tenant: t.Tenant, Filter: t.Filter, ExpiresAt: t.ExpiresAt})
	return nil
}

// inScope is getEvent's scope check of event e (nil when the store
// answered getErr, an ENOTFOUND): for a principal with a filter, an event
// the filter does not match and a missing id are one and the same
// ENOTFOUND; for any other principal it returns getErr unchanged.
func (s *Server) inScope(p *auth.Principal, tenant, id string, e *trail.Event, getErr error) error {
	if p == nil || p.Filter == "" {
		return getErr
	}
	scope, err := s.scopedFilter(p, tenant, nil)
	if err != nil {
		return err
	}
	notFound := trail.Errorf(trail.ENOTFOUND, "no event %q in tenant %s", id, tenant)
	if getErr != nil || e == nil {
		return notFound
	}
	match, err := scope.Compile() // a nil scope matches everything
	if err != nil {
		return err
	}
	if !match(e) {
		return notFound
	}
	return nil
}
