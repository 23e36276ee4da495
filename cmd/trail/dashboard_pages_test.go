package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/trail-audit/trail/internal/browsertest"
)

// seedAlert creates a threshold rule on failed logins per IP in tenant
// (as the admin key) and ingests enough failures to fire it, then waits
// for the alert.
func (d *dash) seedAlert(admin, tenant string) {
	d.t.Helper()
	d.call(admin, "POST", "/v1/alert-rules?tenant="+tenant, map[string]any{
		"name": "login failures per IP", "kind": "threshold", "filter": "action:user.login outcome:failure",
		"group_by": "source.ip", "window": "5m", "threshold": 3, "severity": "high",
	}, nil)
	var b strings.Builder
	for i := range 4 {
		fmt.Fprintf(&b, `{"action":"user.login","actor":{"id":"u_%d"},"outcome":"failure","source":{"ip":"198.51.100.9"}}`+"\n", i)
	}
	d.ingest(admin, b.String())
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		var list struct{ Alerts []struct{ ID string } }
		d.call(admin, "GET", "/v1/alerts?tenant="+tenant, nil, &list)
		if len(list.Alerts) > 0 {
			return
		}
	}
	d.t.Fatal("the seeded alert did not fire")
}

// mth is the RFC 6962 Merkle tree hash of leaf hashes.
func mth(leaves [][]byte) []byte {
	if len(leaves) == 1 {
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	h := sha256.New()
	h.Write([]byte{1})
	h.Write(mth(leaves[:k]))
	h.Write(mth(leaves[k:]))
	return h.Sum(nil)
}

// TestDashboardPages drives insights, alerts, integrity and settings of
// the real server as an admin: the charts render and a click on a bar or
// on the chart opens the events view with that filter; an alert is
// acknowledged and resolved; a rule with a bad filter shows the server's
// error next to the field; the consistency proofs of the server verify in
// the browser for every pair of sizes (with roots computed here) and
// tampered ones fail; Verify now checks the latest checkpoint against one
// seen before; a new key's secret is shown once.
func TestDashboardPages(t *testing.T) {
	ctx := browsertest.New(t, 3*time.Minute)
	d := newDash(t)
	admin := d.key("pages admin", "admin", "acme")
	d.ingest(admin, `{"action":"user.login","actor":{"id":"u_42","name":"Ada"},"outcome":"success","source":{"ip":"203.0.113.7"}}
{"action":"user.login","actor":{"id":"u_42","name":"Ada"},"outcome":"success","source":{"ip":"203.0.113.7"}}
{"action":"route.update","actor":{"id":"u_42"},"resource":{"type":"route","id":"r_9"}}
{"action":"user.logout","actor":{"id":"u_7"},"outcome":"success"}
`)
	d.seedAlert(admin, "acme")

	// Insights: the charts render; a bar opens the events of its value.
	var bar struct {
		Href  string
		Count int
	}
	browse(t, ctx, "insights", signIn(d.url, admin, "#/insights"),
		until(`document.querySelector("#chart-outcomes .uplot canvas") && document.querySelector("#chart-auth .uplot canvas")`),
		until(`document.querySelector("#top-actor a.bar") && document.querySelector("#top-action a.bar") && document.querySelector('#top-ip a.bar[href*="198.51.100.9"]')`),
		chromedp.Evaluate(`(a => ({href: a.getAttribute("href"), count: Number(a.querySelector(".count").textContent)}))(document.querySelector('#top-ip a.bar[href*="198.51.100.9"]'))`, &bar))
	if !strings.Contains(bar.Href, "ip=198.51.100.9") || bar.Count != 4 {
		t.Errorf("top IP bar %+v, want the 4 failures of 198.51.100.9", bar)
	}
	var legend string
	browse(t, ctx, "failed authentications", chromedp.Text("#chart-auth + .legend-links", &legend, chromedp.ByQuery))
	if !strings.Contains(legend, ": 4") {
		t.Errorf("failed authentications legend %q, want 4", legend)
	}
	var n int
	browse(t, ctx, "click a bar",
		chromedp.Click(`#top-ip a.bar[href*="198.51.100.9"]`, chromedp.ByQuery),
		until(`location.hash.startsWith("#/events") && document.querySelectorAll("#results tbody tr").length === 4`),
		chromedp.Evaluate(`document.querySelector("#filters [name=ip]").value === "198.51.100.9" ? 4 : 0`, &n))
	if n != 4 {
		t.Error("the events view after the bar click does not filter by the IP")
	}
	var hash string
	browse(t, ctx, "click the chart",
		chromedp.NavigateBack(),
		until(`document.querySelector("#chart-outcomes .u-over")`),
		chromedp.Sleep(100),
		chromedp.Click("#chart-outcomes .u-over", chromedp.ByQuery),
		until(`location.hash.startsWith("#/events")`),
		chromedp.Evaluate(`location.hash`, &hash))
	if !strings.Contains(hash, "from=") || !strings.Contains(hash, "to=") {
		t.Errorf("chart click went to %q, want an events view of one time bucket", hash)
	}

	// Alerts: acknowledge, then resolve; a bad rule shows the field error.
	var filterErr string
	browse(t, ctx, "alerts",
		chromedp.Navigate(d.url+"/#/alerts"),
		until(`document.querySelector('#alerts tr[data-status="open"] button.ack')`),
		chromedp.Click(`#alerts tr[data-status="open"] button.ack`, chromedp.ByQuery),
		until(`document.querySelector('#alerts tr[data-status="acknowledged"] button.resolve')`),
		chromedp.Click(`#alerts tr[data-status="acknowledged"] button.resolve`, chromedp.ByQuery),
		until(`document.querySelector('#alerts tr[data-status="resolved"]')`),
		chromedp.Click("#rule-new", chromedp.ByID),
		chromedp.SendKeys("#f-name", "bad rule", chromedp.ByID),
		chromedp.SendKeys("#f-filter", "actr:u_1", chromedp.ByID),
		chromedp.Click(`#rule-form button[type=submit]`, chromedp.ByQuery),
		until(`document.querySelector('#rule-form .field-error[data-field="filter"]').textContent !== ""`),
		chromedp.Text(`#rule-form .field-error[data-field="filter"]`, &filterErr, chromedp.ByQuery))
	if !strings.Contains(filterErr, "actr") {
		t.Errorf("filter error %q, want the server's message naming the unknown field", filterErr)
	}
	var ruleNames string
	browse(t, ctx, "rule created",
		chromedp.SetValue("#f-filter", "action:key.*", chromedp.ByID),
		chromedp.Click(`#rule-form button[type=submit]`, chromedp.ByQuery),
		until(`!document.querySelector("#rule-form") && document.querySelector("#rules tbody").textContent.includes("bad rule")`),
		chromedp.Text("#rules tbody", &ruleNames, chromedp.ByQuery))
	if !strings.Contains(ruleNames, "login failures per IP") {
		t.Errorf("rules listed: %s", ruleNames)
	}

	// Sinks: pause and resume one; its lag is shown.
	var sink struct{ ID string }
	d.call(admin, "POST", "/v1/sinks", map[string]any{"name": "archive", "type": "file", "path": "archive.ndjson"}, &sink)
	var state struct{ Paused, Lag string }
	row := `#sinks tr[data-id="` + sink.ID + `"]`
	browse(t, ctx, "pause a sink",
		chromedp.Navigate(d.url+"/#/events"),
		until(`document.querySelector("#results") && !document.querySelector("#sinks")`),
		chromedp.Navigate(d.url+"/#/alerts"),
		until(`document.querySelector('`+row+` button.pause')`),
		chromedp.Click(row+` button.pause`, chromedp.ByQuery),
		until(`document.querySelector('`+row+` button.resume')`),
		chromedp.Evaluate(`({paused: document.querySelector('`+row+` .state').textContent, lag: document.querySelector('`+row+` .lag').textContent})`, &state),
		chromedp.Click(row+` button.resume`, chromedp.ByQuery),
		until(`document.querySelector('`+row+` button.pause')`))
	if state.Paused != "paused" || state.Lag == "" {
		t.Errorf("paused sink row: %+v, want state paused and a lag", state)
	}

	// Integrity: a checkpoint seen before, then Verify now after an ingest.
	var verify string
	browse(t, ctx, "integrity",
		chromedp.Navigate(d.url+"/#/integrity"),
		until(`document.querySelector("#latest-size")`))
	d.ingest(admin, `{"action":"doc.read","actor":{"id":"u_7"}}`+"\n")
	browse(t, ctx, "verify now",
		chromedp.Click("#verify", chromedp.ByID),
		until(`/proof (ok|bad)/.test(document.querySelector("#verify-result").className)`),
		chromedp.Text("#verify-result", &verify, chromedp.ByID))
	if !strings.Contains(verify, "✓ verified") || !strings.Contains(verify, "consistent with 1 earlier checkpoint") {
		t.Errorf("verify result %q", verify)
	}
	var pair string
	browse(t, ctx, "consistency check",
		chromedp.Click("#consistency-check", chromedp.ByID),
		until(`/proof (ok|bad)/.test(document.querySelector("#consistency-result").className)`),
		chromedp.Text("#consistency-result", &pair, chromedp.ByID))
	if !strings.HasPrefix(pair, "✓ consistent") {
		t.Errorf("consistency result %q", pair)
	}

	// The browser's consistency verifier against the server's proofs for
	// every pair of sizes, with roots computed here from the leaf hashes.
	var page struct {
		Events []struct {
			Seq      int64
			LeafHash []byte `json:"leaf_hash"`
		}
	}
	d.call(admin, "GET", "/v1/events?order=asc&limit=1000", nil, &page)
	leaves := make([][]byte, len(page.Events))
	for i, e := range page.Events {
		if e.Seq != int64(i) {
			t.Fatalf("event %d has seq %d", i, e.Seq)
		}
		leaves[i] = e.LeafHash
	}
	roots := make([]string, len(leaves)+1)
	for n := 1; n <= len(leaves); n++ {
		roots[n] = base64.StdEncoding.EncodeToString(mth(leaves[:n]))
	}
	rootsJSON, _ := json.Marshal(roots)
	var res struct {
		Pairs, Tampered int
		Failures        []string
	}
	browse(t, ctx, "consistency proofs in the browser", chromedp.Evaluate(`(async (roots) => {
		const { b64, verifyConsistency } = await import("/ui/proof.js");
		const { apiJSON } = await import("/ui/api.js");
		const out = { pairs: 0, tampered: 0, failures: [] };
		for (let m = 1; m < roots.length; m++) for (let n = m; n < roots.length; n++) {
			const p = await apiJSON("/v1/log/proof/consistency?from=" + m + "&to=" + n);
			const path = (p.hashes || []).map(b64);
			try { await verifyConsistency(m, n, b64(roots[m]), b64(roots[n]), path); out.pairs++; }
			catch (e) { out.failures.push(m + "→" + n + ": " + e.message); }
			for (let i = 0; i < path.length; i++) {
				const bad = path.map((x) => x.slice());
				bad[i][0] ^= 1;
				try { await verifyConsistency(m, n, b64(roots[m]), b64(roots[n]), bad); out.failures.push(m + "→" + n + " tampered at " + i + " verified"); }
				catch { out.tampered++; }
			}
			if (m < n) {
				const wrong = b64(roots[m]); wrong[31] ^= 1;
				try { await verifyConsistency(m, n, wrong, b64(roots[n]), path); out.failures.push(m + "→" + n + " with a wrong old root verified"); }
				catch { out.tampered++; }
			}
		}
		return out;
	})(`+string(rootsJSON)+`)`, &res, awaitPromise))
	if len(res.Failures) > 0 || res.Pairs == 0 || res.Tampered == 0 {
		t.Errorf("consistency in the browser: %d pairs verified, %d tampered proofs rejected, failures %q", res.Pairs, res.Tampered, res.Failures)
	}
	t.Logf("consistency in the browser: %d pairs of sizes up to %d verified, %d tampered proofs rejected", res.Pairs, len(leaves), res.Tampered)

	// Settings: a new key's secret is shown once.
	var secret string
	browse(t, ctx, "create a key",
		chromedp.Navigate(d.url+"/#/settings"),
		until(`document.querySelector("#key-form")`),
		chromedp.SendKeys("#f-name", "ci reader", chromedp.ByID),
		chromedp.Click("#key-create", chromedp.ByID),
		until(`document.querySelector("#secret-value")`),
		chromedp.Text("#secret-value", &secret, chromedp.ByID))
	if !strings.HasPrefix(secret, "trl_") {
		t.Fatalf("secret shown %q, want a trl_ key", secret)
	}
	var again struct {
		Listed bool
		Shown  bool
	}
	browse(t, ctx, "secret not shown again",
		chromedp.Navigate(d.url+"/#/events"),
		until(`document.querySelector("#results") && !document.querySelector("#keys-table")`),
		chromedp.Navigate(d.url+"/#/settings"),
		until(`document.querySelector("#keys-table")`),
		chromedp.Evaluate(`({listed: document.querySelector("#keys-table").textContent.includes("ci reader"), shown: document.body.textContent.includes(`+"`"+secret+"`"+`)})`, &again))
	if !again.Listed || again.Shown {
		t.Errorf("after leaving settings: key listed %v, secret still shown %v", again.Listed, again.Shown)
	}
	// Rotate shows the new secret once; revoke marks the key revoked.
	var rotated, revoked string
	ciRow := `[...document.querySelectorAll("#keys-table tbody tr")].find(tr => tr.textContent.includes("ci reader"))`
	browse(t, ctx, "rotate and revoke",
		chromedp.Evaluate(ciRow+`.querySelector("button.rotate").click()`, nil),
		until(`document.querySelector("#secret-value") && document.querySelector("#secret-value").textContent !== `+"`"+secret+"`"),
		chromedp.Text("#secret-value", &rotated, chromedp.ByID),
		chromedp.Evaluate(ciRow+`.querySelector("button.revoke").click()`, nil),
		until(ciRow+`.textContent.includes("revoked")`),
		chromedp.Evaluate(ciRow+`.textContent`, &revoked))
	if !strings.HasPrefix(rotated, "trl_") || rotated == secret {
		t.Errorf("rotated secret %q, want a new trl_ key", rotated)
	}
	if !strings.Contains(revoked, "revoked") || strings.Contains(revoked, "Rotate") {
		t.Errorf("revoked key row %q, want it marked revoked without actions", revoked)
	}

	// Retention and a masking rule are saved through the API.
	browse(t, ctx, "retention and masking",
		chromedp.SetValue(`#retention-form [name=retention_days]`, "90", chromedp.ByQuery),
		chromedp.Click(`#retention-form button[type=submit]`, chromedp.ByQuery),
		until(`document.querySelector("#retention-form [role=status]").textContent === "Saved."`),
		chromedp.Click(`#masking-form button:not([type=submit])`, chromedp.ByQuery), // Add rule: email, redact
		chromedp.Click(`#masking-form button[type=submit]`, chromedp.ByQuery),
		until(`document.querySelector("#masking-form .actions [role=status]").textContent === "Saved."`))
	var st struct {
		RetentionDays int `json:"retention_days"`
		Masking       struct {
			Rules []struct{ Detector, Action string }
		}
	}
	d.call(admin, "GET", "/v1/settings", nil, &st)
	if st.RetentionDays != 90 || len(st.Masking.Rules) != 1 || st.Masking.Rules[0].Detector != "email" || st.Masking.Rules[0].Action != "redact" {
		t.Errorf("settings after saving: %+v, want 90 days and an email redaction rule", st)
	}
	var schemaErr string
	browse(t, ctx, "schema error",
		chromedp.SendKeys(`#schema-form [name=action]`, "billing.change", chromedp.ByQuery),
		chromedp.SetValue(`#schema-form [name=schema]`, `{"type": 5}`, chromedp.ByQuery),
		chromedp.Click(`#schema-form button[type=submit]`, chromedp.ByQuery),
		until(`document.querySelector('#schema-form .field-error[data-field="schema"]').textContent !== ""`),
		chromedp.Text(`#schema-form .field-error[data-field="schema"]`, &schemaErr, chromedp.ByQuery))
	if !strings.Contains(schemaErr, "type") {
		t.Errorf("schema error %q, want the server's validation message", schemaErr)
	}
}
