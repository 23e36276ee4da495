package ui_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/trail-audit/trail/ui"
)

func TestHandler(t *testing.T) {
	h := ui.Handler()
	tests := []struct {
		name, method, path string
		status             int
		contentType, body  string
	}{
		{"index at /", "GET", "/", 200, "text/html; charset=utf-8", `<script type="module" src="/ui/app.js">`},
		{"module", "GET", "/ui/app.js", 200, "text/javascript; charset=utf-8", "export function start"},
		{"style", "GET", "/ui/style.css", 200, "text/css; charset=utf-8", ":root"},
		{"vendored chart library", "GET", "/ui/vendor/uplot/uPlot.iife.min.js", 200, "text/javascript; charset=utf-8", "uPlot"},
		{"no test page in the binary", "GET", "/ui/selftest.html", 404, "", ""},
		{"head", "HEAD", "/ui/proof.js", 200, "text/javascript; charset=utf-8", ""},
		{"unknown asset", "GET", "/ui/nope.js", 404, "", ""},
		{"directory", "GET", "/ui/", 404, "", ""},
		{"traversal", "GET", "/ui/../ui.go", 404, "", ""},
		{"post", "POST", "/", 405, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path, nil))
			if w.Code != tc.status {
				t.Fatalf("got %d, want %d", w.Code, tc.status)
			}
			if got := w.Header().Get("Content-Security-Policy"); got != ui.ContentSecurityPolicy {
				t.Errorf("Content-Security-Policy = %q", got)
			}
			if got := w.Header().Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
			}
			if tc.status != 200 {
				return
			}
			if got := w.Header().Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type = %q, want %q", got, tc.contentType)
			}
			if got := w.Header().Get("Cache-Control"); got != "no-cache" {
				t.Errorf("Cache-Control = %q, want no-cache", got)
			}
			if !strings.Contains(w.Body.String(), tc.body) {
				t.Errorf("body does not contain %q", tc.body)
			}
		})
	}
}

func TestHandlerRevalidates(t *testing.T) {
	h := ui.Handler()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/ui/app.js", nil))
	etag := w.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	r := httptest.NewRequest("GET", "/ui/app.js", nil)
	r.Header.Set("If-None-Match", etag)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusNotModified {
		t.Errorf("If-None-Match: got %d, want 304", w.Code)
	}
}

// TestNoInlineCode: the policy forbids inline script and style, so the
// pages must not contain any, nor load anything from another origin.
func TestNoInlineCode(t *testing.T) {
	script := regexp.MustCompile(`(?i)<script[^>]*>[^<]*</script>`)
	external := regexp.MustCompile(`(?i)^<script [^>]*src="/ui/[a-z]+\.js"[^>]*></script>$`)
	inline := regexp.MustCompile(`(?i)\son[a-z]+=|\sstyle=|<style`)
	remote := regexp.MustCompile(`(?i)(?:src|href)="(?:https?:)?//|@import|url\(\s*["']?https?:`)
	err := fs.WalkDir(os.DirFS("assets"), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := os.Open("assets/" + p)
		if err != nil {
			return err
		}
		defer f.Close()
		b, err := io.ReadAll(f)
		if err != nil {
			return err
		}
		for _, tag := range script.FindAll(b, -1) {
			if !external.Match(tag) {
				t.Errorf("%s: %s is not a same-origin module without inline code", p, tag)
			}
		}
		if strings.HasSuffix(p, ".html") && inline.Match(b) {
			t.Errorf("%s: inline script, handler or style: %q", p, inline.Find(b))
		}
		if remote.Match(b) {
			t.Errorf("%s: loads from another origin: %q", p, remote.Find(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
