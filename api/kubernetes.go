package api

import (
	"mime"
	"net/http"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/adapter"
	"github.com/trail-audit/trail/auth"
)

// ingestKubernetes is POST /v1/ingest/kubernetes: the target of
// kube-apiserver's audit webhook backend. The body is an audit.k8s.io/v1
// EventList; adapter.Kubernetes maps its items to events, which then take
// the ingest path of POST /v1/events (commitEvents): masking, schemas,
// limits, idempotency, all or nothing. The tenant is ?tenant= when given
// (a key scoped to another tenant gets 403), else the key's tenant, else
// "default". Errors name items as "items[3].verb".
func (s *Server) ingestKubernetes(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, _ := mime.ParseMediaType(ct); mt != "application/json" {
			return trail.FieldError("Content-Type", "must be application/json (got %q)", ct)
		}
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	events, err := adapter.Kubernetes(body, adapter.KubernetesOptions{MaxObjectBytes: s.limits.MaxEventBytes / 4})
	if err != nil {
		return err
	}
	if t := r.URL.Query().Get("tenant"); t != "" {
		for _, e := range events {
			e.Tenant = t
		}
	}
	return s.commitEvents(w, r, p, events, "items")
}
