package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	trail "github.com/trail-audit/trail"
)

// TestIngestVault imports the adapter's sample Vault file audit log into
// a real server with trail ingest --format vault, reads the events back
// with trail query, imports it again and finds nothing twice, and checks
// that a bad line is named.
func TestIngestVault(t *testing.T) {
	const opKey = "operator-key-for-the-vault-test-0123456789"
	s, _ := startServer(t, ServeConfig{Addr: "127.0.0.1:0", Data: t.TempDir(), ServerName: "vault.test", BootstrapKey: opKey, AutoTenants: true}, os.Stderr)
	vars := map[string]string{"TRAIL_SERVER": s.URL(), "TRAIL_KEY": opKey}
	writer := createKeyCmd(t, vars, "writer", "vault-prod")
	viewer := createKeyCmd(t, vars, "viewer", "vault-prod")
	file := "../../adapter/testdata/vault-audit.log"

	w := map[string]string{"TRAIL_SERVER": s.URL(), "TRAIL_KEY": writer}
	for round := 1; round <= 2; round++ {
		if code, _, errOut := runCmd(t, w, "", "ingest", "--quiet", "--format", "vault", "--batch", "4", file); code != exitOK {
			t.Fatalf("ingest round %d: exit %d: %s", round, code, errOut)
		}
	}

	r := map[string]string{"TRAIL_SERVER": s.URL(), "TRAIL_KEY": viewer}
	code, out, errOut := runCmd(t, r, "", "query", "--q", "action:vault.*", "--order", "asc", "--limit", "100")
	if code != exitOK {
		t.Fatalf("query: exit %d: %s", code, errOut)
	}
	var events []trail.Event
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var e trail.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("query line %q: %v", line, err)
		}
		events = append(events, e)
	}
	// 8 lines: 2 request entries skipped, 6 response entries, each once
	// although the file was imported twice.
	if len(events) != 6 {
		t.Fatalf("query: %d events, want 6:\n%s", len(events), out)
	}
	want := []struct{ action, actor, outcome, resource, ip string }{
		{"vault.read", "8b3f1c2d-4e5a-6b7c-8d9e-0f1a2b3c4d5e", "success", "secret/data/payments/db", "10.20.0.14"},
		{"vault.update", "anonymous", "failure", "auth/userpass/login/bob", "198.51.100.23"},
		{"vault.update", "9c4a2d3e-5f6b-7c8d-9e0f-1a2b3c4d5e6f", "success", "auth/userpass/login/bob", "198.51.100.23"},
		{"vault.update", "3d5e7f90-1a2b-4c3d-8e4f-5a6b7c8d9e0f", "success", "team-payments/transit/encrypt/orders", "10.20.3.9"},
		{"vault.delete", "8b3f1c2d-4e5a-6b7c-8d9e-0f1a2b3c4d5e", "denied", "sys/audit/file", "10.20.0.14"},
		{"vault.list", "root", "success", "secret/metadata/", "127.0.0.1"},
	}
	for i, e := range events {
		wt := want[i]
		if e.Tenant != "vault-prod" || e.Action != wt.action || e.Actor.ID != wt.actor || e.Outcome != wt.outcome ||
			e.Resource == nil || e.Resource.ID != wt.resource || e.Source == nil || e.Source.IP != wt.ip || e.Source.Origin != "vault" {
			t.Errorf("event %d = %s %s %s %+v %+v, want %+v in vault-prod", i, e.Action, e.Actor.ID, e.Outcome, e.Resource, e.Source, wt)
		}
	}

	bad := filepath.Join(t.TempDir(), "bad.log")
	lines, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, append(lines, []byte(`{"type":"response","time":"2026-11-22T10:30:00Z","request":{"id":"x"}}`+"\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCmd(t, w, "", "ingest", "--quiet", "--format", "vault", bad)
	if code != exitFailure || !strings.Contains(errOut, "line 9: request.operation: required") {
		t.Errorf("bad line: exit %d, %q; want exit %d naming line 9 and request.operation", code, errOut, exitFailure)
	}
	if code, _, errOut := runCmd(t, w, "", "ingest", "--format", "syslog", file); code != exitUsage || !strings.Contains(errOut, "--format") {
		t.Errorf("unknown format: exit %d, %q; want usage error naming --format", code, errOut)
	}
}

// createKeyCmd creates a key with trail keys create and returns its secret.
func createKeyCmd(t *testing.T, vars map[string]string, role, tenant string) string {
	t.Helper()
	code, out, errOut := runCmd(t, vars, "", "keys", "create", "--name", role+" "+tenant, "--role", role, "--key-tenant", tenant)
	if code != exitOK {
		t.Fatalf("keys create %s: exit %d: %s", role, code, errOut)
	}
	var k struct{ Key string }
	if err := json.Unmarshal([]byte(out), &k); err != nil || k.Key == "" {
		t.Fatalf("keys create printed %q (%v)", out, err)
	}
	return k.Key
}
