package api_test

import (
	"bytes"
	"net/http"
	"net/url"
	"testing"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/auth"
)

// TestMaskingOnIngest sends secrets in several places and checks that
// none is stored or exported, that the masked paths are listed, and that
// an e-mail hashed by default is still found by searching its address.
func TestMaskingOnIngest(t *testing.T) {
	s := newTestServer(t, nil)
	writer := s.token(auth.Writer, "acme")
	const password, card, email = "hunter2-Very-Secret", "4111 1111 1111 1111", "alice@example.com"
	e := ev("acme", "user.update", "u1")
	e["reason"] = "contact " + email
	e["metadata"] = map[string]any{"db": map[string]any{"password": password}, "card": card, "contact": email}
	res := s.ingest(t, writer, e)
	id := res.Receipts[0].ID

	reader := s.token(auth.Auditor, "acme")
	r := s.do(t, request{Method: "GET", Path: "/v1/events/" + id, Token: reader})
	if r.Status != http.StatusOK {
		t.Fatalf("get: %d %s", r.Status, r.Body)
	}
	for _, secret := range []string{password, card, email, "4111111111111111"} {
		if bytes.Contains(r.Body, []byte(secret)) {
			t.Errorf("stored event holds %q: %s", secret, r.Body)
		}
	}
	var got trail.Event
	r.JSON(t, &got)
	want := map[string]bool{"metadata.db.password": false, "metadata.card": false, "metadata.contact": false, "reason": false}
	for _, p := range got.Masked {
		if _, ok := want[p]; ok {
			want[p] = true
		}
	}
	for p, seen := range want {
		if !seen {
			t.Errorf("masked %v does not list %s", got.Masked, p)
		}
	}
	// Equality search by the address finds the hashed value.
	q := url.Values{"q": {`metadata.contact:"` + email + `"`}}
	r = s.do(t, request{Method: "GET", Path: "/v1/events?" + q.Encode(), Token: reader})
	var page trail.Page
	r.JSON(t, &page)
	if r.Status != http.StatusOK || len(page.Events) != 1 || page.Events[0].ID != id {
		t.Fatalf("search by e-mail: %d, %d events", r.Status, len(page.Events))
	}
	// Nothing secret in an export either.
	r = s.do(t, request{Method: "GET", Path: "/v1/export?format=ndjson", Token: reader})
	for _, secret := range []string{password, card, email} {
		if bytes.Contains(r.Body, []byte(secret)) {
			t.Errorf("export holds %q", secret)
		}
	}
	// An unknown detector in the settings is refused, naming the rule.
	admin := s.token(auth.Admin, "acme")
	r = s.do(t, request{Method: "PUT", Path: "/v1/settings", Token: admin, Body: map[string]any{
		"masking": map[string]any{"rules": []any{map[string]any{"detector": "horoscope", "action": "redact"}}}}})
	if code, _, field := r.errorBody(t); r.Status != http.StatusBadRequest || code != trail.EINVALID || field == "" {
		t.Fatalf("unknown detector: %d %s field %q", r.Status, code, field)
	}
	// Turning the defaults off stores the next event as sent.
	r = s.do(t, request{Method: "PUT", Path: "/v1/settings", Token: admin, Body: map[string]any{"masking": map[string]any{"defaults": false}}})
	if r.Status != http.StatusOK {
		t.Fatalf("defaults off: %d %s", r.Status, r.Body)
	}
	e2 := ev("acme", "user.update", "u1")
	e2["metadata"] = map[string]any{"contact": email}
	id2 := s.ingest(t, writer, e2).Receipts[0].ID
	r = s.do(t, request{Method: "GET", Path: "/v1/events/" + id2, Token: reader})
	if !bytes.Contains(r.Body, []byte(email)) {
		t.Fatalf("with masking defaults off the e-mail was still changed: %s", r.Body)
	}
}
