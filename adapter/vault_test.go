package adapter_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/adapter"
)

// vaultEvents maps every line of testdata/vault-audit.log.
func vaultEvents(t *testing.T) (events []*trail.Event, lines int) {
	t.Helper()
	b, err := os.ReadFile("testdata/vault-audit.log")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines++
		e, err := adapter.Vault(sc.Bytes())
		if err != nil {
			t.Fatalf("line %d: %v", lines, err)
		}
		if e != nil {
			events = append(events, e)
		}
	}
	return events, lines
}

func TestVaultGolden(t *testing.T) {
	events, _ := vaultEvents(t)
	valid(t, events)
	golden(t, "vault-audit.golden.json", events)
}

func TestVaultMapping(t *testing.T) {
	events, lines := vaultEvents(t)
	if lines != 8 || len(events) != 6 {
		t.Fatalf("%d lines gave %d events, want 8 lines, 6 events (request entries skipped)", lines, len(events))
	}
	tests := []struct {
		name                                      string
		i                                         int
		action, actor, actorType, outcome, reason string
		resType, resID, ip, reqID                 string
	}{
		{"kv read", 0, "vault.read", "8b3f1c2d-4e5a-6b7c-8d9e-0f1a2b3c4d5e", "user", "success", "", "kv", "secret/data/payments/db", "10.20.0.14", "f0e1d2c3-b4a5-4697-8899-aabbccddeeff"},
		{"failed login", 1, "vault.update", "anonymous", "user", "failure", "invalid username or password", "userpass", "auth/userpass/login/bob", "198.51.100.23", "1a2b3c4d-5e6f-4708-9a1b-2c3d4e5f6a7b"},
		{"login: actor from the issued token", 2, "vault.update", "9c4a2d3e-5f6b-7c8d-9e0f-1a2b3c4d5e6f", "user", "success", "", "userpass", "auth/userpass/login/bob", "198.51.100.23", "2b3c4d5e-6f70-4819-ab2c-3d4e5f6a7b8c"},
		{"approle in a namespace", 3, "vault.update", "3d5e7f90-1a2b-4c3d-8e4f-5a6b7c8d9e0f", "service", "success", "", "transit", "team-payments/transit/encrypt/orders", "10.20.3.9", "3c4d5e6f-7081-492a-bc3d-4e5f6a7b8c9d"},
		{"permission denied", 4, "vault.delete", "8b3f1c2d-4e5a-6b7c-8d9e-0f1a2b3c4d5e", "user", "denied", "permission denied", "system", "sys/audit/file", "10.20.0.14", "4d5e6f70-8192-4a3b-8d4e-5f6a7b8c9d0e"},
		{"root token without entity", 5, "vault.list", "root", "user", "success", "", "kv", "secret/metadata/", "127.0.0.1", "5e6f7081-92a3-4b4c-9e5f-6a7b8c9d0e1f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := events[tt.i]
			if e.Action != tt.action || e.Outcome != tt.outcome || e.Reason != tt.reason {
				t.Errorf("action %q outcome %q reason %q, want %q %q %q", e.Action, e.Outcome, e.Reason, tt.action, tt.outcome, tt.reason)
			}
			if e.Actor.ID != tt.actor || e.Actor.Type != tt.actorType {
				t.Errorf("actor = %+v, want %q (%s)", e.Actor, tt.actor, tt.actorType)
			}
			if e.Resource.Type != tt.resType || e.Resource.ID != tt.resID {
				t.Errorf("resource = %+v, want %q %q", e.Resource, tt.resType, tt.resID)
			}
			if e.Source.IP != tt.ip || e.Request.ID != tt.reqID || !strings.HasPrefix(e.ID, tt.reqID+".") {
				t.Errorf("ip %q request %q id %q, want %q %q", e.Source.IP, e.Request.ID, e.ID, tt.ip, tt.reqID)
			}
		})
	}
	t.Run("no tokens or data copied", func(t *testing.T) {
		for _, e := range events {
			for _, s := range []string{"client_token", "ciphertext", "password"} {
				if b, _ := json.Marshal(e.Metadata); bytes.Contains(b, []byte(s)) {
					t.Errorf("%s: metadata holds %q: %s", e.Action, s, b)
				}
			}
		}
	})
	if md := events[2].Metadata["issued"].(map[string]any); md["display_name"] != "userpass-bob" {
		t.Errorf("issued = %v", md)
	}
}

func TestVaultErrors(t *testing.T) {
	tests := []struct{ name, line, field string }{
		{"not JSON", `{"type":`, ""},
		{"no type", `{"time":"2026-11-22T10:00:00Z"}`, "type"},
		{"bad type", `{"type":"audit"}`, "type"},
		{"no time", `{"type":"response","request":{"id":"r","operation":"read"}}`, "time"},
		{"bad time", `{"type":"response","time":"noon","request":{"id":"r","operation":"read"}}`, "time"},
		{"no request", `{"type":"response","time":"2026-11-22T10:00:00Z"}`, "request"},
		{"no request id", `{"type":"response","time":"2026-11-22T10:00:00Z","request":{"operation":"read"}}`, "request.id"},
		{"no operation", `{"type":"response","time":"2026-11-22T10:00:00Z","request":{"id":"r"}}`, "request.operation"},
		{"operation not a string", `{"type":"response","time":"2026-11-22T10:00:00Z","request":{"id":"r","operation":1}}`, "request.operation"},
		{"odd operation", `{"type":"response","time":"2026-11-22T10:00:00Z","request":{"id":"r","operation":"read.x"}}`, "request.operation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := adapter.Vault([]byte(tt.line))
			if err == nil {
				t.Fatalf("no error, event %+v", e)
			}
			if got := fieldOf(t, err); got != tt.field {
				t.Errorf("field = %q (%v), want %q", got, err, tt.field)
			}
		})
	}
}

func FuzzVault(f *testing.F) {
	b, err := os.ReadFile("testdata/vault-audit.log")
	if err != nil {
		f.Fatal(err)
	}
	for _, l := range bytes.Split(b, []byte("\n")) {
		f.Add(l)
	}
	f.Add([]byte(`{"type":"response","time":"2026-11-22T10:00:00Z","request":{"id":"r r","operation":"read","remote_address":"::1%lo"},"error":"1 error occurred:\n\n"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := adapter.Vault(line)
		if err != nil {
			if te, ok := err.(*trail.Error); !ok || te.Code != trail.EINVALID {
				t.Fatalf("error %v (%T), want EINVALID", err, err)
			}
			return
		}
		if e == nil {
			return
		}
		c := *e
		c.Normalize(c.Time, func() string { return "x" })
		if err := c.Validate(trail.DefaultLimits); err != nil {
			t.Fatalf("not valid: %v\n%s", err, line)
		}
	})
}
