package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/trail-audit/trail/internal/browsertest"
)

// TestDashboardRoles signs in with a key of each role and checks which
// navigation entries and actions the dashboard shows, and that a forced
// navigation to a page the role may not use shows the server's 403
// message instead of data.
func TestDashboardRoles(t *testing.T) {
	ctx := browsertest.New(t, 3*time.Minute)
	d := newDash(t)
	admin := d.key("roles admin", "admin", "acme")
	d.ingest(admin, `{"action":"doc.read","actor":{"id":"u_1"}}`+"\n")
	d.seedAlert(admin, "acme")

	reader := []string{"events", "insights", "alerts", "integrity"}
	all := append(slices.Clone(reader), "settings")
	tests := []struct {
		role, tenant string
		nav          []string
		exports      bool // export buttons on the events page
		ack          bool // acknowledge / resolve on alerts
		rules        bool // new rule, and the sinks section
		settings     bool // the settings page shows keys
	}{
		{"viewer", "acme", reader, false, false, false, false},
		{"auditor", "acme", reader, true, true, false, false},
		{"admin", "acme", all, true, true, true, true},
		{"operator", "*", all, true, true, true, true},
		{"writer", "acme", nil, false, false, false, false},
	}
	signedIn := false
	for _, tc := range tests {
		t.Run(tc.role, func(t *testing.T) {
			key := d.key("dash "+tc.role, tc.role, tc.tenant)
			if signedIn {
				browse(t, ctx, "sign out", chromedp.Click("#signout", chromedp.ByID), chromedp.WaitVisible("#signin-form", chromedp.ByID))
			}
			browse(t, ctx, "sign in", signIn(d.url, key, "#/events"))
			signedIn = true
			if tc.tenant == "*" {
				browse(t, ctx, "pick the tenant",
					chromedp.WaitVisible("#tenant", chromedp.ByID),
					chromedp.SendKeys("#tenant", "acme"+kb.Enter, chromedp.ByID))
			}
			var nav []string
			browse(t, ctx, "navigation", chromedp.Evaluate(`[...document.querySelectorAll("#nav a")].map(a => a.dataset.page)`, &nav))
			if !slices.Equal(nav, tc.nav) && !(len(nav) == 0 && len(tc.nav) == 0) {
				t.Errorf("navigation %q, want %q", nav, tc.nav)
			}
			if tc.role == "writer" {
				var msg string
				browse(t, ctx, "writer reads nothing",
					until(`document.querySelector("#events-error").textContent !== ""`),
					chromedp.Text("#events-error", &msg, chromedp.ByID))
				if !strings.Contains(msg, "Forbidden") || !strings.Contains(msg, "writer") {
					t.Errorf("writer on the events page sees %q, want the server's 403", msg)
				}
				return
			}
			var exports bool
			browse(t, ctx, "events",
				until(`document.querySelectorAll("#results tbody tr").length > 0`),
				chromedp.Evaluate(`!!document.querySelector("#exports")`, &exports))
			if exports != tc.exports {
				t.Errorf("export buttons shown %v, want %v", exports, tc.exports)
			}
			var alerts struct{ Ack, Rules, Sinks bool }
			browse(t, ctx, "alerts",
				chromedp.Navigate(d.url+"/#/alerts"),
				until(`document.querySelector("#alerts tbody tr[data-id]") && document.querySelector("#rules tbody tr[data-id]")`),
				chromedp.Evaluate(`({ack: !!document.querySelector("#alerts button.ack, #alerts button.resolve"),
					rules: !!document.querySelector("#rule-new, #rules button.edit"), sinks: !!document.querySelector("#sinks")})`, &alerts))
			if alerts.Ack != tc.ack || alerts.Rules != tc.rules || alerts.Sinks != tc.rules {
				t.Errorf("alerts page shows %+v, want ack %v, rule editing and sinks %v", alerts, tc.ack, tc.rules)
			}
			var settings struct {
				Keys  bool
				Error string
			}
			wait := `document.querySelector("#keys-table") || document.querySelector("#settings-error").textContent !== ""`
			browse(t, ctx, "forced navigation to settings",
				chromedp.Navigate(d.url+"/#/settings"),
				until(wait),
				chromedp.Evaluate(`({keys: !!document.querySelector("#keys-table"), error: document.querySelector("#settings-error").textContent})`, &settings))
			if settings.Keys != tc.settings {
				t.Errorf("settings page shows keys %v, want %v", settings.Keys, tc.settings)
			}
			if !tc.settings && (!strings.Contains(settings.Error, "Forbidden") || !strings.Contains(settings.Error, tc.role)) {
				t.Errorf("settings page for %s says %q, want the server's 403", tc.role, settings.Error)
			}
		})
	}
}
