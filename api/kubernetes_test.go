package api_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/auth"
)

// kubeList reads the realistic EventList of the adapter's testdata: ten
// items (get, create secrets, a 403 delete, a watch at ResponseStarted,
// impersonation, anonymous, pods/exec, pods/status patch, a
// RequestReceived stage, /version).
func kubeList(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../adapter/testdata/kubernetes-eventlist.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// kubeItem is a minimal audit.k8s.io/v1 event with audit ID id.
func kubeItem(id, verb string) map[string]any {
	return map[string]any{
		"level": "Metadata", "auditID": id, "stage": "ResponseComplete", "verb": verb,
		"requestURI": "/api/v1/namespaces/default/pods", "user": map[string]any{"username": "alice", "groups": []any{"dev"}},
		"sourceIPs": []any{"10.1.2.3"}, "objectRef": map[string]any{"resource": "pods", "namespace": "default", "apiVersion": "v1"},
		"responseStatus":           map[string]any{"metadata": map[string]any{}, "code": 200},
		"requestReceivedTimestamp": "2026-11-22T10:00:00.000000Z", "stageTimestamp": "2026-11-22T10:00:00.002000Z",
	}
}

func kubeBody(items ...map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items})
	return b
}

// postKube posts an EventList as the API server does.
func (s *testServer) postKube(t *testing.T, path, token string, body []byte) *response {
	t.Helper()
	return s.do(t, request{Method: "POST", Path: path, Token: token, Body: body, Header: map[string]string{"Content-Type": "application/json"}})
}

// queryEvents returns the events of a GET /v1/events query, oldest first.
func (s *testServer) queryEvents(t *testing.T, token, query string) []trail.Event {
	t.Helper()
	r := s.do(t, request{Method: "GET", Path: "/v1/events?order=asc&limit=1000&" + query, Token: token})
	if r.Status != http.StatusOK {
		t.Fatalf("query %s: %d %s", query, r.Status, r.Body)
	}
	var page struct{ Events []trail.Event }
	r.JSON(t, &page)
	return page.Events
}

// TestKubernetesIngest posts a real-shaped EventList through the API as a
// cluster's writer key, reads the events back as a viewer, resends the
// list and finds no duplicates.
func TestKubernetesIngest(t *testing.T) {
	s := newTestServer(t, nil)
	writer := s.token(auth.Writer, "k8s-prod")
	viewer := s.token(auth.Viewer, "k8s-prod")
	body := kubeList(t)

	r := s.postKube(t, "/v1/ingest/kubernetes", writer, body)
	if r.Status != http.StatusCreated {
		t.Fatalf("POST: %d %s, want 201", r.Status, r.Body)
	}
	var first ingestResult
	r.JSON(t, &first)
	if len(first.Receipts) != 10 {
		t.Fatalf("%d receipts, want 10", len(first.Receipts))
	}
	for i, rc := range first.Receipts {
		if rc.Tenant != "k8s-prod" || rc.Seq != int64(i) || rc.Duplicate {
			t.Errorf("receipt %d = %+v, want tenant k8s-prod, seq %d, new", i, rc, i)
		}
	}

	events := s.queryEvents(t, viewer, "")
	if len(events) != 10 {
		t.Fatalf("query: %d events, want 10", len(events))
	}
	byAction := map[string]trail.Event{}
	for _, e := range events {
		if e.Metadata["stage"] == "ResponseComplete" {
			byAction[e.Action] = e
		}
	}
	get := byAction["k8s.pods.get"]
	if get.Actor.ID != "alice@example.com" || get.Actor.Type != "user" || get.Outcome != "success" ||
		get.Resource == nil || get.Resource.ID != "payments/api-7d9f8c6b5-x2x9q" || get.Source == nil || get.Source.IP != "203.0.113.7" ||
		get.Request == nil || get.Request.ID != "4f8e2c1a-7b3d-4e5f-9a0b-1c2d3e4f5a6b" || get.Request.Status != 200 ||
		get.Time.Format("15:04:05.000000") != "10:04:05.124871" {
		t.Errorf("k8s.pods.get read back as %+v", get)
	}
	if groups, _ := json.Marshal(get.Metadata["groups"]); string(groups) != `["platform-admins","system:authenticated"]` {
		t.Errorf("metadata.groups = %s", groups)
	}
	del := byAction["k8s.deployments.delete"]
	if del.Outcome != "denied" || del.Resource.Type != "deployments.apps" || del.Request.Status != 403 || !strings.Contains(del.Reason, "forbidden") {
		t.Errorf("forbidden delete read back as outcome %q resource %+v status %d reason %q", del.Outcome, del.Resource, del.Request.Status, del.Reason)
	}
	if sa := byAction["k8s.secrets.create"]; sa.Actor.Type != "service" {
		t.Errorf("service account actor type = %q", sa.Actor.Type)
	}
	if _, ok := byAction["k8s.pods.exec.create"]; !ok {
		t.Errorf("no k8s.pods.exec.create among %d actions", len(byAction))
	}
	// The filters of the query API work on the mapped fields.
	if got := s.queryEvents(t, viewer, "request_id=4f8e2c1a-7b3d-4e5f-9a0b-1c2d3e4f5a6b"); len(got) != 2 {
		t.Errorf("request_id query: %d events, want the 2 stages of the request", len(got))
	}
	if got := s.queryEvents(t, viewer, "outcome=denied"); len(got) != 2 {
		t.Errorf("outcome=denied: %d events, want 2", len(got))
	}
	if got := s.queryEvents(t, viewer, "action=k8s.pods.*"); len(got) != 4 {
		t.Errorf("action=k8s.pods.*: %d events, want 4 (get twice, exec, status)", len(got))
	}

	// The API server resends a batch whose delivery it thinks failed.
	r = s.postKube(t, "/v1/ingest/kubernetes", writer, body)
	if r.Status != http.StatusCreated {
		t.Fatalf("resend: %d %s", r.Status, r.Body)
	}
	var again ingestResult
	r.JSON(t, &again)
	for i, rc := range again.Receipts {
		if !rc.Duplicate || rc.ID != first.Receipts[i].ID || rc.Seq != first.Receipts[i].Seq {
			t.Errorf("resent receipt %d = %+v, want the original %+v marked duplicate", i, rc, first.Receipts[i])
		}
	}
	if n := len(kubeActions(s.actions(t, "k8s-prod"))); n != 10 {
		t.Errorf("after the resend the log holds %d events, want 10", n)
	}
}

// TestKubernetesBadItem: a bad item is a 400 naming it, and nothing of the
// request is stored, as for a bad event in a POST /v1/events batch.
func TestKubernetesBadItem(t *testing.T) {
	s := newTestServer(t, nil)
	writer := s.token(auth.Writer, "a")
	bad := kubeItem("44444444-0000-4000-8000-000000000003", "")
	delete(bad, "verb")
	body := kubeBody(kubeItem("44444444-0000-4000-8000-000000000000", "get"), kubeItem("44444444-0000-4000-8000-000000000001", "list"),
		kubeItem("44444444-0000-4000-8000-000000000002", "watch"), bad, kubeItem("44444444-0000-4000-8000-000000000004", "get"))
	tests := []struct {
		name, path string
		body       []byte
		header     map[string]string
		status     int
		field      string
	}{
		{"item without verb", "/v1/ingest/kubernetes", body, nil, 400, "items[3].verb"},
		{"not an EventList", "/v1/ingest/kubernetes", []byte(`{"events":[]}`), nil, 400, "kind"},
		{"audit.k8s.io/v1beta1", "/v1/ingest/kubernetes", []byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1beta1","items":[]}`), nil, 400, "apiVersion"},
		{"YAML content type", "/v1/ingest/kubernetes", body, map[string]string{"Content-Type": "application/yaml"}, 400, "Content-Type"},
		{"bad tenant", "/v1/ingest/kubernetes?tenant=Bad!", kubeBody(kubeItem("x", "get")), nil, 400, "items[0].tenant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{"Content-Type": "application/json"}
			for k, v := range tt.header {
				h[k] = v
			}
			tok := writer
			if strings.Contains(tt.path, "tenant=") {
				tok = s.token(auth.Writer, auth.AllTenants)
			}
			r := s.do(t, request{Method: "POST", Path: tt.path, Token: tok, Body: tt.body, Header: h})
			if r.Status != tt.status {
				t.Fatalf("got %d %s, want %d", r.Status, r.Body, tt.status)
			}
			if code, msg, field := r.errorBody(t); code != "invalid" || field != tt.field || msg == "" {
				t.Errorf("error = %q %q field %q, want invalid, a message, field %q", code, msg, field, tt.field)
			}
		})
	}
	if n := len(kubeActions(s.actions(t, "a"))); n != 0 {
		t.Errorf("tenant a holds %d events after refused requests, want 0", n)
	}
}

// TestKubernetesTenant: ?tenant= names the tenant for an all-tenant key;
// a scoped key that names another tenant is refused and stores nothing.
func TestKubernetesTenant(t *testing.T) {
	s := newTestServer(t, nil)
	body := kubeBody(kubeItem("55555555-0000-4000-8000-000000000000", "get"))
	if r := s.postKube(t, "/v1/ingest/kubernetes?tenant=cluster-b", s.token(auth.Writer, auth.AllTenants), body); r.Status != http.StatusCreated {
		t.Fatalf("all-tenant writer: %d %s", r.Status, r.Body)
	}
	if got := kubeActions(s.actions(t, "cluster-b")); len(got) != 1 || got[0] != "k8s.pods.get" {
		t.Errorf("cluster-b holds %v, want [k8s.pods.get]", got)
	}
	r := s.postKube(t, "/v1/ingest/kubernetes?tenant=cluster-b", s.token(auth.Writer, "cluster-a"), kubeBody(kubeItem("55555555-0000-4000-8000-000000000001", "get")))
	if r.Status != http.StatusForbidden {
		t.Fatalf("writer of cluster-a naming cluster-b: %d %s, want 403", r.Status, r.Body)
	}
	if _, _, field := r.errorBody(t); field != "items[0].tenant" {
		t.Errorf("field = %q, want items[0].tenant", field)
	}
	if n := len(kubeActions(s.actions(t, "cluster-b"))); n != 1 {
		t.Errorf("cluster-b grew to %d events", n)
	}
	if r := s.postKube(t, "/v1/ingest/kubernetes", s.token(auth.Viewer, "cluster-a"), body); r.Status != http.StatusForbidden {
		t.Errorf("viewer: %d, want 403", r.Status)
	}
}

// TestKubernetesMaskingAndSchemas: the tenant's masking rules and action
// schemas apply to mapped events exactly as to POST /v1/events.
func TestKubernetesMaskingAndSchemas(t *testing.T) {
	s := newTestServer(t, nil)
	admin := s.token(auth.Admin, "m")
	writer := s.token(auth.Writer, "m")

	// Default masking: a bearer token in a request object's field named
	// "token" is masked before it is stored; the path is listed.
	it := kubeItem("66666666-0000-4000-8000-000000000000", "create")
	it["level"] = "Request"
	it["objectRef"] = map[string]any{"resource": "tokenreviews", "apiGroup": "authentication.k8s.io", "apiVersion": "v1"}
	it["requestObject"] = map[string]any{"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1", "spec": map[string]any{"token": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJl"}}
	if r := s.postKube(t, "/v1/ingest/kubernetes", writer, kubeBody(it)); r.Status != http.StatusCreated {
		t.Fatalf("POST: %d %s", r.Status, r.Body)
	}
	ev := s.queryEvents(t, admin, "action=k8s.tokenreviews.create")
	if len(ev) != 1 {
		t.Fatalf("%d events", len(ev))
	}
	if raw, _ := json.Marshal(ev[0].Metadata); strings.Contains(string(raw), "c2lnbmF0dXJl") {
		t.Errorf("token stored unmasked: %s", raw)
	}
	if !strings.Contains(strings.Join(ev[0].Masked, ","), "metadata.request_object.spec.token") {
		t.Errorf("masked = %v, want metadata.request_object.spec.token", ev[0].Masked)
	}

	// A schema for k8s.pods.delete that requires metadata.namespace: an
	// item without it is refused by index, and nothing is stored.
	schema := map[string]any{"type": "object", "required": []any{"namespace"}}
	if r := s.do(t, request{Method: "PUT", Path: "/v1/schemas/k8s.pods.delete", Token: admin, Body: schema}); r.Status != http.StatusCreated {
		t.Fatalf("put schema: %d %s", r.Status, r.Body)
	}
	clusterWide := kubeItem("66666666-0000-4000-8000-000000000002", "delete")
	clusterWide["objectRef"] = map[string]any{"resource": "pods", "apiVersion": "v1"}
	r := s.postKube(t, "/v1/ingest/kubernetes", writer, kubeBody(kubeItem("66666666-0000-4000-8000-000000000001", "delete"), clusterWide))
	if r.Status != http.StatusBadRequest {
		t.Fatalf("schema violation: %d %s, want 400", r.Status, r.Body)
	}
	if _, _, field := r.errorBody(t); !strings.HasPrefix(field, "items[1].metadata") {
		t.Errorf("field = %q, want items[1].metadata…", field)
	}
	if n := len(kubeActions(s.actions(t, "m"))); n != 1 {
		t.Errorf("tenant m holds %d events, want 1", n)
	}
}

// TestKubernetesWebhookDoc checks the kube-apiserver webhook
// configuration of docs/kubernetes.md against the server: the URL it
// names is this endpoint, with ?tenant=, and its token is sent as a
// bearer token, as kube-apiserver does; with the placeholders replaced by
// a real server and a writer key, a delivery made the way the API server
// makes it is accepted.
func TestKubernetesWebhookDoc(t *testing.T) {
	doc, err := os.ReadFile("../docs/kubernetes.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(apiVersion: v1\nkind: Config\n.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/kubernetes.md has no kubeconfig-format webhook file (```yaml apiVersion: v1, kind: Config)")
	}
	cfg := string(m[1])
	server := yamlValue(t, cfg, "server")
	token := yamlValue(t, cfg, "token")
	for _, want := range []string{"clusters:", "cluster:", "users:", "user:", "contexts:", "current-context:"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("webhook config lacks %q", want)
		}
	}
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("server %q: %v", server, err)
	}
	s := newTestServer(t, nil)
	found := false
	for _, rt := range s.API.Routes() {
		if rt.Method == "POST" && rt.Path == u.Path && rt.Permission == auth.PermIngest {
			found = true
		}
	}
	if !found {
		t.Errorf("the documented path %s is not a POST route with the ingest permission", u.Path)
	}
	tenant := u.Query().Get("tenant")
	if !strings.HasPrefix(token, "trl_") {
		t.Errorf("token %q does not look like a trail key", token)
	}
	for _, flag := range []string{"--audit-webhook-config-file=", "--audit-policy-file=", "--audit-webhook-mode=batch", "--role writer"} {
		if !strings.Contains(string(doc), flag) {
			t.Errorf("docs/kubernetes.md does not name %s", flag)
		}
	}

	// Deliver as kube-apiserver would with the documented file, to this
	// server, with a writer key of the documented tenant.
	key := s.token(auth.Writer, tenant)
	target := s.URL + u.RequestURI()
	req, _ := http.NewRequest("POST", target, strings.NewReader(string(kubeBody(kubeItem("77777777-0000-4000-8000-000000000000", "get")))))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := s.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("delivery to %s: %d, want 201", target, resp.StatusCode)
	}
	if got := kubeActions(s.actions(t, tenant)); len(got) != 1 {
		t.Errorf("tenant %s holds %v, want the delivered event", tenant, got)
	}
}

// yamlValue returns the value of the only "key: value" line of a YAML
// text, or fails.
func yamlValue(t *testing.T, text, key string) string {
	t.Helper()
	ms := regexp.MustCompile(`(?m)^\s*`+regexp.QuoteMeta(key)+`:\s*(\S+)\s*$`).FindAllStringSubmatch(text, -1)
	if len(ms) != 1 {
		t.Fatalf("webhook config: %d %q lines, want 1", len(ms), key)
	}
	return ms[0][1]
}

// kubeActions keeps the k8s.* actions of a log, leaving out trail's own
// trail.* events (the audit of the test's reads).
func kubeActions(actions []string) []string {
	var out []string
	for _, a := range actions {
		if strings.HasPrefix(a, "k8s.") {
			out = append(out, a)
		}
	}
	return out
}
