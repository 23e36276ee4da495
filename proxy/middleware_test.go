package proxy

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trail-audit/trail"
	"github.com/trail-audit/trail/mask"
)

// TestEventFields checks the mapping of one call onto the event, field by
// field.
func TestEventFields(t *testing.T) {
	f := newFixture(t, Config{Routes: []Route{{Method: "PUT", Path: "/v1/projects/{id}"}}})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.clock.Add(12500 * time.Microsecond)
		w.WriteHeader(http.StatusNoContent)
	})
	r := newRequest("PUT", "/v1/projects/p_7?dry=1", `{"name":"x"}`)
	r.Header.Set("User-Agent", "curl/8")
	start := f.clock.Now()
	w, e := f.do(t, slow, r)
	if w.Code != http.StatusNoContent {
		t.Fatalf("status %d", w.Code)
	}
	checks := []struct {
		field string
		got   any
		want  any
	}{
		{"tenant", e.Tenant, "acme"},
		{"time", e.Time, start},
		{"action", e.Action, "project.update"},
		{"outcome", e.Outcome, "success"},
		{"severity", e.Severity, "info"},
		{"actor.id", e.Actor.ID, AnonymousActor},
		{"resource.type", e.Resource.Type, "project"},
		{"resource.id", e.Resource.ID, "p_7"},
		{"source.ip", e.Source.IP, "198.51.100.9"},
		{"source.user_agent", e.Source.UserAgent, "curl/8"},
		{"source.origin", e.Source.Origin, "gateway"},
		{"request.method", e.Request.Method, "PUT"},
		{"request.path", e.Request.Path, "/v1/projects/p_7"},
		{"request.status", e.Request.Status, 204},
		{"request.duration_ms", *e.Request.DurationMS, 12.5},
		{"request.id", e.Request.ID, w.Header().Get("X-Request-Id")},
		{"metadata.route", e.Metadata["route"], "/v1/projects/{id}"},
		{"metadata.capture", e.Metadata["capture"], "metadata"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.field, c.got, c.want)
		}
	}
	if p, _ := e.Metadata["params"].(map[string]any); p["id"] != "p_7" {
		t.Errorf("metadata.params = %v, want id p_7", e.Metadata["params"])
	}
	// An escaped "/" stays inside its parameter.
	_, e = f.do(t, slow, newRequest("PUT", "/v1/projects/a%2Fb", ""))
	if e.Resource == nil || e.Resource.ID != "a/b" || e.Request.Path != "/v1/projects/a/b" {
		t.Errorf("escaped id: resource %+v path %q, want id a/b", e.Resource, e.Request.Path)
	}
	for _, k := range []string{"query", "request_body"} {
		if _, ok := e.Metadata[k]; ok {
			t.Errorf("metadata.%s present at capture level metadata", k)
		}
	}
	if e.ID == "" || len(e.ID) != 36 {
		t.Errorf("id = %q, want a UUIDv7", e.ID)
	}
	// The event is valid as the server will check it, with no server fields.
	if err := e.Validate(trail.Limits{}); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if e.Masked != nil || !e.ReceivedAt.IsZero() || e.Seq != 0 {
		t.Errorf("server fields set: masked %v received_at %v", e.Masked, e.ReceivedAt)
	}
}

// TestOutcomes maps statuses onto outcomes.
func TestOutcomes(t *testing.T) {
	f := newFixture(t, Config{})
	for status, want := range map[int]string{200: "success", 302: "success", 400: "failure", 401: "denied",
		403: "denied", 404: "failure", 429: "denied", 500: "error", 503: "error"} {
		_, e := f.do(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(status) }), newRequest("GET", "/", ""))
		if e.Outcome != want || e.Request.Status != status {
			t.Errorf("status %d: outcome %q status %d, want %q", status, e.Outcome, e.Request.Status, want)
		}
	}
	// A handler that writes nothing answers 200.
	_, e := f.do(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), newRequest("GET", "/", ""))
	if e.Request.Status != 200 {
		t.Errorf("empty handler: status %d, want 200", e.Request.Status)
	}
}

// TestRequestID keeps a client's request id, generates one otherwise, and
// passes it to the handler and back to the client.
func TestRequestID(t *testing.T) {
	f := newFixture(t, Config{RequestIDHeader: "x-correlation-id"})
	var seen string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.Header.Get("X-Correlation-Id") })
	tests := []struct {
		name, sent string
		keep       bool
	}{
		{"absent", "", false},
		{"given", "req-123_abc", true},
		{"with a space", "two words", false},
		{"too long", strings.Repeat("x", 129), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRequest("GET", "/", "")
			if tt.sent != "" {
				r.Header.Set("X-Correlation-Id", tt.sent)
			}
			w, e := f.do(t, h, r)
			got := w.Header().Get("X-Correlation-Id")
			if tt.keep && got != tt.sent || !tt.keep && (got == tt.sent || len(got) != 36) {
				t.Errorf("response id %q for sent %q (keep %v)", got, tt.sent, tt.keep)
			}
			if seen != got || e.Request.ID != got {
				t.Errorf("handler saw %q, event has %q, client got %q; want one id", seen, e.Request.ID, got)
			}
		})
	}
}

// TestCaptureLevels records what each level asks for, capped at the body
// limit.
func TestCaptureLevels(t *testing.T) {
	f := newFixture(t, Config{
		Capture: CaptureMetadata,
		Routes: []Route{
			{Path: "/health", Capture: CaptureNone},
			{Path: "/v1/orders", Capture: CaptureRequest},
			{Path: "/v1/orders/{id}", Capture: CaptureRequestResponse, BodyLimit: 16},
			{Path: "/v1/blobs", Capture: CaptureRequest},
		},
	})
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain")
		w.Write(b)
	})
	if _, e := f.do(t, echo, newRequest("GET", "/health", "")); e != nil {
		t.Errorf("capture none recorded %+v", e)
	}
	_, e := f.do(t, echo, newRequest("GET", "/other?q=1", `{"a":1}`))
	if e.Metadata["capture"] != "metadata" || e.Metadata["query"] != nil || e.Metadata["request_body"] != nil {
		t.Errorf("metadata level: %v", e.Metadata)
	}
	r := newRequest("POST", "/v1/orders?sort=asc&tag=a&tag=b", `{"item":"book","qty":2}`)
	r.Header.Set("Content-Type", "application/json")
	_, e = f.do(t, echo, r)
	q, _ := e.Metadata["query"].(map[string]any)
	if q["sort"] != "asc" || len(q["tag"].([]any)) != 2 {
		t.Errorf("query = %v", e.Metadata["query"])
	}
	body, _ := e.Metadata["request_body"].(map[string]any)
	if body["item"] != "book" || body["qty"] != json.Number("2") || e.Metadata["request_body_bytes"] != int64(23) {
		t.Errorf("request body = %v (%v bytes)", e.Metadata["request_body"], e.Metadata["request_body_bytes"])
	}
	if _, ok := e.Metadata["response_body"]; ok {
		t.Error("response body captured at level request")
	}
	// request_response with a 16-byte cap: both bodies cut, sizes whole.
	long := `{"note":"` + strings.Repeat("x", 40) + `"}`
	w, e := f.do(t, echo, newRequest("PUT", "/v1/orders/o_1", long))
	if w.Body.String() != long {
		t.Errorf("the client got %q, want the whole body", w.Body.String())
	}
	for _, p := range []string{"request", "response"} {
		if got := e.Metadata[p+"_body"]; got != long[:16] {
			t.Errorf("%s_body = %v, want the first 16 bytes as text", p, got)
		}
		if e.Metadata[p+"_body_bytes"] != int64(len(long)) || e.Metadata[p+"_body_truncated"] != true {
			t.Errorf("%s size %v truncated %v", p, e.Metadata[p+"_body_bytes"], e.Metadata[p+"_body_truncated"])
		}
	}
	// Binary bodies are kept by size only.
	_, e = f.do(t, echo, newRequest("POST", "/v1/blobs", "\x00\x01\xff\xfe"))
	if e.Metadata["request_body_binary"] != true || e.Metadata["request_body"] != nil {
		t.Errorf("binary body: %v", e.Metadata)
	}
}

// TestMaskingBeforeSending masks a password in a captured JSON body, a
// form and a query string: the secret never reaches the recorder.
func TestMaskingBeforeSending(t *testing.T) {
	f := newFixture(t, Config{Capture: CaptureRequestResponse,
		Masking: maskConfig(`{"rules":[{"path":"metadata.request_body.ssn","action":"redact"}]}`)})
	tests := []struct {
		name, ctype, target, body string
		wantMasked                string
	}{
		{"json", "application/json", "/login", `{"user":"ada","password":"hunter2-secret","ssn":"123-45-6789"}`, "metadata.request_body.password"},
		{"form", "application/x-www-form-urlencoded", "/login", "user=ada&password=hunter2-secret", "metadata.request_body.password"},
		{"query", "", "/login?access_token=hunter2-secret", "", "metadata.query.access_token"},
		{"text", "text/plain", "/login", "password: hunter2-secret", "metadata.request_body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRequest("POST", tt.target, tt.body)
			if tt.ctype != "" {
				r.Header.Set("Content-Type", tt.ctype)
			}
			w, e := f.do(t, okHandler, r)
			if w.Code != 200 {
				t.Fatalf("status %d", w.Code)
			}
			js := eventJSON(t, e)
			if strings.Contains(js, "hunter2") || strings.Contains(js, "123-45-6789") {
				t.Errorf("the secret left the proxy: %s", js)
			}
			masked, _ := e.Metadata["masked"].([]any)
			found := false
			for _, m := range masked {
				found = found || m == tt.wantMasked
			}
			if !found {
				t.Errorf("metadata.masked = %v, want %s in it", masked, tt.wantMasked)
			}
			if err := e.Validate(trail.Limits{}); err != nil {
				t.Errorf("masked event invalid: %v", err)
			}
		})
	}
}

func maskConfig(s string) (c mask.Config) {
	json.Unmarshal([]byte(s), &c)
	return c
}

// TestRateLimits answers 429 with Retry-After per IP and per caller, and
// records the refused calls.
func TestRateLimits(t *testing.T) {
	f := newFixture(t, Config{APIKeyHeaders: []string{"X-Api-Key"},
		RateLimits: RateLimits{Caller: &Rate{Rate: 0.5, Burst: 1}, IP: &Rate{Rate: 1, Burst: 3}}})
	calls := 0
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls++ })
	send := func(ip, key string) (*httptest.ResponseRecorder, *trail.Event) {
		r := newRequest("DELETE", "/v1/things/1", "")
		r.RemoteAddr = ip + ":1"
		if key != "" {
			r.Header.Set("X-Api-Key", key)
		}
		return f.do(t, h, r)
	}
	// Caller limit: one call per two seconds for key A.
	if w, _ := send("203.0.113.1", "key-A"); w.Code != 200 {
		t.Fatalf("first call: %d", w.Code)
	}
	w, e := send("203.0.113.2", "key-A")
	if w.Code != 429 || w.Header().Get("Retry-After") != "2" {
		t.Fatalf("second call: %d Retry-After %q, want 429 and 2", w.Code, w.Header().Get("Retry-After"))
	}
	var body struct{ Error struct{ Code string } }
	if json.Unmarshal(w.Body.Bytes(), &body); body.Error.Code != "rate_limited" {
		t.Errorf("body %s, want trail's rate_limited error", w.Body.String())
	}
	if e.Outcome != "denied" || e.Request.Status != 429 || e.Metadata["rate_limited"] != "caller" || e.Actor.ID != APIKeyID("key-A") {
		t.Errorf("refused call recorded as %s %d %v %s", e.Outcome, e.Request.Status, e.Metadata["rate_limited"], e.Actor.ID)
	}
	if calls != 1 {
		t.Errorf("handler called %d times, want 1", calls)
	}
	// Another caller is not limited by A's bucket.
	if w, _ := send("203.0.113.3", "key-B"); w.Code != 200 {
		t.Errorf("key B: %d", w.Code)
	}
	f.clock.Add(2 * time.Second)
	if w, _ := send("203.0.113.2", "key-A"); w.Code != 200 {
		t.Errorf("key A after Retry-After: %d", w.Code)
	}
	// IP limit: three anonymous calls, the fourth refused.
	for i := range 3 {
		if w, _ := send("198.51.100.50", ""); w.Code != 200 {
			t.Fatalf("anonymous call %d: %d", i, w.Code)
		}
	}
	w, e = send("198.51.100.50", "")
	if w.Code != 429 || w.Header().Get("Retry-After") != "1" || e.Metadata["rate_limited"] != "ip" {
		t.Errorf("fourth call from one IP: %d Retry-After %q recorded %v", w.Code, w.Header().Get("Retry-After"), e.Metadata["rate_limited"])
	}
	if got := f.a.Stats().RateLimited; got != 2 {
		t.Errorf("Stats().RateLimited = %d, want 2", got)
	}
}

// TestMetrics exposes the counters on the Registerer.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	rec := &memRecorder{}
	a, err := New(Config{MaskKey: testMaskKey, RateLimits: RateLimits{IP: &Rate{Rate: 1, Burst: 1}}}, Options{Recorder: rec, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	h := a.Wrap(okHandler)
	for range 3 {
		h.ServeHTTP(httptest.NewRecorder(), newRequest("GET", "/", ""))
	}
	want := map[string]float64{"trail_proxy_events_recorded_total": 3, "trail_proxy_rate_limited_total": 2,
		"trail_proxy_events_send_errors_total": 0, "trail_proxy_events_invalid_total": 0}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if w, ok := want[mf.GetName()]; ok {
			if got := mf.GetMetric()[0].GetCounter().GetValue(); got != w {
				t.Errorf("%s = %v, want %v", mf.GetName(), got, w)
			}
			delete(want, mf.GetName())
		}
	}
	if len(want) > 0 {
		t.Errorf("metrics missing: %v", want)
	}
	if _, err := New(Config{MaskKey: testMaskKey}, Options{Recorder: rec, Registerer: reg}); err == nil {
		t.Error("registering twice on one registry succeeded")
	}
}

// TestPanicRecorded records a call whose handler panics, then lets the
// panic continue.
func TestPanicRecorded(t *testing.T) {
	f := newFixture(t, Config{})
	h := f.a.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic was swallowed")
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), newRequest("GET", "/", ""))
	}()
	evs := f.rec.all()
	if len(evs) != 1 || evs[0].Request.Status != 500 || evs[0].Outcome != "error" {
		t.Errorf("recorded %+v, want one event with status 500", evs)
	}
}

// TestRecorderFailure never fails the call when recording fails, and
// counts it.
func TestRecorderFailure(t *testing.T) {
	f := newFixture(t, Config{})
	f.rec.err = errors.New("queue full")
	w, _ := f.do(t, okHandler, newRequest("GET", "/", ""))
	if w.Code != 200 {
		t.Errorf("status %d, want 200", w.Code)
	}
	if s := f.a.Stats(); s.SendErrors != 1 || s.Recorded != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestOversizedBodiesDropped keeps the event under trail's size limit by
// dropping bodies that would exceed it.
func TestOversizedBodiesDropped(t *testing.T) {
	f := newFixture(t, Config{Capture: CaptureRequestResponse, BodyLimit: MaxBodyLimit})
	// Control characters take six bytes each in JSON: 16 KiB of them
	// is 96 KiB encoded.
	big := strings.Repeat("\x01", MaxBodyLimit)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, big)
	})
	r := newRequest("POST", "/", big)
	r.Header.Set("Content-Type", "text/plain")
	_, e := f.do(t, h, r)
	if e == nil {
		t.Fatal("no event")
	}
	if _, ok := e.Metadata["response_body"]; ok {
		t.Error("response body kept")
	}
	if e.Metadata["response_body_dropped"] != trail.ETOOLARGE {
		t.Errorf("response_body_dropped = %v", e.Metadata["response_body_dropped"])
	}
	if e.Metadata["request_body_bytes"] != int64(MaxBodyLimit) {
		t.Errorf("request size %v", e.Metadata["request_body_bytes"])
	}
}

// TestReverseProxy forwards to a real upstream: the request id and the
// client address arrive there, the answer comes back, and an unreachable
// upstream is a recorded 502.
func TestReverseProxy(t *testing.T) {
	type seen struct{ id, xff, host, body string }
	got := make(chan seen, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Header.Get("X-Request-Id"), r.Header.Get("X-Forwarded-For"), r.Host, string(b)}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		io.WriteString(w, `{"id":"p_1"}`)
	}))
	defer up.Close()
	f := newFixture(t, Config{Capture: CaptureRequestResponse, TrustedProxies: []string{"127.0.0.1"}, Routes: []Route{{Method: "POST", Path: "/v1/projects"}}})
	u, _ := url.Parse(up.URL)
	h, err := NewReverseProxy(f.a, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	px := httptest.NewServer(h)
	defer px.Close()

	req, _ := http.NewRequest("POST", px.URL+"/v1/projects", strings.NewReader(`{"name":"n"}`))
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	s := <-got
	if resp.StatusCode != 201 || string(body) != `{"id":"p_1"}` || s.body != `{"name":"n"}` {
		t.Errorf("forwarded %q, answered %d %q", s.body, resp.StatusCode, body)
	}
	rid := resp.Header.Get("X-Request-Id")
	if rid == "" || s.id != rid {
		t.Errorf("upstream saw request id %q, client got %q", s.id, rid)
	}
	if s.xff != "203.0.113.7, 127.0.0.1" || s.host != u.Host {
		t.Errorf("upstream saw X-Forwarded-For %q host %q", s.xff, s.host)
	}
	// The client can have the whole answer before the event is recorded.
	waitFor(t, func() bool { return len(f.rec.all()) == 1 })
	evs := f.rec.all()
	e := evs[len(evs)-1]
	if e.Action != "project.create" || e.Request.Status != 201 || e.Source.IP != "203.0.113.7" || e.Request.ID != rid {
		t.Errorf("event %s %d %s %s", e.Action, e.Request.Status, e.Source.IP, e.Request.ID)
	}
	if rb, _ := e.Metadata["response_body"].(map[string]any); rb["id"] != "p_1" {
		t.Errorf("response_body = %v", e.Metadata["response_body"])
	}

	up.Close()
	resp, err = http.Get(px.URL + "/v1/projects")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waitFor(t, func() bool { return len(f.rec.all()) == 2 })
	evs = f.rec.all()
	e = evs[len(evs)-1]
	if resp.StatusCode != 502 || e.Request.Status != 502 || e.Outcome != "error" {
		t.Errorf("upstream down: client got %d, recorded %d %s", resp.StatusCode, e.Request.Status, e.Outcome)
	}
	if _, err := NewReverseProxy(f.a, &url.URL{Scheme: "ftp", Host: "x"}, nil); err == nil {
		t.Error("an ftp upstream was accepted")
	}
}

// TestNewRequiresMaskKey names the field when hashing needs a key.
func TestNewRequiresMaskKey(t *testing.T) {
	_, err := New(Config{}, Options{Recorder: &memRecorder{}})
	var te *trail.Error
	if !errors.As(err, &te) || te.Field != "mask_key_file" {
		t.Errorf("New without a mask key: %v, want an error naming mask_key_file", err)
	}
	off := false
	if _, err := New(Config{Masking: mask.Config{Defaults: &off}}, Options{Recorder: &memRecorder{}}); err != nil {
		t.Errorf("masking off needs no key: %v", err)
	}
	if _, err := New(Config{MaskKey: testMaskKey}, Options{Recorder: &memRecorder{}, Tenant: "Bad Tenant"}); err == nil {
		t.Error("an invalid tenant was accepted")
	}
}

// TestUpgradeThroughProxy switches protocols through the reverse proxy
// (as WebSocket does): the connection is handed over, bytes flow both
// ways, and the call is recorded with status 101.
func TestUpgradeThroughProxy(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "want Upgrade: echo", 400)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		brw.WriteString("echo: " + line)
		brw.Flush()
	}))
	defer up.Close()
	f := newFixture(t, Config{})
	u, _ := url.Parse(up.URL)
	h, _ := NewReverseProxy(f.a, u, nil)
	px := httptest.NewServer(h)
	defer px.Close()

	conn, err := net.Dial("tcp", strings.TrimPrefix(px.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	io.WriteString(conn, "hello\n")
	if line, _ := br.ReadString('\n'); line != "echo: hello\n" {
		t.Errorf("through the upgraded connection: %q", line)
	}
	conn.Close()
	waitFor(t, func() bool { return len(f.rec.all()) == 1 })
	e := f.rec.all()[0]
	if e.Request.Status != 101 || e.Metadata["upgraded"] != true || e.Outcome != "success" {
		t.Errorf("recorded status %d upgraded %v outcome %s", e.Request.Status, e.Metadata["upgraded"], e.Outcome)
	}
}

// TestStreamingThroughProxy passes a server-sent event stream through as
// it is written: the client reads the first event while the upstream is
// still holding the response open.
func TestStreamingThroughProxy(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "data: last\n\n")
	}))
	defer up.Close()
	defer close(release)
	f := newFixture(t, Config{})
	u, _ := url.Parse(up.URL)
	h, _ := NewReverseProxy(f.a, u, nil)
	px := httptest.NewServer(h)
	defer px.Close()
	resp, err := http.Get(px.URL + "/v1/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(resp.Body).ReadString('\n')
		got <- line
	}()
	select {
	case line := <-got:
		if line != "data: first\n" {
			t.Errorf("first line %q", line)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first event did not come through while the stream was open")
	}
}
