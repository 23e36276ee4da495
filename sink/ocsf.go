package sink

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	trail "github.com/trail-audit/trail"
)

// OCSF class uids used by the mapping.
const (
	OCSFAccountChange  = 3001 // Identity & Access Management: Account Change
	OCSFAuthentication = 3002 // Identity & Access Management: Authentication
	OCSFAPIActivity    = 6003 // Application Activity: API Activity
)

// OCSF delivers batches as a JSON array of OCSF events, POSTed to the
// sink's URL with "Content-Type: application/json" (and "Authorization:
// Bearer <token>" when the sink has a token). A 2xx answer acknowledges.
// See MapOCSF for the mapping; metadata.version is the sink's pinned
// OCSFVersion.
type OCSF struct {
	url     string
	token   string
	version string
	client  *http.Client
}

// NewOCSF returns the OCSF destination of a normalised ocsf_http sink.
func NewOCSF(s *Sink, env Env) (*OCSF, error) {
	c, err := httpClient(s, env)
	if err != nil {
		return nil, err
	}
	return &OCSF{url: s.URL, token: s.Token, version: s.OCSFVersion, client: c}, nil
}

// Deliver implements Destination.
func (o *OCSF) Deliver(ctx context.Context, batch *Batch) error {
	items := batch.Items
	out := make([]map[string]any, len(items))
	for i, it := range items {
		out[i] = MapOCSF(it, o.version)
	}
	body, err := json.Marshal(out)
	if err != nil {
		return err
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	if o.token != "" {
		h.Set("Authorization", "Bearer "+o.token)
	}
	_, err = post(ctx, o.client, o.url, h, body)
	return err
}

// Close implements Destination.
func (o *OCSF) Close() error { o.client.CloseIdleConnections(); return nil }

// MapOCSF maps one event to an OCSF event of the given schema version.
//
// The class is chosen from the action (compared case-insensitively):
//
//   - Authentication (3002, category 3) when the action is login-like: it
//     contains login, logon, logout, logoff, signin, sign_in, signout,
//     sign_out, authenticate, auth., mfa, sso or session.create/start/end.
//     activity_id: 1 Logon, 2 Logoff (logout, logoff, sign out, session
//     end), 99 Other. user is the actor.
//   - Account Change (3001, category 3) when the action starts with user.,
//     account., member., password., api_key. or role.: activity_id 1
//     Create, 3 Password Change (password), 5 Disable, 6 Delete, 2 Enable,
//     9 Lock, 99 Other (update and the rest), chosen by the words in the
//     action. user is the resource when it is a user or an account, else
//     the actor.
//   - API Activity (6003, category 6) otherwise: activity_id 1 Create, 2
//     Read, 3 Update, 4 Delete or 99 Other by the verb in the action
//     (create/add/insert, read/get/list/view/export, update/change/edit/set,
//     delete/remove/erase). api.operation is the action, api.request.uid
//     the request id.
//
// Every class gets type_uid (class_uid·100 + activity_id), time (event time
// in ms), severity_id (info 1, low 2, medium 3, high 4, critical 5),
// status_id (success 1, failure/denied/error 2, otherwise 0 Unknown) with
// status and status_detail (the outcome), message (the reason), actor.user
// (uid, name, email_addr, type), src_endpoint.ip, http_request (method,
// url.path, user_agent) when present, metadata (version, uid = event id,
// sequence = seq, tenant_uid, log_name "trail", product {name, vendor_name
// "trail"}, logged_time = received_at in ms), and unmapped holding the
// event's resource, changes and metadata.
func MapOCSF(it Item, version string) map[string]any {
	e := it.Event
	act := strings.ToLower(e.Action)
	class, activity := OCSFAPIActivity, apiActivity(act)
	switch {
	case isAuthAction(act):
		class, activity = OCSFAuthentication, authActivity(act)
	case isAccountAction(act):
		class, activity = OCSFAccountChange, accountActivity(act)
	}
	user := ocsfUser(e.Actor)
	o := map[string]any{
		"class_uid":     class,
		"category_uid":  class / 1000,
		"activity_id":   activity,
		"type_uid":      class*100 + activity,
		"time":          e.Time.UnixMilli(),
		"severity_id":   ocsfSeverity(e.Severity),
		"severity":      titleCase(e.Severity),
		"status_id":     ocsfStatus(e.Outcome),
		"status":        ocsfStatusName(ocsfStatus(e.Outcome)),
		"status_detail": e.Outcome,
		"actor":         map[string]any{"user": user},
		"metadata": map[string]any{
			"version":     version,
			"uid":         e.ID,
			"sequence":    it.Seq,
			"tenant_uid":  e.Tenant,
			"log_name":    "trail",
			"logged_time": e.ReceivedAt.UnixMilli(),
			"product":     map[string]any{"name": "trail", "vendor_name": "trail"},
		},
	}
	if e.Reason != "" {
		o["message"] = e.Reason
	}
	if e.Source != nil && e.Source.IP != "" {
		o["src_endpoint"] = map[string]any{"ip": e.Source.IP}
	} else if class == OCSFAPIActivity {
		o["src_endpoint"] = map[string]any{}
	}
	if req := httpRequest(e); req != nil {
		o["http_request"] = req
	}
	switch class {
	case OCSFAPIActivity:
		api := map[string]any{"operation": e.Action}
		if e.Request != nil && e.Request.ID != "" {
			api["request"] = map[string]any{"uid": e.Request.ID}
		}
		o["api"] = api
		if e.Resource != nil {
			o["resources"] = []map[string]any{ocsfResource(e.Resource)}
		}
	case OCSFAuthentication:
		o["user"] = user
	case OCSFAccountChange:
		o["user"] = user
		if r := e.Resource; r != nil && (r.Type == "user" || r.Type == "account") {
			o["user"] = map[string]any{"uid": r.ID, "name": r.Name}
		}
	}
	unmapped := map[string]any{}
	if e.Resource != nil {
		unmapped["resource"] = e.Resource
	}
	if len(e.Changes) > 0 {
		unmapped["changes"] = e.Changes
	}
	if len(e.Metadata) > 0 {
		unmapped["metadata"] = e.Metadata
	}
	if len(unmapped) > 0 {
		o["unmapped"] = unmapped
	}
	return o
}

func containsAny(s string, words ...string) bool {
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

func isAuthAction(a string) bool {
	return containsAny(a, "login", "logon", "logout", "logoff", "signin", "sign_in", "signout", "sign_out",
		"authenticate", "auth.", "mfa", "sso", "session.create", "session.start", "session.end")
}

func authActivity(a string) int {
	switch {
	case containsAny(a, "logout", "logoff", "signout", "sign_out", "session.end"):
		return 2
	case containsAny(a, "login", "logon", "signin", "sign_in", "authenticate", "session.create", "session.start"):
		return 1
	}
	return 99
}

func isAccountAction(a string) bool {
	for _, p := range []string{"user.", "account.", "member.", "password.", "api_key.", "role."} {
		if strings.HasPrefix(a, p) {
			return true
		}
	}
	return false
}

func accountActivity(a string) int {
	switch {
	case containsAny(a, "password"):
		return 3
	case containsAny(a, "create", "add", "invite", "register"):
		return 1
	case containsAny(a, "disable", "deactivate", "suspend"):
		return 5
	case containsAny(a, "delete", "remove"):
		return 6
	case containsAny(a, "enable", "activate", "unlock"):
		return 2
	case containsAny(a, "lock"):
		return 9
	}
	return 99
}

func apiActivity(a string) int {
	switch {
	case containsAny(a, "create", "add", "insert"):
		return 1
	case containsAny(a, "delete", "remove", "erase"):
		return 4
	case containsAny(a, "update", "change", "edit", "set", "patch"):
		return 3
	case containsAny(a, "read", "get", "list", "view", "export", "search", "query"):
		return 2
	}
	return 99
}

func ocsfSeverity(s string) int {
	switch s {
	case trail.SeverityInfo:
		return 1
	case trail.SeverityLow:
		return 2
	case trail.SeverityMedium:
		return 3
	case trail.SeverityHigh:
		return 4
	case trail.SeverityCritical:
		return 5
	}
	return 0
}

func ocsfStatus(outcome string) int {
	switch outcome {
	case trail.OutcomeSuccess:
		return 1
	case trail.OutcomeFailure, trail.OutcomeDenied, trail.OutcomeError:
		return 2
	}
	return 0
}

func ocsfStatusName(id int) string {
	switch id {
	case 1:
		return "Success"
	case 2:
		return "Failure"
	}
	return "Unknown"
}

func titleCase(s string) string {
	if s == "" {
		return "Unknown"
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func ocsfUser(a trail.Actor) map[string]any {
	u := map[string]any{"uid": a.ID}
	if a.Name != "" {
		u["name"] = a.Name
	}
	if a.Email != "" {
		u["email_addr"] = a.Email
	}
	if a.Type != "" {
		u["type"] = a.Type
	}
	return u
}

func ocsfResource(r *trail.Resource) map[string]any {
	m := map[string]any{}
	if r.ID != "" {
		m["uid"] = r.ID
	}
	if r.Type != "" {
		m["type"] = r.Type
	}
	if r.Name != "" {
		m["name"] = r.Name
	}
	return m
}

func httpRequest(e *trail.Event) map[string]any {
	m := map[string]any{}
	if e.Request != nil {
		if e.Request.Method != "" {
			m["http_method"] = e.Request.Method
		}
		if e.Request.Path != "" {
			m["url"] = map[string]any{"path": e.Request.Path}
		}
		if e.Request.ID != "" {
			m["uid"] = e.Request.ID
		}
	}
	if e.Source != nil && e.Source.UserAgent != "" {
		m["user_agent"] = e.Source.UserAgent
	}
	if len(m) == 0 {
		return nil
	}
	return m
}
