package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trail-audit/trail/auth"
)

// The authorisation matrix of DESIGN.md §7, endpoint by endpoint:
// operator: everything on every tenant; admin: one tenant, everything
// including its keys, but not tenants; auditor: read, export, verify;
// viewer: read, stream, stats, proofs; writer: ingest only, cannot read.
// A key scoped to tenant a acting on tenant b (?tenant=b, or the event's
// tenant on ingest) is refused with 403; a key of another tenant is not
// even revealed (404).

// Statuses in the table.
const (
	ok        = http.StatusOK
	created   = http.StatusCreated
	forbidden = http.StatusForbidden
	hidden    = http.StatusNotFound // another tenant's key is not revealed
)

// principals of the matrix, in the order of the table's columns.
var matrixPrincipals = []struct {
	name   string
	role   auth.Role
	tenant string
}{
	{"operator", auth.Operator, auth.AllTenants},
	{"admin of a", auth.Admin, "a"},
	{"auditor of a", auth.Auditor, "a"},
	{"viewer of a", auth.Viewer, "a"},
	{"writer of a", auth.Writer, "a"},
	{"viewer of all", auth.Viewer, auth.AllTenants},
	{"writer of all", auth.Writer, auth.AllTenants},
}

// rw is the expected status acting on tenant a and on tenant b.
type rw [2]int

var (
	readRow   = [7]rw{{ok, ok}, {ok, forbidden}, {ok, forbidden}, {ok, forbidden}, {forbidden, forbidden}, {ok, ok}, {forbidden, forbidden}}
	publicRow = [7]rw{{ok, ok}, {ok, ok}, {ok, ok}, {ok, ok}, {ok, ok}, {ok, ok}, {ok, ok}}
	verifyRow = [7]rw{{ok, ok}, {ok, forbidden}, {ok, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}}
	noneRow   = [7]rw{{0, 0}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}}
)

// authzTable is the expected status of every route for every principal
// (columns as in matrixPrincipals) acting on tenant a and on tenant b.
var authzTable = []struct {
	route string
	want  [7]rw
}{
	{"POST /v1/events", [7]rw{{created, created}, {created, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {created, forbidden}, {forbidden, forbidden}, {created, created}}},
	{"POST /v1/ingest/kubernetes", [7]rw{{created, created}, {created, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {created, forbidden}, {forbidden, forbidden}, {created, created}}},
	{"GET /v1/events", readRow},
	{"GET /v1/events/{id}", readRow},
	{"GET /v1/export", [7]rw{{ok, ok}, {ok, forbidden}, {ok, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}}},
	{"GET /v1/stream", readRow},
	{"GET /v1/stats", readRow},
	{"GET /v1/log/checkpoint", readRow},
	{"GET /v1/log/proof/inclusion", readRow},
	{"GET /v1/log/proof/consistency", readRow},
	{"GET /v1/log/key", publicRow},
	{"POST /v1/keys", [7]rw{{created, created}, {created, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}}},
	{"GET /v1/keys", [7]rw{{ok, ok}, {ok, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}}},
	{"DELETE /v1/keys/{id}", [7]rw{{ok, ok}, {ok, hidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}}},
	{"POST /v1/keys/{id}/rotate", [7]rw{{ok, ok}, {ok, hidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}}},
	{"POST /v1/viewer-tokens", [7]rw{{created, created}, {created, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}}},
	{"POST /v1/erasures", [7]rw{{ok, ok}, {ok, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}}},
	{"GET /v1/sinks", [7]rw{{ok, ok}, {ok, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}}},
	{"POST /v1/sinks", [7]rw{{created, created}, {created, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}}},
	{"GET /v1/sinks/{id}", [7]rw{{ok, ok}, {ok, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}}},
	{"PUT /v1/sinks/{id}", [7]rw{{ok, ok}, {ok, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}}},
	{"DELETE /v1/sinks/{id}", [7]rw{{ok, ok}, {ok, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}}},
	{"POST /v1/sinks/{id}/pause", [7]rw{{ok, ok}, {ok, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}}},
	{"POST /v1/sinks/{id}/resume", [7]rw{{ok, ok}, {ok, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}}},
	{"POST /v1/sinks/{id}/replay", [7]rw{{ok, ok}, {ok, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}}},
	{"GET /v1/alert-rules", readRow},
	{"POST /v1/alert-rules", [7]rw{{created, created}, {created, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}}},
	{"GET /v1/alert-rules/{id}", readRow},
	{"PUT /v1/alert-rules/{id}", [7]rw{{ok, ok}, {ok, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}}},
	{"DELETE /v1/alert-rules/{id}", [7]rw{{ok, ok}, {ok, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}}},
	{"GET /v1/alerts", readRow},
	{"POST /v1/alerts/{id}/acknowledge", verifyRow},
	{"POST /v1/alerts/{id}/resolve", verifyRow},
	{"GET /v1/settings", readRow},
	{"PUT /v1/settings", [7]rw{{ok, ok}, {ok, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}}},
	{"GET /v1/schemas", readRow},
	{"GET /v1/schemas/{action}", readRow},
	{"PUT /v1/schemas/{action}", [7]rw{{created, created}, {created, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}, {forbidden, forbidden}}},
	{"GET /v1/tenants", withOperator(noneRow, rw{ok, ok})},
	{"POST /v1/tenants", withOperator(noneRow, rw{created, created})},
	// Sessions: a bearer token signs in (POST, 201); GET and DELETE need
	// the session cookie, so a bearer token alone is 401 (the cookie runs
	// are in session_test.go).
	{"POST /v1/session", [7]rw{{created, created}, {created, created}, {created, created}, {created, created}, {created, created}, {created, created}, {created, created}}},
	{"GET /v1/session", [7]rw{{401, 401}, {401, 401}, {401, 401}, {401, 401}, {401, 401}, {401, 401}, {401, 401}}},
	{"DELETE /v1/session", [7]rw{{401, 401}, {401, 401}, {401, 401}, {401, 401}, {401, 401}, {401, 401}, {401, 401}}},
	{"GET /v1/session/config", publicRow},
	{"GET /healthz", publicRow},
	{"GET /readyz", publicRow},
	{"GET /openapi.json", publicRow},
	{"GET /metrics", publicRow},
}

func withOperator(row [7]rw, op rw) [7]rw {
	row[0] = op
	return row
}

// authzRequest builds the request of a route acting on tenant target.
func authzRequest(t *testing.T, s *testServer, route, target string) request {
	t.Helper()
	method, path, _ := strings.Cut(route, " ")
	req := request{Method: method, Path: path}
	q := "?tenant=" + target
	switch route {
	case "POST /v1/events":
		req.Body = ev(target, "doc.edit", "u1")
	case "POST /v1/ingest/kubernetes":
		req.Path += q
		req.Body = kubeBody(kubeItem("authz-"+target, "get"))
		req.Header = map[string]string{"Content-Type": "application/json"}
	case "GET /v1/events", "GET /v1/export", "GET /v1/stream", "GET /v1/log/checkpoint", "GET /v1/keys", "GET /v1/settings", "GET /v1/schemas":
		req.Path += q
	case "POST /v1/erasures":
		req.Path += q
		req.Body = map[string]any{"ids": []string{"more-" + target}, "reason": "authorisation test"}
	case "GET /v1/sinks":
		req.Path += q
	case "POST /v1/sinks":
		req.Path += q
		req.Body = map[string]any{"name": "made by test", "type": "file", "path": "authz-" + target + ".ndjson"}
	case "GET /v1/sinks/{id}", "PUT /v1/sinks/{id}", "DELETE /v1/sinks/{id}", "POST /v1/sinks/{id}/pause", "POST /v1/sinks/{id}/resume", "POST /v1/sinks/{id}/replay":
		id := s.fileSink(t, target)
		req.Path = strings.Replace(route[strings.IndexByte(route, ' ')+1:], "{id}", id, 1) + q
		if strings.HasSuffix(route, "/replay") {
			req.Body = map[string]any{"seq": 0}
		}
		if route == "PUT /v1/sinks/{id}" {
			req.Body = map[string]any{"name": "renamed", "type": "file", "path": "renamed-" + id + ".ndjson"}
		}
	case "GET /v1/alert-rules", "GET /v1/alerts":
		req.Path += q
	case "POST /v1/alert-rules":
		req.Path += q
		req.Body = map[string]any{"name": "made by test", "kind": "threshold", "filter": "outcome:failure", "window": "5m", "threshold": 3}
	case "GET /v1/alert-rules/{id}", "PUT /v1/alert-rules/{id}", "DELETE /v1/alert-rules/{id}":
		id := s.alertRule(t, target)
		req.Path = "/v1/alert-rules/" + id + q
		if route == "PUT /v1/alert-rules/{id}" {
			req.Body = map[string]any{"name": "replaced", "kind": "threshold", "filter": "outcome:denied", "window": "1m", "threshold": 2}
		}
	case "POST /v1/alerts/{id}/acknowledge", "POST /v1/alerts/{id}/resolve":
		id := s.firedAlert(t, target)
		req.Path = strings.Replace(route[len("POST "):], "{id}", id, 1) + q
	case "PUT /v1/settings":
		req.Path += q
		req.Body = map[string]any{"retention_days": 90}
	case "GET /v1/schemas/{action}":
		// The operator puts the schema first, so that a permitted read finds it.
		seed := request{Method: "PUT", Path: "/v1/schemas/authz.seed" + q, Token: s.operator(), Body: map[string]any{"type": "object"}}
		if r := s.do(t, seed); r.Status != ok && r.Status != created {
			t.Fatalf("seed schema: %d %s", r.Status, r.Body)
		}
		req.Path = "/v1/schemas/authz.seed" + q
	case "PUT /v1/schemas/{action}":
		// A new action each time: its first version, 201.
		req.Path = fmt.Sprintf("/v1/schemas/authz.put%d", tenantSeq.Add(1)) + q
		req.Body = map[string]any{"type": "object"}
	case "GET /v1/events/{id}":
		req.Path = "/v1/events/seed-" + target + q
	case "GET /v1/stats":
		req.Path += q + "&group_by=action"
	case "GET /v1/log/proof/inclusion":
		req.Path += q + "&seq=0"
	case "GET /v1/log/proof/consistency":
		req.Path += q + "&from=1"
	case "POST /v1/keys":
		req.Body = map[string]any{"name": "made by test", "role": "viewer", "tenant": target}
	case "POST /v1/viewer-tokens":
		req.Body = map[string]any{"tenant": target, "filter": "actor:u0"}
	case "DELETE /v1/keys/{id}":
		id, _ := s.createKey(auth.Viewer, target, nil)
		req.Path = "/v1/keys/" + id
	case "POST /v1/keys/{id}/rotate":
		id, _ := s.createKey(auth.Viewer, target, nil)
		req.Path = "/v1/keys/" + id + "/rotate"
		req.Body = map[string]any{"grace": "1m"}
	case "POST /v1/tenants":
		req.Body = map[string]any{"name": fmt.Sprintf("t%d", tenantSeq.Add(1))}
	}
	return req
}

var tenantSeq atomic.Int64

// status sends req and returns the status, after checking the response
// against the spec. A live stream is closed as soon as its headers arrive.
func (s *testServer) status(t *testing.T, req request) int {
	t.Helper()
	if !strings.HasPrefix(req.Path, "/v1/stream") {
		return s.do(t, req).Status
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := s.Client.Do(s.newRequest(t, ctx, req))
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.Path, err)
	}
	defer resp.Body.Close()
	r := &response{Status: resp.StatusCode, Header: resp.Header}
	if resp.StatusCode != http.StatusOK {
		r.Body, _ = io.ReadAll(resp.Body)
	}
	checkResponse(t, req.Method, req.Path, r)
	return r.Status
}

// newAuthzServer is a server with events in tenants a and b: seed-a and
// seed-b, and one more in each so that consistency proofs from 1 exist.
func newAuthzServer(t *testing.T) *testServer {
	s := newTestServer(t, nil)
	e := func(id, tenant string) map[string]any {
		x := ev(tenant, "seed", "u0")
		x["id"] = id
		return x
	}
	s.ingest(t, s.operator(), e("seed-a", "a"), e("seed-b", "b"), e("more-a", "a"), e("more-b", "b"))
	return s
}

func TestAuthzMatrix(t *testing.T) {
	s := newAuthzServer(t)
	routes := map[string]bool{"GET /metrics": true}
	for _, rt := range s.API.Routes() {
		routes[rt.Method+" "+rt.Path] = true
	}
	for _, row := range authzTable {
		if !routes[row.route] {
			t.Errorf("table row %s is not a route", row.route)
		}
		delete(routes, row.route)
	}
	for r := range routes {
		t.Errorf("route %s has no row in the authorisation table", r)
	}

	for _, row := range authzTable {
		for i, p := range matrixPrincipals {
			for j, target := range []string{"a", "b"} {
				want := row.want[i][j]
				t.Run(fmt.Sprintf("%s/%s/tenant %s", row.route, p.name, target), func(t *testing.T) {
					req := authzRequest(t, s, row.route, target)
					req.Token = s.token(p.role, p.tenant) // on a public route, a token changes nothing
					got := s.status(t, req)
					if got != want {
						t.Errorf("%s %s as %s: got %d, want %d", req.Method, req.Path, p.name, got, want)
					}
				})
			}
		}
	}
}

func isPublic(route string) bool {
	switch route {
	case "GET /v1/log/key", "GET /v1/session/config", "GET /healthz", "GET /readyz", "GET /openapi.json", "GET /metrics":
		return true
	}
	return false
}

// TestAuthzUnauthenticated: without a usable token every protected route
// is 401 and every public route is served.
func TestAuthzUnauthenticated(t *testing.T) {
	s := newAuthzServer(t)
	now := s.Clock.Now()
	expiresAt := now.Add(time.Hour)
	_, expired := s.createKey(auth.Operator, auth.AllTenants, &expiresAt)
	revokedID, revoked := s.createKey(auth.Operator, auth.AllTenants, nil)
	if _, err := s.Keys.Revoke(context.Background(), revokedID); err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(2 * time.Hour)

	tokens := []struct{ name, header string }{
		{"no token", ""},
		{"bad token", "Bearer trl_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{"not bearer", "Basic dXNlcjpwYXNz"},
		{"empty bearer", "Bearer "},
		{"revoked key", "Bearer " + revoked},
		{"expired key", "Bearer " + expired},
	}
	for _, row := range authzTable {
		for _, tok := range tokens {
			t.Run(row.route+"/"+tok.name, func(t *testing.T) {
				req := authzRequest(t, s, row.route, "a")
				if tok.header != "" {
					req.Header = map[string]string{"Authorization": tok.header}
				}
				want := http.StatusUnauthorized
				if isPublic(row.route) {
					want = http.StatusOK
				}
				if !strings.HasPrefix(row.route, "GET /v1/stream") {
					r := s.do(t, req)
					if r.Status != want {
						t.Fatalf("got %d %s, want %d", r.Status, r.Body, want)
					}
					if want == http.StatusUnauthorized {
						if code, _, _ := r.errorBody(t); code != "unauthenticated" {
							t.Errorf("error code %q, want unauthenticated", code)
						}
					}
					return
				}
				if got := s.status(t, req); got != want {
					t.Errorf("got %d, want %d", got, want)
				}
			})
		}
	}
}

// TestAuthzErrorBodies: a refusal names its reason with code forbidden.
func TestAuthzErrorBodies(t *testing.T) {
	s := newAuthzServer(t)
	tests := []struct {
		name string
		req  request
	}{
		{"writer reads", request{Method: "GET", Path: "/v1/events", Token: s.token(auth.Writer, "a")}},
		{"viewer of a reads b", request{Method: "GET", Path: "/v1/events?tenant=b", Token: s.token(auth.Viewer, "a")}},
		{"writer of a writes to b", request{Method: "POST", Path: "/v1/events", Token: s.token(auth.Writer, "a"), Body: ev("b", "x", "u")}},
		{"admin lists tenants", request{Method: "GET", Path: "/v1/tenants", Token: s.token(auth.Admin, "a")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, tt.req)
			if r.Status != http.StatusForbidden {
				t.Fatalf("got %d, want 403", r.Status)
			}
			if code, msg, _ := r.errorBody(t); code != "forbidden" || msg == "" {
				t.Errorf("error = %q %q, want code forbidden and a message", code, msg)
			}
		})
	}
}

// TestAuthzNoCrossTenantRead: whatever a scoped key asks for, it gets
// nothing of another tenant.
func TestAuthzNoCrossTenantRead(t *testing.T) {
	s := newAuthzServer(t)
	for _, role := range []auth.Role{auth.Admin, auth.Auditor, auth.Viewer} {
		tok := s.token(role, "a")
		t.Run(string(role), func(t *testing.T) {
			// Another tenant's event by id, without naming the tenant:
			// looked up in the key's own tenant, so not found.
			if r := s.do(t, request{Method: "GET", Path: "/v1/events/seed-b", Token: tok}); r.Status != http.StatusNotFound {
				t.Errorf("GET /v1/events/seed-b: got %d, want 404", r.Status)
			}
			var page struct{ Events []struct{ Tenant, ID string } }
			r := s.do(t, request{Method: "GET", Path: "/v1/events?limit=1000&order=asc", Token: tok})
			if r.Status != http.StatusOK {
				t.Fatalf("query: got %d", r.Status)
			}
			r.JSON(t, &page)
			if len(page.Events) == 0 {
				t.Fatal("query: no events")
			}
			for _, e := range page.Events {
				if e.Tenant != "a" {
					t.Errorf("query returned %s of tenant %s", e.ID, e.Tenant)
				}
			}
			for _, p := range []string{"/v1/events/seed-b?tenant=b", "/v1/events?q=tenant:b&tenant=b", "/v1/stats?group_by=action&tenant=b", "/v1/log/checkpoint?tenant=b", "/v1/log/proof/inclusion?seq=0&tenant=b", "/v1/export?tenant=b", "/v1/events?tenant=B", "/v1/events?tenant=_system"} {
				if got := s.status(t, request{Method: "GET", Path: p, Token: tok}); got != http.StatusForbidden && got != http.StatusBadRequest {
					t.Errorf("GET %s: got %d, want 403 (or 400 for a bad name)", p, got)
				}
			}
		})
	}
	// Nothing a refused writer sent was stored.
	before := len(s.actions(t, "b"))
	s.do(t, request{Method: "POST", Path: "/v1/events", Token: s.token(auth.Writer, "a"), Body: map[string]any{"events": []any{ev("a", "x", "u"), ev("b", "x", "u")}}})
	if after := len(s.actions(t, "b")); after != before {
		t.Errorf("tenant b grew from %d to %d events after a refused batch", before, after)
	}
}

// TestAuthzSystemTenant: the _system log (failed authentications of every
// tenant, changes to all-tenant keys) is read by operators only.
func TestAuthzSystemTenant(t *testing.T) {
	s := newAuthzServer(t)
	s.do(t, request{Method: "GET", Path: "/v1/events", Token: "wrong"}) // puts a trail.auth.failed in _system
	waitFor(t, "_system log", func() bool { return len(s.actions(t, "_system")) > 0 })
	tests := []struct {
		name  string
		token string
		path  string
		want  int
	}{
		{"operator reads", s.operator(), "/v1/events?tenant=_system", ok},
		{"viewer of all reads", s.token(auth.Viewer, auth.AllTenants), "/v1/events?tenant=_system", forbidden},
		{"viewer of all gets stats", s.token(auth.Viewer, auth.AllTenants), "/v1/stats?group_by=action&tenant=_system", forbidden},
		{"viewer of all streams", s.token(auth.Viewer, auth.AllTenants), "/v1/stream?tenant=_system", forbidden},
		{"auditor of all exports", s.token(auth.Auditor, auth.AllTenants), "/v1/export?tenant=_system", forbidden},
		{"viewer of a reads", s.token(auth.Viewer, "a"), "/v1/events?tenant=_system", forbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.status(t, request{Method: "GET", Path: tt.path, Token: tt.token}); got != tt.want {
				t.Errorf("GET %s: got %d, want %d", tt.path, got, tt.want)
			}
		})
	}
	// Writing there is refused to all but operators.
	r := s.do(t, request{Method: "POST", Path: "/v1/events", Token: s.token(auth.Writer, auth.AllTenants), Body: ev("_system", "x", "u")})
	if r.Status != http.StatusForbidden {
		t.Errorf("writer of all ingests into _system: got %d, want 403", r.Status)
	}
}

// TestAuthzRevocationImmediate: a key revoked through the API stops
// working on its next request; a rotated key's old secret works for the
// grace period only.
func TestAuthzRevocationImmediate(t *testing.T) {
	s := newAuthzServer(t)
	admin := s.token(auth.Admin, "a")
	id, tok := s.createKey(auth.Viewer, "a", nil)
	if got := s.status(t, request{Method: "GET", Path: "/v1/events", Token: tok}); got != ok {
		t.Fatalf("before revocation: got %d, want 200", got)
	}
	if got := s.status(t, request{Method: "DELETE", Path: "/v1/keys/" + id, Token: admin}); got != ok {
		t.Fatalf("revoke: got %d, want 200", got)
	}
	if got := s.status(t, request{Method: "GET", Path: "/v1/events", Token: tok}); got != http.StatusUnauthorized {
		t.Errorf("after revocation: got %d, want 401", got)
	}

	id, old := s.createKey(auth.Viewer, "a", nil)
	r := s.do(t, request{Method: "POST", Path: "/v1/keys/" + id + "/rotate", Token: admin, Body: map[string]any{"grace": "1h"}})
	var k struct{ Key string }
	r.JSON(t, &k)
	if r.Status != ok || k.Key == "" || k.Key == old {
		t.Fatalf("rotate: got %d %s, want 200 with a new key", r.Status, r.Body)
	}
	for _, tok := range []string{old, k.Key} {
		if got := s.status(t, request{Method: "GET", Path: "/v1/events", Token: tok}); got != ok {
			t.Errorf("within the grace period: got %d, want 200", got)
		}
	}
	s.Clock.Advance(61 * time.Minute)
	if got := s.status(t, request{Method: "GET", Path: "/v1/events", Token: old}); got != http.StatusUnauthorized {
		t.Errorf("old secret after the grace period: got %d, want 401", got)
	}
	if got := s.status(t, request{Method: "GET", Path: "/v1/events", Token: k.Key}); got != ok {
		t.Errorf("new secret after the grace period: got %d, want 200", got)
	}
}
