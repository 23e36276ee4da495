package api

import (
	"net/http"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/auth"
)

// getSettings returns a tenant's settings (its stored ones, or the
// defaults: 180 days of retention, no legal hold, default masking).
func (s *Server) getSettings(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	tenant, err := readTenant(r, p, auth.PermRead)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.cfg.Settings.Get(tenant))
	return nil
}

// putSettings changes a tenant's settings: the fields of the body replace
// the current ones, fields left out keep their value. The change is recorded in the
// tenant's log as trail.settings.updated with the settings before and
// after, before the response is sent.
func (s *Server) putSettings(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	tenant, err := readTenant(r, p, auth.PermSettings)
	if err != nil {
		return err
	}
	// Fields the body leaves out keep their current value.
	before := s.cfg.Settings.Get(tenant)
	in := s.cfg.Settings.Get(tenant)
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	after, err := s.cfg.Settings.Put(r.Context(), tenant, in)
	if err != nil {
		return err
	}
	if err := s.audit.recordSync(tenant, r, p, "trail.settings.updated", map[string]any{
		"before": settingsMeta(before), "after": settingsMeta(after),
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, after)
	return nil
}

// settingsMeta is the metadata form of settings in an audit event.
func settingsMeta(st trail.Settings) map[string]any {
	rules := make([]any, len(st.Masking.Rules))
	for i, r := range st.Masking.Rules {
		m := map[string]any{"action": r.Action}
		if r.Path != "" {
			m["path"] = r.Path
		}
		if r.Detector != "" {
			m["detector"] = r.Detector
		}
		rules[i] = m
	}
	return map[string]any{
		"retention_days": float64(st.RetentionDays),
		"legal_hold":     st.LegalHold,
		"masking":        map[string]any{"defaults": st.Masking.Defaults, "rules": rules},
	}
}
