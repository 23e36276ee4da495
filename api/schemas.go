package api

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/auth"
	"github.com/trail-audit/trail/schema"
)

// putSchema stores the body, a JSON Schema (draft 2020-12) for the
// metadata of the action's events, as the action's next version, which
// applies to every later ingest. It answers 201 with the first version of
// an action and 200 with later ones. The change is recorded in the
// tenant's log as trail.schema.updated (action, version and the SHA-256
// of the stored document) before the response is sent.
func (s *Server) putSchema(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	tenant, err := readTenant(r, p, auth.PermSettings)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, schema.MaxSchemaBytes+1))
	if err != nil {
		return trail.FieldError("", "read body: %v", err)
	}
	if len(body) == 0 {
		return trail.FieldError("", "a JSON body is required: the schema")
	}
	v, err := s.cfg.Schemas.Put(r.Context(), tenant, r.PathValue("action"), body)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(v.Schema)
	if err := s.audit.recordSync(tenant, r, p, "trail.schema.updated", map[string]any{
		"action": v.Action, "version": float64(v.Version), "schema_sha256": hex.EncodeToString(sum[:]),
	}); err != nil {
		return err
	}
	status := http.StatusOK
	if v.Version == 1 {
		status = http.StatusCreated
	}
	writeJSON(w, status, v)
	return nil
}

// listSchemas returns the latest schema of each of the tenant's actions,
// or with ?action= every version of that action, oldest first.
func (s *Server) listSchemas(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	tenant, err := readTenant(r, p, auth.PermRead)
	if err != nil {
		return err
	}
	var out []schema.Version
	if action := r.URL.Query().Get("action"); action != "" {
		out = s.cfg.Schemas.Versions(tenant, action)
	} else {
		out = s.cfg.Schemas.List(tenant)
	}
	writeJSON(w, http.StatusOK, map[string]any{"schemas": out})
	return nil
}

// getSchema returns the latest schema of an action, or with ?version= a
// given one.
func (s *Server) getSchema(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	tenant, err := readTenant(r, p, auth.PermRead)
	if err != nil {
		return err
	}
	version := 0
	if q := r.URL.Query().Get("version"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 {
			return trail.FieldError("version", "must be a positive integer")
		}
		version = n
	}
	v, err := s.cfg.Schemas.Get(tenant, r.PathValue("action"), version)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}
