package ui_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/trail-audit/trail/ui"
)

func TestEmbedHandler(t *testing.T) {
	tests := []struct {
		name      string
		origins   []string
		ancestors string
	}{
		{"no origins", nil, "frame-ancestors 'none'"},
		{"one origin", []string{"https://app.example.com"}, "frame-ancestors https://app.example.com"},
		{"several", []string{"https://app.example.com", "http://localhost:3000", "https://*.example.org"}, "frame-ancestors https://app.example.com http://localhost:3000 https://*.example.org"},
		{"a bad entry is left out", []string{"https://a.example; script-src *", "https://b.example"}, "frame-ancestors https://b.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			ui.EmbedHandler(tt.origins).ServeHTTP(w, httptest.NewRequest("GET", "/embed?token=vt_abc", nil))
			if w.Code != http.StatusOK {
				t.Fatalf("got %d", w.Code)
			}
			csp := w.Header().Get("Content-Security-Policy")
			// The one difference from the dashboard's policy.
			base := strings.TrimSuffix(ui.ContentSecurityPolicy, "frame-ancestors 'none'")
			if csp != base+tt.ancestors {
				t.Errorf("CSP\n got %q\nwant %q", csp, base+tt.ancestors)
			}
			for k, want := range map[string]string{"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff", "Content-Type": "text/html; charset=utf-8"} {
				if got := w.Header().Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			body := w.Body.String()
			if !strings.Contains(body, `<script type="module" src="/ui/embed.js">`) || strings.Contains(body, "vt_abc") {
				t.Errorf("body is not the embed page, or holds the token")
			}
		})
	}
	w := httptest.NewRecorder()
	ui.EmbedHandler(nil).ServeHTTP(w, httptest.NewRequest("POST", "/embed", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: got %d, want 405", w.Code)
	}
}

// TestEmbedAssetsOwnNothingOfTheDashboard: the viewer must not reach the
// dashboard's sign-in state, its exports or links out of its scope.
func TestEmbedAssetsOwnNothingOfTheDashboard(t *testing.T) {
	h := ui.Handler()
	for _, name := range []string{"embed.js", "embed.html"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/ui/"+name, nil))
		if w.Code != 200 {
			t.Fatalf("%s: %d", name, w.Code)
		}
		body := w.Body.String()
		for _, bad := range []string{"sessionStorage", "localStorage", "document.cookie", "/v1/export", "/v1/session", "app.js", "getKey", `href="http`, "window.open"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s mentions %q", name, bad)
			}
		}
	}
}

func TestParseOrigins(t *testing.T) {
	good := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"'none'", nil},
		{"https://app.example.com", []string{"https://app.example.com"}},
		{"https://app.example.com/, http://localhost:3000", []string{"https://app.example.com", "http://localhost:3000"}},
		{"https://*.example.com:8443 https://[2001:db8::1]:443 http://127.0.0.1:*", []string{"https://*.example.com:8443", "https://[2001:db8::1]:443", "http://127.0.0.1:*"}},
	}
	for _, tt := range good {
		got, err := ui.ParseOrigins(tt.in)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ParseOrigins(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{
		"*", "'self'", "app.example.com", "ftp://x.example", "https://", "https://x.example/path", "https://x.example;",
		"https://x.example:0", "https://x.example:65536", "https://x.example:", "https://-x.example", "https://x..example",
		"https://a.*.example", "https://[::1", "https://[zz]", "https://x.example 'unsafe-inline'", "https://x\".example", "https://ex ample.com\x00",
	} {
		if got, err := ui.ParseOrigins(in); err == nil {
			t.Errorf("ParseOrigins(%q) = %q, want an error", in, got)
		} else if !strings.Contains(err.Error(), "embed origin") {
			t.Errorf("ParseOrigins(%q): error %q does not name the origin", in, err)
		}
	}
}

// FuzzParseOrigins: whatever ParseOrigins accepts is a list of single
// CSP source expressions, so the policy it makes has exactly the base
// directives and one frame-ancestors naming those origins.
func FuzzParseOrigins(f *testing.F) {
	for _, s := range []string{"https://app.example.com", "https://*.x.org:8443, http://[::1]:80", "'none'", "https://a.example; script-src *", "https://a.example\tb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		origins, err := ui.ParseOrigins(s)
		if err != nil {
			return
		}
		if err := ui.CheckOrigins(origins); err != nil {
			t.Fatalf("ParseOrigins(%q) = %q, which CheckOrigins refuses: %v", s, origins, err)
		}
		csp := ui.EmbedContentSecurityPolicy(origins)
		base := strings.TrimSuffix(ui.ContentSecurityPolicy, "frame-ancestors 'none'")
		rest, ok := strings.CutPrefix(csp, base+"frame-ancestors ")
		if !ok {
			t.Fatalf("policy %q does not extend the dashboard's", csp)
		}
		if len(origins) == 0 {
			if rest != "'none'" {
				t.Fatalf("no origins, policy ends %q", rest)
			}
			return
		}
		if got := strings.Split(rest, " "); !slices.Equal(got, origins) {
			t.Fatalf("frame-ancestors %q, want %q", got, origins)
		}
		for _, o := range origins {
			if strings.ContainsAny(o, ";,'\" \t\r\n\x00") {
				t.Fatalf("origin %q holds a character that could change the policy", o)
			}
		}
	})
}
