package api_test

import (
	"encoding/json"
	"fmt"
	"math"
	"mime"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/trail-audit/trail/api"
)

// The OpenAPI spec is checked in four ways: it is an OpenAPI 3.1 document
// whose every $ref resolves and whose schemas stay within the JSON Schema
// subset that schemaValidator implements; it lists exactly the routes of
// Server.Routes (and /metrics) with the permission each needs; and every
// response any test in this package receives through testServer.do is
// checked against the schema the spec declares for that route and status.

// openAPI is the parsed spec, shared by every test.
var openAPI = sync.OnceValues(func() (map[string]any, error) {
	var doc map[string]any
	if err := json.Unmarshal(api.OpenAPISpec, &doc); err != nil {
		return nil, err
	}
	return doc, nil
})

func specDoc(t testing.TB) map[string]any {
	t.Helper()
	doc, err := openAPI()
	if err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	return doc
}

func TestOpenAPIDocument(t *testing.T) {
	doc := specDoc(t)
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Errorf("openapi = %q, want 3.1.x", v)
	}
	info, _ := doc["info"].(map[string]any)
	if info["title"] == nil || info["version"] == nil {
		t.Errorf("info = %v, want a title and a version", info)
	}
	bearer := lookup(doc, "components", "securitySchemes", "bearerAuth")
	if want := map[string]any{"type": "http", "scheme": "bearer"}; bearer == nil || bearer.(map[string]any)["type"] != want["type"] || bearer.(map[string]any)["scheme"] != want["scheme"] {
		t.Errorf("components.securitySchemes.bearerAuth = %v, want type http, scheme bearer", bearer)
	}
	if got := fmt.Sprint(doc["security"]); got != "[map[bearerAuth:[]]]" {
		t.Errorf("security = %s, want bearerAuth by default", got)
	}
}

// specOperations returns "METHOD /path" → operation object.
func specOperations(t testing.TB) map[string]map[string]any {
	t.Helper()
	ops := map[string]map[string]any{}
	paths, _ := specDoc(t)["paths"].(map[string]any)
	for path, item := range paths {
		for method, op := range item.(map[string]any) {
			switch method {
			case "get", "put", "post", "delete", "patch", "head", "options", "trace":
				ops[strings.ToUpper(method)+" "+path] = op.(map[string]any)
			}
		}
	}
	return ops
}

func TestOpenAPIListsExactlyTheRoutes(t *testing.T) {
	s := newTestServer(t, nil)
	want := map[string]string{"GET /metrics": "public"}
	for _, rt := range s.API.Routes() {
		perm := string(rt.Permission)
		if perm == "" {
			perm = "public"
		}
		want[rt.Method+" "+rt.Path] = perm
	}
	ops := specOperations(t)
	for k := range want {
		if _, ok := ops[k]; !ok {
			t.Errorf("route %s is not in openapi.json", k)
		}
	}
	for k, op := range ops {
		perm, ok := want[k]
		if !ok {
			t.Errorf("openapi.json has %s, which is not a route", k)
			continue
		}
		if got := op["x-trail-permission"]; got != perm {
			t.Errorf("%s: x-trail-permission = %v, want %s", k, got, perm)
		}
		public := perm == "public"
		sec, declared := op["security"]
		if public && (!declared || len(sec.([]any)) != 0) {
			t.Errorf("%s: public route must have security: []", k)
		}
		if !public && declared {
			t.Errorf("%s: protected route must inherit bearerAuth, has security %v", k, sec)
		}
		if op["operationId"] == nil {
			t.Errorf("%s: no operationId", k)
		}
	}
}

// TestOpenAPIPathParameters checks that every {name} in a path is a
// required path parameter and that no other path parameter is declared.
func TestOpenAPIPathParameters(t *testing.T) {
	doc := specDoc(t)
	brace := regexp.MustCompile(`\{([^}]+)\}`)
	for k, op := range specOperations(t) {
		path := strings.SplitN(k, " ", 2)[1]
		var want []string
		for _, m := range brace.FindAllStringSubmatch(path, -1) {
			want = append(want, m[1])
		}
		var got []string
		for _, p := range params(t, doc, op) {
			if p["in"] == "path" {
				got = append(got, p["name"].(string))
				if p["required"] != true {
					t.Errorf("%s: path parameter %s is not required", k, p["name"])
				}
			}
		}
		sort.Strings(want)
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: path parameters %v, want %v", k, got, want)
		}
	}
}

// params returns the resolved parameters of op.
func params(t testing.TB, doc map[string]any, op map[string]any) []map[string]any {
	t.Helper()
	list, _ := op["parameters"].([]any)
	out := make([]map[string]any, 0, len(list))
	for _, p := range list {
		r, err := deref(doc, p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r.(map[string]any))
	}
	return out
}

// TestOpenAPIParameters checks the parameters DESIGN.md §6 names for each
// route are declared.
func TestOpenAPIParameters(t *testing.T) {
	filters := []string{"from", "to", "actor", "action", "outcome", "severity", "resource_type", "resource_id", "ip", "request_id", "q", "tenant"}
	tests := []struct {
		op   string
		want []string
	}{
		{"POST /v1/events", []string{"receipt", "tenant"}},
		{"GET /v1/events", append(slices.Clone(filters), "limit", "cursor", "order")},
		{"GET /v1/events/{id}", []string{"id", "proof", "tenant"}},
		{"GET /v1/export", append(slices.Clone(filters), "format", "order")},
		{"GET /v1/stream", append(slices.Clone(filters), "Last-Event-ID")},
		{"GET /v1/stats", append(slices.Clone(filters), "group_by", "interval")},
		{"GET /v1/log/checkpoint", []string{"tenant"}},
		{"GET /v1/log/proof/inclusion", []string{"seq", "size", "tenant"}},
		{"GET /v1/log/proof/consistency", []string{"from", "to", "tenant"}},
		{"GET /v1/keys", []string{"tenant"}},
		{"DELETE /v1/keys/{id}", []string{"id"}},
		{"POST /v1/keys/{id}/rotate", []string{"id"}},
	}
	doc := specDoc(t)
	ops := specOperations(t)
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			op, ok := ops[tt.op]
			if !ok {
				t.Fatalf("no operation %s", tt.op)
			}
			have := map[string]bool{}
			for _, p := range params(t, doc, op) {
				have[p["name"].(string)] = true
				if p["schema"] == nil {
					t.Errorf("parameter %s has no schema", p["name"])
				}
			}
			for _, name := range tt.want {
				if !have[name] {
					t.Errorf("parameter %s is not declared", name)
				}
			}
		})
	}
	// Request bodies.
	for _, k := range []string{"POST /v1/events", "POST /v1/keys", "POST /v1/keys/{id}/rotate", "POST /v1/tenants"} {
		if ops[k]["requestBody"] == nil {
			t.Errorf("%s: no requestBody", k)
		}
	}
	if lookup(ops["POST /v1/events"], "requestBody", "content", "application/x-ndjson") == nil {
		t.Errorf("POST /v1/events: NDJSON body not declared")
	}
}

// TestOpenAPIErrorResponses checks that every route declares the error
// statuses its handler can return.
func TestOpenAPIErrorResponses(t *testing.T) {
	auth := []string{"401", "403", "429"}
	read := append([]string{"200", "400", "404", "503"}, auth...)
	tests := map[string][]string{
		"POST /v1/events":               append([]string{"201", "400", "404", "413", "503"}, auth...),
		"GET /v1/events":                read,
		"GET /v1/events/{id}":           read,
		"GET /v1/export":                read,
		"GET /v1/stream":                append([]string{"200", "400"}, auth...),
		"GET /v1/stats":                 read,
		"GET /v1/log/checkpoint":        read,
		"GET /v1/log/proof/inclusion":   read,
		"GET /v1/log/proof/consistency": read,
		"POST /v1/keys":                 append([]string{"201", "400"}, auth...),
		"GET /v1/keys":                  append([]string{"200"}, auth...),
		"DELETE /v1/keys/{id}":          append([]string{"200", "404"}, auth...),
		"POST /v1/keys/{id}/rotate":     append([]string{"200", "400", "404", "409"}, auth...),
		"GET /v1/tenants":               append([]string{"200"}, auth...),
		"POST /v1/tenants":              append([]string{"201", "400", "409"}, auth...),
		"GET /readyz":                   {"200", "429", "503"},
	}
	ops := specOperations(t)
	for k, want := range tests {
		resps, _ := ops[k]["responses"].(map[string]any)
		for _, code := range want {
			if resps[code] == nil {
				t.Errorf("%s: response %s not declared", k, code)
			}
		}
	}
	for _, code := range []string{"429", "503"} {
		name := map[string]string{"429": "RateLimited", "503": "Unavailable"}[code]
		if lookup(specDoc(t), "components", "responses", name, "headers", "Retry-After") == nil {
			t.Errorf("%s response does not declare Retry-After", code)
		}
	}
}

func TestOpenAPIRefsResolve(t *testing.T) {
	doc := specDoc(t)
	n := 0
	walk(doc, "#", func(v any, at string) {
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		if ref, ok := m["$ref"].(string); ok {
			n++
			if _, err := resolveRef(doc, ref); err != nil {
				t.Errorf("%s: %v", at, err)
			}
		}
	})
	if n == 0 {
		t.Error("no $ref found; the walk is broken")
	}
}

// TestOpenAPISchemaSubset checks that every schema uses only keywords that
// schemaValidator understands, plus annotations, so that the response
// checks below mean what the spec says.
func TestOpenAPISchemaSubset(t *testing.T) {
	doc := specDoc(t)
	allowed := map[string]bool{
		"type": true, "properties": true, "required": true, "items": true, "enum": true,
		"additionalProperties": true, "$ref": true, "oneOf": true, "anyOf": true,
		"minimum": true, "maximum": true,
		// Annotations.
		"description": true, "format": true, "title": true, "examples": true, "default": true, "deprecated": true,
	}
	var check func(s any, at string)
	check = func(s any, at string) {
		m, ok := s.(map[string]any)
		if !ok {
			t.Errorf("%s: schema is %T, want an object", at, s)
			return
		}
		for k, v := range m {
			if !allowed[k] {
				t.Errorf("%s: keyword %q is outside the validated subset", at, k)
			}
			switch k {
			case "properties":
				for name, p := range v.(map[string]any) {
					check(p, at+"/properties/"+name)
				}
			case "items":
				check(v, at+"/items")
			case "additionalProperties":
				if _, isBool := v.(bool); !isBool {
					check(v, at+"/additionalProperties")
				}
			case "oneOf", "anyOf":
				for i, x := range v.([]any) {
					check(x, at+"/"+k+"/"+strconv.Itoa(i))
				}
			}
		}
	}
	for name, s := range lookup(doc, "components", "schemas").(map[string]any) {
		check(s, "#/components/schemas/"+name)
	}
	walk(doc, "#", func(v any, at string) {
		if m, ok := v.(map[string]any); ok && !strings.HasPrefix(at, "#/components/schemas") {
			if s, ok := m["schema"]; ok {
				check(s, at+"/schema")
			}
		}
	})
}

func TestOpenAPIServed(t *testing.T) {
	s := newTestServer(t, nil)
	r := s.do(t, request{Method: "GET", Path: "/openapi.json"})
	if r.Status != http.StatusOK {
		t.Fatalf("GET /openapi.json: got %d, want 200", r.Status)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if string(r.Body) != string(api.OpenAPISpec) {
		t.Error("GET /openapi.json does not serve the embedded spec")
	}
}

// TestOpenAPIRequestBodies checks the request schemas against bodies the
// server accepts and rejects.
func TestOpenAPIRequestBodies(t *testing.T) {
	doc := specDoc(t)
	ingest := lookup(specOperations(t)["POST /v1/events"], "requestBody", "content", "application/json", "schema")
	full := `{"id":"e1","time":"2026-11-22T10:04:05.123Z","tenant":"acme","action":"route.update","outcome":"success","severity":"high",
		"actor":{"id":"u_42","name":"Ada","type":"user","email":"ada@example.com"},"resource":{"type":"route","id":"r_9","name":"payments"},
		"source":{"ip":"203.0.113.7","user_agent":"x","origin":"dashboard"},"request":{"id":"req_1","method":"PUT","path":"/routes/9","status":200,"duration_ms":12},
		"changes":[{"field":"upstream","old":"a:80","new":"b:80"}],"reason":"r","metadata":{"plan":"pro"}}`
	tests := []struct {
		name, body string
		ok         bool
	}{
		{"full event", full, true},
		{"minimal event", `{"action":"a","actor":{"id":"u"}}`, true},
		{"batch", `{"events":[` + full + `,{"action":"a","actor":{"id":"u"}}]}`, true},
		{"no action", `{"actor":{"id":"u"}}`, false},
		{"no actor id", `{"action":"a","actor":{}}`, false},
		{"unknown field", `{"action":"a","actor":{"id":"u"},"colour":"red"}`, false},
		{"server field seq", `{"action":"a","actor":{"id":"u"},"seq":3}`, false},
		{"wrong type", `{"action":"a","actor":{"id":"u"},"request":{"status":"200"}}`, false},
		{"bad outcome", `{"action":"a","actor":{"id":"u"},"outcome":"maybe"}`, false},
		{"batch with extra field", `{"events":[],"more":1}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v any
			if err := json.Unmarshal([]byte(tt.body), &v); err != nil {
				t.Fatal(err)
			}
			err := validateSchema(doc, ingest, v, "body")
			if (err == nil) != tt.ok {
				t.Errorf("validate: got %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// TestSchemaValidator checks the validator itself, so that the response
// checks cannot pass vacuously.
func TestSchemaValidator(t *testing.T) {
	doc := specDoc(t)
	receipt := map[string]any{"$ref": "#/components/schemas/Receipt"}
	tests := []struct {
		name   string
		schema any
		value  string
		ok     bool
	}{
		{"receipt", receipt, `{"id":"x","seq":0,"tenant":"a","leaf_hash":"AAAA"}`, true},
		{"missing required", receipt, `{"id":"x","seq":0,"tenant":"a"}`, false},
		{"extra property", receipt, `{"id":"x","seq":0,"tenant":"a","leaf_hash":"AAAA","extra":1}`, false},
		{"wrong type", receipt, `{"id":"x","seq":"0","tenant":"a","leaf_hash":"AAAA"}`, false},
		{"not an integer", receipt, `{"id":"x","seq":0.5,"tenant":"a","leaf_hash":"AAAA"}`, false},
		{"below minimum", receipt, `{"id":"x","seq":-1,"tenant":"a","leaf_hash":"AAAA"}`, false},
		{"null array", map[string]any{"$ref": "#/components/schemas/Page"}, `{"events":null}`, false},
		{"item", map[string]any{"$ref": "#/components/schemas/Page"}, `{"events":[{"seq":1}]}`, false},
		{"enum", map[string]any{"$ref": "#/components/schemas/Error"}, `{"error":{"code":"nope","message":"m"}}`, false},
		{"nullable", map[string]any{"type": []any{"string", "null"}}, `null`, true},
		{"oneOf none", map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}, `true`, false},
		{"oneOf both", map[string]any{"oneOf": []any{map[string]any{"type": "number"}, map[string]any{"type": "integer"}}}, `1`, false},
		{"anyOf both", map[string]any{"anyOf": []any{map[string]any{"type": "number"}, map[string]any{"type": "integer"}}}, `1`, true},
		{"additionalProperties schema", map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "integer"}}, `{"a":1,"b":"2"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v any
			if err := json.Unmarshal([]byte(tt.value), &v); err != nil {
				t.Fatal(err)
			}
			err := validateSchema(doc, tt.schema, v, "value")
			if (err == nil) != tt.ok {
				t.Errorf("validate %s: got %v, want ok=%v", tt.value, err, tt.ok)
			}
		})
	}
	// An undeclared status is an error.
	if err := responseError("GET", "/healthz", &response{Status: 418, Header: http.Header{}}); err == nil {
		t.Error("status 418 of /healthz: got no error")
	}
	if err := responseError("GET", "/nowhere", &response{Status: 404, Header: http.Header{}}); err == nil {
		t.Error("unknown path: got no error")
	}
}

// TestOpenAPIResponseShapes sends a request of every route, for success and
// for the errors a test can provoke, and checks each response against the
// spec (testServer.do does the check). Other tests in this package check
// every response they receive the same way.
func TestOpenAPIResponseShapes(t *testing.T) {
	s := newTestServer(t, nil)
	op := s.operator()
	adminA := s.token("admin", "a")
	viewerA := s.token("viewer", "a")
	writerA := s.token("writer", "a")
	res := s.ingest(t, op, map[string]any{"id": "first", "tenant": "a", "action": "user.login", "actor": map[string]any{"id": "u1", "name": "Ada"},
		"resource": map[string]any{"type": "route", "id": "r1"}, "source": map[string]any{"ip": "10.0.0.1"}, "request": map[string]any{"id": "q1", "status": 200, "duration_ms": 1.5},
		"changes": []any{map[string]any{"field": "f", "old": 1, "new": map[string]any{"x": true}}}, "metadata": map[string]any{"plan": "pro"}},
		ev("a", "user.logout", "u2"), ev("b", "x", "u3"))
	_ = res
	keyID, _ := s.createKey("viewer", "a", nil)
	revokedID, _ := s.createKey("viewer", "a", nil)
	if _, err := s.Keys.Revoke(t.Context(), revokedID); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		req  request
		want int
	}{
		{"ingest one", request{Method: "POST", Path: "/v1/events", Token: writerA, Body: ev("", "a.b", "u")}, 201},
		{"ingest with proof", request{Method: "POST", Path: "/v1/events?receipt=proof", Token: writerA, Body: map[string]any{"events": []any{ev("", "a.b", "u"), ev("", "a.c", "u")}}}, 201},
		{"ingest duplicate", request{Method: "POST", Path: "/v1/events", Token: op, Body: map[string]any{"id": "first", "tenant": "a", "action": "user.login", "actor": map[string]any{"id": "u1"}}}, 201},
		{"ingest invalid", request{Method: "POST", Path: "/v1/events", Token: writerA, Body: `{"action":"a"}`}, 400},
		{"ingest forbidden", request{Method: "POST", Path: "/v1/events", Token: viewerA, Body: ev("", "a", "u")}, 403},
		{"ingest unauthenticated", request{Method: "POST", Path: "/v1/events", Body: ev("", "a", "u")}, 401},
		{"query", request{Method: "GET", Path: "/v1/events?tenant=a", Token: op}, 200},
		{"query empty", request{Method: "GET", Path: "/v1/events?action=none", Token: viewerA}, 200},
		{"query paged", request{Method: "GET", Path: "/v1/events?limit=1", Token: viewerA}, 200},
		{"query bad limit", request{Method: "GET", Path: "/v1/events?limit=0", Token: viewerA}, 400},
		{"query unknown tenant", request{Method: "GET", Path: "/v1/events?tenant=nosuch", Token: op}, 404},
		{"get", request{Method: "GET", Path: "/v1/events/first", Token: viewerA}, 200},
		{"get with proof", request{Method: "GET", Path: "/v1/events/first?proof=1", Token: viewerA}, 200},
		{"get missing", request{Method: "GET", Path: "/v1/events/nosuch", Token: viewerA}, 404},
		{"stats counts", request{Method: "GET", Path: "/v1/stats?group_by=action", Token: viewerA}, 200},
		{"stats buckets", request{Method: "GET", Path: "/v1/stats?interval=1h&group_by=outcome", Token: viewerA}, 200},
		{"stats nothing", request{Method: "GET", Path: "/v1/stats?group_by=action&action=none", Token: viewerA}, 200},
		{"stats invalid", request{Method: "GET", Path: "/v1/stats", Token: viewerA}, 400},
		{"checkpoint", request{Method: "GET", Path: "/v1/log/checkpoint", Token: viewerA}, 200},
		{"checkpoint unknown tenant", request{Method: "GET", Path: "/v1/log/checkpoint?tenant=nosuch", Token: op}, 404},
		{"inclusion", request{Method: "GET", Path: "/v1/log/proof/inclusion?seq=0", Token: viewerA}, 200},
		{"inclusion single leaf", request{Method: "GET", Path: "/v1/log/proof/inclusion?seq=0&size=1", Token: viewerA}, 200},
		{"inclusion out of range", request{Method: "GET", Path: "/v1/log/proof/inclusion?seq=1000", Token: viewerA}, 400},
		{"consistency", request{Method: "GET", Path: "/v1/log/proof/consistency?from=1", Token: viewerA}, 200},
		{"consistency equal", request{Method: "GET", Path: "/v1/log/proof/consistency?from=1&to=1", Token: viewerA}, 200},
		{"consistency missing from", request{Method: "GET", Path: "/v1/log/proof/consistency", Token: viewerA}, 400},
		{"key", request{Method: "GET", Path: "/v1/log/key"}, 200},
		{"create key", request{Method: "POST", Path: "/v1/keys", Token: adminA, Body: map[string]any{"name": "ci", "role": "writer"}}, 201},
		{"create key expiring", request{Method: "POST", Path: "/v1/keys", Token: op, Body: map[string]any{"name": "ci", "role": "viewer", "tenant": "*", "expires_at": "2999-01-01T00:00:00Z"}}, 201},
		{"create key invalid", request{Method: "POST", Path: "/v1/keys", Token: adminA, Body: map[string]any{"name": "ci", "role": "boss"}}, 400},
		{"list keys", request{Method: "GET", Path: "/v1/keys", Token: adminA}, 200},
		{"list all keys", request{Method: "GET", Path: "/v1/keys", Token: op}, 200},
		{"rotate key", request{Method: "POST", Path: "/v1/keys/" + keyID + "/rotate", Token: adminA, Body: map[string]any{"grace": "1h"}}, 200},
		{"rotate key no body", request{Method: "POST", Path: "/v1/keys/" + keyID + "/rotate", Token: adminA}, 200},
		{"rotate revoked key", request{Method: "POST", Path: "/v1/keys/" + revokedID + "/rotate", Token: adminA}, 409},
		{"rotate bad grace", request{Method: "POST", Path: "/v1/keys/" + keyID + "/rotate", Token: adminA, Body: map[string]any{"grace": "soon"}}, 400},
		{"revoke key", request{Method: "DELETE", Path: "/v1/keys/" + keyID, Token: adminA}, 200},
		{"revoke missing key", request{Method: "DELETE", Path: "/v1/keys/0000000000000000", Token: adminA}, 404},
		{"list tenants", request{Method: "GET", Path: "/v1/tenants", Token: op}, 200},
		{"create tenant", request{Method: "POST", Path: "/v1/tenants", Token: op, Body: map[string]any{"name": "fresh"}}, 201},
		{"create tenant again", request{Method: "POST", Path: "/v1/tenants", Token: op, Body: map[string]any{"name": "fresh"}}, 409},
		{"create tenant invalid", request{Method: "POST", Path: "/v1/tenants", Token: op, Body: map[string]any{"name": "Bad Name"}}, 400},
		{"healthz", request{Method: "GET", Path: "/healthz"}, 200},
		{"readyz", request{Method: "GET", Path: "/readyz"}, 200},
		{"metrics", request{Method: "GET", Path: "/metrics"}, 200},
		{"openapi", request{Method: "GET", Path: "/openapi.json"}, 200},
		{"export ndjson", request{Method: "GET", Path: "/v1/export", Token: adminA}, 200},
		{"export csv", request{Method: "GET", Path: "/v1/export?format=csv", Token: adminA}, 200},
		{"export bundle", request{Method: "GET", Path: "/v1/export?format=bundle", Token: adminA}, 200},
		{"export bad format", request{Method: "GET", Path: "/v1/export?format=xml", Token: adminA}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, tt.req)
			if r.Status != tt.want {
				t.Errorf("%s %s: got %d %s, want %d", tt.req.Method, tt.req.Path, r.Status, r.Body, tt.want)
			}
		})
	}
}

// checkResponse reports, as a test error, a response that does not match
// the spec.
func checkResponse(t testing.TB, method, path string, r *response) {
	t.Helper()
	if err := responseError(method, path, r); err != nil {
		t.Errorf("%s %s → %d does not match openapi.json: %v\nbody: %.500s", method, path, r.Status, err, r.Body)
	}
}

// specPath matches a request path to a path template of the spec.
var specPaths = sync.OnceValue(func() map[string]*regexp.Regexp {
	doc, err := openAPI()
	if err != nil {
		return nil
	}
	out := map[string]*regexp.Regexp{}
	for p := range doc["paths"].(map[string]any) {
		re := regexp.QuoteMeta(p)
		re = regexp.MustCompile(`\\\{[^}]+\\\}`).ReplaceAllString(re, `[^/]+`)
		out[p] = regexp.MustCompile("^" + re + "$")
	}
	return out
})

// responseError checks r, the response to method path, against the spec.
func responseError(method, path string, r *response) error {
	doc, err := openAPI()
	if err != nil {
		return err
	}
	path, _, _ = strings.Cut(path, "?")
	var tmpl string
	for p, re := range specPaths() {
		if re.MatchString(path) && (tmpl == "" || !strings.Contains(p, "{")) {
			tmpl = p
		}
	}
	if tmpl == "" {
		return fmt.Errorf("no path of the spec matches %s", path)
	}
	op, _ := lookup(doc, "paths", tmpl, strings.ToLower(method)).(map[string]any)
	if op == nil {
		return fmt.Errorf("%s %s is not in the spec", method, tmpl)
	}
	resp := lookup(op, "responses", strconv.Itoa(r.Status))
	if resp == nil {
		resp = lookup(op, "responses", "default")
	}
	if resp == nil {
		return fmt.Errorf("status %d is not declared for %s %s", r.Status, method, tmpl)
	}
	resolved, err := deref(doc, resp)
	if err != nil {
		return err
	}
	ro := resolved.(map[string]any)
	for h := range asMap(ro["headers"]) {
		if r.Header.Get(h) == "" {
			return fmt.Errorf("header %s is declared but missing", h)
		}
	}
	content := asMap(ro["content"])
	if len(content) == 0 {
		return nil
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return fmt.Errorf("Content-Type %q: %v", r.Header.Get("Content-Type"), err)
	}
	media, ok := content[mt]
	if !ok {
		return fmt.Errorf("Content-Type %s is not declared (declared: %v)", mt, keys(content))
	}
	if mt != "application/json" {
		return nil
	}
	var v any
	if err := json.Unmarshal(r.Body, &v); err != nil {
		return fmt.Errorf("body is not JSON: %v", err)
	}
	return validateSchema(doc, lookup(media, "schema"), v, "body")
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// lookup follows keys into nested objects; nil when one is missing.
func lookup(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// walk calls f on every value of v, depth first, with its JSON pointer.
func walk(v any, at string, f func(v any, at string)) {
	f(v, at)
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			walk(c, at+"/"+strings.NewReplacer("~", "~0", "/", "~1").Replace(k), f)
		}
	case []any:
		for i, c := range x {
			walk(c, at+"/"+strconv.Itoa(i), f)
		}
	}
}

// resolveRef resolves a local JSON pointer reference.
func resolveRef(doc map[string]any, ref string) (any, error) {
	ptr, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("$ref %q is not local", ref)
	}
	var v any = doc
	for _, tok := range strings.Split(ptr, "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("$ref %q: %q is not inside an object", ref, tok)
		}
		if v, ok = m[tok]; !ok {
			return nil, fmt.Errorf("$ref %q does not resolve", ref)
		}
	}
	return v, nil
}

// deref resolves v if it is a reference object, following chains.
func deref(doc map[string]any, v any) (any, error) {
	for range 16 {
		m, ok := v.(map[string]any)
		if !ok {
			return v, nil
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return v, nil
		}
		var err error
		if v, err = resolveRef(doc, ref); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("$ref chain too long")
}

// validateSchema checks v against schema, a JSON Schema using the subset
// type, properties, required, items, enum, additionalProperties, $ref,
// oneOf, anyOf, minimum and maximum (others are annotations).
func validateSchema(doc map[string]any, schema any, v any, at string) error {
	if b, ok := schema.(bool); ok {
		if !b {
			return fmt.Errorf("%s: no value is allowed", at)
		}
		return nil
	}
	s, ok := schema.(map[string]any)
	if !ok {
		return fmt.Errorf("%s: schema is %T", at, schema)
	}
	if ref, ok := s["$ref"].(string); ok {
		target, err := resolveRef(doc, ref)
		if err != nil {
			return err
		}
		if err := validateSchema(doc, target, v, at); err != nil {
			return err
		}
	}
	if t, ok := s["type"]; ok {
		var types []string
		switch x := t.(type) {
		case string:
			types = []string{x}
		case []any:
			for _, y := range x {
				types = append(types, y.(string))
			}
		}
		if !slices.ContainsFunc(types, func(tn string) bool { return hasType(v, tn) }) {
			return fmt.Errorf("%s: %s is not of type %v", at, short(v), types)
		}
	}
	if e, ok := s["enum"].([]any); ok {
		if !slices.ContainsFunc(e, func(x any) bool { return reflect.DeepEqual(x, v) }) {
			return fmt.Errorf("%s: %s is not one of %v", at, short(v), e)
		}
	}
	if n, ok := v.(float64); ok {
		if min, ok := s["minimum"].(float64); ok && n < min {
			return fmt.Errorf("%s: %v is less than %v", at, n, min)
		}
		if max, ok := s["maximum"].(float64); ok && n > max {
			return fmt.Errorf("%s: %v is more than %v", at, n, max)
		}
	}
	if obj, ok := v.(map[string]any); ok {
		props := asMap(s["properties"])
		for _, r := range asSlice(s["required"]) {
			if _, ok := obj[r.(string)]; !ok {
				return fmt.Errorf("%s: required property %q is missing", at, r)
			}
		}
		for _, k := range keys(obj) {
			if ps, ok := props[k]; ok {
				if err := validateSchema(doc, ps, obj[k], at+"."+k); err != nil {
					return err
				}
				continue
			}
			if ap, ok := s["additionalProperties"]; ok {
				if b, isBool := ap.(bool); isBool && !b {
					return fmt.Errorf("%s: property %q is not allowed", at, k)
				}
				if err := validateSchema(doc, ap, obj[k], at+"."+k); err != nil {
					return err
				}
			}
		}
	}
	if arr, ok := v.([]any); ok {
		if items, ok := s["items"]; ok {
			for i, x := range arr {
				if err := validateSchema(doc, items, x, at+"["+strconv.Itoa(i)+"]"); err != nil {
					return err
				}
			}
		}
	}
	if alts := asSlice(s["oneOf"]); alts != nil {
		var errs []string
		n := 0
		for _, alt := range alts {
			if err := validateSchema(doc, alt, v, at); err != nil {
				errs = append(errs, err.Error())
			} else {
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("%s: matches %d of oneOf, want exactly 1 (%s)", at, n, strings.Join(errs, "; "))
		}
	}
	if alts := asSlice(s["anyOf"]); alts != nil {
		var errs []string
		for _, alt := range alts {
			err := validateSchema(doc, alt, v, at)
			if err == nil {
				errs = nil
				break
			}
			errs = append(errs, err.Error())
		}
		if errs != nil {
			return fmt.Errorf("%s: matches none of anyOf (%s)", at, strings.Join(errs, "; "))
		}
	}
	return nil
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func hasType(v any, t string) bool {
	switch t {
	case "null":
		return v == nil
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "number":
		_, ok := v.(float64)
		return ok
	case "integer":
		n, ok := v.(float64)
		return ok && n == math.Trunc(n) && !math.IsInf(n, 0)
	case "array":
		_, ok := v.([]any)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	}
	return false
}

func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 80 {
		return string(b[:80]) + "…"
	}
	return string(b)
}
