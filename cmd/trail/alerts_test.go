package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDefaultAlertFires runs the real server: a burst of failed logins
// from one IP makes the default rule fire, the alert is listed by
// GET /v1/alerts and can be acknowledged, and trail.alert.fired is in the
// tenant's log.
func TestDefaultAlertFires(t *testing.T) {
	dir := t.TempDir()
	const opKey = "operator-key-for-alerts-0123456789abc"
	s, _ := startServer(t, ServeConfig{Addr: "127.0.0.1:0", Data: dir, ServerName: "alerts.test", BootstrapKey: opKey, AutoTenants: true}, io.Discard)
	do := func(method, path, body string, out any) int {
		req, _ := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+opKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if out != nil {
			json.Unmarshal(data, out)
		}
		return resp.StatusCode
	}
	var batch strings.Builder
	batch.WriteString(`{"events":[`)
	for i := range 12 {
		if i > 0 {
			batch.WriteByte(',')
		}
		fmt.Fprintf(&batch, `{"tenant":"acme","action":"user.login","outcome":"failure","actor":{"id":"u%d"},"source":{"ip":"203.0.113.9"}}`, i)
	}
	batch.WriteString(`]}`)
	if code := do("POST", "/v1/events", batch.String(), nil); code != http.StatusCreated {
		t.Fatalf("ingest: %d", code)
	}
	var list struct {
		Alerts []struct {
			ID     string `json:"id"`
			RuleID string `json:"rule_id"`
			Group  string `json:"group"`
			Status string `json:"status"`
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		do("GET", "/v1/alerts?tenant=acme", "", &list)
		if len(list.Alerts) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(list.Alerts) != 1 || list.Alerts[0].RuleID != "default.failed_auth" || list.Alerts[0].Group != "203.0.113.9" {
		t.Fatalf("alerts: %+v, want one failed-authentication alert for 203.0.113.9", list.Alerts)
	}
	var a struct{ Status string }
	if code := do("POST", "/v1/alerts/"+list.Alerts[0].ID+"/acknowledge?tenant=acme", "", &a); code != http.StatusOK || a.Status != "acknowledged" {
		t.Fatalf("acknowledge: %d %+v", code, a)
	}
	// The CLI sees the same.
	vars := map[string]string{"TRAIL_SERVER": s.URL(), "TRAIL_KEY": opKey, "TRAIL_TENANT": "acme"}
	if code, out, errOut := runCmd(t, vars, "", "alerts", "list", "--status", "acknowledged"); code != exitOK || !strings.Contains(out, list.Alerts[0].ID) {
		t.Fatalf("trail alerts list: exit %d: %s%s", code, out, errOut)
	}
	rule := `{"name":"deletes","kind":"threshold","filter":"action:doc.delete","window":"1m","threshold":3}`
	if code, out, errOut := runCmd(t, vars, rule, "alerts", "rule-create", "--file", "-"); code != exitOK || !strings.Contains(out, `"deletes"`) {
		t.Fatalf("trail alerts rule-create: exit %d: %s%s", code, out, errOut)
	}
	if code, _, errOut := runCmd(t, vars, `{"name":"bad","kind":"sometimes"}`, "alerts", "rule-create", "--file", "-"); code != exitFailure || !strings.Contains(errOut, "kind") {
		t.Fatalf("a bad rule: exit %d: %s", code, errOut)
	}
	// Sinks through the CLI: a file sink receives the tenant's log.
	code, out, errOut := runCmd(t, vars, `{"name":"archive","type":"file","path":"acme.ndjson"}`, "sinks", "create", "--file", "-")
	var created struct{ ID string }
	if code != exitOK || json.Unmarshal([]byte(out), &created) != nil || created.ID == "" {
		t.Fatalf("trail sinks create: exit %d: %s%s", code, out, errOut)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		_, out, _ = runCmd(t, vars, "", "sinks", "status", created.ID)
		if strings.Contains(out, `"lag": 0`) && !strings.Contains(out, `"cursor": 0`) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(out, `"lag": 0`) {
		t.Fatalf("trail sinks status: %s", out)
	}
	if code, _, errOut := runCmd(t, vars, "", "sinks", "replay", "--seq", "0", created.ID); code != exitOK {
		t.Fatalf("trail sinks replay: exit %d: %s", code, errOut)
	}
	var page struct{ Events []struct{ Action string } }
	do("GET", "/v1/events?tenant=acme&action=trail.alert.fired", "", &page)
	if len(page.Events) != 1 {
		t.Fatalf("%d trail.alert.fired events in the log, want 1", len(page.Events))
	}
}
