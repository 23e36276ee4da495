package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestSettingsCLI changes a tenant's settings with "trail settings set" and
// reads them back with "trail settings get", against the real server.
func TestSettingsCLI(t *testing.T) {
	dir := t.TempDir()
	const opKey = "operator-key-for-settings-0123456789"
	s, _ := startServer(t, ServeConfig{Addr: "127.0.0.1:0", Data: dir, ServerName: "settings.test", BootstrapKey: opKey}, os.Stderr)
	vars := map[string]string{"TRAIL_SERVER": s.URL(), "TRAIL_KEY": opKey, "TRAIL_TENANT": "acme"}
	code, _, errOut := runCmd(t, vars, "", "settings", "set", "--retention-days", "30", "--legal-hold=true",
		"--rule", "path=metadata.card,action=partial", "--rule", "detector=email,action=hmac")
	if code != exitOK {
		t.Fatalf("settings set: exit %d: %s", code, errOut)
	}
	code, out, errOut := runCmd(t, vars, "", "settings", "get")
	if code != exitOK {
		t.Fatalf("settings get: exit %d: %s", code, errOut)
	}
	var got struct {
		RetentionDays int  `json:"retention_days"`
		LegalHold     bool `json:"legal_hold"`
		Masking       struct {
			Defaults bool
			Rules    []map[string]string
		}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("settings get printed %q: %v", out, err)
	}
	if got.RetentionDays != 30 || !got.LegalHold || !got.Masking.Defaults || len(got.Masking.Rules) != 2 || got.Masking.Rules[1]["detector"] != "email" {
		t.Fatalf("settings get: %+v", got)
	}
	// Only what the flags name changes.
	if code, _, errOut := runCmd(t, vars, "", "settings", "set", "--legal-hold=false"); code != exitOK {
		t.Fatalf("settings set --legal-hold=false: exit %d: %s", code, errOut)
	}
	_, out, _ = runCmd(t, vars, "", "settings", "get")
	json.Unmarshal([]byte(out), &got)
	if got.RetentionDays != 30 || got.LegalHold || len(got.Masking.Rules) != 2 {
		t.Fatalf("after --legal-hold=false: %+v", got)
	}
	// Bad input: a usage error locally, or the server's error naming the field.
	if code, _, errOut := runCmd(t, vars, "", "settings", "set", "--rule", "path"); code != exitUsage || !strings.Contains(errOut, "key=value") {
		t.Errorf("bad --rule: exit %d: %s", code, errOut)
	}
	if code, _, errOut := runCmd(t, vars, "", "settings", "set", "--retention-days", "99999"); code != exitFailure || !strings.Contains(errOut, "retention_days") {
		t.Errorf("retention past the limit: exit %d: %s", code, errOut)
	}
	if code, _, errOut := runCmd(t, vars, "", "settings", "set"); code != exitUsage || !strings.Contains(errOut, "nothing to set") {
		t.Errorf("set without flags: exit %d: %s", code, errOut)
	}
	// Action schemas through the CLI: set one, an event that breaks it is
	// refused naming the path, list shows it.
	schema := `{"type":"object","required":["amount"],"properties":{"amount":{"type":"number","minimum":0}}}`
	if code, out, errOut := runCmd(t, vars, schema, "schemas", "put", "--file", "-", "invoice.paid"); code != exitOK || !strings.Contains(out, `"version": 1`) {
		t.Fatalf("schemas put: exit %d: %s%s", code, out, errOut)
	}
	if code, _, errOut := runCmd(t, vars, `{"action":"invoice.paid","actor":{"id":"u1"},"metadata":{"amount":-5}}`, "ingest"); code != exitFailure || !strings.Contains(errOut, "metadata.amount") {
		t.Fatalf("ingest breaking the schema: exit %d: %s", code, errOut)
	}
	if code, out, errOut := runCmd(t, vars, "", "schemas", "list"); code != exitOK || !strings.Contains(out, "invoice.paid") {
		t.Fatalf("schemas list: exit %d: %s%s", code, out, errOut)
	}
	// The settings survive a restart (settings.json in the data directory).
	if _, err := os.Stat(dir + "/settings.json"); err != nil {
		t.Fatalf("settings.json: %v", err)
	}
}
