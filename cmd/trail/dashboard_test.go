package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDashboardInChromium boots the real server, ingests events and runs
// the dashboard's self-test page (ui/assets/selftest.js) in headless
// Chromium: sign-in (and a 401 back to sign-in), paging, a q filter, live
// tail of an event ingested during the test, event detail with the
// inclusion proof checked in the browser, the three exports and sign-out.
// It runs when TRAIL_TEST_CHROMIUM is set and then needs chromium on PATH
// (or TRAIL_CHROMIUM naming the binary).
func TestDashboardInChromium(t *testing.T) {
	if os.Getenv("TRAIL_TEST_CHROMIUM") == "" {
		t.Skip("set TRAIL_TEST_CHROMIUM=1 to run the dashboard in headless Chromium")
	}
	bin := os.Getenv("TRAIL_CHROMIUM")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("chromium"); err != nil {
			t.Fatalf("TRAIL_TEST_CHROMIUM is set but chromium is not on PATH: %v", err)
		}
	}

	const opKey = "operator-key-for-the-dashboard-0123456789"
	s, err := OpenServer(ServeConfig{Addr: "127.0.0.1:0", Data: t.TempDir(), ServerName: "dashboard.test", BootstrapKey: opKey, AutoTenants: true}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	vars := map[string]string{"TRAIL_SERVER": s.URL(), "TRAIL_KEY": opKey}
	code, out, errOut := runCmd(t, vars, "", "keys", "create", "--name", "dash admin", "--role", "admin", "--key-tenant", "acme")
	if code != exitOK {
		t.Fatalf("keys create: exit %d: %s", code, errOut)
	}
	var key struct{ Key string }
	if err := json.Unmarshal([]byte(out), &key); err != nil {
		t.Fatal(err)
	}
	vars["TRAIL_KEY"] = key.Key
	events := `{"action":"user.login","actor":{"id":"u_42"},"outcome":"failure","source":{"ip":"203.0.113.7"}}
{"action":"user.login","actor":{"id":"u_42"},"outcome":"success","source":{"ip":"203.0.113.7"}}
{"action":"route.update","actor":{"id":"u_7"},"resource":{"type":"route","id":"r_9"}}
{"action":"key.create","actor":{"id":"u_1"}}
`
	if code, _, errOut := runCmd(t, vars, events, "ingest", "--quiet"); code != exitOK {
		t.Fatalf("ingest: exit %d: %s", code, errOut)
	}

	// The shell is served with its policy.
	res, err := http.Get(s.URL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("GET /: Content-Security-Policy = %q", csp)
	}

	// Headless Chromium with --dump-dom now and then hangs, or exits
	// without output (each seen about once in ten runs here); such a run is
	// killed after 20s or discarded, and retried, up to three attempts, each
	// logged. A DOM without results after three attempts fails the test.
	resultsRe := regexp.MustCompile(`(?s)<pre id="selftest-results">(.*?)</pre>`)
	var m [][]byte
	for attempt := 1; m == nil; attempt++ {
		cctx, ccancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(cctx, bin, "--headless", "--no-sandbox", "--disable-gpu",
			"--disable-background-networking", "--no-first-run", "--disable-dev-shm-usage",
			"--user-data-dir="+t.TempDir(), "--virtual-time-budget=30000", "--dump-dom",
			s.URL()+"/ui/selftest.html#key="+key.Key)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		hung := cctx.Err() != nil
		ccancel()
		if err == nil {
			m = resultsRe.FindSubmatch(out)
		}
		switch {
		case m != nil:
		case attempt < 3:
			t.Logf("chromium attempt %d: hung %v, error %v, %d bytes of DOM without results; retrying", attempt, hung, err, len(out))
		case err != nil:
			t.Fatalf("chromium: %v\n%s", err, stderr.String())
		default:
			t.Fatalf("no self-test results in the DOM:\n%s", out)
		}
	}
	raw := strings.NewReplacer("&quot;", `"`, "&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(string(m[1]))
	t.Logf("self-test: %s", raw)
	var got struct {
		OK           bool
		Error        string
		Unauthorized struct {
			Signin, KeyCleared bool
			Message            string
		}
		SignedIn struct {
			KeyInSession bool
			FirstPage    int
			More         bool
		}
		AfterMore int
		Filtered  []string
		Tail      struct {
			First string
			Live  bool
		}
		Detail struct {
			OK      bool
			Message string
			JSON    bool
		}
		Tampered struct {
			OK      bool
			Message string
		}
		NdjsonLines int
		CsvHeader   string
		BundleMagic string
		SignedOut   struct {
			Signin, KeyCleared bool
		}
	}
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("self-test results %q: %v", raw, err)
	}
	if !got.OK {
		t.Fatalf("self-test failed: %s", got.Error)
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"401 returns to sign-in with the message and clears the key", got.Unauthorized.Signin && got.Unauthorized.KeyCleared && got.Unauthorized.Message != ""},
		{"sign-in keeps the key in sessionStorage", got.SignedIn.KeyInSession},
		{"first page of 2 with more", got.SignedIn.FirstPage == 2 && got.SignedIn.More},
		{"load more by cursor", got.AfterMore == 4},
		{"q filter", len(got.Filtered) == 2 && got.Filtered[0] == "user.login"},
		{"live tail shows the new event first", got.Tail.First == "selftest.tail" && got.Tail.Live},
		{"detail verified in the browser", got.Detail.OK && strings.Contains(got.Detail.Message, "verified against checkpoint size") && got.Detail.JSON},
		{"checkpoint signature checked or reported unsupported", strings.Contains(got.Detail.Message, "signature verified") || strings.Contains(got.Detail.Message, "cannot check Ed25519")},
		{"a wrong leaf hash fails", !got.Tampered.OK && strings.Contains(got.Tampered.Message, "root mismatch")},
		{"NDJSON export", got.NdjsonLines >= 5}, // the tenant also holds the self-audit of the reads
		{"CSV export", strings.HasPrefix(got.CsvHeader, "seq,id,time")},
		{"bundle export is a zip", got.BundleMagic == "PK"},
		{"sign-out clears the key", got.SignedOut.Signin && got.SignedOut.KeyCleared},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: not so (results %s)", c.name, raw)
		}
	}
}

// TestDashboardRouting: the dashboard is served at / and /ui/… by the same
// server, and every other path, /v1/… included, keeps the API's JSON 404.
func TestDashboardRouting(t *testing.T) {
	s, err := OpenServer(ServeConfig{Addr: "127.0.0.1:0", Data: t.TempDir(), ServerName: "routing.test", BootstrapKey: "operator-key-for-the-routing-0123456789"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	tests := []struct {
		path, status, contentType string
	}{
		{"/", "200 OK", "text/html; charset=utf-8"},
		{"/ui/app.js", "200 OK", "text/javascript; charset=utf-8"},
		{"/ui/nope.js", "404 Not Found", "text/plain; charset=utf-8"},
		{"/v1/nope", "404 Not Found", "application/json"},
		{"/nope", "404 Not Found", "application/json"},
		{"/healthz", "200 OK", "application/json"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			res, err := http.Get(s.URL() + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.Status != tc.status || !strings.HasPrefix(res.Header.Get("Content-Type"), tc.contentType) {
				t.Errorf("got %s %s, want %s %s: %s", res.Status, res.Header.Get("Content-Type"), tc.status, tc.contentType, body)
			}
			if tc.contentType == "application/json" && res.StatusCode == 404 && !strings.Contains(string(body), `"not_found"`) {
				t.Errorf("body %s, want a not_found error", body)
			}
		})
	}
}
