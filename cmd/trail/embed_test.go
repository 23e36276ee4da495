package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/trail-audit/trail/internal/browsertest"
)

// embedOperatorKey is the bootstrap operator key of the embed tests.
const embedOperatorKey = "operator-key-for-the-embed-tests-0123456789"

// embedCall sends a JSON request to a trail server with key and decodes
// the body into out (when not nil); it returns the status.
func embedCall(t *testing.T, base, key, method, path string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %s: %v", method, path, b, err)
		}
	}
	return res.StatusCode
}

// embedSite is a trail server with events by u_1 and u_2 in acme and
// globex, and an acme admin key (the customer's backend).
type embedSite struct {
	url, admin, data string
}

func newEmbedSite(t *testing.T, origins []string) *embedSite {
	t.Helper()
	data := t.TempDir()
	s, _ := startServer(t, ServeConfig{Addr: "127.0.0.1:0", Data: data, ServerName: "embed.test", BootstrapKey: embedOperatorKey,
		AutoTenants: true, EmbedOrigins: origins, ViewerTokenMaxTTL: 24 * time.Hour}, io.Discard)
	site := &embedSite{url: s.URL(), data: data}
	var events []map[string]any
	for _, e := range []struct{ id, tenant, actor, action string }{
		{"acme-u1-1", "acme", "u_1", "doc.view"}, {"acme-u2-1", "acme", "u_2", "doc.view"}, {"acme-u1-2", "acme", "u_1", "doc.edit"},
		{"acme-u2-2", "acme", "u_2", "doc.delete"}, {"acme-u1-3", "acme", "u_1", "user.login"},
		{"globex-u1-1", "globex", "u_1", "doc.view"}, {"globex-u2-1", "globex", "u_2", "doc.view"},
	} {
		events = append(events, map[string]any{"id": e.id, "tenant": e.tenant, "action": e.action, "actor": map[string]any{"id": e.actor},
			"metadata": map[string]any{"password": "hunter2"}})
	}
	if st := embedCall(t, site.url, embedOperatorKey, "POST", "/v1/events", map[string]any{"events": events}, nil); st != http.StatusCreated {
		t.Fatalf("ingest: %d", st)
	}
	var key struct{ Key string }
	if st := embedCall(t, site.url, embedOperatorKey, "POST", "/v1/keys", map[string]any{"name": "customer backend", "role": "admin", "tenant": "acme"}, &key); st != http.StatusCreated {
		t.Fatalf("create key: %d", st)
	}
	site.admin = key.Key
	return site
}

// mint mints a viewer token from the customer's backend.
func (s *embedSite) mint(t *testing.T, filter, ttl string) (token, id string) {
	t.Helper()
	var v struct{ Token, ID string }
	if st := embedCall(t, s.url, s.admin, "POST", "/v1/viewer-tokens", map[string]any{"filter": filter, "ttl": ttl}, &v); st != http.StatusCreated {
		t.Fatalf("mint: %d", st)
	}
	return v.Token, v.ID
}

// queriesBy counts the events queries the viewer token id made, from the
// self-audit log of acme.
func (s *embedSite) queriesBy(t *testing.T, id string) int {
	t.Helper()
	var page struct{ Events []json.RawMessage }
	q := url.QueryEscape("action:trail.events.query actor:viewer-token-" + id)
	if st := embedCall(t, s.url, embedOperatorKey, "GET", "/v1/events?tenant=acme&q="+q, nil, &page); st != http.StatusOK {
		t.Fatalf("audit query: %d", st)
	}
	return len(page.Events)
}

// outerPage serves the customer's application: a page that frames the
// URL in its ?src= parameter. It is reached as http://localhost:port, a
// different origin and site than trail's http://127.0.0.1:port.
func outerPage(t *testing.T) (origin string) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>Customer app</title><h1>Your audit log</h1><iframe id="audit" width="1000" height="600" src="%s"></iframe>`,
			html.EscapeString(r.URL.Query().Get("src")))
	}))
	t.Cleanup(srv.Close)
	return strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
}

// frame waits for the out-of-process iframe whose URL starts with prefix
// and returns a chromedp context that runs in it.
func frame(t *testing.T, ctx context.Context, prefix string) context.Context {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		targets, err := chromedp.Targets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, ti := range targets {
			if ti.Type == "iframe" && strings.HasPrefix(ti.URL, prefix) {
				fctx, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(ti.TargetID))
				t.Cleanup(cancel)
				return fctx
			}
		}
		if time.Now().After(deadline) {
			var urls []string
			for _, ti := range targets {
				urls = append(urls, string(ti.Type)+" "+ti.URL)
			}
			t.Fatalf("no iframe at %s among the targets %v", prefix, urls)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// embedAwait makes chromedp.Evaluate wait for the promise it returns.
func embedAwait(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }

// rowsJS returns the actor and action of every row of the embed's table.
const rowsJS = `[...document.querySelectorAll("#events tbody tr")].map((r) => r.cells[2].textContent + " " + r.cells[1].textContent)`

// TestEmbedInChromium: a customer's page on another origin frames
// /embed for acme and actor:u_1. The frame shows u_1's events only; its
// search box cannot widen them; fetch calls made inside the frame with the
// token for u_2's event and for globex are refused; the event detail shows
// masked fields and a verified proof; live tail brings new u_1 events but
// no u_2 one; scrolling loads the next page; a lapsed token shows the
// expired state. A server without
// --embed-origins refuses to be framed.
func TestEmbedInChromium(t *testing.T) {
	ctx := browsertest.New(t, 3*time.Minute)
	outer := outerPage(t)
	site := newEmbedSite(t, []string{outer})
	token, tokenID := site.mint(t, "actor:u_1", "15m")

	src := site.url + "/embed?token=" + url.QueryEscape(token)
	if err := chromedp.Run(ctx, chromedp.Navigate(outer+"/?src="+url.QueryEscape(src))); err != nil {
		t.Fatal(err)
	}
	fctx := frame(t, ctx, site.url+"/embed")

	var rows []string
	var search string
	if err := chromedp.Run(fctx,
		chromedp.Poll(`document.querySelectorAll("#events tbody tr").length >= 3`, nil, chromedp.WithPollingTimeout(15*time.Second)),
		chromedp.Evaluate(rowsJS, &rows),
		chromedp.Evaluate(`location.search + location.hash`, &search),
	); err != nil {
		t.Fatal(err)
	}
	if want := []string{"u_1 user.login", "u_1 doc.edit", "u_1 doc.view"}; strings.Join(rows, ",") != strings.Join(want, ",") {
		t.Errorf("rows %q, want %q (u_1's events of acme, newest first)", rows, want)
	}
	if search != "" {
		t.Errorf("the token is still in the frame's URL: %q", search)
	}

	// The search box narrows, and cannot widen.
	for _, tc := range []struct{ q, want string }{
		{"actor:u_2", ""},
		{"actor:u_2 OR actor:u_1", "u_1 user.login,u_1 doc.edit,u_1 doc.view"},
		{"-actor:u_1", ""},
		{"action:doc.delete", ""},
		{"action:doc.edit", "u_1 doc.edit"},
	} {
		var got []string
		js := fmt.Sprintf(`(async () => {
			document.querySelector("#q").value = %q;
			document.querySelector("#search").requestSubmit();
			await new Promise((r) => setTimeout(r, 50));
			for (let i = 0; i < 200 && document.querySelector("#status").textContent === ""; i++) await new Promise((r) => setTimeout(r, 25));
			await new Promise((r) => setTimeout(r, 300));
			return %s;
		})()`, tc.q, rowsJS)
		if err := chromedp.Run(fctx, chromedp.Evaluate(js, &got, embedAwait)); err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, ",") != tc.want {
			t.Errorf("search %q: rows %q, want %q", tc.q, got, tc.want)
		}
	}

	// fetch from inside the frame, with the token: outside its scope is refused.
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/v1/events/acme-u1-2", 200},
		{"/v1/events/acme-u2-1", 404},
		{"/v1/events/acme-u2-1?proof=1", 404},
		{"/v1/events?tenant=globex", 403},
		{"/v1/events/globex-u1-1?tenant=globex", 403},
		{"/v1/events/globex-u1-1", 404},
		{"/v1/stats?group_by=actor&tenant=globex", 403},
		{"/v1/export", 403},
		{"/v1/settings", 403},
		{"/v1/keys", 403},
	} {
		var status int
		js := fmt.Sprintf(`fetch(%q, {headers: {Authorization: "Bearer " + %q}, credentials: "omit"}).then((r) => r.status)`, tc.path, token)
		if err := chromedp.Run(fctx, chromedp.Evaluate(js, &status, embedAwait)); err != nil {
			t.Fatal(err)
		}
		if status != tc.want {
			t.Errorf("fetch %s from the frame: %d, want %d", tc.path, status, tc.want)
		}
	}
	var stats string
	js := fmt.Sprintf(`fetch("/v1/stats?group_by=actor", {headers: {Authorization: "Bearer " + %q}}).then((r) => r.text())`, token)
	if err := chromedp.Run(fctx, chromedp.Evaluate(js, &stats, embedAwait)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stats, `"u_1"`) || strings.Contains(stats, `"u_2"`) {
		t.Errorf("stats from the frame: %s, want u_1 only", stats)
	}

	// Event detail: fields, the masked password, the proof checked here.
	var detail struct {
		Proof  string
		Masked string
		Fields int
	}
	if err := chromedp.Run(fctx,
		chromedp.Evaluate(`document.querySelector("#q").value = ""; document.querySelector("#search").requestSubmit(); true`, nil),
		chromedp.Poll(`document.querySelectorAll("#events tbody tr").length === 3`, nil, chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.Evaluate(`document.querySelector("#events tbody tr").click(); true`, nil),
		chromedp.Poll(`/verified|failed|✗/.test(document.querySelector("#proof").textContent)`, nil, chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.Evaluate(`({proof: document.querySelector("#proof").textContent, masked: document.querySelector("#masked").textContent,
			fields: document.querySelectorAll("#fields tbody tr").length})`, &detail),
	); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(detail.Proof, "✓") || !strings.Contains(detail.Masked, "metadata.password") || detail.Fields < 5 {
		t.Errorf("detail: %+v, want a verified proof, metadata.password masked and the fields", detail)
	}

	// Live tail: a new u_1 event appears, a new u_2 event does not.
	if err := chromedp.Run(fctx,
		chromedp.Evaluate(`document.querySelector("#detail-close").click(); document.querySelector("#live").click(); true`, nil),
		chromedp.Sleep(500*time.Millisecond),
	); err != nil {
		t.Fatal(err)
	}
	live := []map[string]any{
		{"id": "live-u2", "tenant": "acme", "action": "live.other", "actor": map[string]any{"id": "u_2"}},
		{"id": "live-globex", "tenant": "globex", "action": "live.globex", "actor": map[string]any{"id": "u_1"}},
		{"id": "live-u1", "tenant": "acme", "action": "live.mine", "actor": map[string]any{"id": "u_1"}},
	}
	if st := embedCall(t, site.url, embedOperatorKey, "POST", "/v1/events", map[string]any{"events": live}, nil); st != http.StatusCreated {
		t.Fatalf("ingest: %d", st)
	}
	if err := chromedp.Run(fctx,
		chromedp.Poll(`document.querySelector("#events tbody tr").cells[1].textContent === "live.mine"`, nil, chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.Evaluate(rowsJS, &rows),
	); err != nil {
		t.Fatalf("live tail: %v", err)
	}
	for _, r := range rows {
		if !strings.HasPrefix(r, "u_1 ") || strings.Contains(r, "live.other") || strings.Contains(r, "live.globex") {
			t.Errorf("live tail row %q is outside the scope", r)
		}
	}
	if n := site.queriesBy(t, tokenID); n == 0 {
		t.Error("the audit log holds no query by the framed viewer token")
	}

	// Infinite scroll: 60 events of another actor, pages of 50; scrolling
	// to the end of the table loads the rest.
	var bulk []map[string]any
	for i := range 60 {
		bulk = append(bulk, map[string]any{"tenant": "acme", "action": fmt.Sprintf("bulk.%02d", i), "actor": map[string]any{"id": "u_bulk"}})
	}
	if st := embedCall(t, site.url, embedOperatorKey, "POST", "/v1/events", map[string]any{"events": bulk}, nil); st != http.StatusCreated {
		t.Fatalf("ingest: %d", st)
	}
	bulkToken, _ := site.mint(t, "actor:u_bulk", "15m")
	if err := chromedp.Run(ctx, chromedp.Navigate(outer+"/?src="+url.QueryEscape(site.url+"/embed?token="+url.QueryEscape(bulkToken)))); err != nil {
		t.Fatal(err)
	}
	sctx := frame(t, ctx, site.url+"/embed")
	var first, all int
	if err := chromedp.Run(sctx,
		chromedp.Poll(`document.querySelectorAll("#events tbody tr").length >= 50`, nil, chromedp.WithPollingTimeout(15*time.Second)),
		chromedp.Evaluate(`document.querySelectorAll("#events tbody tr").length`, &first),
		chromedp.Evaluate(`document.querySelector("#more").scrollIntoView(); true`, nil),
		chromedp.Poll(`document.querySelectorAll("#events tbody tr").length === 60 && !document.querySelector("#end").hidden`, nil, chromedp.WithPollingTimeout(15*time.Second)),
		chromedp.Evaluate(`document.querySelectorAll("#events tbody tr").length`, &all),
	); err != nil {
		t.Fatalf("infinite scroll: %v", err)
	}
	if first != 50 || all != 60 {
		t.Errorf("infinite scroll: %d rows, then %d; want 50, then 60", first, all)
	}

	// A lapsed token: the frame shows the expired state.
	short, _ := site.mint(t, "actor:u_1", "2s")
	if err := chromedp.Run(ctx, chromedp.Navigate(outer+"/?src="+url.QueryEscape(site.url+"/embed?token="+url.QueryEscape(short)))); err != nil {
		t.Fatal(err)
	}
	ectx := frame(t, ctx, site.url+"/embed")
	var expired string
	if err := chromedp.Run(ectx,
		chromedp.Poll(`!document.querySelector("#expired").hidden`, nil, chromedp.WithPollingTimeout(15*time.Second)),
		chromedp.Evaluate(`document.querySelector("#expired").textContent`, &expired),
	); err != nil {
		t.Fatalf("expired state: %v", err)
	}
	var status int
	js = fmt.Sprintf(`fetch("/v1/events", {headers: {Authorization: "Bearer " + %q}}).then((r) => r.status)`, short)
	if err := chromedp.Run(ectx, chromedp.Evaluate(js, &status, embedAwait)); err != nil {
		t.Fatal(err)
	}
	if status != http.StatusUnauthorized || !strings.Contains(expired, "expired") {
		t.Errorf("after expiry: fetch %d, page %q; want 401 and the expired state", status, expired)
	}

	// Without --embed-origins the server refuses to be framed: the frame
	// never runs the viewer, so the token makes no query.
	closed := newEmbedSite(t, nil)
	ctoken, cid := closed.mint(t, "actor:u_1", "15m")
	if err := chromedp.Run(ctx,
		chromedp.Navigate(outer+"/?src="+url.QueryEscape(closed.url+"/embed?token="+url.QueryEscape(ctoken))),
		chromedp.Sleep(3*time.Second),
	); err != nil {
		t.Fatal(err)
	}
	targets, err := chromedp.Targets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, ti := range targets {
		if ti.Type != "iframe" || !strings.HasPrefix(ti.URL, closed.url) {
			continue
		}
		// Chromium keeps a target for the blocked frame, holding its error
		// page: no viewer ran in it (it would have removed the token from
		// the URL and drawn the table).
		fctx, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(ti.TargetID))
		var doc struct {
			Href   string
			Viewer bool
		}
		err := chromedp.Run(fctx, chromedp.Evaluate(`({href: location.href, viewer: !!document.querySelector("#events")})`, &doc))
		cancel()
		if err == nil && (doc.Viewer || strings.HasPrefix(doc.Href, closed.url)) {
			t.Errorf("the viewer ran in the refused frame %s (document %s)", ti.URL, doc.Href)
		}
		t.Logf("refused frame: target %s, document %s", ti.URL, doc.Href)
	}
	if n := closed.queriesBy(t, cid); n != 0 {
		t.Errorf("the refused frame made %d queries", n)
	}
	// The same page from trail's own origin is not framed either way; a
	// direct visit still works (the policy only limits framing).
	res, err := http.Get(closed.url + "/embed")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if csp := res.Header.Get("Content-Security-Policy"); !strings.HasSuffix(csp, "frame-ancestors 'none'") {
		t.Errorf("without --embed-origins: CSP %q", csp)
	}
}

// TestViewerTokenSigningKey: the viewer-token secret is derived from the
// signing key, so a token minted by one node works on another node with
// the same signing key (and its own data), and a node with another signing
// key refuses it. TRAIL_VIEWER_TOKEN_SECRET, when set, replaces the
// signing key as the source: nodes sharing it accept each other's tokens
// whatever their signing keys, and changing it revokes every token.
func TestViewerTokenSigningKey(t *testing.T) {
	a := newEmbedSite(t, nil)
	token, _ := a.mint(t, "actor:u_1", "1h")
	signingKey, err := os.ReadFile(filepath.Join(a.data, "signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	node := func(key []byte, secret string) string {
		dir := t.TempDir()
		if key != nil {
			if err := os.WriteFile(filepath.Join(dir, "signing.key"), key, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		s, _ := startServer(t, ServeConfig{Addr: "127.0.0.1:0", Data: dir, ServerName: "embed.test", BootstrapKey: embedOperatorKey, AutoTenants: true,
			ViewerTokenSecret: secret}, io.Discard)
		ev := map[string]any{"tenant": "acme", "action": "doc.view", "actor": map[string]any{"id": "u_1"}}
		if st := embedCall(t, s.URL(), embedOperatorKey, "POST", "/v1/events", ev, nil); st != http.StatusCreated {
			t.Fatalf("ingest: %d", st)
		}
		return s.URL()
	}
	const secret1, secret2 = "viewer-token-secret-one-0123456789abcdef", "viewer-token-secret-two-0123456789abcdef"
	withSecret := node(nil, secret1)
	var v struct{ Token string }
	if st := embedCall(t, withSecret, embedOperatorKey, "POST", "/v1/viewer-tokens", map[string]any{"tenant": "acme"}, &v); st != http.StatusCreated {
		t.Fatalf("mint: %d", st)
	}
	tests := []struct {
		name, url, token string
		want             int
	}{
		{"the minting node", a.url, token, http.StatusOK},
		{"another node with the same signing key", node(signingKey, ""), token, http.StatusOK},
		{"a node with another signing key", node(nil, ""), token, http.StatusUnauthorized},
		{"a node with the same signing key and a secret", node(signingKey, secret1), token, http.StatusUnauthorized},
		{"the secret's minting node", withSecret, v.Token, http.StatusOK},
		{"another signing key, the same secret", node(nil, secret1), v.Token, http.StatusOK},
		{"the secret changed", node(nil, secret2), v.Token, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := embedCall(t, tt.url, tt.token, "GET", "/v1/events", nil, nil); got != tt.want {
				t.Errorf("GET /v1/events with the token: %d, want %d", got, tt.want)
			}
		})
	}
}

// TestServeEmbedFlags: --embed-origins and its environment twin reach the
// policy of /embed; a bad origin or TTL stops serve with the flag's name.
func TestServeEmbedFlags(t *testing.T) {
	code, _, errOut := runCmd(t, map[string]string{"TRAIL_EMBED_ORIGINS": "https://app.example.com; script-src *"}, "", "serve", "--data", t.TempDir())
	if code != exitUsage || !strings.Contains(errOut, "TRAIL_EMBED_ORIGINS") {
		t.Errorf("bad TRAIL_EMBED_ORIGINS: exit %d, %q; want a usage error naming it", code, errOut)
	}
	code, _, errOut = runCmd(t, nil, "", "serve", "--data", t.TempDir(), "--embed-origins", "app.example.com")
	if code != exitUsage || !strings.Contains(errOut, "embed-origins") {
		t.Errorf("origin without a scheme: exit %d, %q; want a usage error naming --embed-origins", code, errOut)
	}
	ok := ServeConfig{Addr: "x", Data: "d", ServerName: "n"}
	for _, tc := range []struct {
		edit func(*ServeConfig)
		want string
	}{
		{func(c *ServeConfig) { c.EmbedOrigins = []string{"https://a.example/path"} }, "--embed-origins"},
		{func(c *ServeConfig) { c.ViewerTokenMaxTTL = -time.Second }, "--viewer-token-max-ttl"},
		{func(c *ServeConfig) { c.ViewerTokenSecret = "short" }, "TRAIL_VIEWER_TOKEN_SECRET"},
	} {
		c := ok
		tc.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate() = %v, want an error naming %s", err, tc.want)
		}
	}
}
