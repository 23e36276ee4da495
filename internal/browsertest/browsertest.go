// Package browsertest starts headless Chromium for tests and hands back a
// chromedp context that drives it over the DevTools protocol.
//
// Tests that use it run only when TRAIL_TEST_CHROMIUM is set: without it
// they skip with a reason; with it, a missing browser is a failure. The
// binary is TRAIL_CHROMIUM, or "chromium" (then "chromium-browser",
// "google-chrome") on PATH. Every browser gets a fresh user-data directory,
// so no cookie, storage or cache leaks between tests.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Width and Height are the window size every browser starts with: the
// 1280×800 the dashboard's screenshots are taken at.
const (
	Width  = 1280
	Height = 800
)

// Binary returns the Chromium binary to run. It skips t when
// TRAIL_TEST_CHROMIUM is unset and fails it when it is set and no browser
// is found.
func Binary(t testing.TB) string {
	t.Helper()
	if os.Getenv("TRAIL_TEST_CHROMIUM") == "" {
		t.Skip("set TRAIL_TEST_CHROMIUM=1 to run browser tests in headless Chromium")
	}
	if bin := os.Getenv("TRAIL_CHROMIUM"); bin != "" {
		return bin
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if bin, err := exec.LookPath(name); err == nil {
			return bin
		}
	}
	t.Fatal("TRAIL_TEST_CHROMIUM is set but no chromium is on PATH (install the Debian package chromium, or set TRAIL_CHROMIUM)")
	return ""
}

// New starts a headless Chromium for t and returns a context for
// chromedp.Run whose first use opens a tab. The browser is stopped and its
// profile removed when t ends. timeout bounds the whole test's browsing;
// zero means two minutes.
func New(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	bin := Binary(t)
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	// No UserDataDir option: chromedp makes a fresh temporary profile and
	// removes it once the browser process has exited.
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("mute-audio", true),
		chromedp.WindowSize(Width, Height),
	}
	ctx, cancelTimeout := context.WithTimeout(context.Background(), timeout)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	// Start the browser now, so a broken install fails here with a clear
	// message rather than in the test's first step.
	if err := chromedp.Run(bctx); err != nil {
		cancelBrowser()
		cancelAlloc()
		cancelTimeout()
		t.Fatalf("browsertest: start %s: %v", bin, err)
	}
	t.Cleanup(func() {
		if err := chromedp.Cancel(bctx); err != nil {
			t.Logf("browsertest: close browser: %v", err)
		}
		cancelBrowser()
		cancelAlloc() // waits for the process to exit, then removes the profile
		cancelTimeout()
	})
	return bctx
}

// Screenshot captures the whole visible page at the window size as PNG and
// writes it to path, creating its directory.
func Screenshot(ctx context.Context, path string) error {
	var png []byte
	if err := chromedp.Run(ctx, chromedp.CaptureScreenshot(&png)); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, png, 0o644)
}
