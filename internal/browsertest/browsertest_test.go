package browsertest

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserRunsScript loads a page from a real server, lets its script
// change the DOM, reads the result back and takes a screenshot.
func TestBrowserRunsScript(t *testing.T) {
	ctx := New(t, 0)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/app.js":
			w.Header().Set("Content-Type", "text/javascript")
			fmt.Fprint(w, `document.getElementById("out").textContent = "ran " + (2 + 3);`)
		default:
			fmt.Fprint(w, `<!doctype html><title>t</title><p id="out">not run</p><script src="/app.js"></script>`)
		}
	}))
	defer srv.Close()
	var text string
	var width int
	if err := chromedp.Run(ctx,
		chromedp.Navigate(srv.URL),
		chromedp.WaitVisible("#out"),
		chromedp.Poll(`document.getElementById("out").textContent === "ran 5"`, nil),
		chromedp.Text("#out", &text),
		chromedp.Evaluate(`window.innerWidth`, &width),
	); err != nil {
		t.Fatal(err)
	}
	if text != "ran 5" {
		t.Fatalf("text = %q, want %q", text, "ran 5")
	}
	if width != Width {
		t.Errorf("window width = %d, want %d", width, Width)
	}
	path := filepath.Join(t.TempDir(), "shots", "page.png")
	if err := Screenshot(ctx, path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot is not a PNG (%d bytes)", len(b))
	}
}
