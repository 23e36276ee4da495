package export_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/merkle"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

var (
	t0 = time.Date(2026, 11, 22, 10, 4, 5, 123_000_000, time.UTC)
	ms = func(f float64) *float64 { return &f }
)

// goldenEvents is the fixed set of events of the golden files: ordinary
// events, an erased one, formula-injection attempts, unicode, quotes and
// line breaks.
func goldenEvents(t testing.TB) []*trail.Event {
	t.Helper()
	evs := []*trail.Event{
		{
			ID: "01890a5d-ac96-774b-b9aa-0000000000a0", Tenant: "acme", Time: t0, ReceivedAt: t0.Add(time.Millisecond),
			Action: "route.update", Outcome: trail.OutcomeSuccess, Severity: trail.SeverityInfo,
			Actor:    trail.Actor{ID: "u_42", Name: "Ada", Type: trail.ActorUser, Email: "ada@example.com"},
			Resource: &trail.Resource{Type: "route", ID: "r_9", Name: "payments"},
			Source:   &trail.Source{IP: "203.0.113.7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64)", Origin: "dashboard"},
			Request:  &trail.Request{ID: "req_1", Method: "PUT", Path: "/routes/9", Status: 200, DurationMS: ms(12.5)},
			Changes:  []trail.Change{{Field: "upstream", Old: "a:80", New: "b:80"}, {Field: "retries", Old: 1.0, New: 3.0}},
			Reason:   "rotate upstream",
			Metadata: map[string]any{"plan": "pro", "seats": 12.0, "tags": []any{"a", "b"}, "nested": map[string]any{"z": true, "a": nil}},
		},
		{
			// Erased below: only its server fields and leaf hash remain.
			ID: "01890a5d-ac96-774b-b9aa-0000000000a1", Tenant: "acme", Time: t0.Add(time.Second), ReceivedAt: t0.Add(time.Second),
			Action: "user.login", Outcome: trail.OutcomeFailure, Severity: trail.SeverityHigh,
			Actor:  trail.Actor{ID: "u_7", Name: "Grace"},
			Source: &trail.Source{IP: "198.51.100.1"},
		},
		{
			ID: "=HYPERLINK(\"http://evil\")", Tenant: "acme", Time: t0.Add(2 * time.Second), ReceivedAt: t0.Add(2 * time.Second),
			Action: "=SUM(A1)", Outcome: trail.OutcomeDenied, Severity: trail.SeverityCritical,
			Actor:    trail.Actor{ID: "+1", Name: "-2", Type: trail.ActorAPIKey},
			Resource: &trail.Resource{Type: "@x", ID: "\tcmd", Name: "\rcarriage"},
			Reason:   "-1+2",
			Metadata: map[string]any{"formula": "=1+1"},
		},
		{
			ID: "01890a5d-ac96-774b-b9aa-0000000000a3", Tenant: "acme", Time: t0.Add(3 * time.Second), ReceivedAt: t0.Add(3 * time.Second),
			Action: "document.share", Outcome: trail.OutcomeSuccess, Severity: trail.SeverityMedium,
			Actor:    trail.Actor{ID: "u_ü", Name: "Zoë \"Z\" O'Brien, Jr.", Type: trail.ActorUser},
			Resource: &trail.Resource{Type: "doc", ID: "d_1", Name: "Résumé 日本語 🎉"},
			Reason:   "line one\nline two\r\nline \"three\"",
			Changes:  []trail.Change{{Field: "acl", New: []any{"team:eng", "user:\u2028"}}},
			Metadata: map[string]any{"\ue000": 1.0, "😀": 2.0, "quote\"key": "back\\slash", "big": 1e21, "small": 1.5e-7},
			Masked:   []string{"metadata.email"},
		},
		{
			ID: "01890a5d-ac96-774b-b9aa-0000000000a4", Tenant: "acme", Time: t0.Add(4 * time.Second), ReceivedAt: t0.Add(4 * time.Second),
			Action: "system.backup", Outcome: trail.OutcomeUnknown, Severity: trail.SeverityLow,
			Actor:   trail.Actor{ID: "svc_backup", Type: trail.ActorSystem},
			Request: &trail.Request{Method: "POST", Path: "/backup", Status: 500},
		},
	}
	for i, e := range evs {
		e.Seq = int64(i)
	}
	evs[1] = erase(t, evs[1])
	return evs
}

// leafHash returns the leaf hash of e.
func leafHash(t testing.TB, e *trail.Event) trail.Hash {
	t.Helper()
	leaf, err := e.AppendCanonical(nil)
	if err != nil {
		t.Fatal(err)
	}
	return trail.Hash(merkle.LeafHash(leaf))
}

// erase returns e as a store reads it back after retention: its server
// fields and its leaf hash.
func erase(t testing.TB, e *trail.Event) *trail.Event {
	h := leafHash(t, e)
	return &trail.Event{ID: e.ID, Seq: e.Seq, Tenant: e.Tenant, ReceivedAt: e.ReceivedAt, Erased: true, LeafHash: &h}
}

// checkGolden compares got with testdata/name, or rewrites it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run go test -update if the change is intended)\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}
