package adapter

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	trail "github.com/trail-audit/trail"
)

// Kubernetes audit stages (k8s.io/apiserver/pkg/apis/audit/v1).
const (
	StageRequestReceived  = "RequestReceived"
	StageResponseStarted  = "ResponseStarted"
	StageResponseComplete = "ResponseComplete"
	StagePanic            = "Panic"
)

// KubernetesAPIVersion is the only EventList version accepted.
const KubernetesAPIVersion = "audit.k8s.io/v1"

// DefaultMaxObjectBytes is the default of KubernetesOptions.MaxObjectBytes.
const DefaultMaxObjectBytes = 16 << 10

// Limits of trail's Validate that a mapped string is cut to, so that a
// long request URI or user agent never makes a whole batch fail.
const (
	maxName = 1024
	maxText = 8192
)

// KubernetesOptions tunes the Kubernetes mapping. The zero value is ready
// to use.
type KubernetesOptions struct {
	// MaxObjectBytes bounds the compact JSON size of each of an item's
	// requestObject and responseObject. A larger object is left out of
	// the event, which records its size instead
	// (metadata.request_object_bytes), so that a big ConfigMap cannot push
	// the event over the server's event size limit. 0 means
	// DefaultMaxObjectBytes; a negative value leaves every object out.
	MaxObjectBytes int
}

// kubeList is an audit.k8s.io/v1 EventList.
type kubeList struct {
	Kind       string            `json:"kind"`
	APIVersion string            `json:"apiVersion"`
	Items      []json.RawMessage `json:"items"`
}

// kubeEvent is an audit.k8s.io/v1 Event: the fields trail maps. Unknown
// fields are ignored, so newer API servers keep working.
type kubeEvent struct {
	Level                    string            `json:"level"`
	AuditID                  string            `json:"auditID"`
	Stage                    string            `json:"stage"`
	RequestURI               string            `json:"requestURI"`
	Verb                     string            `json:"verb"`
	User                     *kubeUser         `json:"user"`
	ImpersonatedUser         *kubeUser         `json:"impersonatedUser"`
	SourceIPs                []string          `json:"sourceIPs"`
	UserAgent                string            `json:"userAgent"`
	ObjectRef                *kubeObjectRef    `json:"objectRef"`
	ResponseStatus           *kubeStatus       `json:"responseStatus"`
	RequestObject            json.RawMessage   `json:"requestObject"`
	ResponseObject           json.RawMessage   `json:"responseObject"`
	RequestReceivedTimestamp string            `json:"requestReceivedTimestamp"`
	StageTimestamp           string            `json:"stageTimestamp"`
	Annotations              map[string]string `json:"annotations"`
}

type kubeUser struct {
	Username string              `json:"username"`
	UID      string              `json:"uid"`
	Groups   []string            `json:"groups"`
	Extra    map[string][]string `json:"extra"`
}

type kubeObjectRef struct {
	Resource        string `json:"resource"`
	Namespace       string `json:"namespace"`
	Name            string `json:"name"`
	UID             string `json:"uid"`
	APIGroup        string `json:"apiGroup"`
	APIVersion      string `json:"apiVersion"`
	ResourceVersion string `json:"resourceVersion"`
	Subresource     string `json:"subresource"`
}

// kubeStatus is the metav1.Status of responseStatus.
type kubeStatus struct {
	Code    int    `json:"code"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// Kubernetes maps the body of a kube-apiserver audit webhook request, an
// audit.k8s.io/v1 EventList, to trail events, one per item and in order.
// It checks the whole list before returning anything: an error is an
// EINVALID *trail.Error naming the first offending field, such as
// "apiVersion" or "items[3].verb", and no events.
//
// Each item becomes an event as follows (docs/kubernetes.md has the
// table):
//
//   - action: "k8s.<resource>.<verb>", or "k8s.<resource>.<subresource>.<verb>"
//     for a subresource ("k8s.pods.exec.create"), or "k8s.nonresource.<verb>"
//     for a request without objectRef (/healthz, /version). The API group
//     is in resource.type, not in the action.
//   - actor: id = user.username; type "service" for system:serviceaccount:…,
//     "system" for other system:… users except system:anonymous, else
//     "user". The authenticated user is the actor even when impersonating;
//     the impersonated user is in metadata.impersonated_user.
//   - resource: type = "<resource>" for the core group, "<resource>.<apiGroup>"
//     otherwise (kubectl's notation, "deployments.apps"); id =
//     "<namespace>/<name>" or "<name>"; name = objectRef.name. Requests
//     without objectRef have type "nonresource" and id = the URI's path.
//   - source: ip = sourceIPs[0] (left out when it is not an address),
//     user_agent, origin "kubernetes".
//   - request: id = auditID, method = the HTTP method of the verb, path =
//     requestURI, status = responseStatus.code, duration_ms = stageTimestamp
//     − requestReceivedTimestamp.
//   - outcome from responseStatus.code: 1xx–3xx success, 401 failure, 403
//     denied, other 4xx failure, 5xx error; no code (RequestReceived) and
//     the Panic stage without one: unknown and error. reason =
//     responseStatus.message when the code is not a success.
//   - time = stageTimestamp.
//   - metadata: stage, level, user_uid, groups, user_extra, namespace,
//     api_group, api_version, subresource, object_uid, resource_version,
//     impersonated_user, source_ips (when more than one), annotations,
//     status_reason, and request_object / response_object when present and
//     not larger than MaxObjectBytes (their byte counts otherwise). The
//     values of a Secret's data and stringData are replaced by "redacted".
//
// The id of each event is "<auditID>.<stage>.<digest>", where digest is
// the first 16 hex digits of SHA-256 of the item's JSON with sorted keys
// and no white space. The API
// server sends one item per stage with the same auditID, so the stage
// keeps them apart; a retried webhook request resends the same items, so
// they map to the same ids and are stored once. The digest keeps a client
// that chooses its own audit ID (kube-apiserver takes it from the
// Audit-ID request header) from hiding a later request behind an earlier
// one: only an identical item is a duplicate. An auditID that is empty is
// an error; one longer than 64 bytes or with characters other than
// letters, digits and "-_.:" is replaced in the id (not in request.id) by
// "sha256-" and 16 hex digits of its hash.
func Kubernetes(body []byte, opt KubernetesOptions) ([]*trail.Event, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var list kubeList
	if err := dec.Decode(&list); err != nil {
		return nil, decodeError("", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, trail.FieldError("", "trailing data after the EventList")
	}
	if list.Kind != "EventList" {
		return nil, trail.FieldError("kind", "must be EventList (got %q)", list.Kind)
	}
	if list.APIVersion != KubernetesAPIVersion {
		return nil, trail.FieldError("apiVersion", "must be %s (got %q)", KubernetesAPIVersion, list.APIVersion)
	}
	if len(list.Items) == 0 {
		return nil, trail.FieldError("items", "at least one audit event is required")
	}
	out := make([]*trail.Event, len(list.Items))
	for i, raw := range list.Items {
		e, err := KubernetesEvent(raw, opt)
		if err != nil {
			return nil, trail.AtIndex(err, "items", i)
		}
		out[i] = e
	}
	return out, nil
}

// KubernetesEvent maps one audit.k8s.io/v1 Event (an item of an EventList)
// as Kubernetes does. Errors name the field within the item ("verb").
func KubernetesEvent(raw []byte, opt KubernetesOptions) (*trail.Event, error) {
	var k kubeEvent
	if err := json.Unmarshal(raw, &k); err != nil {
		return nil, decodeError("", err)
	}
	if k.AuditID == "" {
		return nil, trail.FieldError("auditID", "required")
	}
	switch k.Stage {
	case StageRequestReceived, StageResponseStarted, StageResponseComplete, StagePanic:
	case "":
		return nil, trail.FieldError("stage", "required")
	default:
		return nil, trail.FieldError("stage", "must be one of RequestReceived, ResponseStarted, ResponseComplete, Panic (got %q)", clip(k.Stage, 64))
	}
	if k.Verb == "" {
		return nil, trail.FieldError("verb", "required")
	}
	if !isWord(k.Verb) {
		return nil, trail.FieldError("verb", "must be a lowercase Kubernetes verb such as get or create (got %q)", clip(k.Verb, 64))
	}
	if k.User == nil || k.User.Username == "" {
		return nil, trail.FieldError("user.username", "required")
	}
	digest, err := contentDigest(raw)
	if err != nil {
		return nil, err
	}

	e := &trail.Event{
		ID:    safeID(k.AuditID) + "." + k.Stage + "." + digest,
		Actor: trail.Actor{ID: clip(k.User.Username, maxName), Type: kubeActorType(k.User.Username)},
		Source: &trail.Source{
			UserAgent: clip(k.UserAgent, maxText),
			Origin:    "kubernetes",
		},
		Request: &trail.Request{
			ID:     requestID(k.AuditID),
			Method: verbMethod(k.Verb),
			Path:   clip(k.RequestURI, maxText),
		},
	}
	stageAt, err := parseTime("stageTimestamp", k.StageTimestamp)
	if err != nil {
		return nil, err
	}
	receivedAt, err := parseTime("requestReceivedTimestamp", k.RequestReceivedTimestamp)
	if err != nil {
		return nil, err
	}
	if !stageAt.IsZero() {
		e.Time = stageAt
		if !receivedAt.IsZero() && !stageAt.Before(receivedAt) {
			ms := float64(stageAt.Sub(receivedAt)) / float64(time.Millisecond)
			e.Request.DurationMS = &ms
		}
	}
	if len(k.SourceIPs) > 0 {
		if a, err := netip.ParseAddr(k.SourceIPs[0]); err == nil {
			e.Source.IP = a.String()
		}
	}
	md := map[string]any{"stage": k.Stage}
	set := func(key, v string) {
		if v != "" {
			md[key] = clip(v, maxName)
		}
	}
	set("level", k.Level)
	set("user_uid", k.User.UID)
	if len(k.User.Groups) > 0 {
		md["groups"] = stringsAny(k.User.Groups)
	}
	if len(k.User.Extra) > 0 {
		md["user_extra"] = extraAny(k.User.Extra)
	}
	if u := k.ImpersonatedUser; u != nil && u.Username != "" {
		imp := map[string]any{"username": clip(u.Username, maxName)}
		if len(u.Groups) > 0 {
			imp["groups"] = stringsAny(u.Groups)
		}
		if u.UID != "" {
			imp["uid"] = clip(u.UID, maxName)
		}
		if len(u.Extra) > 0 {
			imp["extra"] = extraAny(u.Extra)
		}
		md["impersonated_user"] = imp
	}
	if len(k.SourceIPs) > 1 {
		md["source_ips"] = stringsAny(k.SourceIPs)
	}
	if len(k.Annotations) > 0 {
		a := make(map[string]any, len(k.Annotations))
		for key, v := range k.Annotations {
			a[key] = clip(v, maxText)
		}
		md["annotations"] = a
	}

	resource := "nonresource"
	if o := k.ObjectRef; o != nil && o.Resource != "" {
		if !isWord(o.Resource) {
			return nil, trail.FieldError("objectRef.resource", "must be a lowercase resource name such as pods (got %q)", clip(o.Resource, 64))
		}
		if o.Subresource != "" && !isWord(o.Subresource) {
			return nil, trail.FieldError("objectRef.subresource", "must be a lowercase subresource name such as exec (got %q)", clip(o.Subresource, 64))
		}
		resource = o.Resource
		if o.Subresource != "" {
			resource += "." + o.Subresource
		}
		typ := o.Resource
		if o.APIGroup != "" {
			typ += "." + o.APIGroup
		}
		id := o.Name
		if o.Namespace != "" && o.Name != "" {
			id = o.Namespace + "/" + o.Name
		}
		e.Resource = &trail.Resource{Type: clip(typ, maxName), ID: clip(id, maxName), Name: clip(o.Name, maxName)}
		set("namespace", o.Namespace)
		set("api_group", o.APIGroup)
		set("api_version", o.APIVersion)
		set("subresource", o.Subresource)
		set("object_uid", o.UID)
		set("resource_version", o.ResourceVersion)
	} else {
		path, _, _ := strings.Cut(k.RequestURI, "?")
		e.Resource = &trail.Resource{Type: "nonresource", ID: clip(path, maxName)}
	}
	e.Action = "k8s." + resource + "." + k.Verb

	if s := k.ResponseStatus; s != nil && s.Code != 0 {
		if s.Code >= 100 && s.Code <= 599 {
			e.Request.Status = s.Code
		}
		e.Outcome = statusOutcome(s.Code)
		if e.Outcome != trail.OutcomeSuccess && s.Message != "" {
			e.Reason = clip(s.Message, maxText)
		}
		set("status_reason", s.Reason)
	} else if k.Stage == StagePanic {
		e.Outcome = trail.OutcomeError
	} else {
		e.Outcome = trail.OutcomeUnknown
	}

	secret := k.ObjectRef != nil && k.ObjectRef.Resource == "secrets" && k.ObjectRef.APIGroup == ""
	for _, obj := range []struct {
		key string
		raw json.RawMessage
	}{{"request_object", k.RequestObject}, {"response_object", k.ResponseObject}} {
		if err := addObject(md, obj.key, obj.raw, secret, opt.MaxObjectBytes); err != nil {
			return nil, err
		}
	}
	e.Metadata = md
	return e, nil
}

// addObject puts a request or response object into md under key, or its
// size under key+"_bytes" when it is larger than max.
func addObject(md map[string]any, key string, raw json.RawMessage, secret bool, max int) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if max == 0 {
		max = DefaultMaxObjectBytes
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return trail.FieldError(camel(key), "malformed JSON: %v", err)
	}
	if buf.Len() > max {
		md[key+"_bytes"] = buf.Len()
		return nil
	}
	dec := json.NewDecoder(&buf)
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return trail.FieldError(camel(key), "malformed JSON: %v", err)
	}
	if secret {
		redactSecret(v)
	}
	md[key] = v
	return nil
}

// redactSecret replaces the values of a Secret's data and stringData (or
// of every Secret in a SecretList's items) by "redacted", keeping the keys.
func redactSecret(v any) {
	obj, ok := v.(map[string]any)
	if !ok {
		return
	}
	for _, f := range []string{"data", "stringData"} {
		if m, ok := obj[f].(map[string]any); ok {
			for k := range m {
				m[k] = "redacted"
			}
		}
	}
	if items, ok := obj["items"].([]any); ok {
		for _, it := range items {
			redactSecret(it)
		}
	}
}

func camel(key string) string {
	if key == "request_object" {
		return "requestObject"
	}
	return "responseObject"
}

// statusOutcome maps an HTTP status code to trail's outcome.
func statusOutcome(code int) string {
	switch {
	case code >= 100 && code < 400:
		return trail.OutcomeSuccess
	case code == 403:
		return trail.OutcomeDenied
	case code >= 400 && code < 500:
		return trail.OutcomeFailure
	case code >= 500 && code < 600:
		return trail.OutcomeError
	}
	return trail.OutcomeUnknown
}

// kubeActorType classifies a Kubernetes username.
func kubeActorType(username string) string {
	switch {
	case strings.HasPrefix(username, "system:serviceaccount:"):
		return trail.ActorService
	case username == "system:anonymous":
		return trail.ActorUser
	case strings.HasPrefix(username, "system:"):
		return trail.ActorSystem
	}
	return trail.ActorUser
}

// verbMethod returns the HTTP method of a Kubernetes verb, or "" for a
// verb with none of its own.
func verbMethod(verb string) string {
	switch verb {
	case "get", "list", "watch":
		return "GET"
	case "create":
		return "POST"
	case "update":
		return "PUT"
	case "patch":
		return "PATCH"
	case "delete", "deletecollection":
		return "DELETE"
	}
	return ""
}

// isWord reports whether s is a non-empty lowercase name of letters and
// digits, at most 63 bytes: what Kubernetes allows in verbs, resource and
// subresource names, and what keeps the action unambiguous.
func isWord(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// contentDigest returns the first 16 hex digits of SHA-256 of raw's JSON
// with object keys sorted and no white space, so that the same item sent
// twice, however it is formatted, has the same digest.
func contentDigest(raw []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", decodeError("", err)
	}
	canon, err := json.Marshal(v)
	if err != nil {
		return "", trail.FieldError("", "cannot encode: %v", err)
	}
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:8]), nil
}

// safeID returns id when it may stand in an event id as it is, else a
// hash of it.
func safeID(id string) string {
	ok := len(id) <= 64
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':'
	}
	if ok {
		return id
	}
	h := sha256.Sum256([]byte(id))
	return "sha256-" + hex.EncodeToString(h[:8])
}

// requestID returns id as a request id, or its hash when it is longer
// than a request id may be.
func requestID(id string) string {
	if len(id) <= maxName {
		return id
	}
	h := sha256.Sum256([]byte(id))
	return "sha256-" + hex.EncodeToString(h[:])
}

// clip cuts s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func stringsAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = clip(s, maxName)
	}
	return out
}

func extraAny(m map[string][]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = stringsAny(v)
	}
	return out
}

// decodeError turns a JSON decoding error into an EINVALID error naming
// the field under prefix.
func decodeError(prefix string, err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	join := func(f string) string {
		if prefix == "" {
			return f
		}
		if f == "" {
			return prefix
		}
		return prefix + "." + f
	}
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return trail.FieldError(join(""), "must be an object, not %s", te.Value)
		}
		return trail.FieldError(join(field), "must be %s, not %s", kind(te.Type.Kind().String()), te.Value)
	case errors.As(err, &se):
		return trail.FieldError(join(""), "malformed JSON at byte %d: %v", se.Offset, se)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return trail.FieldError(join(""), "empty or truncated JSON")
	}
	return trail.FieldError(join(""), "%s", strings.TrimPrefix(err.Error(), "json: "))
}

func kind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "int", "int64", "float64":
		return "a number"
	case "struct", "map", "ptr":
		return "an object"
	case "slice":
		return "an array"
	case "bool":
		return "true or false"
	}
	return k
}

// parseTime parses an RFC 3339 time (Kubernetes writes microseconds)
// between 1970 and 9999; "" is the zero time.
func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() < 1970 || t.After(time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)) {
		return time.Time{}, trail.FieldError(field, "must be an RFC 3339 time between 1970 and 9999 such as 2026-11-22T10:04:05.123456Z (got %q)", clip(s, 64))
	}
	return t.UTC(), nil
}
