package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/trail-audit/trail/gen"
	"github.com/trail-audit/trail/internal/browsertest"
)

// seedRealistic ingests n generated events for tenant, spread over the
// last day in time order, as key.
func (d *dash) seedRealistic(key, tenant string, n int, now time.Time) {
	d.t.Helper()
	g := gen.New(7, 1)
	var b bytes.Buffer
	for i := range n {
		e := g.Event(tenant, now.Add(-24*time.Hour).Add(time.Duration(i)*24*time.Hour/time.Duration(n)))
		line, err := e.ClientJSON()
		if err != nil {
			d.t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
		if (i+1)%1000 == 0 || i == n-1 {
			d.ingest(key, b.String())
			b.Reset()
		}
	}
}

// TestDashboardScreenshots renders every page over realistic events at
// 1280×800, and the events page at a phone's 390 px. With
// TRAIL_SCREENSHOTS=1 it writes docs/screenshots/{events,detail,insights,
// alerts,integrity,settings}.png (and events-phone.png) for the README;
// otherwise it renders the same pages into a temporary directory, so
// every page is still checked to render.
func TestDashboardScreenshots(t *testing.T) {
	ctx := browsertest.New(t, 3*time.Minute)
	dir := t.TempDir()
	if os.Getenv("TRAIL_SCREENSHOTS") == "1" {
		dir = filepath.Join("..", "..", "docs", "screenshots")
	}
	d := newDash(t)
	admin := d.key("acme admin", "admin", "acme")
	d.seedRealistic(admin, "acme", 3000, time.Now())
	d.seedAlert(admin, "acme")
	// A file sink, so the sinks table has a row with its status and lag.
	d.call(admin, "POST", "/v1/sinks", map[string]any{"name": "archive", "type": "file", "path": "archive.ndjson"}, nil)

	shot := func(name string, actions ...chromedp.Action) {
		t.Helper()
		browse(t, ctx, name, actions...)
		browse(t, ctx, name, chromedp.Sleep(1600)) // the live-row highlight fades
		if err := browsertest.Screenshot(ctx, filepath.Join(dir, name+".png")); err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
	}
	rows := `document.querySelectorAll("#results tbody tr").length >= 50`
	shot("events", signIn(d.url, admin, "#/events?range=24h"), until(rows))
	shot("detail",
		chromedp.Click(`#results tbody tr[data-action$=".update"]`, chromedp.ByQuery),
		until(`/proof (ok|bad)/.test(document.querySelector("#proof").className) && document.querySelector("#diff")`))
	var proof string
	browse(t, ctx, "detail proof", chromedp.Text("#proof", &proof, chromedp.ByID))
	if !strings.Contains(proof, "verified") {
		t.Errorf("detail proof: %q", proof)
	}
	shot("insights", chromedp.Navigate(d.url+"/#/insights?range=24h"),
		until(`document.querySelectorAll(".uplot canvas").length === 2 && document.querySelector("#top-resource_type a.bar")`))
	shot("alerts", chromedp.Navigate(d.url+"/#/alerts"),
		until(`document.querySelector("#alerts tbody tr[data-id]") && document.querySelector("#sinks tbody tr[data-id]")`))
	browse(t, ctx, "integrity first visit", chromedp.Navigate(d.url+"/#/integrity"), until(`document.querySelector("#latest-size")`))
	d.ingest(admin, `{"action":"document.read","actor":{"id":"u_17","name":"Grace"},"resource":{"type":"document","id":"d_311"}}`+"\n")
	shot("integrity", chromedp.Click("#verify", chromedp.ByID),
		until(`/proof ok/.test(document.querySelector("#verify-result").className)`),
		chromedp.Click("#consistency-check", chromedp.ByID),
		until(`/proof ok/.test(document.querySelector("#consistency-result").className)`))
	shot("settings", chromedp.Navigate(d.url+"/#/settings"),
		until(`document.querySelector("#keys-table") && document.querySelector("#schema-form")`))
	shot("events-phone", chromedp.EmulateViewport(390, 844), chromedp.Navigate(d.url+"/#/events?range=24h"), until(rows))
	// At a phone's width nothing but a table (which scrolls in its own
	// box) and the navigation bar may stick out of the page.
	for _, page := range []struct{ name, ready string }{
		{"events", rows},
		{"insights", `document.querySelectorAll(".uplot canvas").length === 2`},
		{"alerts", `document.querySelector("#sinks tbody tr[data-id]")`},
		{"integrity", `document.querySelector("#latest-size")`},
		{"settings", `document.querySelector("#schema-form")`},
	} {
		var wide []string
		browse(t, ctx, page.name+" at 390 px",
			chromedp.Navigate(d.url+"/#/"+page.name),
			until(page.ready),
			chromedp.Evaluate(`[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest(".table-wrap, nav")).map(e => e.tagName + (e.id ? "#" + e.id : "") + "." + e.className)`, &wide))
		if len(wide) > 0 {
			t.Errorf("%s at 390 px: these elements stick out of the page: %q", page.name, wide)
		}
	}
	t.Logf("screenshots in %s", dir)
}
