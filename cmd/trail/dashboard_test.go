package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/trail-audit/trail/internal/browsertest"
)

// dash is a real trail server for the browser tests, with an operator key
// to make other keys and an HTTP client to ingest.
type dash struct {
	t     *testing.T
	s     *Server
	url   string
	opKey string
}

const dashOperatorKey = "operator-key-for-the-dashboard-0123456789"

// newDash starts a server with auto-created tenants on a fresh data directory.
func newDash(t *testing.T) *dash {
	t.Helper()
	return newDashAt(t, t.TempDir())
}

// dashServerName is the --server-name of the dashboard tests' servers.
const dashServerName = "dashboard.test"

// newDashAt is newDash on the data directory dir.
func newDashAt(t *testing.T, dir string) *dash {
	t.Helper()
	s, _ := startServer(t, ServeConfig{Addr: "127.0.0.1:0", Data: dir, ServerName: dashServerName, BootstrapKey: dashOperatorKey, AutoTenants: true}, io.Discard)
	return &dash{t: t, s: s, url: s.URL(), opKey: dashOperatorKey}
}

// key creates a key of role for tenant ("*" = all tenants) and returns its secret.
func (d *dash) key(name, role, tenant string) string {
	d.t.Helper()
	var out struct{ Key string }
	d.call(d.opKey, "POST", "/v1/keys", map[string]any{"name": name, "role": role, "tenant": tenant}, &out)
	return out.Key
}

// call sends a JSON request with key and decodes a 2xx answer into out.
func (d *dash) call(key, method, path string, body, out any) {
	d.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			d.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, d.url+path, rd)
	if err != nil {
		d.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 {
		d.t.Fatalf("%s %s: %s: %s", method, path, res.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			d.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// ingest posts NDJSON events with key.
func (d *dash) ingest(key, ndjson string) {
	d.t.Helper()
	req, err := http.NewRequest("POST", d.url+"/v1/events", strings.NewReader(ndjson))
	if err != nil {
		d.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/x-ndjson")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		d.t.Fatalf("ingest: %s: %s", res.Status, b)
	}
}

// browse runs actions in the browser and fails the test on an error.
func browse(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	if err := chromedp.Run(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// awaitPromise makes Evaluate wait for the promise the expression returns.
func awaitPromise(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }

// until polls a JavaScript expression until it is truthy; an expression
// that throws (an element not there yet) counts as false.
func until(expr string) chromedp.Action {
	return chromedp.Poll("(() => { try { return !!("+expr+"); } catch { return false; } })()", nil, chromedp.WithPollingTimeout(10*time.Second), chromedp.WithPollingInterval(20*time.Millisecond))
}

// signIn opens the dashboard at path and signs in by typing key into the form.
func signIn(url, key, path string) chromedp.Tasks {
	return chromedp.Tasks{
		chromedp.Navigate(url + "/" + path),
		chromedp.WaitVisible("#key", chromedp.ByID),
		chromedp.SendKeys("#key", key, chromedp.ByID),
		chromedp.Click(`#signin-form button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible("#nav", chromedp.ByID),
	}
}

// rowActions returns the action column of the events table.
const rowActions = `[...document.querySelectorAll("#results tbody tr")].map(r => r.dataset.action)`

// TestDashboardInChromium drives the events page and event detail of the
// real server in headless Chromium: a refused key, sign-in by the form,
// the q filter and a field filter from the URL, saved searches, live tail
// of an event ingested during the test (its latency logged), detail opened
// with Enter showing every field, the masked path and the change diff,
// with the proof "verified" in the browser (and a tampered one failing),
// Escape closing it, each export downloaded, and sign-out.
func TestDashboardInChromium(t *testing.T) {
	ctx := browsertest.New(t, 3*time.Minute)
	d := newDash(t)
	admin := d.key("dash admin", "admin", "acme")
	d.ingest(admin, `{"action":"user.login","actor":{"id":"u_42"},"outcome":"failure","source":{"ip":"203.0.113.7"}}
{"action":"user.login","actor":{"id":"u_42"},"outcome":"success","source":{"ip":"203.0.113.7"},"metadata":{"password":"hunter2"}}
{"action":"route.update","actor":{"id":"u_7"},"resource":{"type":"route","id":"r_9"},"changes":[{"field":"upstream","old":"a:80","new":"b:80"},{"field":"limits","old":{"rps":10},"new":{"rps":20,"burst":5}}]}
{"action":"key.create","actor":{"id":"u_1"}}
`)

	// A refused key stays on sign-in with the server's message.
	var msg string
	browse(t, ctx, "bad key",
		chromedp.Navigate(d.url+"/"),
		chromedp.WaitVisible("#key", chromedp.ByID),
		chromedp.SendKeys("#key", "trl_not_a_key", chromedp.ByID),
		chromedp.Click(`#signin-form button[type=submit]`, chromedp.ByQuery),
		until(`document.querySelector("#signin-message").textContent !== ""`),
		chromedp.Text("#signin-message", &msg, chromedp.ByID))
	if msg == "" {
		t.Error("a refused key shows no message")
	}

	// Sign in; the newest event is first.
	var actions []string
	browse(t, ctx, "sign in", signIn(d.url, admin, ""),
		until(`document.querySelectorAll("#results tbody tr").length >= 4`),
		chromedp.Evaluate(rowActions, &actions))
	if i, j := slices.Index(actions, "key.create"), slices.Index(actions, "route.update"); i < 0 || j < i {
		t.Errorf("events after sign-in: %q, want newest first", actions)
	}

	// The q filter, typed and submitted, goes into the URL.
	var hash string
	browse(t, ctx, "q filter",
		chromedp.SendKeys(`#filters input[name=q]`, "action:user.login"+kb.Enter, chromedp.ByQuery),
		until(`(a => a.length === 2 && a.every(x => x === "user.login"))(`+rowActions+`)`),
		chromedp.Evaluate(`location.hash`, &hash))
	if !strings.Contains(hash, "q=action%3Auser.login") {
		t.Errorf("hash after filtering = %q, want the q filter in it", hash)
	}
	// Save it, then follow a link with a field filter; the saved search
	// brings the first filter back.
	browse(t, ctx, "saved search and field filter",
		chromedp.SendKeys("#save-name", "logins", chromedp.ByID),
		chromedp.Click("#save", chromedp.ByID),
		chromedp.Navigate(d.url+"/#/events?actor=u_7"),
		until(`(a => a.length === 1 && a[0] === "route.update")(`+rowActions+`)`),
		chromedp.Evaluate(`document.querySelector("#filters [name=actor]").value`, &msg))
	if msg != "u_7" {
		t.Errorf("actor field = %q, want u_7 from the URL", msg)
	}
	browse(t, ctx, "apply saved search",
		chromedp.Evaluate(`(s => { s.value = "0"; s.dispatchEvent(new Event("change")); })(document.querySelector("#saved"))`, nil),
		until(`(a => a.length === 2 && a.every(x => x === "user.login"))(`+rowActions+`)`))

	// Live tail: an event ingested now appears at the top.
	browse(t, ctx, "start live tail",
		chromedp.Navigate(d.url+"/#/events"),
		until(`document.querySelectorAll("#results tbody tr").length >= 4`),
		chromedp.Click("#live", chromedp.ByID),
		chromedp.Sleep(500)) // the stream's request reaches the server
	start := time.Now()
	d.ingest(admin, `{"action":"dash.tail","actor":{"id":"u_tail"},"outcome":"success"}`+"\n")
	var arrived int64
	browse(t, ctx, "live-tailed event",
		until(`document.querySelector('#results tbody tr[data-action="dash.tail"][data-arrived]')`),
		chromedp.Evaluate(`Number(document.querySelector('#results tbody tr[data-action="dash.tail"]').dataset.arrived)`, &arrived))
	latency := time.UnixMilli(arrived).Sub(start)
	t.Logf("live tail: ingest → row in %v", latency)
	if latency > time.Second {
		t.Errorf("live tail latency %v, want ≤ 1s", latency)
	}
	browse(t, ctx, "stop live tail", chromedp.Click("#live", chromedp.ByID))

	// Detail, opened from the keyboard: fields, masking, diff, proof.
	var proof, fields, diff, maskedRow string
	browse(t, ctx, "open detail with Enter",
		chromedp.Focus(`#results tbody tr[data-action="route.update"]`, chromedp.ByQuery),
		chromedp.KeyEvent(kb.Enter),
		until(`/proof (ok|bad)/.test(document.querySelector("#proof").className)`),
		chromedp.Text("#proof", &proof, chromedp.ByID),
		chromedp.Text(".fields-table", &fields, chromedp.ByQuery),
		chromedp.Text("#diff", &diff, chromedp.ByID))
	if !strings.Contains(proof, "verified against checkpoint size") {
		t.Errorf("proof panel says %q, want verified", proof)
	}
	if !strings.Contains(proof, "signature verified") && !strings.Contains(proof, "cannot check Ed25519") {
		t.Errorf("proof panel says %q, want the checkpoint signature checked", proof)
	}
	for _, want := range []string{"resource.id", "r_9", "leaf_hash", "received_at"} {
		if !strings.Contains(fields, want) {
			t.Errorf("fields table lacks %q: %s", want, fields)
		}
	}
	for _, want := range []string{"upstream", "a:80", "b:80", "limits.rps", "limits.burst", "added", "changed"} {
		if !strings.Contains(diff, want) {
			t.Errorf("diff lacks %q: %s", want, diff)
		}
	}
	browse(t, ctx, "Escape closes detail",
		chromedp.KeyEvent(kb.Escape),
		until(`document.querySelector("#detail").hidden && !location.hash.includes("event=")`))
	browse(t, ctx, "masked field",
		chromedp.Click(`#results tbody tr[data-action="user.login"]`, chromedp.ByQuery), // the newer login, with the password
		until(`/proof (ok|bad)/.test(document.querySelector("#proof").className)`),
		chromedp.Evaluate(`[...document.querySelectorAll(".fields-table tr.masked th")].map(th => th.textContent).join(",")`, &maskedRow))
	if !strings.Contains(maskedRow, "metadata.password") {
		t.Errorf("masked rows %q, want metadata.password", maskedRow)
	}

	// The verifier rejects a proof for another leaf hash.
	var tampered struct {
		OK      bool
		Message string
	}
	browse(t, ctx, "tampered proof", chromedp.Evaluate(`(async () => {
		const { verifyEventProof } = await import("/ui/proof.js");
		const { apiJSON } = await import("/ui/api.js");
		const id = document.querySelector("#results tbody tr").dataset.id;
		const resp = await apiJSON("/v1/events/" + id + "?proof=1");
		resp.event.leaf_hash = btoa(String.fromCharCode(...new Uint8Array(32)));
		return verifyEventProof(resp, "");
	})()`, &tampered, awaitPromise))
	if tampered.OK || !strings.Contains(tampered.Message, "root mismatch") {
		t.Errorf("tampered proof: %+v, want a root mismatch", tampered)
	}

	// Each export downloads the current filter into the download directory.
	dir := t.TempDir()
	browse(t, ctx, "allow downloads", browser.SetDownloadBehavior(browser.SetDownloadBehaviorBehaviorAllow).WithDownloadPath(dir).WithEventsEnabled(true))
	for _, f := range []struct{ format, file string }{{"ndjson", "trail-export.ndjson"}, {"csv", "trail-export.csv"}, {"bundle", "trail-export.zip"}} {
		browse(t, ctx, "export "+f.format, chromedp.Click(`#exports [data-format="`+f.format+`"]`, chromedp.ByQuery))
		b := waitFile(t, filepath.Join(dir, f.file))
		switch f.format {
		case "ndjson":
			checkNDJSONExport(t, d, admin, b)
		case "csv":
			if !bytes.HasPrefix(b, []byte("seq,id,time")) {
				t.Errorf("CSV export starts %q", b[:min(len(b), 40)])
			}
		case "bundle":
			if !bytes.HasPrefix(b, []byte("PK")) {
				t.Errorf("bundle export is not a zip: %q", b[:min(len(b), 8)])
			}
		}
	}

	// Sign-out returns to the sign-in form.
	browse(t, ctx, "sign out", chromedp.Click("#signout", chromedp.ByID), chromedp.WaitVisible("#signin-form", chromedp.ByID))
}

// checkNDJSONExport checks that every line of an NDJSON export is an
// event, that the tailed event is there, and that SHA-256(0x00‖line) of
// the first line is that event's leaf hash as the API gives it.
func checkNDJSONExport(t *testing.T, d *dash, key string, b []byte) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	n, tail := 0, false
	for sc.Scan() {
		n++
		var e struct{ Action string }
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("NDJSON export line %d: %v", n, err)
		}
		tail = tail || e.Action == "dash.tail"
	}
	if n < 5 || !tail {
		t.Errorf("NDJSON export: %d lines, tailed event present %v", n, tail)
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	var first struct{ ID string }
	if err := json.Unmarshal(line, &first); err != nil {
		t.Fatal(err)
	}
	var got struct {
		LeafHash string `json:"leaf_hash"`
	}
	d.call(key, "GET", "/v1/events/"+first.ID, nil, &got)
	sum := sha256.Sum256(append([]byte{0}, line...))
	if want := base64.StdEncoding.EncodeToString(sum[:]); got.LeafHash != want {
		t.Errorf("first exported line hashes to %s, the API says its leaf hash is %s", want, got.LeafHash)
	}
}

// waitFile waits for a completed download and returns its contents.
func waitFile(t *testing.T, path string) []byte {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			if _, err := os.Stat(path + ".crdownload"); err != nil {
				return b
			}
		}
	}
	t.Fatalf("no download at %s", path)
	return nil
}

// TestDashboardRouting: the dashboard is served at / and /ui/… by the same
// server, and every other path, /v1/… included, keeps the API's JSON 404.
func TestDashboardRouting(t *testing.T) {
	s, _ := startServer(t, ServeConfig{Addr: "127.0.0.1:0", Data: t.TempDir(), ServerName: "routing.test", BootstrapKey: "operator-key-for-the-routing-0123456789"}, io.Discard)
	tests := []struct {
		path, status, contentType string
	}{
		{"/", "200 OK", "text/html; charset=utf-8"},
		{"/ui/app.js", "200 OK", "text/javascript; charset=utf-8"},
		{"/ui/vendor/uplot/uPlot.iife.min.js", "200 OK", "text/javascript; charset=utf-8"},
		{"/ui/selftest.html", "404 Not Found", "text/plain; charset=utf-8"},
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
			if tc.path == "/" && !strings.Contains(res.Header.Get("Content-Security-Policy"), "script-src 'self'") {
				t.Errorf("GET /: Content-Security-Policy = %q", res.Header.Get("Content-Security-Policy"))
			}
		})
	}
}
