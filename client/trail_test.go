package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// trailBin is the trail binary TestMain builds once for every test, or
// the one TRAIL_TEST_BIN names.
var trailBin string

func TestMain(m *testing.M) {
	if trailBin = os.Getenv("TRAIL_TEST_BIN"); trailBin != "" {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "trail-client-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	trailBin = filepath.Join(dir, "trail")
	build := exec.Command("go", "build", "-o", trailBin, "github.com/trail-audit/trail/cmd/trail")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build trail:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// operatorKey is the TRAIL_BOOTSTRAP_KEY of every test server.
const operatorKey = "client-test-operator-key-0123456789abcdef"

// trailProc is a "trail serve" child process on a fixed address and data
// directory, so that it can be killed and started again in place.
type trailProc struct {
	t      testing.TB
	data   string
	addr   string
	URL    string
	args   []string // extra flags of trail serve
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
	log    bytes.Buffer
}

// startTrail runs trail on a free port with a new data directory.
func startTrail(t testing.TB) *trailProc {
	t.Helper()
	return startTrailArgs(t)
}

// startTrailArgs is startTrail with more "trail serve" flags.
func startTrailArgs(t testing.TB, args ...string) *trailProc {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := &trailProc{t: t, data: t.TempDir(), addr: addr, URL: "http://" + addr, args: args}
	p.start()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("trail log:\n%s", p.logText())
		}
	})
	return p
}

func (p *trailProc) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

type lockedWriter struct{ p *trailProc }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.log.Write(b)
}

// start runs the process and waits until /healthz answers.
func (p *trailProc) start() {
	p.t.Helper()
	args := append([]string{"serve", "--addr", p.addr, "--data", p.data, "--retention-interval", "0"}, p.args...)
	cmd := exec.Command(trailBin, args...)
	cmd.Env = append(os.Environ(), "TRAIL_BOOTSTRAP_KEY="+operatorKey)
	cmd.Stdout, cmd.Stderr = lockedWriter{p}, lockedWriter{p}
	var err error
	for try := 0; try < 50; try++ { // the port of a killed process may take a moment to free
		if err = cmd.Start(); err != nil {
			p.t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		if p.waitHealthy(exited) {
			p.mu.Lock()
			p.cmd, p.exited = cmd, exited
			p.mu.Unlock()
			return
		}
		cmd.Process.Kill()
		<-exited
		time.Sleep(100 * time.Millisecond)
		cmd = exec.Command(trailBin, cmd.Args[1:]...)
		cmd.Env = append(os.Environ(), "TRAIL_BOOTSTRAP_KEY="+operatorKey)
		cmd.Stdout, cmd.Stderr = lockedWriter{p}, lockedWriter{p}
	}
	p.t.Fatalf("trail did not start on %s:\n%s", p.addr, p.logText())
}

func (p *trailProc) waitHealthy(exited <-chan struct{}) bool {
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		select {
		case <-exited:
			return false
		default:
		}
		resp, err := http.Get(p.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// kill sends SIGKILL and waits for the process to go.
func (p *trailProc) kill() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// call makes an API call with the operator key and decodes a 2xx JSON body
// into out.
func (p *trailProc) call(method, path string, body any, out any) {
	p.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, p.URL+path, r)
	req.Header.Set("Authorization", "Bearer "+operatorKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		p.t.Fatalf("%s %s: %s: %s", method, path, resp.Status, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			p.t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
}

// writerKey creates a writer key for tenant ("*" for all).
func (p *trailProc) writerKey(tenant string) string {
	p.t.Helper()
	var k struct{ Key string }
	p.call(http.MethodPost, "/v1/keys", map[string]string{"name": "sdk-test", "role": "writer", "tenant": tenant}, &k)
	return k.Key
}

// ids returns how many times each event id is stored in tenant, among
// the events of the tests' action (trail records its own, such as the
// creation of a key, in the tenant too).
func (p *trailProc) ids(tenant string) map[string]int {
	p.t.Helper()
	got := map[string]int{}
	cursor := ""
	for {
		q := url.Values{"tenant": {tenant}, "action": {"sdk.test"}, "limit": {"1000"}, "order": {"asc"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Events []struct {
				ID string `json:"id"`
			} `json:"events"`
			NextCursor string `json:"next_cursor"`
		}
		p.call(http.MethodGet, "/v1/events?"+q.Encode(), nil, &page)
		for _, e := range page.Events {
			got[e.ID]++
		}
		if page.NextCursor == "" || len(page.Events) == 0 {
			return got
		}
		cursor = page.NextCursor
	}
}

// exactlyOnce fails unless every id in sent is stored exactly once in
// tenant and nothing else is.
func exactlyOnce(t *testing.T, p *trailProc, tenant string, sent []string) {
	t.Helper()
	got := p.ids(tenant)
	missing, dup := 0, 0
	for _, id := range sent {
		switch got[id] {
		case 0:
			missing++
		case 1:
		default:
			dup++
		}
	}
	if missing > 0 || dup > 0 || len(got) != len(sent) {
		t.Fatalf("sent %d events; trail holds %d distinct ids: %d missing, %d stored more than once", len(sent), len(got), missing, dup)
	}
}

// idList collects ids from several goroutines.
type idList struct {
	mu  sync.Mutex
	ids []string
}

func (l *idList) add(id string) {
	l.mu.Lock()
	l.ids = append(l.ids, id)
	l.mu.Unlock()
}

func (l *idList) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.ids...)
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
