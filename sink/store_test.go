package sink_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/checkpoint"
	"github.com/trail-audit/trail/logstore"
)

// openStore opens a real logstore in a temporary directory.
func openStore(t testing.TB) *logstore.Store {
	t.Helper()
	skey, vkey, err := checkpoint.GenerateKey("trail.test", bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	s, err := logstore.Open(logstore.Options{Dir: t.TempDir(), Signer: signer, Verifier: verifier, ServerName: "trail.test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// appendN appends n events to tenant, numbered from first in their
// metadata.n, with the given action, and returns their ids in order.
func appendN(t testing.TB, s trail.Store, tenant, action string, first, n int) []string {
	t.Helper()
	evs := make([]*trail.Event, n)
	for i := range evs {
		evs[i] = &trail.Event{
			Tenant:   tenant,
			Action:   action,
			Outcome:  trail.OutcomeSuccess,
			Actor:    trail.Actor{ID: fmt.Sprintf("u_%d", (first+i)%7), Name: "Ann", Email: "ann@example.com", Type: trail.ActorUser},
			Source:   &trail.Source{IP: "10.0.0.1", UserAgent: "curl/8"},
			Request:  &trail.Request{ID: "req-1", Method: "POST", Path: "/v1/x"},
			Resource: &trail.Resource{Type: "doc", ID: "d1"},
			Metadata: map[string]any{"n": float64(first + i)},
		}
	}
	res, err := s.Append(context.Background(), evs)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, n)
	for i, r := range res.Receipts {
		ids[i] = r.ID
	}
	return ids
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
