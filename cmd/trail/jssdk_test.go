package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestJSSDK runs the JavaScript SDK's tests (sdk/js/test, node --test)
// against a real trail server with a writer and a viewer key of tenant
// jssdk, then checks from Go that every event the SDK reported as stored
// is in the log exactly once and that nothing else of the SDK's is. It
// needs node: it is skipped unless TRAIL_TEST_NODE is set, and fails when
// it is set and node is missing.
func TestJSSDK(t *testing.T) {
	if os.Getenv("TRAIL_TEST_NODE") == "" {
		t.Skip("set TRAIL_TEST_NODE=1 to run the JavaScript SDK's tests with node (CI does)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("TRAIL_TEST_NODE is set but node is not installed: %v", err)
	}
	const opKey = "operator-key-for-the-js-sdk-test-0123456789"
	s, _ := startServer(t, ServeConfig{Addr: "127.0.0.1:0", Data: t.TempDir(), ServerName: "jssdk.test", BootstrapKey: opKey, AutoTenants: true}, os.Stderr)
	vars := map[string]string{"TRAIL_SERVER": s.URL(), "TRAIL_KEY": opKey}
	writer := createKeyCmd(t, vars, "writer", "jssdk")
	viewer := createKeyCmd(t, vars, "viewer", "jssdk")
	acked := filepath.Join(t.TempDir(), "acked.txt")

	dir := filepath.Join("..", "..", "sdk", "js")
	files, err := filepath.Glob(filepath.Join(dir, "test", "*.test.js"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no sdk/js/test/*.test.js (%v)", err)
	}
	args := []string{"--test", "--test-reporter=tap"}
	for _, f := range files {
		rel, _ := filepath.Rel(dir, f)
		args = append(args, rel)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TRAIL_SERVER="+s.URL(), "TRAIL_KEY="+writer, "TRAIL_READ_KEY="+viewer,
		"TRAIL_TENANT=jssdk", "TRAIL_SDK_ACKED="+acked)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	summary := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^# (tests|pass|fail|skipped|cancelled) (\d+)$`).FindAllStringSubmatch(string(out), -1) {
		summary[m[1]], _ = strconv.Atoi(m[2])
	}
	if summary["fail"] != 0 || summary["skipped"] != 0 || summary["cancelled"] != 0 || summary["pass"] < 15 || summary["pass"] != summary["tests"] {
		t.Fatalf("node --test: %v, want every test run and passed (at least 15)\n%s", summary, out)
	}
	t.Logf("node --test: %d tests passed", summary["pass"])

	// Every acknowledged id, as the SDK tests recorded them.
	data, err := os.ReadFile(acked)
	if err != nil {
		t.Fatalf("the SDK tests recorded no acknowledged ids: %v", err)
	}
	ackedIDs := map[string]bool{}
	for _, id := range strings.Fields(string(data)) {
		ackedIDs[id] = true
	}
	if len(ackedIDs) < 20 {
		t.Fatalf("%d acknowledged ids, want the SDK tests' 20 or more", len(ackedIDs))
	}

	r := map[string]string{"TRAIL_SERVER": s.URL(), "TRAIL_KEY": viewer}
	code, qout, errOut := runCmd(t, r, "", "query", "--all", "--q", "action:jssdk.*", "--order", "asc", "--limit", "1000")
	if code != exitOK {
		t.Fatalf("query: exit %d: %s", code, errOut)
	}
	seen := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(qout), "\n") {
		var e struct{ ID, Tenant string }
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("query line %q: %v", line, err)
		}
		if e.Tenant != "jssdk" {
			t.Errorf("event %s in tenant %q", e.ID, e.Tenant)
		}
		seen[e.ID]++
	}
	for id := range ackedIDs {
		if seen[id] != 1 {
			t.Errorf("acknowledged event %s is in the log %d times, want exactly once", id, seen[id])
		}
	}
	for id, n := range seen {
		if !ackedIDs[id] {
			t.Errorf("event %s (%d times) is in the log but the SDK never acknowledged it", id, n)
		}
	}
}
