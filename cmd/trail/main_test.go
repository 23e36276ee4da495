package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// runCmd runs a trail command in-process and returns its exit code and
// output.
func runCmd(t *testing.T, vars map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, getenv: func(k string) string { return vars[k] }}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := run(ctx, args, e)
	return code, out.String(), errb.String()
}

// TestTour boots the real server on 127.0.0.1:0 and walks the README's
// five-minute tour with the CLI: create a key, ingest, query, export a
// bundle, verify it offline, then verify the data directory offline.
func TestTour(t *testing.T) {
	dir := t.TempDir()
	const opKey = "operator-key-for-the-tour-0123456789"
	s, err := OpenServer(ServeConfig{Addr: "127.0.0.1:0", Data: dir, ServerName: "tour.test", BootstrapKey: opKey, AutoTenants: true}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	vars := map[string]string{"TRAIL_SERVER": s.URL(), "TRAIL_KEY": opKey}

	code, out, errOut := runCmd(t, vars, "", "keys", "create", "--name", "acme admin", "--role", "admin", "--key-tenant", "acme")
	if code != exitOK {
		t.Fatalf("keys create: exit %d: %s", code, errOut)
	}
	var key struct{ Key string }
	if err := json.Unmarshal([]byte(out), &key); err != nil || !strings.HasPrefix(key.Key, "trl_") {
		t.Fatalf("keys create printed %q (%v), want a key", out, err)
	}
	vars["TRAIL_KEY"] = key.Key

	events := `{"action":"user.login","actor":{"id":"u_42"},"outcome":"failure","source":{"ip":"203.0.113.7"}}
{"action":"user.login","actor":{"id":"u_42"},"outcome":"success","source":{"ip":"203.0.113.7"}}
{"action":"route.update","actor":{"id":"u_7"},"resource":{"type":"route","id":"r_9"},"metadata":{"plan":"pro"}}
`
	file := filepath.Join(t.TempDir(), "events.ndjson")
	if err := os.WriteFile(file, []byte(events), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCmd(t, vars, "", "ingest", "--quiet", file); code != exitOK {
		t.Fatalf("ingest: exit %d: %s", code, errOut)
	}
	if code, _, errOut := runCmd(t, vars, `{"action":"key.create","actor":{"id":"u_1"}}`, "ingest", "--quiet"); code != exitOK {
		t.Fatalf("ingest stdin: exit %d: %s", code, errOut)
	}

	code, out, errOut = runCmd(t, vars, "", "query", "--q", "action:user.* outcome:failure")
	if code != exitOK {
		t.Fatalf("query: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], `"outcome":"failure"`) {
		t.Fatalf("query printed %q, want the one failed login", out)
	}

	bundle := filepath.Join(t.TempDir(), "acme.zip")
	if code, _, errOut := runCmd(t, vars, "", "export", "--format", "bundle", "--out", bundle); code != exitOK {
		t.Fatalf("export: exit %d: %s", code, errOut)
	}
	keyFile := filepath.Join(t.TempDir(), "verifier.key")
	code, out, _ = runCmd(t, map[string]string{}, "", "verify", "--bundle", bundle)
	if code != exitOK || !strings.Contains(out, "WARNING") {
		t.Fatalf("verify --bundle without a trusted key: exit %d, %q; want OK with a warning", code, out)
	}
	// Fetch the verifier key from the server and pin it.
	resp, err := (&client{base: s.URL(), key: key.Key, hc: s.httpClient()}).do(context.Background(), "GET", "/v1/log/key", nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	var kb bytes.Buffer
	kb.ReadFrom(resp.Body)
	resp.Body.Close()
	os.WriteFile(keyFile, kb.Bytes(), 0o644)
	code, out, _ = runCmd(t, map[string]string{}, "", "verify", "--bundle", bundle, "--verifier-key", keyFile)
	if code != exitOK || !strings.Contains(out, "OK: ") || strings.Contains(out, "WARNING") {
		t.Fatalf("verify --bundle: exit %d, %q; want OK", code, out)
	}

	// A damaged bundle fails with exit code 3.
	badFile := filepath.Join(t.TempDir(), "bad.zip")
	rewriteZip(t, bundle, badFile, "events.ndjson", func(b []byte) []byte {
		return bytes.Replace(b, []byte("u_42"), []byte("u_43"), 1)
	})
	if code, out, _ := runCmd(t, map[string]string{}, "", "verify", "--bundle", badFile, "--verifier-key", keyFile); code != exitTampered {
		t.Fatalf("verify of a tampered bundle: exit %d (%q), want %d", code, out, exitTampered)
	}

	// Live verification: two rounds of checkpoint + consistency proof.
	vars["TRAIL_TENANT"] = "acme"
	code, out, errOut = runCmd(t, vars, "", "verify", "--count", "2", "--interval", "10ms", "--verifier-key", keyFile)
	if code != exitOK || strings.Count(out, "OK ") != 2 {
		t.Fatalf("verify live: exit %d, %q %s", code, out, errOut)
	}

	// Offline deep verification of the data directory after shutdown.
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	done <- nil
	code, out, errOut = runCmd(t, map[string]string{}, "", "verify", "--data", dir)
	if code != exitOK || !strings.HasPrefix(out, "OK: ") {
		t.Fatalf("verify --data: exit %d, %q %s", code, out, errOut)
	}
}

// TestFlagsFromEnvironment checks that flags take their environment twins
// and that the command line wins.
func TestFlagsFromEnvironment(t *testing.T) {
	fs := newFlags("x", env{stderr: &bytes.Buffer{}})
	addr := fs.String("addr", "default", "")
	cert := fs.String("tls-cert", "", "")
	e := env{getenv: func(k string) string {
		return map[string]string{"TRAIL_ADDR": "from-env", "TRAIL_TLS_CERT": "cert.pem"}[k]
	}}
	if err := parseFlags(fs, []string{"--addr", "from-flag"}, e); err != nil {
		t.Fatal(err)
	}
	if *addr != "from-flag" || *cert != "cert.pem" {
		t.Errorf("addr=%q tls-cert=%q, want from-flag and cert.pem", *addr, *cert)
	}
}

// TestServeConfigValidate names the offending flag.
func TestServeConfigValidate(t *testing.T) {
	ok := ServeConfig{Addr: "x", Data: "d", ServerName: "n"}
	tests := []struct {
		name string
		edit func(*ServeConfig)
		want string
	}{
		{"no addr", func(c *ServeConfig) { c.Addr = "" }, "--addr"},
		{"no data", func(c *ServeConfig) { c.Data = "" }, "--data"},
		{"half tls", func(c *ServeConfig) { c.TLSCert = "c" }, "--tls-cert"},
		{"short bootstrap", func(c *ServeConfig) { c.BootstrapKey = "short" }, "TRAIL_BOOTSTRAP_KEY"},
		{"negative rate", func(c *ServeConfig) { c.IPRate = -1 }, "rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want an error naming %s", err, tt.want)
			}
		})
	}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func TestUnknownCommand(t *testing.T) {
	if code, _, errOut := runCmd(t, nil, "", "frobnicate"); code != exitUsage || !strings.Contains(errOut, "unknown command") {
		t.Errorf("exit %d %q, want usage error", code, errOut)
	}
}

// rewriteZip copies a zip, passing the named entry through edit.
func rewriteZip(t *testing.T, src, dst, name string, edit func([]byte) []byte) {
	t.Helper()
	zr, err := zip.OpenReader(src)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if f.Name == name {
			data = edit(data)
		}
		w, err := zw.Create(f.Name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startServer opens a server with cfg and runs it until the test ends, or
// until stop is called (stop waits for the shutdown, is safe to call twice
// and fails the test if Run did).
func startServer(t *testing.T, cfg ServeConfig, logOut io.Writer) (s *Server, stop func()) {
	t.Helper()
	s, err := OpenServer(cfg, logOut)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return s, stop
}
