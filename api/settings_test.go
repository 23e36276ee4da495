package api_test

import (
	"context"
	"net/http"
	"testing"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/auth"
)

func TestSettings(t *testing.T) {
	s := newTestServer(t, nil)
	admin := s.token(auth.Admin, "acme")
	var got trail.Settings
	r := s.do(t, request{Method: "GET", Path: "/v1/settings", Token: admin})
	if r.Status != http.StatusOK {
		t.Fatalf("GET: %d %s", r.Status, r.Body)
	}
	r.JSON(t, &got)
	if got.RetentionDays != 180 || got.LegalHold || !got.Masking.Defaults {
		t.Fatalf("defaults: %+v", got)
	}

	// A partial body changes only its fields.
	r = s.do(t, request{Method: "PUT", Path: "/v1/settings", Token: admin, Body: map[string]any{"legal_hold": true}})
	if r.Status != http.StatusOK {
		t.Fatalf("PUT: %d %s", r.Status, r.Body)
	}
	r.JSON(t, &got)
	if got.RetentionDays != 180 || !got.LegalHold || !got.Masking.Defaults {
		t.Fatalf("after PUT legal_hold: %+v", got)
	}
	r = s.do(t, request{Method: "PUT", Path: "/v1/settings", Token: admin, Body: map[string]any{
		"retention_days": 30, "masking": map[string]any{"rules": []any{map[string]any{"path": "metadata.card", "action": "partial"}}}}})
	r.JSON(t, &got)
	if r.Status != http.StatusOK || got.RetentionDays != 30 || !got.LegalHold || !got.Masking.Defaults || len(got.Masking.Rules) != 1 {
		t.Fatalf("after PUT retention and rules: %d %+v", r.Status, got)
	}

	// Bad values name the field and change nothing.
	for body, field := range map[string]string{
		`{"retention_days": -1}`: "retention_days",
		`{"masking": {"rules": [{"path": "metadata.x", "action": "shred"}]}}`: "masking.rules[0].action",
		`{"retention": 5}`: "retention",
	} {
		r := s.do(t, request{Method: "PUT", Path: "/v1/settings", Token: admin, Body: body})
		code, _, f := r.errorBody(t)
		if r.Status != http.StatusBadRequest || code != trail.EINVALID || f != field {
			t.Errorf("PUT %s: %d %s field %q, want 400 invalid on %s", body, r.Status, code, f, field)
		}
	}
	r = s.do(t, request{Method: "GET", Path: "/v1/settings", Token: s.token(auth.Auditor, "acme")})
	r.JSON(t, &got)
	if got.RetentionDays != 30 {
		t.Fatalf("a rejected PUT changed the settings: %+v", got)
	}

	// Every change is in the tenant's log, with before and after.
	recs, err := s.Store.Read(context.Background(), "acme", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	changes := 0
	for _, rec := range recs {
		e, err := trail.DecodeEvent(rec.Data)
		if err != nil {
			t.Fatal(err)
		}
		if e.Action == "trail.settings.updated" {
			changes++
			if _, ok := e.Metadata["before"].(map[string]any); !ok {
				t.Errorf("audit event without before: %+v", e.Metadata)
			}
		}
	}
	if changes != 2 {
		t.Fatalf("%d trail.settings.updated events, want 2", changes)
	}
}
