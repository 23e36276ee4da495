package adapter_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/adapter"
)

func readList(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/kubernetes-eventlist.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestKubernetesGolden(t *testing.T) {
	events, err := adapter.Kubernetes(readList(t), adapter.KubernetesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	valid(t, events)
	golden(t, "kubernetes-eventlist.golden.json", events)
}

// TestKubernetesMapping states the mapping of docs/kubernetes.md item by
// item over the realistic EventList in testdata.
func TestKubernetesMapping(t *testing.T) {
	events, err := adapter.Kubernetes(readList(t), adapter.KubernetesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 10 {
		t.Fatalf("got %d events, want 10", len(events))
	}
	tests := []struct {
		name                              string
		i                                 int
		action, actor, actorType, outcome string
		resType, resID, ip, reqID         string
		status                            int
	}{
		{"get pods by a user with groups", 0, "k8s.pods.get", "alice@example.com", "user", "success", "pods", "payments/api-7d9f8c6b5-x2x9q", "203.0.113.7", "4f8e2c1a-7b3d-4e5f-9a0b-1c2d3e4f5a6b", 200},
		{"create secrets by a service account", 1, "k8s.secrets.create", "system:serviceaccount:ci:deployer", "service", "success", "secrets", "payments/db-credentials", "10.244.1.17", "9b1c7e4d-2a6f-4c3b-8d5e-0f1a2b3c4d5e", 201},
		{"delete deployments forbidden", 2, "k8s.deployments.delete", "bob", "user", "denied", "deployments.apps", "payments/api", "198.51.100.23", "c3d4e5f6-0718-4293-a4b5-c6d7e8f90a1b", 403},
		{"watch at ResponseStarted", 3, "k8s.configmaps.watch", "system:kube-controller-manager", "system", "success", "configmaps", "", "172.18.0.2", "e1f2a3b4-c5d6-4e7f-8091-a2b3c4d5e6f7", 200},
		{"impersonated update", 4, "k8s.configmaps.update", "carol", "user", "success", "configmaps", "payments/feature-flags", "192.0.2.44", "a9b8c7d6-e5f4-4a3b-9c2d-1e0f9a8b7c6d", 200},
		{"anonymous list secrets", 5, "k8s.secrets.list", "system:anonymous", "user", "denied", "secrets", "", "198.51.100.99", "0a1b2c3d-4e5f-4061-8728-394a5b6c7d8e", 403},
		{"pods/exec", 6, "k8s.pods.exec.create", "alice@example.com", "user", "success", "pods", "payments/api-7d9f8c6b5-x2x9q", "203.0.113.7", "7c6b5a49-3827-4160-9f8e-7d6c5b4a3928", 101},
		{"patch pods/status by a node", 7, "k8s.pods.status.patch", "system:node:worker-2", "system", "success", "pods", "payments/api-7d9f8c6b5-x2x9q", "172.18.0.5", "3e2d1c0b-a987-4654-b321-0fedcba98765", 200},
		{"RequestReceived has no outcome yet", 8, "k8s.pods.get", "alice@example.com", "user", "unknown", "pods", "payments/api-7d9f8c6b5-x2x9q", "203.0.113.7", "4f8e2c1a-7b3d-4e5f-9a0b-1c2d3e4f5a6b", 0},
		{"non-resource URL", 9, "k8s.nonresource.get", "system:anonymous", "user", "success", "nonresource", "/version", "::1", "5d4c3b2a-1908-4f7e-8d6c-5b4a39281706", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := events[tt.i]
			if e.Action != tt.action {
				t.Errorf("action = %q, want %q", e.Action, tt.action)
			}
			if e.Actor.ID != tt.actor || e.Actor.Type != tt.actorType {
				t.Errorf("actor = %q (%s), want %q (%s)", e.Actor.ID, e.Actor.Type, tt.actor, tt.actorType)
			}
			if e.Outcome != tt.outcome {
				t.Errorf("outcome = %q, want %q", e.Outcome, tt.outcome)
			}
			if e.Resource == nil || e.Resource.Type != tt.resType || e.Resource.ID != tt.resID {
				t.Errorf("resource = %+v, want type %q id %q", e.Resource, tt.resType, tt.resID)
			}
			if e.Source.IP != tt.ip || e.Source.Origin != "kubernetes" {
				t.Errorf("source = %+v, want ip %q origin kubernetes", e.Source, tt.ip)
			}
			if e.Request.ID != tt.reqID || e.Request.Status != tt.status {
				t.Errorf("request = %+v, want id %q status %d", e.Request, tt.reqID, tt.status)
			}
			if !strings.HasPrefix(e.ID, tt.reqID+"."+e.Metadata["stage"].(string)+".") {
				t.Errorf("id = %q, want <auditID>.<stage>.<digest>", e.ID)
			}
		})
	}

	t.Run("time and duration", func(t *testing.T) {
		e := events[0]
		if got := e.Time.Format("2006-01-02T15:04:05.000000Z07:00"); got != "2026-11-22T10:04:05.124871Z" {
			t.Errorf("time = %s, want the stageTimestamp", got)
		}
		if d := e.Request.DurationMS; d == nil || *d < 4.52 || *d > 4.53 {
			t.Errorf("duration_ms = %v, want 4.526", d)
		}
		if e.Request.Method != "GET" || !strings.HasPrefix(e.Request.Path, "/api/v1/namespaces/payments/pods/") {
			t.Errorf("request = %+v, want GET and the requestURI", e.Request)
		}
	})
	t.Run("metadata", func(t *testing.T) {
		md := events[0].Metadata
		if md["stage"] != "ResponseComplete" || md["level"] != "Metadata" || md["namespace"] != "payments" || md["api_version"] != "v1" {
			t.Errorf("metadata = %v", md)
		}
		if g, _ := json.Marshal(md["groups"]); string(g) != `["platform-admins","system:authenticated"]` {
			t.Errorf("groups = %s", g)
		}
		if a, _ := md["annotations"].(map[string]any); a["authorization.k8s.io/decision"] != "allow" {
			t.Errorf("annotations = %v", md["annotations"])
		}
		if _, ok := md["request_object"]; ok {
			t.Error("request_object present at level Metadata")
		}
		if md := events[2].Metadata; md["api_group"] != "apps" || md["status_reason"] != "Forbidden" {
			t.Errorf("forbidden delete metadata = %v", md)
		}
		if !strings.Contains(events[2].Reason, "cannot delete resource") {
			t.Errorf("reason = %q, want the status message", events[2].Reason)
		}
		if ips, _ := json.Marshal(events[2].Metadata["source_ips"]); string(ips) != `["198.51.100.23","10.0.0.4"]` {
			t.Errorf("source_ips = %s", ips)
		}
		imp, _ := events[4].Metadata["impersonated_user"].(map[string]any)
		if imp["username"] != "system:serviceaccount:payments:api" {
			t.Errorf("impersonated_user = %v", events[4].Metadata["impersonated_user"])
		}
		if events[6].Metadata["subresource"] != "exec" {
			t.Errorf("subresource = %v", events[6].Metadata["subresource"])
		}
		if _, ok := events[7].Metadata["request_object"].(map[string]any); !ok {
			t.Errorf("patch request_object = %v, want the object", events[7].Metadata["request_object"])
		}
	})
	t.Run("secret values are redacted", func(t *testing.T) {
		obj, _ := events[1].Metadata["request_object"].(map[string]any)
		data, _ := obj["data"].(map[string]any)
		if len(data) != 2 || data["username"] != "redacted" || data["tls.key"] != "redacted" {
			t.Errorf("secret data = %v, want both keys with value redacted", obj["data"])
		}
		if obj["kind"] != "Secret" {
			t.Errorf("request_object = %v, want the rest kept", obj)
		}
	})
	t.Run("stages of one request have distinct ids", func(t *testing.T) {
		if events[0].ID == events[8].ID || events[0].Request.ID != events[8].Request.ID {
			t.Errorf("ids %q and %q, request ids %q and %q: want distinct ids, one request id", events[0].ID, events[8].ID, events[0].Request.ID, events[8].Request.ID)
		}
	})
}

// TestKubernetesIdempotentIDs: the same list maps to the same ids; a
// different item with a reused audit ID and stage (a client may choose
// its audit ID) does not.
func TestKubernetesIdempotentIDs(t *testing.T) {
	body := readList(t)
	a, err := adapter.Kubernetes(body, adapter.KubernetesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var reindented map[string]any
	if err := json.Unmarshal(body, &reindented); err != nil {
		t.Fatal(err)
	}
	compact, _ := json.Marshal(reindented) // same items, other whitespace and key order
	b, err := adapter.Kubernetes(compact, adapter.KubernetesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if a[i].ID != b[i].ID {
			t.Errorf("item %d: id %q then %q", i, a[i].ID, b[i].ID)
		}
	}
	forged := strings.Replace(string(body), `"verb": "delete"`, `"verb": "deletecollection"`, 1)
	c, err := adapter.Kubernetes([]byte(forged), adapter.KubernetesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c[2].Request.ID != a[2].Request.ID || c[2].ID == a[2].ID {
		t.Errorf("another item with the same auditID and stage: id %q, original %q: want a different id", c[2].ID, a[2].ID)
	}
}

func TestKubernetesObjectLimit(t *testing.T) {
	events, err := adapter.Kubernetes(readList(t), adapter.KubernetesOptions{MaxObjectBytes: 64})
	if err != nil {
		t.Fatal(err)
	}
	md := events[1].Metadata
	if _, ok := md["request_object"]; ok {
		t.Error("request_object kept over the limit")
	}
	if n, _ := md["request_object_bytes"].(int); n <= 64 {
		t.Errorf("request_object_bytes = %v, want the size", md["request_object_bytes"])
	}
}

// item is a minimal valid audit event; edit changes it.
func item(edit func(map[string]any)) map[string]any {
	it := map[string]any{
		"level": "Metadata", "auditID": "11111111-2222-4333-8444-555555555555", "stage": "ResponseComplete",
		"requestURI": "/api/v1/namespaces/default/pods", "verb": "list",
		"user":                     map[string]any{"username": "alice"},
		"sourceIPs":                []any{"10.0.0.1"},
		"objectRef":                map[string]any{"resource": "pods", "namespace": "default", "apiVersion": "v1"},
		"responseStatus":           map[string]any{"metadata": map[string]any{}, "code": 200},
		"requestReceivedTimestamp": "2026-11-22T10:00:00.000000Z",
		"stageTimestamp":           "2026-11-22T10:00:00.001000Z",
	}
	if edit != nil {
		edit(it)
	}
	return it
}

func list(items ...map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items})
	return b
}

func TestKubernetesErrors(t *testing.T) {
	ok := item(nil)
	tests := []struct {
		name, body, field string
	}{
		{"not JSON", `{"kind":`, ""},
		{"wrong kind", `{"kind":"Event","apiVersion":"audit.k8s.io/v1","items":[]}`, "kind"},
		{"v1beta1", `{"kind":"EventList","apiVersion":"audit.k8s.io/v1beta1","items":[{}]}`, "apiVersion"},
		{"no items", `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[]}`, "items"},
		{"items not an array", `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":{}}`, "items"},
		{"trailing data", string(list(ok)) + `{}`, ""},
		{"missing verb", string(list(ok, ok, ok, item(func(m map[string]any) { delete(m, "verb") }))), "items[3].verb"},
		{"verb not a string", string(list(item(func(m map[string]any) { m["verb"] = 7 }))), "items[0].verb"},
		{"verb with a dot", string(list(item(func(m map[string]any) { m["verb"] = "get.x" }))), "items[0].verb"},
		{"missing auditID", string(list(item(func(m map[string]any) { delete(m, "auditID") }))), "items[0].auditID"},
		{"unknown stage", string(list(item(func(m map[string]any) { m["stage"] = "Done" }))), "items[0].stage"},
		{"no user", string(list(item(func(m map[string]any) { delete(m, "user") }))), "items[0].user.username"},
		{"bad timestamp", string(list(item(func(m map[string]any) { m["stageTimestamp"] = "yesterday" }))), "items[0].stageTimestamp"},
		{"item not an object", `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[3]}`, "items[0]"},
		{"resource with a dot", string(list(item(func(m map[string]any) { m["objectRef"] = map[string]any{"resource": "pods.x"} }))), "items[0].objectRef.resource"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := adapter.Kubernetes([]byte(tt.body), adapter.KubernetesOptions{})
			if err == nil {
				t.Fatalf("no error, %d events", len(events))
			}
			if events != nil {
				t.Errorf("events returned with the error")
			}
			if got := fieldOf(t, err); got != tt.field {
				t.Errorf("field = %q (%v), want %q", got, err, tt.field)
			}
		})
	}
}

// TestKubernetesTolerates: what a real API server may send and must not
// fail a batch: unknown fields, long URIs and user agents, a source IP
// that is not an address, a client-chosen audit ID.
func TestKubernetesTolerates(t *testing.T) {
	long := strings.Repeat("a", 20000)
	events, err := adapter.Kubernetes(list(
		item(func(m map[string]any) { m["someFutureField"] = map[string]any{"x": 1} }),
		item(func(m map[string]any) { m["requestURI"] = "/api/v1/pods?labelSelector=" + long; m["userAgent"] = long }),
		item(func(m map[string]any) { m["sourceIPs"] = []any{"not-an-ip", "10.0.0.9"} }),
		item(func(m map[string]any) { m["auditID"] = "my request / " + long }),
	), adapter.KubernetesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	valid(t, events)
	if events[2].Source.IP != "" {
		t.Errorf("source.ip = %q, want none for a bad address", events[2].Source.IP)
	}
	if id := events[3].ID; !strings.HasPrefix(id, "sha256-") || len(id) > 128 {
		t.Errorf("id = %q, want a hashed audit id", id)
	}
}

func FuzzKubernetes(f *testing.F) {
	f.Add(readList(f))
	f.Add(list(item(nil)))
	f.Add([]byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"a","stage":"Panic","verb":"get","user":{"username":"x"},"requestObject":{"data":{"a":1}},"objectRef":{"resource":"secrets"}}]}`))
	f.Add([]byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"\u0000","stage":"RequestReceived","verb":"get","user":{"username":"\ud800"},"sourceIPs":["::ffff:1.2.3.4%eth0"]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := adapter.Kubernetes(body, adapter.KubernetesOptions{MaxObjectBytes: 4096})
		if err != nil {
			if te, ok := err.(*trail.Error); !ok || te.Code != trail.EINVALID {
				t.Fatalf("error %v (%T), want EINVALID", err, err)
			}
			if events != nil {
				t.Fatal("events with an error")
			}
			return
		}
		for i, e := range events {
			c := *e
			c.Normalize(time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), func() string { return "x" })
			if err := c.Validate(trail.DefaultLimits); err != nil {
				t.Fatalf("event %d is not valid: %v\n%s", i, err, body)
			}
		}
	})
}

// BenchmarkKubernetes maps the ten-item EventList of testdata; the figure
// to compare with ingest's per-event cost.
func BenchmarkKubernetes(b *testing.B) {
	body := readList(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := adapter.Kubernetes(body, adapter.KubernetesOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
