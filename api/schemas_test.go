package api_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/auth"
)

// schemaVersion is the body of the /v1/schemas responses.
type schemaVersion struct {
	Tenant, Action string
	Version        int
	Schema         json.RawMessage
	CreatedAt      string `json:"created_at"`
}

const invoiceSchema = `{
	"type": "object",
	"required": ["amount", "currency"],
	"properties": {
		"amount": {"type": "number", "minimum": 0},
		"currency": {"enum": ["EUR", "USD"]},
		"lines": {"type": "array", "items": {"type": "object", "required": ["sku"]}}
	}
}`

func invoice(md map[string]any) map[string]any {
	e := ev("", "invoice.paid", "u1")
	e["metadata"] = md
	return e
}

// events returns tenant's events of the log, read from the store.
func (s *testServer) events(t *testing.T, tenant string) []*trail.Event {
	t.Helper()
	recs, err := s.Store.Read(t.Context(), tenant, 0, 100000)
	if err != nil {
		if trail.ErrorCode(err) == trail.ENOTFOUND {
			return nil
		}
		t.Fatal(err)
	}
	out := make([]*trail.Event, 0, len(recs))
	for _, rec := range recs {
		e, err := trail.DecodeEvent(rec.Data)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func TestSchemas(t *testing.T) {
	s := newTestServer(t, nil)
	admin := s.token(auth.Admin, "acme")
	writer := s.token(auth.Writer, "acme")
	viewer := s.token(auth.Viewer, "acme")

	// The first version of an action's schema is created: 201.
	r := s.do(t, request{Method: "PUT", Path: "/v1/schemas/invoice.paid", Token: admin, Body: invoiceSchema})
	if r.Status != http.StatusCreated {
		t.Fatalf("PUT: %d %s, want 201", r.Status, r.Body)
	}
	var v1 schemaVersion
	r.JSON(t, &v1)
	if v1.Tenant != "acme" || v1.Action != "invoice.paid" || v1.Version != 1 || v1.CreatedAt == "" || !strings.Contains(string(v1.Schema), `"minimum":0`) {
		t.Fatalf("PUT answered %+v", v1)
	}

	// Ingest enforces it: each violation is a 400 naming the path and the rule.
	rejects := []struct {
		name  string
		body  any
		field string
		msg   string
	}{
		{"minimum", invoice(map[string]any{"amount": -5, "currency": "EUR"}), "events[0].metadata.amount", "minimum: must be >= 0"},
		{"required", invoice(map[string]any{"amount": 5}), "events[0].metadata.currency", "required: missing property currency"},
		{"no metadata", invoice(nil), "events[0].metadata.amount", "required: missing properties amount, currency"},
		{"array item", invoice(map[string]any{"amount": 5, "currency": "USD", "lines": []any{map[string]any{"sku": "a"}, map[string]any{}}}), "events[0].metadata.lines[1].sku", "required: missing property sku"},
		{"batch", map[string]any{"events": []any{
			invoice(map[string]any{"amount": 1, "currency": "EUR"}),
			ev("", "user.login", "u1"),
			invoice(map[string]any{"amount": 1, "currency": "GBP"}),
		}}, "events[2].metadata.currency", `enum: must be one of ["EUR","USD"]`},
	}
	before := len(s.events(t, "acme"))
	for _, tt := range rejects {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "no metadata" {
				delete(tt.body.(map[string]any), "metadata")
			}
			r := s.do(t, request{Method: "POST", Path: "/v1/events", Token: writer, Body: tt.body})
			code, msg, field := r.errorBody(t)
			if r.Status != http.StatusBadRequest || code != trail.EINVALID || field != tt.field || msg != tt.msg {
				t.Fatalf("got %d %s %q %q, want 400 invalid on %s: %q", r.Status, code, field, msg, tt.field, tt.msg)
			}
		})
	}
	if after := len(s.events(t, "acme")); after != before {
		t.Fatalf("rejected requests stored %d events", after-before)
	}
	// NDJSON batches are checked the same way.
	nd := `{"action":"user.login","actor":{"id":"u"}}` + "\n" + `{"action":"invoice.paid","actor":{"id":"u"},"metadata":{"amount":"5","currency":"EUR"}}` + "\n"
	r = s.do(t, request{Method: "POST", Path: "/v1/events", Token: writer, Body: nd, Header: map[string]string{"Content-Type": "application/x-ndjson"}})
	if _, _, field := r.errorBody(t); r.Status != http.StatusBadRequest || field != "events[1].metadata.amount" {
		t.Fatalf("NDJSON: %d %s, want 400 on events[1].metadata.amount", r.Status, r.Body)
	}

	// Valid events, and events of other actions, are stored.
	s.ingest(t, writer, invoice(map[string]any{"amount": 0, "currency": "EUR", "lines": []any{map[string]any{"sku": "a"}}}),
		ev("", "invoice.sent", "u1"))
	// Another tenant's events of the same action are not constrained.
	s.ingest(t, s.operator(), map[string]any{"tenant": "other", "action": "invoice.paid", "actor": map[string]any{"id": "u"}, "metadata": map[string]any{"amount": -1}})

	// A second PUT is a new version: 200; the older one stays readable.
	r = s.do(t, request{Method: "PUT", Path: "/v1/schemas/invoice.paid", Token: admin, Body: `{"type": "object", "required": ["amount"]}`})
	var v2 schemaVersion
	r.JSON(t, &v2)
	if r.Status != http.StatusOK || v2.Version != 2 {
		t.Fatalf("second PUT: %d %s, want 200 with version 2", r.Status, r.Body)
	}
	s.ingest(t, writer, invoice(map[string]any{"amount": -5})) // version 2 has no minimum
	if r := s.do(t, request{Method: "PUT", Path: "/v1/schemas/user.login", Token: admin, Body: `{"required": ["method"]}`}); r.Status != http.StatusCreated {
		t.Fatalf("PUT user.login: %d %s", r.Status, r.Body)
	}

	var list struct{ Schemas []schemaVersion }
	r = s.do(t, request{Method: "GET", Path: "/v1/schemas", Token: viewer})
	r.JSON(t, &list)
	if r.Status != http.StatusOK || len(list.Schemas) != 2 || list.Schemas[0].Action != "invoice.paid" || list.Schemas[0].Version != 2 || list.Schemas[1].Action != "user.login" {
		t.Fatalf("list: %d %s, want invoice.paid v2 and user.login v1", r.Status, r.Body)
	}
	r = s.do(t, request{Method: "GET", Path: "/v1/schemas?action=invoice.paid", Token: viewer})
	r.JSON(t, &list)
	if len(list.Schemas) != 2 || list.Schemas[0].Version != 1 || list.Schemas[1].Version != 2 {
		t.Fatalf("list of versions: %s", r.Body)
	}
	r = s.do(t, request{Method: "GET", Path: "/v1/schemas?action=nothing", Token: viewer})
	r.JSON(t, &list)
	if r.Status != http.StatusOK || len(list.Schemas) != 0 {
		t.Fatalf("versions of an action without schema: %d %s, want an empty list", r.Status, r.Body)
	}
	r = s.do(t, request{Method: "GET", Path: "/v1/schemas?tenant=other", Token: s.operator()})
	r.JSON(t, &list)
	if len(list.Schemas) != 0 {
		t.Fatalf("tenant other lists %s", r.Body)
	}

	gets := []struct {
		path    string
		status  int
		version int
	}{
		{"/v1/schemas/invoice.paid", 200, 2},
		{"/v1/schemas/invoice.paid?version=1", 200, 1},
		{"/v1/schemas/invoice.paid?version=2", 200, 2},
		{"/v1/schemas/invoice.paid?version=3", 404, 0},
		{"/v1/schemas/invoice.paid?version=0", 400, 0},
		{"/v1/schemas/invoice.paid?version=x", 400, 0},
		{"/v1/schemas/nothing", 404, 0},
	}
	for _, g := range gets {
		r := s.do(t, request{Method: "GET", Path: g.path, Token: viewer})
		var got schemaVersion
		if r.Status == http.StatusOK {
			r.JSON(t, &got)
		}
		if r.Status != g.status || got.Version != g.version {
			t.Errorf("GET %s: %d %s, want %d version %d", g.path, r.Status, r.Body, g.status, g.version)
		}
	}
	r = s.do(t, request{Method: "GET", Path: "/v1/schemas/invoice.paid?version=1", Token: viewer})
	var got schemaVersion
	r.JSON(t, &got)
	if string(got.Schema) != string(v1.Schema) || got.CreatedAt != v1.CreatedAt {
		t.Errorf("version 1 reads back as %s, want %s", r.Body, mustJSON(t, v1))
	}

	// Every PUT is in the tenant's log, with the version and the hash of
	// the stored document.
	var audits []*trail.Event
	for _, e := range s.events(t, "acme") {
		if e.Action == "trail.schema.updated" {
			audits = append(audits, e)
		}
	}
	if len(audits) != 3 {
		t.Fatalf("%d trail.schema.updated events, want 3", len(audits))
	}
	sum := sha256.Sum256(v1.Schema)
	if md := audits[0].Metadata; md["action"] != "invoice.paid" || md["version"] != 1.0 || md["schema_sha256"] != hex.EncodeToString(sum[:]) || audits[0].Actor.Type != trail.ActorAPIKey {
		t.Errorf("first audit event: %+v, actor %+v", md, audits[0].Actor)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSchemaRejects(t *testing.T) {
	s := newTestServer(t, nil)
	admin := s.token(auth.Admin, "acme")
	tests := []struct {
		name   string
		path   string
		body   any
		status int
		field  string
		substr string
	}{
		{"not JSON", "/v1/schemas/a", `{"type":`, 400, "", "one JSON document"},
		{"empty body", "/v1/schemas/a", "", 400, "", "body is required"},
		{"a number", "/v1/schemas/a", `3`, 400, "", "object or a boolean"},
		{"bad keyword", "/v1/schemas/a", `{"properties": {"n": {"minimum": "0"}}}`, 400, "properties.n.minimum", "type: must be number, not string"},
		{"remote ref", "/v1/schemas/a", `{"$ref": "https://example.com/s.json"}`, 400, "$ref", "outside this schema"},
		{"file ref", "/v1/schemas/a", `{"$ref": "file:///etc/passwd"}`, 400, "$ref", "outside this schema"},
		{"draft 7", "/v1/schemas/a", `{"$schema": "http://json-schema.org/draft-07/schema#"}`, 400, "$schema", "2020-12"},
		{"too large", "/v1/schemas/a", `{"description": "` + strings.Repeat("x", 70000) + `"}`, 413, "", "at most 65536 bytes"},
		{"trail action", "/v1/schemas/trail.key.created", `{}`, 400, "action", "trail's own events"},
		{"bad action", "/v1/schemas/a%20b", `{}`, 400, "action", "may hold only"},
		{"bad tenant", "/v1/schemas/a?tenant=Bad", `{}`, 400, "tenant", "must match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := admin
			if strings.Contains(tt.path, "tenant=") {
				tok = s.operator()
			}
			r := s.do(t, request{Method: "PUT", Path: tt.path, Token: tok, Body: tt.body})
			_, msg, field := r.errorBody(t)
			if r.Status != tt.status || field != tt.field || !strings.Contains(msg, tt.substr) {
				t.Fatalf("got %d %q %q, want %d on %q containing %q", r.Status, field, msg, tt.status, tt.field, tt.substr)
			}
		})
	}
	var list struct{ Schemas []schemaVersion }
	s.do(t, request{Method: "GET", Path: "/v1/schemas", Token: admin}).JSON(t, &list)
	if len(list.Schemas) != 0 {
		t.Fatalf("rejected PUTs stored %+v", list.Schemas)
	}
	for _, e := range s.events(t, "acme") {
		if e.Action == "trail.schema.updated" {
			t.Fatalf("a rejected PUT was recorded: %+v", e)
		}
	}
}

// TestSchemaActionWithSlash: an action holding a / is named with %2F.
func TestSchemaActionWithSlash(t *testing.T) {
	s := newTestServer(t, nil)
	admin := s.token(auth.Admin, "acme")
	r := s.do(t, request{Method: "PUT", Path: "/v1/schemas/billing%2Finvoice.paid", Token: admin, Body: `{"required": ["amount"]}`})
	var v schemaVersion
	r.JSON(t, &v)
	if r.Status != http.StatusCreated || v.Action != "billing/invoice.paid" {
		t.Fatalf("PUT: %d %s", r.Status, r.Body)
	}
	r = s.do(t, request{Method: "POST", Path: "/v1/events", Token: admin, Body: ev("", "billing/invoice.paid", "u")})
	if _, _, field := r.errorBody(t); r.Status != http.StatusBadRequest || field != "events[0].metadata.amount" {
		t.Fatalf("ingest: %d %s, want 400 on events[0].metadata.amount", r.Status, r.Body)
	}
	if r := s.do(t, request{Method: "GET", Path: "/v1/schemas/billing%2Finvoice.paid", Token: admin}); r.Status != http.StatusOK {
		t.Fatalf("GET: %d %s", r.Status, r.Body)
	}
}
