package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/alert"
	"github.com/trail-audit/trail/api"
	"github.com/trail-audit/trail/auth"
	"github.com/trail-audit/trail/checkpoint"
	"github.com/trail-audit/trail/logstore"
	"github.com/trail-audit/trail/sink"
)

// testClock is the wall clock shifted by an offset that tests advance, so
// that keys can expire without sleeping. It is the clock of the API server
// and of its key manager.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

func (c *testClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// testServer is a real API server over a real logstore in a temporary
// directory, served by httptest. Every response it receives through do is
// checked against the OpenAPI spec.
type testServer struct {
	t        testing.TB
	URL      string
	HTTP     *httptest.Server
	API      *api.Server
	Store    *logstore.Store
	Keys     *auth.Keys
	Clock    *testClock
	Verifier note.Verifier
	VKey     string // verifier key text
	Client   *http.Client
	Alerts   *alert.Manager // evaluated on demand by firedAlert, not running

	mu     sync.Mutex
	tokens map[string]string // role/tenant → secret, see token
}

// newTestServer starts a server. configure, if not nil, may change the
// Config before the server is made; AutoTenants is on by default.
func newTestServer(t testing.TB, configure func(*api.Config)) *testServer {
	t.Helper()
	skey, vkey, err := checkpoint.GenerateKey("trail.test", bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := checkpoint.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	store, err := logstore.Open(logstore.Options{Dir: filepath.Join(dir, "data"), Signer: signer, Verifier: verifier, ServerName: "trail.test"})
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{}
	keys, err := auth.NewKeys(context.Background(), auth.NewFileStore(filepath.Join(dir, "keys.json")), clock.Now, rand.NewChaCha8([32]byte{1}))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	alerts := alert.NewManager(alert.Config{Store: store, State: &alert.MemoryState{}, Now: clock.Now}, 0)
	sinks := sink.NewManager(sink.ManagerOptions{Store: store, Cursors: &sink.MemCursors{}, Env: sink.Env{FileDir: filepath.Join(dir, "sink-files")}})
	cfg := api.Config{Store: store, Keys: keys, VerifierKey: vkey, AutoTenants: true, Now: clock.Now, Registerer: reg, Gatherer: reg, Alerts: alerts, Sinks: sinks}
	if configure != nil {
		configure(&cfg)
	}
	srv, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	ts := &testServer{t: t, URL: hs.URL, HTTP: hs, API: srv, Store: store, Keys: keys, Clock: clock, Alerts: alerts,
		Verifier: verifier, VKey: vkey, Client: hs.Client(), tokens: map[string]string{}}
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
		srv.Close()
		if err := store.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return ts
}

// createKey makes a key directly in the key manager and returns its id
// and secret.
func (s *testServer) createKey(role auth.Role, tenant string, expires *time.Time) (id, secret string) {
	s.t.Helper()
	k, secret, err := s.Keys.Create(context.Background(), string(role)+"-"+tenant, role, tenant, expires)
	if err != nil {
		s.t.Fatalf("create %s key for %s: %v", role, tenant, err)
	}
	return k.ID, secret
}

// token returns a secret for role in tenant ("*" for all tenants), made
// once per server.
func (s *testServer) token(role auth.Role, tenant string) string {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	k := string(role) + "/" + tenant
	if tok, ok := s.tokens[k]; ok {
		return tok
	}
	_, tok := s.createKey(role, tenant, nil)
	s.tokens[k] = tok
	return tok
}

// operator is the all-tenant operator token.
func (s *testServer) operator() string { return s.token(auth.Operator, auth.AllTenants) }

// response is a complete HTTP response.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v.
func (r *response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// errorBody returns the error object of an error response.
func (r *response) errorBody(t testing.TB) (code, message, field string) {
	t.Helper()
	var b struct {
		Error struct{ Code, Message, Field string }
	}
	r.JSON(t, &b)
	return b.Error.Code, b.Error.Message, b.Error.Field
}

// request is one request to the test server.
type request struct {
	Method string
	Path   string // with the query
	Token  string
	Body   any // nil, string, []byte or a value sent as JSON
	Header map[string]string
}

// do sends req and returns the response, after checking it against the
// response declared in the OpenAPI spec for its route and status.
func (s *testServer) do(t testing.TB, req request) *response {
	t.Helper()
	r := s.send(t, req)
	checkResponse(t, req.Method, req.Path, r)
	return r
}

// send is do without the spec check.
func (s *testServer) send(t testing.TB, req request) *response {
	t.Helper()
	hr := s.newRequest(t, context.Background(), req)
	resp, err := s.Client.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.Path, err)
	}
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

func (s *testServer) newRequest(t testing.TB, ctx context.Context, req request) *http.Request {
	t.Helper()
	var body io.Reader
	ct := ""
	switch b := req.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(data)
		ct = "application/json"
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, s.URL+req.Path, body)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		hr.Header.Set("Content-Type", ct)
	}
	if req.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+req.Token)
	}
	for k, v := range req.Header {
		hr.Header.Set(k, v)
	}
	return hr
}

// ingestResult is the 201 body of POST /v1/events.
type ingestResult struct {
	Receipts    []trail.Receipt   `json:"receipts"`
	Checkpoints map[string]string `json:"checkpoints"`
}

// ingest posts events as {"events":[…]} with token and wants 201.
func (s *testServer) ingest(t testing.TB, token string, events ...map[string]any) ingestResult {
	t.Helper()
	r := s.do(t, request{Method: "POST", Path: "/v1/events", Token: token, Body: map[string]any{"events": events}})
	if r.Status != http.StatusCreated {
		t.Fatalf("ingest: got %d %s, want 201", r.Status, r.Body)
	}
	var out ingestResult
	r.JSON(t, &out)
	if len(out.Receipts) != len(events) {
		t.Fatalf("ingest: got %d receipts, want %d", len(out.Receipts), len(events))
	}
	return out
}

// ev is a small valid event.
func ev(tenant, action, actor string) map[string]any {
	e := map[string]any{"action": action, "actor": map[string]any{"id": actor}}
	if tenant != "" {
		e["tenant"] = tenant
	}
	return e
}

// waitFor polls cond until it is true or a deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// actions returns the actions of every event in tenant's log, oldest first,
// read from the store directly.
func (s *testServer) actions(t testing.TB, tenant string) []string {
	t.Helper()
	recs, err := s.Store.Read(context.Background(), tenant, 0, 100000)
	if err != nil {
		if trail.ErrorCode(err) == trail.ENOTFOUND {
			return nil
		}
		t.Fatal(err)
	}
	var out []string
	for _, rec := range recs {
		e, err := trail.DecodeEvent(rec.Data)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e.Action)
	}
	return out
}

// alertRule adds a rule to tenant's alert engine and returns its id.
func (s *testServer) alertRule(t testing.TB, tenant string) string {
	t.Helper()
	e, err := s.Alerts.Engine(context.Background(), tenant)
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.PutRule(context.Background(), alert.Rule{Name: "test rule", Kind: alert.KindThreshold, Filter: "outcome:failure", Window: alert.Duration(time.Minute), Threshold: 5})
	if err != nil {
		t.Fatal(err)
	}
	return r.ID
}

// firedAlert makes tenant's engine fire an alert and returns its id: a
// rule that fires on every event of a fresh action, one such event, and
// the engine stepped over the log.
func (s *testServer) firedAlert(t testing.TB, tenant string) string {
	t.Helper()
	ctx := context.Background()
	e, err := s.Alerts.Engine(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	action := fmt.Sprintf("alert.test%d", alertSeq.Add(1))
	if _, err := e.PutRule(ctx, alert.Rule{Name: action, Kind: alert.KindThreshold, Filter: "action:" + action, Window: alert.Duration(time.Minute), Threshold: 1}); err != nil {
		t.Fatal(err)
	}
	s.ingest(t, s.operator(), ev(tenant, action, "u9"))
	for range 100 {
		if _, err := e.Step(ctx); err != nil {
			t.Fatal(err)
		}
		for _, a := range e.Alerts(alert.StatusOpen) {
			if a.RuleName == action {
				return a.ID
			}
		}
	}
	t.Fatalf("no alert fired for %s", action)
	return ""
}

var alertSeq atomic.Int64

// fileSink creates a file sink in tenant through the API as the operator
// and returns its id.
func (s *testServer) fileSink(t testing.TB, tenant string) string {
	t.Helper()
	r := s.do(t, request{Method: "POST", Path: "/v1/sinks?tenant=" + tenant, Token: s.operator(),
		Body: map[string]any{"name": "fixture", "type": "file", "path": fmt.Sprintf("fixture-%d.ndjson", alertSeq.Add(1))}})
	if r.Status != http.StatusCreated {
		t.Fatalf("create sink: %d %s", r.Status, r.Body)
	}
	var v struct{ ID string }
	r.JSON(t, &v)
	return v.ID
}
