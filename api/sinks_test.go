package api_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trail-audit/trail/auth"
)

// TestSinksAPI creates a webhook sink through the API, sees a signed
// delivery of an ingested event arrive, reads the status, pauses and
// deletes it.
func TestSinksAPI(t *testing.T) {
	s := newTestServer(t, nil)
	var mu sync.Mutex
	var bodies []string
	var secret string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
		m := hmac.New(sha256.New, key)
		m.Write([]byte(r.Header.Get("webhook-id") + "." + r.Header.Get("webhook-timestamp") + "." + string(body)))
		if r.Header.Get("webhook-signature") != "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		bodies = append(bodies, string(body))
	}))
	defer recv.Close()

	admin := s.token(auth.Admin, "acme")
	mu.Lock()
	r := s.do(t, request{Method: "POST", Path: "/v1/sinks", Token: admin, Body: map[string]any{
		"name": "siem", "type": "webhook", "url": recv.URL, "filter": "action:doc.*"}})
	var v struct {
		ID, Secret string
	}
	r.JSON(t, &v)
	secret = v.Secret
	mu.Unlock()
	if r.Status != http.StatusCreated || !strings.HasPrefix(v.Secret, "whsec_") {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	s.ingest(t, s.token(auth.Writer, "acme"), ev("acme", "doc.edit", "u1"), ev("acme", "user.login", "u2"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(bodies)
		mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	got := strings.Join(bodies, "")
	mu.Unlock()
	if !strings.Contains(got, "doc.edit") || strings.Contains(got, "user.login") {
		t.Fatalf("webhook received %q, want the doc.edit event only", got)
	}
	r = s.do(t, request{Method: "GET", Path: "/v1/sinks/" + v.ID, Token: admin})
	if r.Status != http.StatusOK || strings.Contains(string(r.Body), secret) || !strings.Contains(string(r.Body), `"cursor"`) {
		t.Fatalf("get: %d %s", r.Status, r.Body)
	}
	if r := s.do(t, request{Method: "POST", Path: "/v1/sinks/" + v.ID + "/pause", Token: admin}); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"paused":true`) {
		t.Fatalf("pause: %d %s", r.Status, r.Body)
	}
	// Replacing the configuration keeps the id and the secret.
	r = s.do(t, request{Method: "PUT", Path: "/v1/sinks/" + v.ID, Token: admin, Body: map[string]any{
		"name": "siem", "type": "webhook", "url": recv.URL, "filter": "action:user.*"}})
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"filter":"action:user.*"`) || strings.Contains(string(r.Body), secret) {
		t.Fatalf("replace: %d %s", r.Status, r.Body)
	}
	// Another tenant's admin does not see it.
	if r := s.do(t, request{Method: "GET", Path: "/v1/sinks/" + v.ID, Token: s.token(auth.Admin, "other")}); r.Status != http.StatusNotFound {
		t.Fatalf("other tenant: %d", r.Status)
	}
	if r := s.do(t, request{Method: "DELETE", Path: "/v1/sinks/" + v.ID, Token: admin}); r.Status != http.StatusOK {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
}
