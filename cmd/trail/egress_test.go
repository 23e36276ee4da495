package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestSinkEgressPolicy: by default a tenant admin cannot point a sink at
// the metadata service or at loopback (where trail's own API listens): the
// sink is refused with a 400 naming the field and nothing is stored.
// --sink-allow-networks opens an exception.
func TestSinkEgressPolicy(t *testing.T) {
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer recv.Close()
	const opKey = "operator-key-for-the-egress-test-0123456789"
	create := func(s *Server, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, s.URL()+"/v1/sinks?tenant=acme", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+opKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	list := func(s *Server) int {
		req, _ := http.NewRequest(http.MethodGet, s.URL()+"/v1/sinks?tenant=acme", nil)
		req.Header.Set("Authorization", "Bearer "+opKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct{ Sinks []json.RawMessage }
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return len(out.Sinks)
	}

	s, stop := startServer(t, ServeConfig{Addr: "127.0.0.1:0", Data: t.TempDir(), ServerName: "egress.test", BootstrapKey: opKey, AutoTenants: true}, io.Discard)
	for _, url := range []string{"http://169.254.169.254/latest/meta-data/", recv.URL, "http://localhost:8080/v1/keys"} {
		code, body := create(s, `{"name":"x","type":"webhook","url":"`+url+`"}`)
		if code != http.StatusBadRequest || !strings.Contains(body, `"field":"url"`) || !strings.Contains(body, "may not reach") {
			t.Errorf("sink to %s: %d %s, want 400 naming url", url, code, body)
		}
	}
	code, body := create(s, `{"name":"x","type":"syslog","address":"127.0.0.1:514"}`)
	if code != http.StatusBadRequest || !strings.Contains(body, `"field":"address"`) {
		t.Errorf("syslog sink to loopback: %d %s, want 400 naming address", code, body)
	}
	if n := list(s); n != 0 {
		t.Errorf("%d sinks stored after refusals, want 0", n)
	}
	stop()

	s, _ = startServer(t, ServeConfig{Addr: "127.0.0.1:0", Data: t.TempDir(), ServerName: "egress.test", BootstrapKey: opKey, AutoTenants: true,
		SinkAllowNetworks: "127.0.0.1/32"}, io.Discard)
	if code, body := create(s, `{"name":"x","type":"webhook","url":"`+recv.URL+`"}`); code != http.StatusCreated {
		t.Errorf("with --sink-allow-networks 127.0.0.1/32: %d %s, want 201", code, body)
	}
	if code, _ := create(s, `{"name":"y","type":"webhook","url":"http://169.254.169.254/"}`); code != http.StatusBadRequest {
		t.Errorf("metadata address with a loopback exception: %d, want 400", code)
	}
}
