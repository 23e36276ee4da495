package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/proxy"
)

// lockedBuffer is a bytes.Buffer safe for a command writing while the
// test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startProxyCmd runs "trail proxy" through its real entry point until
// stop, which waits for it to exit (delivering its events) and checks
// its exit code. It returns the URL the proxy printed.
func startProxyCmd(t *testing.T, vars map[string]string, args ...string) (proxyURL string, out *lockedBuffer, stop func()) {
	t.Helper()
	out = &lockedBuffer{}
	var errb lockedBuffer
	e := env{stdin: strings.NewReader(""), stdout: out, stderr: &errb, getenv: func(k string) string { return vars[k] }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, append([]string{"proxy"}, args...), e) }()
	re := regexp.MustCompile(`serving (https?://\S+),`)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			proxyURL = m[1]
			break
		}
		select {
		case code := <-done:
			cancel()
			t.Fatalf("trail proxy exited with %d: %s", code, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("trail proxy did not start: %s %s", out.String(), errb.String())
		}
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if code := <-done; code != exitOK {
				t.Errorf("trail proxy exited with %d: %s", code, errb.String())
			}
		})
	}
	t.Cleanup(stop)
	return proxyURL, out, stop
}

// waitUntil polls cond for up to ten seconds.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
	}
}

// newKeyFor creates a key with "trail keys create" and returns its secret.
func newKeyFor(t *testing.T, vars map[string]string, role, tenant string) string {
	t.Helper()
	code, out, errOut := runCmd(t, vars, "", "keys", "create", "--name", "proxy "+role, "--role", role, "--key-tenant", tenant)
	if code != exitOK {
		t.Fatalf("keys create: exit %d: %s", code, errOut)
	}
	var k struct{ Key string }
	if err := json.Unmarshal([]byte(out), &k); err != nil || k.Key == "" {
		t.Fatalf("keys create printed %q (%v)", out, err)
	}
	return k.Key
}

// upstreamCall is what the upstream API saw of one call.
type upstreamCall struct {
	method, path, requestID, body string
}

// TestProxyEndToEnd puts "trail proxy" between real HTTP clients and a
// real upstream API, recording into a real trail server, then reads the
// events back from trail and checks them field by field.
func TestProxyEndToEnd(t *testing.T) {
	const opKey = "operator-key-for-the-proxy-test-0123456789"
	s, _ := startServer(t, ServeConfig{Addr: "127.0.0.1:0", Data: t.TempDir(), ServerName: "proxy.test", BootstrapKey: opKey, AutoTenants: true}, io.Discard)
	vars := map[string]string{"TRAIL_SERVER": s.URL(), "TRAIL_KEY": opKey}
	writer := newKeyFor(t, vars, "writer", "acme")
	reader := newKeyFor(t, vars, "viewer", "acme")

	var mu sync.Mutex
	var seen []upstreamCall
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, upstreamCall{r.Method, r.URL.Path, r.Header.Get("X-Request-Id"), string(b)})
		mu.Unlock()
		switch r.URL.Path {
		case "/v1/projects/p_7", "/login", "/healthz":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"ok":true}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer up.Close()

	dir := t.TempDir()
	secret := "an-hmac-secret-for-the-identity-provider-0123456789"
	os.WriteFile(filepath.Join(dir, "jwt.secret"), []byte(secret+"\n"), 0o600)
	cfgFile := filepath.Join(dir, "proxy.json")
	os.WriteFile(cfgFile, []byte(`{
	  "routes": [
	    {"method": "PUT", "path": "/v1/projects/{id}"},
	    {"method": "POST", "path": "/login", "action": "user.login", "capture": "request"},
	    {"path": "/healthz", "capture": "none"}
	  ],
	  "jwt": {"hmac_secret_file": "jwt.secret", "issuer": "https://idp.test/"},
	  "api_key_headers": ["X-Api-Key"],
	  "rate_limits": {"caller": {"rate": 0.001, "burst": 2}}
	}`), 0o600)

	// The proxy's flags come from the environment, as in a deployment.
	pvars := map[string]string{"TRAIL_SERVER": s.URL(), "TRAIL_KEY": writer, "TRAIL_PROXY_UPSTREAM": up.URL,
		"TRAIL_PROXY_CONFIG": cfgFile, "TRAIL_PROXY_SPOOL": filepath.Join(dir, "spool")}
	px, pout, stop := startProxyCmd(t, pvars, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0")

	now := time.Now()
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(secret)}, nil)
	tok, _ := jwt.Signed(signer).Claims(jwt.Claims{Subject: "u_42", Issuer: "https://idp.test/",
		Expiry: jwt.NewNumericDate(now.Add(time.Hour)), IssuedAt: jwt.NewNumericDate(now)}).Serialize()
	const apiKey = "sk_test_a-long-api-key-0123456789"
	call := func(method, path, body string, hdr map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, px+path, strings.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	r1 := call("PUT", "/v1/projects/p_7", `{"name":"renamed"}`, map[string]string{"Authorization": "Bearer " + tok,
		"X-Request-Id": "req-e2e-1", "X-Forwarded-For": "6.6.6.6", "User-Agent": "e2e-client/1"})
	r2 := call("POST", "/login", `{"user":"ada","password":"hunter2-do-not-log"}`, map[string]string{"X-Api-Key": apiKey, "Content-Type": "application/json"})
	r3 := call("GET", "/missing", "", map[string]string{"X-Api-Key": apiKey})
	r4 := call("GET", "/healthz", "", nil)
	r5 := call("GET", "/v1/projects/p_7", "", map[string]string{"X-Api-Key": apiKey})
	for i, c := range []struct {
		resp *http.Response
		want int
	}{{r1, 200}, {r2, 200}, {r3, 404}, {r4, 200}, {r5, 429}} {
		if c.resp.StatusCode != c.want {
			t.Errorf("call %d: status %d, want %d", i+1, c.resp.StatusCode, c.want)
		}
	}
	if r5.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	mu.Lock()
	upstream := append([]upstreamCall(nil), seen...)
	mu.Unlock()
	if len(upstream) != 4 {
		t.Fatalf("upstream saw %d calls, want 4 (the 429 is not forwarded): %+v", len(upstream), upstream)
	}
	if upstream[0].requestID != "req-e2e-1" || upstream[1].requestID == "" || upstream[1].requestID != r2.Header.Get("X-Request-Id") {
		t.Errorf("request ids upstream %q %q, client got %q", upstream[0].requestID, upstream[1].requestID, r2.Header.Get("X-Request-Id"))
	}
	if upstream[1].body != `{"user":"ada","password":"hunter2-do-not-log"}` {
		t.Errorf("upstream got body %q: the proxy must forward it unmasked", upstream[1].body)
	}

	// The proxy's own metrics count what it did.
	var metricsURL string
	waitUntil(t, func() bool {
		m := regexp.MustCompile(`metrics at (\S+)`).FindStringSubmatch(pout.String())
		if m != nil {
			metricsURL = m[1]
		}
		return m != nil
	})
	waitUntil(t, func() bool {
		resp, err := http.Get(metricsURL)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), "\ntrail_proxy_events_recorded_total 4\n") &&
			strings.Contains(string(b), "\ntrail_proxy_rate_limited_total 1\n") && strings.Contains(string(b), "trail_client_events_sent_total 4")
	})

	stop() // Close delivers what the client still holds.

	var page struct{ Events []trail.Event }
	rc := &client{base: s.URL(), key: reader, hc: s.httpClient()}
	if err := rc.getJSON(context.Background(), "/v1/events", url.Values{"order": {"asc"}}, &page); err != nil {
		t.Fatal(err)
	}
	var ev []trail.Event
	for _, e := range page.Events {
		if !strings.HasPrefix(e.Action, "trail.") { // trail's own audit of key creation and reads
			ev = append(ev, e)
		}
	}
	page.Events = ev
	if len(page.Events) != 4 {
		for _, e := range page.Events {
			t.Logf("event %s %s", e.Action, e.Request.Path)
		}
		t.Fatalf("trail holds %d proxy events, want 4 (healthz has capture none)", len(page.Events))
	}
	type check struct {
		field string
		got   any
		want  any
	}
	checks := []check{
		{"[0].tenant", ev[0].Tenant, "acme"},
		{"[0].action", ev[0].Action, "project.update"},
		{"[0].outcome", ev[0].Outcome, "success"},
		{"[0].actor.id", ev[0].Actor.ID, "u_42"},
		{"[0].actor.type", ev[0].Actor.Type, "user"},
		{"[0].resource", *ev[0].Resource, trail.Resource{Type: "project", ID: "p_7"}},
		{"[0].source.ip", ev[0].Source.IP, "127.0.0.1"}, // X-Forwarded-For from an untrusted peer is ignored
		{"[0].source.user_agent", ev[0].Source.UserAgent, "e2e-client/1"},
		{"[0].source.origin", ev[0].Source.Origin, "gateway"},
		{"[0].request.id", ev[0].Request.ID, "req-e2e-1"},
		{"[0].request.method", ev[0].Request.Method, "PUT"},
		{"[0].request.path", ev[0].Request.Path, "/v1/projects/p_7"},
		{"[0].request.status", ev[0].Request.Status, 200},
		{"[0].metadata.route", ev[0].Metadata["route"], "/v1/projects/{id}"},
		{"[0].metadata.capture", ev[0].Metadata["capture"], "metadata"},
		{"[0].metadata.authn.verified", ev[0].Metadata["authn"].(map[string]any)["verified"], true},
		{"[1].action", ev[1].Action, "user.login"},
		{"[1].actor.id", ev[1].Actor.ID, proxy.APIKeyID(apiKey)},
		{"[1].actor.type", ev[1].Actor.Type, "api_key"},
		{"[1].request.id", ev[1].Request.ID, upstream[1].requestID},
		{"[1].metadata.capture", ev[1].Metadata["capture"], "request"},
		{"[1].metadata.request_body.user", ev[1].Metadata["request_body"].(map[string]any)["user"], "ada"},
		{"[1].metadata.request_body.password", ev[1].Metadata["request_body"].(map[string]any)["password"], "[REDACTED]"},
		{"[2].action", ev[2].Action, "http.get"},
		{"[2].outcome", ev[2].Outcome, "failure"},
		{"[2].request.status", ev[2].Request.Status, 404},
		{"[3].outcome", ev[3].Outcome, "denied"},
		{"[3].request.status", ev[3].Request.Status, 429},
		{"[3].metadata.rate_limited", ev[3].Metadata["rate_limited"], "caller"},
		{"[3].actor.id", ev[3].Actor.ID, proxy.APIKeyID(apiKey)},
	}
	for _, c := range checks {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("event%s = %v, want %v", c.field, c.got, c.want)
		}
	}
	for i, e := range ev {
		if e.Request.DurationMS == nil || *e.Request.DurationMS < 0 {
			t.Errorf("event[%d] has no latency", i)
		}
		if e.Time.Before(now.Add(-time.Minute)) || e.Time.After(time.Now()) {
			t.Errorf("event[%d].time = %v", i, e.Time)
		}
	}
	all, _ := json.Marshal(ev)
	if bytes.Contains(all, []byte("hunter2")) || bytes.Contains(all, []byte(apiKey)) || bytes.Contains(all, []byte(tok)) {
		t.Errorf("a secret reached trail: %s", all)
	}
}

// TestProxyClientCertificate runs "trail proxy" with TLS and --client-ca:
// a client that presents a certificate the CA verifies is recorded in
// trail by its subject.
func TestProxyClientCertificate(t *testing.T) {
	const opKey = "operator-key-for-the-proxy-mtls-test-0123456789"
	s, _ := startServer(t, ServeConfig{Addr: "127.0.0.1:0", Data: t.TempDir(), ServerName: "proxy.test", BootstrapKey: opKey, AutoTenants: true}, io.Discard)
	vars := map[string]string{"TRAIL_SERVER": s.URL(), "TRAIL_KEY": opKey}
	writer := newKeyFor(t, vars, "writer", "acme")
	reader := newKeyFor(t, vars, "viewer", "acme")
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer up.Close()

	dir := t.TempDir()
	certFile, keyFile, serverPool := writeSelfSigned(t, dir)
	// A self-signed client certificate that is its own CA.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: "billing-service", Organization: []string{"Acme"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "clients.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)

	px, _, stop := startProxyCmd(t, map[string]string{"TRAIL_SERVER": s.URL(), "TRAIL_KEY": writer},
		"--listen", "127.0.0.1:0", "--upstream", up.URL, "--tls-cert", certFile, "--tls-key", keyFile, "--client-ca", caFile)
	if !strings.HasPrefix(px, "https://") {
		t.Fatalf("proxy URL %s, want https", px)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: serverPool,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}}}
	resp, err := hc.Get(px + "/v1/invoices")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	stop()

	var page struct{ Events []trail.Event }
	rc := &client{base: s.URL(), key: reader, hc: s.httpClient()}
	if err := rc.getJSON(context.Background(), "/v1/events", url.Values{"action": {"http.get"}}, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 1 {
		t.Fatalf("%d events, want 1", len(page.Events))
	}
	e := page.Events[0]
	if e.Actor.ID != "CN=billing-service,O=Acme" || e.Actor.Type != "service" || e.Actor.Name != "billing-service" {
		t.Errorf("actor = %+v, want the certificate's subject", e.Actor)
	}
	if a, _ := e.Metadata["authn"].(map[string]any); a["method"] != "mtls" || a["serial"] != "2a" {
		t.Errorf("metadata.authn = %v, want mtls with serial 2a", e.Metadata["authn"])
	}
}

// TestProxyFlags names the offending flag or configuration field.
func TestProxyFlags(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"routes":[{"path":"no-slash"}]}`), 0o600)
	base := map[string]string{"TRAIL_KEY": "k", "TRAIL_PROXY_UPSTREAM": "http://127.0.0.1:1"}
	tests := []struct {
		name string
		vars map[string]string
		args []string
		want string
	}{
		{"no upstream", map[string]string{"TRAIL_KEY": "k"}, nil, "--upstream: required"},
		{"bad upstream", base, []string{"--upstream", "ftp://x"}, "--upstream"},
		{"no key", map[string]string{"TRAIL_PROXY_UPSTREAM": "http://x"}, nil, "--key"},
		{"half tls", base, []string{"--tls-cert", "c.pem"}, "--tls-cert and --tls-key"},
		{"bad config", base, []string{"--config", bad}, "routes[0].path"},
		{"missing config", base, []string{"--config", filepath.Join(dir, "nope.json")}, "--config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCmd(t, tt.vars, "", append([]string{"proxy"}, tt.args...)...)
			if code != exitUsage || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, %q; want usage error naming %s", code, errOut, tt.want)
			}
		})
	}
}

// BenchmarkProxyOverhead measures what the proxy adds to a call at 2,000
// requests per second: an open-loop load alternates one-second rounds
// calling an upstream on this machine directly and through "trail proxy"
// (recording every call into a real trail server, also on this machine,
// through the Go SDK), and reports the difference of the p50 and p99
// latencies of the two. TRAIL_PROXY_BENCH_ROUNDS sets the number of
// rounds of each (default 4), TRAIL_PROXY_BENCH_RATE the calls per second
// (default 2000). Run it with -benchtime=1x -count=5 and take the medians.
func BenchmarkProxyOverhead(b *testing.B) {
	rate, rounds := 2000, 4
	if v := os.Getenv("TRAIL_PROXY_BENCH_ROUNDS"); v != "" {
		fmt.Sscan(v, &rounds)
	}
	if v := os.Getenv("TRAIL_PROXY_BENCH_RATE"); v != "" {
		fmt.Sscan(v, &rate)
	}
	// trail itself runs in this process unless TRAIL_PROXY_BENCH_SERVER
	// names a running one (with TRAIL_PROXY_BENCH_KEY, an operator key):
	// in a process of its own, as deployed, its garbage collection and
	// fsyncs do not pause the proxy's and the direct calls' goroutines.
	opKey, trailURL := "operator-key-for-the-proxy-benchmark-0123456789", os.Getenv("TRAIL_PROXY_BENCH_SERVER")
	hcTrail := http.DefaultClient
	if trailURL == "" {
		srv, err := OpenServer(ServeConfig{Addr: "127.0.0.1:0", Data: b.TempDir(), ServerName: "bench.test", BootstrapKey: opKey, AutoTenants: true}, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		sctx, scancel := context.WithCancel(context.Background())
		sdone := make(chan error, 1)
		go func() { sdone <- srv.Run(sctx) }()
		defer func() { scancel(); <-sdone }()
		trailURL, hcTrail = srv.URL(), srv.httpClient()
	} else {
		opKey = os.Getenv("TRAIL_PROXY_BENCH_KEY")
	}
	var key struct{ Key string }
	op := &client{base: trailURL, key: opKey, hc: hcTrail}
	if err := op.sendJSON(context.Background(), "POST", "/v1/keys", map[string]string{"name": "bench proxy", "role": "writer", "tenant": "bench"}, &key); err != nil {
		b.Fatal(err)
	}

	body := []byte(`{"id":"p_7","name":"a project","members":3}`)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	defer up.Close()
	dir := b.TempDir()
	cfgFile := filepath.Join(dir, "proxy.json")
	os.WriteFile(cfgFile, []byte(`{"routes":[{"method":"GET","path":"/v1/projects/{id}"}],"api_key_headers":["X-Api-Key"]}`), 0o600)
	p, err := OpenProxy(ProxyConfig{Listen: "127.0.0.1:0", Upstream: up.URL, Server: trailURL, Key: key.Key, File: cfgFile,
		GCPercent: 400}, io.Discard) // the command's default
	if err != nil {
		b.Fatal(err)
	}
	pctx, pcancel := context.WithCancel(context.Background())
	pdone := make(chan error, 1)
	go func() { pdone <- p.Run(pctx) }()
	defer func() { pcancel(); <-pdone }()

	tr := &http.Transport{MaxIdleConns: 2048, MaxIdleConnsPerHost: 2048, IdleConnTimeout: time.Minute}
	hc := &http.Client{Transport: tr}
	get := func(u string) time.Duration {
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("X-Api-Key", "bench-caller-key")
		t0 := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			b.Error(err)
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(t0)
	}
	// Warm both paths' connections.
	for range 200 {
		get(up.URL + "/v1/projects/p_7")
		get(p.URL() + "/v1/projects/p_7")
	}
	var direct, proxied []time.Duration
	var directCPU, proxiedCPU time.Duration // CPU time of this process (load, upstream, proxy and trail) per phase
	b.ResetTimer()
	for range b.N {
		direct, proxied = direct[:0], proxied[:0]
		for range rounds {
			c0 := benchCPU()
			direct = append(direct, pacedLoad(rate, time.Second, func() time.Duration { return get(up.URL + "/v1/projects/p_7") })...)
			c1 := benchCPU()
			proxied = append(proxied, pacedLoad(rate, time.Second, func() time.Duration { return get(p.URL() + "/v1/projects/p_7") })...)
			// trail ingests the round's events before the next direct
			// round, which must not pay for them; the CPU is the proxy's.
			fctx, fcancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := p.client.Flush(fctx); err != nil {
				b.Errorf("flush: %v", err)
			}
			fcancel()
			directCPU += c1 - c0
			proxiedCPU += benchCPU() - c1
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(directCPU.Microseconds())/float64(len(direct)), "direct-cpu-µs/call")
	b.ReportMetric(float64(proxiedCPU.Microseconds())/float64(len(proxied)), "proxied-cpu-µs/call")
	d50, d99 := latencyAt(direct, 50), latencyAt(direct, 99)
	p50, p99 := latencyAt(proxied, 50), latencyAt(proxied, 99)
	b.ReportMetric(float64(d50.Microseconds()), "direct-p50-µs")
	b.ReportMetric(float64(d99.Microseconds()), "direct-p99-µs")
	b.ReportMetric(float64(p50.Microseconds()), "proxied-p50-µs")
	b.ReportMetric(float64(p99.Microseconds()), "proxied-p99-µs")
	b.ReportMetric(float64((p50 - d50).Microseconds()), "added-p50-µs")
	b.ReportMetric(float64((p99 - d99).Microseconds()), "added-p99-µs")
	// Every proxied call is recorded: wait for the client to deliver.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.client.Flush(ctx); err != nil {
		b.Errorf("flush: %v", err)
	}
	st, cs := p.Auditor().Stats(), p.client.Stats()
	if st.SendErrors != 0 || st.Invalid != 0 {
		b.Errorf("auditor stats %+v, want every call recorded", st)
	}
	b.Logf("%d direct and %d proxied calls at %d/s; events recorded %d; client %+v", len(direct), len(proxied), rate, st.Recorded, cs)
	for _, q := range []int{50, 90, 95, 99, 100} {
		b.Logf("p%d: direct %v, proxied %v", q, latencyAt(direct, q), latencyAt(proxied, q))
	}
}

// pacedLoad starts call at rate per second for d, each on its own
// goroutine at its scheduled time whether or not earlier calls have
// finished (an open loop, so a slow call does not slow the load), and
// returns the latencies.
func pacedLoad(rate int, d time.Duration, call func() time.Duration) []time.Duration {
	interval := time.Second / time.Duration(rate)
	n := int(d / interval)
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat[i] = call()
		}()
	}
	wg.Wait()
	return lat
}

// latencyAt returns the p-th percentile (nearest rank) of ds.
func latencyAt(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(i-1, 0)]
}
