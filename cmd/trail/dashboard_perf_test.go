package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/checkpoint"
	"github.com/trail-audit/trail/gen"
	"github.com/trail-audit/trail/internal/browsertest"
	"github.com/trail-audit/trail/logstore"
)

// maxPageWeight is the budget of issue 7: every asset the events page
// loads, gzipped, at most 300 KB.
const maxPageWeight = 300 << 10

// maxRowsPaint is the budget of issue 7 for the events page with 100 rows
// from a warm server.
const maxRowsPaint = 300 * time.Millisecond

// TestDashboardPerformance measures the events page of a warm server
// holding TRAIL_DASHBOARD_EVENTS events (default 20 000, ingested through
// the API) or TRAIL_DASHBOARD_STORE_EVENTS events (loaded into the
// embedded store before the server starts: the way to get millions) in
// one tenant:
// its weight (the sum of the gzipped bytes of every asset it loads,
// which must be ≤ 300 KB) and, over seven reloads, the median time from
// navigation to the first paint and to the first 100 rows on screen
// (the performance mark trail:events-rendered). The times are always
// logged; they are held to the 300 ms budget when TRAIL_DASHBOARD_BUDGET=1
// (on a machine that runs nothing else: on a shared, loaded one a reload
// alone can take longer than the budget).
func TestDashboardPerformance(t *testing.T) {
	browsertest.Binary(t) // skip or fail before seeding
	n := 20000
	if v := os.Getenv("TRAIL_DASHBOARD_EVENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 100 {
			t.Fatalf("TRAIL_DASHBOARD_EVENTS=%q: want a count of at least 100", v)
		}
	}
	var d *dash
	start := time.Now()
	if v := os.Getenv("TRAIL_DASHBOARD_STORE_EVENTS"); v != "" {
		// Millions: load the embedded store directly, then serve it.
		m, err := strconv.Atoi(v)
		if err != nil || m < 100 {
			t.Fatalf("TRAIL_DASHBOARD_STORE_EVENTS=%q: want a count of at least 100", v)
		}
		n = m
		dir := t.TempDir()
		seedStore(t, dir, "acme", n, start)
		t.Logf("loaded %d events into the store in %v", n, time.Since(start).Round(time.Millisecond))
		d = newDashAt(t, dir)
	} else {
		d = newDash(t)
	}
	admin := d.key("perf admin", "admin", "acme")
	if os.Getenv("TRAIL_DASHBOARD_STORE_EVENTS") == "" {
		d.seedRealistic(admin, "acme", n, start)
		t.Logf("seeded %d events in %v", n, time.Since(start).Round(time.Millisecond))
	}
	ctx := browsertest.New(t, 5*time.Minute) // after seeding, which can take longer

	rows := `document.querySelectorAll("#results tbody tr").length >= 100`
	browse(t, ctx, "sign in and warm up", signIn(d.url, admin, "#/events"), until(rows))

	// Page weight: what the page fetched, except API calls.
	var urls []string
	browse(t, ctx, "resources", chromedp.Evaluate(`[location.origin + "/", ...performance.getEntriesByType("resource").map(e => e.name)]`, &urls))
	total := 0
	var parts []string
	for _, u := range urls {
		if strings.Contains(u, "/v1/") {
			continue
		}
		res, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var z bytes.Buffer
		w, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
		w.Write(body)
		w.Close()
		total += z.Len()
		parts = append(parts, strings.TrimPrefix(u, d.url)+"="+strconv.Itoa(z.Len()))
	}
	t.Logf("events page weight: %d bytes gzipped over %d assets (%s)", total, len(parts), strings.Join(parts, " "))
	if total > maxPageWeight {
		t.Errorf("events page weighs %d bytes gzipped, want ≤ %d", total, maxPageWeight)
	}
	if !slices.ContainsFunc(parts, func(p string) bool { return strings.HasPrefix(p, "/ui/events.js=") }) {
		t.Errorf("the weight misses the events page module: %q", parts)
	}

	// First paint and 100 rows, reloading a warm server five times.
	var paints, rowsAt []time.Duration
	for range 7 {
		var m struct {
			Paint, Rows float64
			Count       int
		}
		browse(t, ctx, "reload",
			chromedp.Reload(),
			until(rows),
			until(`performance.getEntriesByName("trail:events-rendered").length > 0`),
			chromedp.Evaluate(`(() => {
				const p = performance.getEntriesByType("paint").find(e => e.name === "first-contentful-paint") || performance.getEntriesByType("paint")[0];
				const r = performance.getEntriesByName("trail:events-rendered")[0];
				return { paint: p ? p.startTime : -1, rows: r.startTime, count: r.detail.rows };
			})()`, &m))
		if m.Count < 100 {
			t.Fatalf("the first render had %d rows, want 100", m.Count)
		}
		paints = append(paints, time.Duration(m.Paint*float64(time.Millisecond)))
		rowsAt = append(rowsAt, time.Duration(m.Rows*float64(time.Millisecond)))
	}
	slices.Sort(paints)
	slices.Sort(rowsAt)
	t.Logf("events page over %d events, warm server, %d reloads: first contentful paint median %v (%v), 100 rows painted median %v (%v)",
		n, len(paints), paints[len(paints)/2].Round(time.Millisecond), paints, rowsAt[len(rowsAt)/2].Round(time.Millisecond), rowsAt)
	if os.Getenv("TRAIL_DASHBOARD_BUDGET") == "1" && rowsAt[len(rowsAt)/2] > maxRowsPaint {
		t.Errorf("100 rows after %v (median), want ≤ %v", rowsAt[len(rowsAt)/2], maxRowsPaint)
	}
}

// seedStore appends n realistic events of tenant, spread over the 30 days
// before now, to the embedded store of the data directory dir, signed with
// the key the server will find there.
func seedStore(t *testing.T, dir, tenant string, n int, now time.Time) {
	t.Helper()
	signer, verifier, err := checkpoint.LoadOrCreateKeyFile(filepath.Join(dir, "signing.key"), dashServerName, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	st, err := logstore.Open(logstore.Options{Dir: filepath.Join(dir, "store"), Signer: signer, Verifier: verifier, ServerName: dashServerName})
	if err != nil {
		t.Fatal(err)
	}
	g := gen.New(11, 1)
	from := now.Add(-30 * 24 * time.Hour)
	step := 30 * 24 * time.Hour / time.Duration(n)
	batch := make([]*trail.Event, 0, 1000)
	for i := range n {
		batch = append(batch, g.Event(tenant, from.Add(time.Duration(i)*step)))
		if len(batch) == cap(batch) || i == n-1 {
			if _, err := st.Append(context.Background(), batch); err != nil {
				t.Fatalf("append at %d: %v", i, err)
			}
			batch = batch[:0]
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}
