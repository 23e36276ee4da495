package adapter

import (
	"encoding/json"
	"net/netip"
	"strings"

	trail "github.com/trail-audit/trail"
)

// vaultEntry is one line of Vault's file audit device: the fields trail
// maps. Unknown fields are ignored.
type vaultEntry struct {
	Time     string         `json:"time"`
	Type     string         `json:"type"`
	Auth     *vaultAuth     `json:"auth"`
	Request  *vaultRequest  `json:"request"`
	Response *vaultResponse `json:"response"`
	Error    string         `json:"error"`
}

type vaultAuth struct {
	ClientToken string            `json:"client_token"` // HMAC'd by Vault; never copied
	Accessor    string            `json:"accessor"`
	DisplayName string            `json:"display_name"`
	Policies    []string          `json:"policies"`
	Metadata    map[string]string `json:"metadata"`
	EntityID    string            `json:"entity_id"`
	TokenType   string            `json:"token_type"`
}

type vaultRequest struct {
	ID                  string          `json:"id"`
	Operation           string          `json:"operation"`
	MountPoint          string          `json:"mount_point"`
	MountType           string          `json:"mount_type"`
	Path                string          `json:"path"`
	RemoteAddress       string          `json:"remote_address"`
	RemotePort          int             `json:"remote_port"`
	Namespace           *vaultNamespace `json:"namespace"`
	ClientTokenAccessor string          `json:"client_token_accessor"`
}

type vaultNamespace struct {
	ID   string `json:"id"`
	Path string `json:"path"`
}

type vaultResponse struct {
	Auth *vaultAuth `json:"auth"` // the token a login issued
}

// Vault maps one line of Vault's file audit device to a trail event.
//
// Vault writes two entries per request: a "request" entry before serving
// it and a "response" entry after, which repeats the request and auth
// blocks and adds the response and the error. Only response entries
// become events, so that each request is one event with its outcome; for a
// request entry Vault returns nil and no error. (A request whose response
// entry Vault never wrote, because it crashed while serving it, is not
// imported.)
//
// A response entry maps as follows (docs/kubernetes.md, section Vault,
// has the same as a table):
//
//   - action: "vault.<request.operation>" (vault.read, vault.update, …).
//   - actor: id = auth.entity_id, else auth.display_name, else (a login,
//     whose caller has no token yet) response.auth.entity_id or
//     display_name, else "anonymous"; name = the display name; type
//     "service" for AppRole and Kubernetes-auth tokens (display name
//     "approle…" or metadata role_name / service_account_name), else "user".
//   - resource: type = request.mount_type ("kv", "pki", "token"; "path"
//     when absent), id = the namespace path followed by request.path.
//   - source: ip = request.remote_address, origin "vault".
//   - request: id = request.id, path = request.path.
//   - outcome from error: none → success; "permission denied" → denied;
//     "internal error" → error; any other → failure. reason = the error,
//     without Vault's "1 error occurred:" framing.
//   - time = time.
//   - metadata: display_name, policies, token_type, entity_id,
//     auth_metadata, token_accessor (HMAC'd as Vault wrote it),
//     mount_point, mount_type, namespace_id, namespace_path, remote_port,
//     and for a login the issued token's display_name, policies and
//     entity_id under issued. Tokens (client_token), request data and
//     response data are never copied.
//
// The event id is "<request.id>.<digest>", digest being the first 16 hex
// digits of SHA-256 of the line's JSON with sorted keys and no white space, so importing the same file
// twice stores each entry once. Errors are EINVALID *trail.Error values
// naming the field ("request.operation").
func Vault(line []byte) (*trail.Event, error) {
	var v vaultEntry
	if err := json.Unmarshal(line, &v); err != nil {
		return nil, decodeError("", err)
	}
	switch v.Type {
	case "request":
		return nil, nil
	case "response":
	case "":
		return nil, trail.FieldError("type", "required")
	default:
		return nil, trail.FieldError("type", "must be request or response (got %q)", clip(v.Type, 64))
	}
	if v.Time == "" {
		return nil, trail.FieldError("time", "required")
	}
	at, err := parseTime("time", v.Time)
	if err != nil {
		return nil, err
	}
	r := v.Request
	if r == nil {
		return nil, trail.FieldError("request", "required")
	}
	if r.ID == "" {
		return nil, trail.FieldError("request.id", "required")
	}
	if r.Operation == "" {
		return nil, trail.FieldError("request.operation", "required")
	}
	if !isOperation(r.Operation) {
		return nil, trail.FieldError("request.operation", "must be a lowercase Vault operation such as read or update (got %q)", clip(r.Operation, 64))
	}
	digest, err := contentDigest(line)
	if err != nil {
		return nil, err
	}

	e := &trail.Event{
		ID:      safeID(r.ID) + "." + digest,
		Time:    at,
		Action:  "vault." + r.Operation,
		Source:  &trail.Source{Origin: "vault"},
		Request: &trail.Request{ID: requestID(r.ID), Path: clip(r.Path, maxText)},
	}
	if a, err := netip.ParseAddr(r.RemoteAddress); err == nil {
		e.Source.IP = a.String()
	}
	md := map[string]any{}
	set := func(key, s string) {
		if s != "" {
			md[key] = clip(s, maxName)
		}
	}
	var issued *vaultAuth
	if v.Response != nil && v.Response.Auth != nil {
		issued = v.Response.Auth
	}
	who := v.Auth
	if who == nil || who.EntityID == "" && who.DisplayName == "" {
		who = issued
	}
	e.Actor = trail.Actor{ID: "anonymous", Type: trail.ActorUser}
	if who != nil {
		switch {
		case who.EntityID != "":
			e.Actor.ID = clip(who.EntityID, maxName)
		case who.DisplayName != "":
			e.Actor.ID = clip(who.DisplayName, maxName)
		}
		e.Actor.Name = clip(who.DisplayName, maxName)
		if vaultService(who) {
			e.Actor.Type = trail.ActorService
		}
	}
	if a := v.Auth; a != nil {
		set("display_name", a.DisplayName)
		if len(a.Policies) > 0 {
			md["policies"] = stringsAny(a.Policies)
		}
		set("token_type", a.TokenType)
		set("entity_id", a.EntityID)
		set("token_accessor", a.Accessor)
		if len(a.Metadata) > 0 {
			m := make(map[string]any, len(a.Metadata))
			for k, s := range a.Metadata {
				m[k] = clip(s, maxName)
			}
			md["auth_metadata"] = m
		}
	}
	if issued != nil {
		is := map[string]any{}
		if issued.DisplayName != "" {
			is["display_name"] = clip(issued.DisplayName, maxName)
		}
		if issued.EntityID != "" {
			is["entity_id"] = clip(issued.EntityID, maxName)
		}
		if len(issued.Policies) > 0 {
			is["policies"] = stringsAny(issued.Policies)
		}
		if len(is) > 0 {
			md["issued"] = is
		}
	}
	set("mount_point", r.MountPoint)
	set("mount_type", r.MountType)
	if r.RemotePort > 0 {
		md["remote_port"] = r.RemotePort
	}
	nsPath := ""
	if ns := r.Namespace; ns != nil {
		set("namespace_id", ns.ID)
		set("namespace_path", ns.Path)
		nsPath = ns.Path
	}
	typ := r.MountType
	if typ == "" {
		typ = "path"
	}
	e.Resource = &trail.Resource{Type: clip(typ, maxName), ID: clip(nsPath+r.Path, maxName)}

	if v.Error == "" {
		e.Outcome = trail.OutcomeSuccess
	} else {
		msg := vaultErrorText(v.Error)
		e.Reason = clip(msg, maxText)
		switch {
		case strings.Contains(msg, "permission denied"):
			e.Outcome = trail.OutcomeDenied
		case strings.Contains(msg, "internal error"):
			e.Outcome = trail.OutcomeError
		default:
			e.Outcome = trail.OutcomeFailure
		}
	}
	if len(md) > 0 {
		e.Metadata = md
	}
	return e, nil
}

// vaultService reports whether a token belongs to a machine: AppRole or
// Kubernetes auth.
func vaultService(a *vaultAuth) bool {
	if strings.HasPrefix(a.DisplayName, "approle") {
		return true
	}
	_, role := a.Metadata["role_name"]
	_, sa := a.Metadata["service_account_name"]
	return role || sa
}

// vaultErrorText strips the framing of Vault's multierror,
// "1 error occurred:\n\t* permission denied\n\n", keeping the errors,
// joined by "; ".
func vaultErrorText(s string) string {
	head, rest, ok := strings.Cut(s, "\n")
	if !ok || !strings.Contains(head, "occurred:") {
		return strings.TrimSpace(s)
	}
	var parts []string
	for _, l := range strings.Split(rest, "\n") {
		l = strings.TrimSpace(l)
		l = strings.TrimPrefix(l, "* ")
		if l != "" {
			parts = append(parts, l)
		}
	}
	if len(parts) == 0 {
		return strings.TrimSpace(s)
	}
	return strings.Join(parts, "; ")
}

// isOperation reports whether s is a Vault operation name: lowercase
// letters and "-", at most 63 bytes.
func isOperation(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c == '-') {
			return false
		}
	}
	return true
}
