package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestAlertToWebhook sends a rule's alerts to the webhook sink it names
// (whose own filter matches nothing else) and measures commit → alert
// delivered, for the target of 1 s p99.
func TestAlertToWebhook(t *testing.T) {
	var mu sync.Mutex
	arrived := map[string]time.Time{} // group (actor) → when its alert arrived
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg struct {
			Type string `json:"type"`
			Data []struct {
				Action   string         `json:"action"`
				Metadata map[string]any `json:"metadata"`
			} `json:"data"`
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &msg); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, d := range msg.Data {
			if msg.Type == "alert" && d.Action == "trail.alert.fired" {
				g, _ := d.Metadata["group"].(string)
				arrived[g] = time.Now()
			}
		}
	}))
	defer recv.Close()

	dir := t.TempDir()
	const opKey = "operator-key-for-alert-sinks-0123456789"
	s, _ := startServer(t, ServeConfig{Addr: "127.0.0.1:0", Data: dir, ServerName: "alertsink.test", BootstrapKey: opKey, AutoTenants: true,
		SinkAllowNetworks: "127.0.0.1/32"}, io.Discard) // the receiver is on loopback, which sinks may not reach by default
	do := func(method, path, body string, out any) {
		req, _ := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+opKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
		}
		if out != nil {
			json.Unmarshal(data, out)
		}
	}
	var snk struct{ ID string }
	do("POST", "/v1/sinks?tenant=acme", `{"name":"pager","type":"webhook","url":"`+recv.URL+`","filter":"action:nothing.matches"}`, &snk)
	do("POST", "/v1/alert-rules?tenant=acme", `{"name":"deletes","kind":"threshold","filter":"action:doc.delete","group_by":"actor","window":"1m","threshold":1,"sinks":["`+snk.ID+`"]}`, nil)

	const n = 20
	sent := map[string]time.Time{}
	for i := range n {
		actor := fmt.Sprintf("u%d", i)
		sent[actor] = time.Now()
		do("POST", "/v1/events", `{"tenant":"acme","action":"doc.delete","actor":{"id":"`+actor+`"}}`, nil)
		time.Sleep(20 * time.Millisecond)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		got := len(arrived)
		mu.Unlock()
		if got >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(arrived) != n {
		t.Fatalf("%d of %d alerts reached the webhook", len(arrived), n)
	}
	var lat []time.Duration
	for actor, at := range arrived {
		lat = append(lat, at.Sub(sent[actor]))
	}
	slices.Sort(lat)
	t.Logf("commit → alert delivered to the webhook over %d alerts: p50 %v, max (p99) %v (target 1 s)", n, lat[n/2], lat[n-1])
}
