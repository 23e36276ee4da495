package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/auth"
)

// keyResponse is a key as returned by the API; Key (the secret) only on
// create and rotate.
type keyResponse struct {
	ID         string     `json:"id"`
	Key        string     `json:"key,omitempty"`
	Name       string     `json:"name"`
	Role       auth.Role  `json:"role"`
	Tenant     string     `json:"tenant"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

func toKeyResponse(k auth.Key, secret string) keyResponse {
	return keyResponse{ID: k.ID, Key: secret, Name: k.Name, Role: k.Role, Tenant: k.Tenant, CreatedAt: k.CreatedAt,
		ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt, LastUsedAt: k.LastUsedAt}
}

// decodeBody strictly decodes a small JSON request body into v.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return trail.FieldError("", "a JSON body is required")
		}
		return jsonError(err)
	}
	return nil
}

// keyAudience is the tenant whose log records a change to a key.
func keyAudience(tenant string) string {
	if tenant == auth.AllTenants {
		return trail.SystemTenant
	}
	return tenant
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	var in struct {
		Name      string     `json:"name"`
		Role      string     `json:"role"`
		Tenant    string     `json:"tenant"`
		ExpiresAt *time.Time `json:"expires_at"`
	}
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	if in.Tenant == "" {
		in.Tenant = p.Tenant
	}
	role, err := auth.ParseRole(in.Role)
	if err != nil {
		return err
	}
	if p.Role != auth.Operator {
		if role == auth.Operator {
			return &trail.Error{Code: trail.EFORBIDDEN, Field: "role", Message: "only an operator can create operator keys"}
		}
		if in.Tenant != p.Tenant {
			return &trail.Error{Code: trail.EFORBIDDEN, Field: "tenant", Message: "an admin key can only create keys for its own tenant " + p.Tenant}
		}
	}
	k, secret, err := s.cfg.Keys.Create(r.Context(), in.Name, role, in.Tenant, in.ExpiresAt)
	if err != nil {
		return err
	}
	s.audit.recordSync(keyAudience(k.Tenant), r, p, "trail.key.created", map[string]any{"key_id": k.ID, "name": k.Name, "role": string(k.Role), "tenant": k.Tenant})
	writeJSON(w, http.StatusCreated, toKeyResponse(k, secret))
	return nil
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	tenant := p.Tenant
	if t := r.URL.Query().Get("tenant"); p.Role == auth.Operator {
		tenant = t
	} else if t != "" && t != p.Tenant {
		// Naming another tenant is refused, as on every other route,
		// rather than silently answered with the key's own tenant.
		return trail.Errorf(trail.EFORBIDDEN, "key is scoped to tenant %s", p.Tenant)
	}
	keys := s.cfg.Keys.List(r.Context(), tenant)
	out := make([]keyResponse, 0, len(keys))
	for _, k := range keys {
		out = append(out, toKeyResponse(k, ""))
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": out})
	return nil
}

// ownKey returns key id if p may manage it.
func (s *Server) ownKey(r *http.Request, p *auth.Principal) (auth.Key, error) {
	k, err := s.cfg.Keys.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return k, err
	}
	if p.Role != auth.Operator && k.Tenant != p.Tenant {
		// Do not reveal keys of other tenants.
		return k, trail.Errorf(trail.ENOTFOUND, "no key %q", r.PathValue("id"))
	}
	return k, nil
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if _, err := s.ownKey(r, p); err != nil {
		return err
	}
	k, err := s.cfg.Keys.Revoke(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	s.audit.recordSync(keyAudience(k.Tenant), r, p, "trail.key.revoked", map[string]any{"key_id": k.ID, "name": k.Name})
	writeJSON(w, http.StatusOK, toKeyResponse(k, ""))
	return nil
}

func (s *Server) rotateKey(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if _, err := s.ownKey(r, p); err != nil {
		return err
	}
	var in struct {
		Grace string `json:"grace"`
	}
	if r.ContentLength != 0 {
		if err := decodeBody(r, &in); err != nil {
			return err
		}
	}
	var grace time.Duration
	if in.Grace != "" {
		d, err := time.ParseDuration(in.Grace)
		if err != nil || d < 0 || d > 30*24*time.Hour {
			return trail.FieldError("grace", "must be a duration such as 1h, at most 720h")
		}
		grace = d
	}
	k, secret, err := s.cfg.Keys.Rotate(r.Context(), r.PathValue("id"), grace)
	if err != nil {
		return err
	}
	s.audit.recordSync(keyAudience(k.Tenant), r, p, "trail.key.rotated", map[string]any{"key_id": k.ID, "grace": grace.String()})
	writeJSON(w, http.StatusOK, toKeyResponse(k, secret))
	return nil
}

func (s *Server) listTenants(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ts, err := s.cfg.Store.Tenants(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"tenants": ts})
	return nil
}

// createTenant starts a tenant's log with a trail.tenant.created event.
func (s *Server) createTenant(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	var in struct {
		Name string `json:"name"`
	}
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	if err := trail.ValidateTenantName(in.Name); err != nil || in.Name == trail.SystemTenant {
		return trail.FieldError("name", "must match [a-z0-9][a-z0-9_-]{0,62}")
	}
	known, err := s.tenantSet(r)
	if err != nil {
		return err
	}
	if known[in.Name] {
		return &trail.Error{Code: trail.ECONFLICT, Field: "name", Message: "tenant " + in.Name + " already exists"}
	}
	if err := s.audit.recordSync(in.Name, r, p, "trail.tenant.created", map[string]any{"tenant": in.Name}); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, trail.Tenant{Name: in.Name, Size: 1})
	return nil
}
