package alert

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/query"
)

// Kind is the kind of a rule.
type Kind string

// Rule kinds (DESIGN.md §8).
const (
	// KindThreshold fires when at least Threshold matching events of one
	// group key have event times within one Window.
	KindThreshold Kind = "threshold"
	// KindSpike fires when the matching events of one group key in the
	// current Window bucket number at least Threshold and at least Factor
	// times the average per Window over the trailing Baseline.
	KindSpike Kind = "spike"
	// KindNewValue fires when Field takes a value not seen before for the
	// group key. Values seen during the first Window (the learning period)
	// are learnt silently.
	KindNewValue Kind = "new_value"
	// KindAbsence fires when no matching event of a group key has been seen
	// for Window, by the engine's clock.
	KindAbsence Kind = "absence"
)

// Rule limits.
const (
	MaxThreshold  = 10000              // threshold and spike minimum count
	MaxWindow     = 7 * 24 * time.Hour // window, baseline and cooldown
	MinWindow     = time.Second
	MaxFactor     = 1000
	MaxBuckets    = 1024 // baseline / window for spike rules
	maxNameLen    = 200
	maxSinks      = 16
	maxFilterLen  = query.MaxLength
	maxRuleIDLen  = 64
	DefaultWindow = 5 * time.Minute
)

// Duration is a time.Duration whose JSON form is Go's duration text, such as
// "5m" or "1h30m"; a JSON number is read as seconds.
type Duration time.Duration

// MarshalJSON encodes d as a string such as "5m0s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON accepts "5m" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	if f > float64(MaxWindow/time.Second)*10 || f < -float64(MaxWindow/time.Second)*10 {
		return strconv.ErrRange
	}
	*d = Duration(f * float64(time.Second))
	return nil
}

// Rule is an alert rule of one tenant. Its JSON form is the body of
// POST /v1/alert-rules (DESIGN.md §8):
//
//	{"id":"r_1","tenant":"acme","name":"failed logins","kind":"threshold",
//	 "filter":"action:*login* outcome:failure","group_by":"source.ip",
//	 "window":"5m","threshold":10,"severity":"high","cooldown":"15m",
//	 "sinks":["s_1"]}
//
// Which fields a kind uses:
//
//	threshold  filter, group_by, window, threshold
//	spike      filter, group_by, window, threshold (minimum count), factor, baseline
//	new_value  filter, group_by, field, window (learning period, may be 0)
//	absence    filter, group_by, window
//
// Every kind uses severity, cooldown and sinks. Validate fills defaults.
type Rule struct {
	ID        string   `json:"id"`
	Tenant    string   `json:"tenant,omitempty"`
	Name      string   `json:"name"`
	Kind      Kind     `json:"kind"`
	Filter    string   `json:"filter,omitempty"`
	GroupBy   string   `json:"group_by,omitempty"`
	Window    Duration `json:"window,omitempty"`
	Threshold int      `json:"threshold,omitempty"`
	Factor    float64  `json:"factor,omitempty"`
	Baseline  Duration `json:"baseline,omitempty"`
	Field     string   `json:"field,omitempty"`
	Severity  string   `json:"severity,omitempty"`
	Cooldown  Duration `json:"cooldown,omitempty"`
	Sinks     []string `json:"sinks,omitempty"`
	Disabled  bool     `json:"disabled,omitempty"`
}

// ParseRule decodes the JSON form of a rule and validates it. Errors are
// EINVALID *trail.Error values naming the field.
func ParseRule(data []byte) (*Rule, error) {
	var r Rule
	if err := json.Unmarshal(data, &r); err != nil {
		e := trail.FieldError("", "not a rule: %v", err)
		if te, ok := err.(*json.UnmarshalTypeError); ok && te.Field != "" {
			e.Field = te.Field
		}
		return nil, e
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

// Validate fills the defaults of r and checks it. It returns an EINVALID
// *trail.Error whose Field names the offending field ("window",
// "filter"…). Defaults: severity "medium", window 5m (threshold, spike,
// absence), threshold 1 (threshold) or 10 (spike), factor 5 and baseline 1h
// (spike), cooldown = window (none for new_value: every new value fires).
func (r *Rule) Validate() error {
	if r.ID != "" {
		if len(r.ID) > maxRuleIDLen {
			return trail.FieldError("id", "at most %d bytes", maxRuleIDLen)
		}
		for _, c := range r.ID {
			if !(c == '_' || c == '-' || c == '.' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
				return trail.FieldError("id", "letters, digits, '_', '-' and '.' only")
			}
		}
	}
	if r.Tenant != "" {
		if err := trail.ValidateTenantName(r.Tenant); err != nil {
			return trail.FieldError("tenant", "%s", trail.ErrorMessage(err))
		}
	}
	if strings.TrimSpace(r.Name) == "" {
		return trail.FieldError("name", "required")
	}
	if len(r.Name) > maxNameLen || !utf8.ValidString(r.Name) {
		return trail.FieldError("name", "at most %d bytes of UTF-8", maxNameLen)
	}
	switch r.Kind {
	case KindThreshold, KindSpike, KindNewValue, KindAbsence:
	case "":
		return trail.FieldError("kind", "required: threshold, spike, new_value or absence")
	default:
		return trail.FieldError("kind", "must be threshold, spike, new_value or absence")
	}
	if len(r.Filter) > maxFilterLen {
		return trail.FieldError("filter", "at most %d bytes", maxFilterLen)
	}
	if _, err := query.Parse(r.Filter); err != nil {
		return trail.FieldError("filter", "%s", trail.ErrorMessage(err))
	}
	if r.GroupBy != "" {
		f, err := resolveField(r.GroupBy)
		if err != nil {
			return trail.FieldError("group_by", "%s", err.Error())
		}
		r.GroupBy = f
	}
	if r.Kind == KindNewValue {
		if r.Field == "" {
			return trail.FieldError("field", "required for new_value")
		}
		f, err := resolveField(r.Field)
		if err != nil {
			return trail.FieldError("field", "%s", err.Error())
		}
		r.Field = f
	} else if r.Field != "" {
		return trail.FieldError("field", "only for new_value")
	}
	if r.Window < 0 || time.Duration(r.Window) > MaxWindow {
		return trail.FieldError("window", "must be between %s and %s", MinWindow, MaxWindow)
	}
	if r.Window == 0 && r.Kind != KindNewValue {
		r.Window = Duration(DefaultWindow)
	}
	if r.Window != 0 && time.Duration(r.Window) < MinWindow {
		return trail.FieldError("window", "must be between %s and %s", MinWindow, MaxWindow)
	}
	switch r.Kind {
	case KindThreshold, KindSpike:
		if r.Threshold == 0 {
			r.Threshold = 1
			if r.Kind == KindSpike {
				r.Threshold = 10
			}
		}
		if r.Threshold < 1 || r.Threshold > MaxThreshold {
			return trail.FieldError("threshold", "must be between 1 and %d", MaxThreshold)
		}
	default:
		if r.Threshold != 0 {
			return trail.FieldError("threshold", "only for threshold and spike")
		}
	}
	if r.Kind == KindSpike {
		if r.Factor == 0 {
			r.Factor = 5
		}
		if !(r.Factor >= 1 && r.Factor <= MaxFactor) {
			return trail.FieldError("factor", "must be between 1 and %d", MaxFactor)
		}
		if r.Baseline == 0 {
			r.Baseline = Duration(time.Hour)
		}
		if r.Baseline < r.Window || time.Duration(r.Baseline) > MaxWindow || r.Baseline%r.Window != 0 {
			return trail.FieldError("baseline", "must be a multiple of window, at most %s", MaxWindow)
		}
		if r.Baseline/r.Window > MaxBuckets {
			return trail.FieldError("baseline", "at most %d windows", MaxBuckets)
		}
	} else {
		if r.Factor != 0 {
			return trail.FieldError("factor", "only for spike")
		}
		if r.Baseline != 0 {
			return trail.FieldError("baseline", "only for spike")
		}
	}
	switch r.Severity {
	case "":
		r.Severity = trail.SeverityMedium
	case trail.SeverityInfo, trail.SeverityLow, trail.SeverityMedium, trail.SeverityHigh, trail.SeverityCritical:
	default:
		return trail.FieldError("severity", "must be one of info, low, medium, high, critical")
	}
	if r.Cooldown < 0 || time.Duration(r.Cooldown) > MaxWindow {
		return trail.FieldError("cooldown", "must be between 0 and %s", MaxWindow)
	}
	if r.Cooldown == 0 && r.Kind != KindNewValue {
		r.Cooldown = r.Window
	}
	if len(r.Sinks) > maxSinks {
		return trail.FieldError("sinks", "at most %d", maxSinks)
	}
	for i, s := range r.Sinks {
		if s == "" || len(s) > maxRuleIDLen || !utf8.ValidString(s) {
			return trail.FieldError("sinks["+strconv.Itoa(i)+"]", "not a sink id")
		}
	}
	return nil
}

// fieldAliases maps the accepted spellings of the indexed fields to their
// names, as package query does.
var fieldAliases = map[string]string{
	"actor.id":      trail.FieldActor,
	"resource.type": trail.FieldResourceType,
	"resource.id":   trail.FieldResourceID,
	"source.ip":     trail.FieldIP,
	"request.id":    trail.FieldRequestID,
}

// resolveField maps a group_by or field value to an indexed field name or
// a metadata path.
func resolveField(f string) (string, error) {
	if a, ok := fieldAliases[f]; ok {
		return a, nil
	}
	if f == trail.FieldText {
		return "", errText("free text cannot be grouped by")
	}
	if trail.ValidField(f) {
		if strings.HasPrefix(f, trail.MetadataPrefix) && strings.Count(f, ".") > 4 {
			return "", errText("metadata path deeper than 4 keys")
		}
		return f, nil
	}
	return "", errText("must be an indexed field (actor, action, outcome, severity, resource_type, resource_id, ip, request_id) or metadata.<key>")
}

type errText string

func (e errText) Error() string { return string(e) }

// groupValue returns the value of field f of e: an indexed field's value,
// or the scalar at a metadata path (the first scalar of an array); "" when
// unset.
func groupValue(e *trail.Event, f string) string {
	path, ok := strings.CutPrefix(f, trail.MetadataPrefix)
	if !ok {
		return trail.IndexKey(trail.FieldValue(e, f))
	}
	var v any = e.Metadata
	for path != "" {
		var k string
		k, path, _ = strings.Cut(path, ".")
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		if v, ok = m[k]; !ok {
			return ""
		}
	}
	if arr, ok := v.([]any); ok {
		if len(arr) == 0 {
			return ""
		}
		v = arr[0]
	}
	s, _ := trail.ScalarString(v)
	return trail.IndexKey(s)
}

// Default rule ids.
const (
	RuleFailedAuth   = "default.failed_auth"
	RuleDeniedAccess = "default.denied_access"
	RuleIngestSpike  = "default.ingest_spike"
)

// DefaultRules returns the rules every new tenant starts with:
//
//   - default.failed_auth (threshold, high): at least 10 failed
//     authentications from one source IP within 5m, cooldown 15m. The
//     q language has prefix but no infix wildcards, so "action:*login* or
//     auth*" is written as the filter
//     "(text:login OR text:signin OR text:logon OR action:auth* OR
//     action:user.auth* OR action:session.auth*) outcome:failure": the
//     word login, signin or logon in any text field (user.login,
//     login.failed, sso.login…) or an action starting with auth,
//     user.auth or session.auth, with outcome failure.
//   - default.denied_access (threshold, medium): at least 20 denied
//     events (outcome:denied) by one actor within 5m; cooldown 15m.
//   - default.ingest_spike (spike, medium): the tenant's events in the
//     current 5m bucket number at least 5× the average per 5m over the
//     trailing hour, and at least 100; cooldown 1h.
//
// The rules are valid; tenant is set on each.
func DefaultRules(tenant string) []*Rule {
	rs := []*Rule{
		{ID: RuleFailedAuth, Name: "Failed authentication burst per source IP", Kind: KindThreshold,
			Filter:  "(text:login OR text:signin OR text:logon OR action:auth* OR action:user.auth* OR action:session.auth*) outcome:failure",
			GroupBy: trail.FieldIP, Window: Duration(5 * time.Minute), Threshold: 10,
			Severity: trail.SeverityHigh, Cooldown: Duration(15 * time.Minute)},
		{ID: RuleDeniedAccess, Name: "Denied-access burst per actor", Kind: KindThreshold,
			Filter: "outcome:denied", GroupBy: trail.FieldActor, Window: Duration(5 * time.Minute), Threshold: 20,
			Severity: trail.SeverityMedium, Cooldown: Duration(15 * time.Minute)},
		{ID: RuleIngestSpike, Name: "Ingest spike", Kind: KindSpike,
			Window: Duration(5 * time.Minute), Threshold: 100, Factor: 5, Baseline: Duration(time.Hour),
			Severity: trail.SeverityMedium, Cooldown: Duration(time.Hour)},
	}
	for _, r := range rs {
		r.Tenant = tenant
		if err := r.Validate(); err != nil {
			panic("alert: default rule " + r.ID + ": " + err.Error())
		}
	}
	return rs
}
