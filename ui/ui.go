// Package ui is trail's dashboard: static HTML, CSS and JavaScript modules
// embedded in the binary and served by the same server as the API
// (DESIGN.md §9). There is no build step: the files in assets/ are what the
// browser runs. The pages call the HTTP API (DESIGN.md §6) with the API key
// the user pasted, which they keep in sessionStorage and send as
// "Authorization: Bearer …"; the server keeps no dashboard state.
//
// Handler serves:
//
//	GET /                 assets/index.html (the application shell)
//	GET /ui/{name}        assets/{name} (scripts, styles, selftest.html)
//
// Every response carries a strict Content-Security-Policy (scripts and
// styles only from this origin, no inline script, no framing), nosniff and
// no-referrer, and an ETag with "Cache-Control: no-cache" so browsers
// revalidate cheaply and never run stale code after an upgrade.
package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed assets
var assets embed.FS

// ContentSecurityPolicy is sent with every dashboard response.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// contentTypes maps the extensions in assets/ to their media types; a file
// with any other extension is not served.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

type asset struct {
	body        []byte
	contentType string
	etag        string
}

// Handler returns the dashboard handler. It answers GET and HEAD for "/"
// and "/ui/{name}" and 404 (plain text) for any other path it is given;
// the caller routes only those paths to it.
func Handler() http.Handler {
	files := map[string]asset{}
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			return nil
		}
		b, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		files[strings.TrimPrefix(p, "assets/")] = asset{b, ct, `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		panic("ui: embedded assets: " + err.Error()) // cannot happen: the files are compiled in
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := "index.html"
		if r.URL.Path != "/" {
			name, _ = strings.CutPrefix(r.URL.Path, "/ui/")
		}
		a, ok := files[name]
		if !ok || name == "" {
			http.NotFound(w, r)
			return
		}
		h.Set("Content-Type", a.contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
	})
}
