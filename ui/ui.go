// Package ui is trail's dashboard: static HTML, CSS and JavaScript modules
// embedded in the binary and served by the same server as the API
// (DESIGN.md §9). There is no build step: the files in assets/ are what the
// browser runs. The pages call the HTTP API (DESIGN.md §6) with the
// server-side session that signing in (by API key or OIDC, package api)
// set as an HttpOnly cookie; scripts never hold a key, and they send the
// session's CSRF token (kept in memory) on every state-changing call.
//
// Handler serves:
//
//	GET /                 assets/index.html (the application shell)
//	GET /ui/{name}        assets/{name} (scripts, styles, vendored uPlot)
//
// Every response carries a strict Content-Security-Policy (scripts and
// styles only from this origin, no inline script, no framing), nosniff and
// no-referrer, and an ETag with "Cache-Control: no-cache" so browsers
// revalidate cheaply and never run stale code after an upgrade.
//
// EmbedHandler serves the embeddable viewer, GET /embed?token=vt_…
// (assets/embed.html, embed.js, embed.css): a read-only events view that a
// customer's application puts in an iframe, driven by a viewer token alone
// and sharing nothing with the dashboard's sign-in (docs/embedding.md). Its
// policy is the dashboard's with one difference: frame-ancestors lists the
// origins allowed to frame it ('none' unless configured).
package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"io/fs"
	"net/http"
	"net/netip"
	"path"
	"strconv"
	"strings"
	"time"
)

//go:embed assets
var assets embed.FS

// ContentSecurityPolicy is sent with every dashboard response.
const ContentSecurityPolicy = basePolicy + "frame-ancestors 'none'"

// basePolicy is every directive but frame-ancestors, shared by the
// dashboard and the embeddable viewer.
const basePolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "

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

// EmbedContentSecurityPolicy returns the policy of /embed: the dashboard's,
// with frame-ancestors listing origins, or 'none' when there are none.
// Origins that CheckOrigins refuses are left out, so a bad entry can only
// narrow the policy.
func EmbedContentSecurityPolicy(origins []string) string {
	var ok []string
	for _, o := range origins {
		if checkOrigin(o) == nil {
			ok = append(ok, o)
		}
	}
	if len(ok) == 0 {
		return ContentSecurityPolicy
	}
	return basePolicy + "frame-ancestors " + strings.Join(ok, " ")
}

// EmbedHandler returns the handler of GET /embed: assets/embed.html with
// EmbedContentSecurityPolicy(origins), nosniff, no-referrer (the page's URL
// holds a token) and "Cache-Control: no-store". It answers GET and HEAD;
// the token in the URL is read by the page's script, never by the server.
func EmbedHandler(origins []string) http.Handler {
	body, err := assets.ReadFile("assets/embed.html")
	if err != nil {
		panic("ui: embedded assets: " + err.Error()) // cannot happen: the file is compiled in
	}
	csp := EmbedContentSecurityPolicy(origins)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.Set("Content-Type", contentTypes[".html"])
		http.ServeContent(w, r, "embed.html", time.Time{}, bytes.NewReader(body))
	})
}

// ParseOrigins parses the list of origins allowed to frame /embed, as the
// --embed-origins flag takes it: origins separated by commas or white
// space; "" and "'none'" mean none. Each origin must pass CheckOrigins.
func ParseOrigins(s string) ([]string, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
	if len(fields) == 1 && fields[0] == "'none'" {
		return nil, nil
	}
	var out []string
	for _, f := range fields {
		o := strings.TrimSuffix(f, "/")
		if err := checkOrigin(o); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// CheckOrigins returns an error naming the first origin that is not of
// the form scheme://host[:port]: scheme http or https; host a DNS name
// (which may start with "*." for any subdomain), an IPv4 address or a
// bracketed IPv6 address; port 1-65535 or "*". No path, quote, space,
// comma or semicolon can get through into the policy.
func CheckOrigins(origins []string) error {
	for _, o := range origins {
		if err := checkOrigin(o); err != nil {
			return err
		}
	}
	return nil
}

func checkOrigin(o string) error {
	bad := func(why string) error {
		return fmt.Errorf("embed origin %q: %s (want an origin such as https://app.example.com or https://*.example.com:8443)", o, why)
	}
	scheme, rest, ok := strings.Cut(o, "://")
	if !ok || (scheme != "https" && scheme != "http") {
		return bad("the scheme must be https:// or http://")
	}
	host, port := rest, ""
	if strings.HasPrefix(rest, "[") {
		i := strings.IndexByte(rest, ']')
		if i < 0 {
			return bad("unclosed [")
		}
		host = rest[:i+1]
		if a, err := netip.ParseAddr(host[1:i]); err != nil || !a.Is6() || a.Zone() != "" {
			return bad("not an IPv6 address in brackets")
		}
		if after := rest[i+1:]; after != "" {
			p, ok := strings.CutPrefix(after, ":")
			if !ok {
				return bad("only a port may follow the host")
			}
			port = p
		}
	} else {
		var hasPort bool
		host, port, hasPort = strings.Cut(rest, ":")
		if hasPort && port == "" {
			return bad("empty port")
		}
		if !validHost(host) {
			return bad("not a host name")
		}
	}
	if port != "" && port != "*" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] == '0' {
			return bad("the port must be 1-65535 or *")
		}
	}
	return nil
}

// validHost reports whether h is a DNS name of letters, digits and
// hyphens (labels of 1-63), optionally starting with "*.".
func validHost(h string) bool {
	h = strings.TrimPrefix(h, "*.")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
