package api

import (
	"io"
	"net/http"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/alert"
	"github.com/trail-audit/trail/auth"
)

// alertEngine returns the alert engine of the tenant a request acts on.
func (s *Server) alertEngine(r *http.Request, p *auth.Principal, perm auth.Permission) (*alert.Engine, string, error) {
	tenant, err := readTenant(r, p, perm)
	if err != nil {
		return nil, "", err
	}
	e, err := s.cfg.Alerts.Engine(r.Context(), tenant)
	if err != nil {
		return nil, "", err
	}
	return e, tenant, nil
}

type ruleList struct {
	Rules []*alert.Rule `json:"rules"`
}

type alertList struct {
	Alerts []*alert.Alert `json:"alerts"`
}

func (s *Server) listAlertRules(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	e, _, err := s.alertEngine(r, p, auth.PermRead)
	if err != nil {
		return err
	}
	rules := e.Rules()
	if rules == nil {
		rules = []*alert.Rule{}
	}
	writeJSON(w, http.StatusOK, ruleList{rules})
	return nil
}

func (s *Server) getAlertRule(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	e, _, err := s.alertEngine(r, p, auth.PermRead)
	if err != nil {
		return err
	}
	rule, err := e.Rule(r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rule)
	return nil
}

// putAlertRule creates (POST, id assigned) or replaces (PUT /{id}) a rule
// and records the change in the tenant's log.
func (s *Server) putAlertRule(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	e, tenant, err := s.alertEngine(r, p, auth.PermSettings)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return trail.FieldError("", "read body: %v", err)
	}
	in, err := alert.ParseRule(body)
	if err != nil {
		return err
	}
	status, action := http.StatusCreated, "trail.alert_rule.created"
	if id := r.PathValue("id"); id != "" {
		if _, err := e.Rule(id); err != nil {
			return err
		}
		in.ID = id
		status, action = http.StatusOK, "trail.alert_rule.updated"
	} else if in.ID != "" {
		return trail.FieldError("id", "assigned by the server: PUT /v1/alert-rules/{id} to replace a rule")
	}
	rule, err := e.PutRule(r.Context(), *in)
	if err != nil {
		return err
	}
	if err := s.audit.recordSync(tenant, r, p, action, map[string]any{"rule_id": rule.ID, "name": rule.Name, "kind": string(rule.Kind)}); err != nil {
		return err
	}
	writeJSON(w, status, rule)
	return nil
}

func (s *Server) deleteAlertRule(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	e, tenant, err := s.alertEngine(r, p, auth.PermSettings)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	rule, err := e.Rule(id)
	if err != nil {
		return err
	}
	if err := e.DeleteRule(r.Context(), id); err != nil {
		return err
	}
	if err := s.audit.recordSync(tenant, r, p, "trail.alert_rule.deleted", map[string]any{"rule_id": id, "name": rule.Name}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rule)
	return nil
}

// listAlerts lists the tenant's alerts, newest first, optionally of one
// status (?status=open|acknowledged|resolved).
func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	e, _, err := s.alertEngine(r, p, auth.PermRead)
	if err != nil {
		return err
	}
	st := alert.Status(r.URL.Query().Get("status"))
	switch st {
	case "", alert.StatusOpen, alert.StatusAcknowledged, alert.StatusResolved:
	default:
		return trail.FieldError("status", "must be open, acknowledged or resolved")
	}
	alerts := e.Alerts(st)
	if alerts == nil {
		alerts = []*alert.Alert{}
	}
	writeJSON(w, http.StatusOK, alertList{alerts})
	return nil
}

// setAlertStatus acknowledges or resolves an alert, recording who did it.
func (s *Server) setAlertStatus(resolve bool) func(http.ResponseWriter, *http.Request, *auth.Principal) error {
	return func(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
		e, tenant, err := s.alertEngine(r, p, auth.PermVerify)
		if err != nil {
			return err
		}
		who := "key:" + p.KeyID
		var a *alert.Alert
		action := "trail.alert.acknowledged"
		if resolve {
			a, err = e.Resolve(r.Context(), r.PathValue("id"), who)
			action = "trail.alert.resolved"
		} else {
			a, err = e.Acknowledge(r.Context(), r.PathValue("id"), who)
		}
		if err != nil {
			return err
		}
		if err := s.audit.recordSync(tenant, r, p, action, map[string]any{"alert_id": a.ID, "rule_id": a.RuleID}); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, a)
		return nil
	}
}
