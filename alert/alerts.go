package alert

import (
	"context"
	"time"

	trail "github.com/trail-audit/trail"
)

// ActionFired is the action of the event a firing appends to the tenant's
// log. Events whose action starts with "trail.alert." are never evaluated.
const ActionFired = "trail.alert.fired"

// Status is the state of an alert in the list.
type Status string

// Alert statuses. An alert is open when fired; Acknowledge and Resolve move
// it on. A resolved alert stays resolved.
const (
	StatusOpen         Status = "open"
	StatusAcknowledged Status = "acknowledged"
	StatusResolved     Status = "resolved"
)

// Alert is one firing of a rule, as listed by GET /v1/alerts:
//
//	{"id":"alrt_…","tenant":"acme","rule_id":"default.failed_auth",
//	 "rule_name":"…","kind":"threshold","severity":"high","group":"203.0.113.9",
//	 "count":10,"window":"5m0s","first_seq":41,"last_seq":57,"seq":58,
//	 "time":"…","fired_at":"…","status":"open","sinks":["s_1"]}
//
// ID is the id of its trail.alert.fired event, Seq that event's seq. Time
// is the event time that decided the firing (for absence, the clock's).
type Alert struct {
	ID             string     `json:"id"`
	Tenant         string     `json:"tenant"`
	RuleID         string     `json:"rule_id"`
	RuleName       string     `json:"rule_name"`
	Kind           Kind       `json:"kind"`
	Severity       string     `json:"severity"`
	Group          string     `json:"group"`
	Value          string     `json:"value,omitempty"` // new_value: the new value
	Count          int        `json:"count"`
	Window         Duration   `json:"window"`
	FirstSeq       int64      `json:"first_seq"`
	LastSeq        int64      `json:"last_seq"`
	Seq            int64      `json:"seq"`
	Time           time.Time  `json:"time"`
	FiredAt        time.Time  `json:"fired_at"`
	Status         Status     `json:"status"`
	Sinks          []string   `json:"sinks,omitempty"`
	AcknowledgedAt *time.Time `json:"acknowledged_at,omitempty"`
	AcknowledgedBy string     `json:"acknowledged_by,omitempty"`
	ResolvedAt     *time.Time `json:"resolved_at,omitempty"`
	ResolvedBy     string     `json:"resolved_by,omitempty"`
}

func newAlert(tenant string, f *firing, now time.Time) *Alert {
	return &Alert{
		ID: alertID(tenant, f), Tenant: tenant, RuleID: f.rule.ID, RuleName: f.rule.Name, Kind: f.rule.Kind,
		Severity: f.rule.Severity, Group: f.group, Value: f.value, Count: f.count, Window: f.rule.Window,
		FirstSeq: f.firstSeq, LastSeq: f.lastSeq, Time: time.Unix(0, f.at).UTC(), FiredAt: now,
		Status: StatusOpen, Sinks: append([]string(nil), f.rule.Sinks...),
	}
}

// Event returns the trail.alert.fired event of a (DESIGN.md §8):
//
//	{"id":"alrt_…","action":"trail.alert.fired","severity":"high",
//	 "actor":{"id":"trail","type":"system"},"time":"<fired_at>",
//	 "metadata":{"rule_id":"…","rule_name":"…","kind":"threshold","group":"…",
//	  "count":10,"window":"5m0s","first_seq":41,"last_seq":57}}
//
// new_value alerts add metadata "value". The id is derived from what
// decided the firing, so appending it again is a duplicate.
func (a *Alert) Event() *trail.Event {
	md := map[string]any{
		"rule_id": a.RuleID, "rule_name": a.RuleName, "kind": string(a.Kind), "group": a.Group,
		"count": float64(a.Count), "window": time.Duration(a.Window).String(),
		"first_seq": float64(a.FirstSeq), "last_seq": float64(a.LastSeq),
	}
	if a.Value != "" {
		md["value"] = a.Value
	}
	return &trail.Event{
		ID: a.ID, Tenant: a.Tenant, Time: a.FiredAt, Action: ActionFired, Severity: a.Severity,
		Actor: trail.Actor{ID: "trail", Type: trail.ActorSystem}, Metadata: md,
	}
}

// addAlertLocked adds a to the list unless its id is there (a firing
// evaluated again after a crash), dropping the oldest resolved alert, or
// else the oldest, beyond MaxAlerts.
func (e *Engine) addAlertLocked(a *Alert) {
	for _, x := range e.st.Alerts {
		if x.ID == a.ID {
			return
		}
	}
	e.st.Alerts = append(e.st.Alerts, a)
	if len(e.st.Alerts) <= e.cfg.MaxAlerts {
		return
	}
	drop := 0
	for i, x := range e.st.Alerts {
		if x.Status == StatusResolved {
			drop = i
			break
		}
	}
	e.st.Alerts = append(e.st.Alerts[:drop], e.st.Alerts[drop+1:]...)
}

// Alerts returns copies of the tenant's alerts, newest first, with the
// given status ("" for all).
func (e *Engine) Alerts(status Status) []*Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []*Alert
	for i := len(e.st.Alerts) - 1; i >= 0; i-- {
		if a := e.st.Alerts[i]; status == "" || a.Status == status {
			c := *a
			out = append(out, &c)
		}
	}
	return out
}

// Acknowledge marks an open alert acknowledged by who and saves. It
// returns ENOTFOUND for an unknown id and ECONFLICT for a resolved alert;
// acknowledging twice is a no-op.
func (e *Engine) Acknowledge(ctx context.Context, id, who string) (*Alert, error) {
	return e.setStatus(ctx, id, who, StatusAcknowledged)
}

// Resolve marks an alert resolved by who and saves. It returns ENOTFOUND
// for an unknown id; resolving twice is a no-op.
func (e *Engine) Resolve(ctx context.Context, id, who string) (*Alert, error) {
	return e.setStatus(ctx, id, who, StatusResolved)
}

func (e *Engine) setStatus(ctx context.Context, id, who string, s Status) (*Alert, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var a *Alert
	for _, x := range e.st.Alerts {
		if x.ID == id {
			a = x
		}
	}
	if a == nil {
		return nil, trail.Errorf(trail.ENOTFOUND, "alert %s not found", id)
	}
	if a.Status == s {
		c := *a
		return &c, nil
	}
	if a.Status == StatusResolved {
		return nil, trail.Errorf(trail.ECONFLICT, "alert %s is resolved", id)
	}
	prev := *a
	now := e.cfg.Now().UTC()
	a.Status = s
	if s == StatusAcknowledged {
		a.AcknowledgedAt, a.AcknowledgedBy = &now, who
	} else {
		a.ResolvedAt, a.ResolvedBy = &now, who
	}
	if err := e.saveLocked(ctx); err != nil {
		*a = prev
		return nil, err
	}
	c := *a
	return &c, nil
}
