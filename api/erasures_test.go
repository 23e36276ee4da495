package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/auth"
)

func TestErasures(t *testing.T) {
	s := newTestServer(t, nil)
	writer := s.token(auth.Writer, "acme")
	var ids []string
	for _, actor := range []string{"alice", "bob", "alice", "carol", "alice"} {
		ids = append(ids, s.ingest(t, writer, ev("acme", "doc.read", actor)).Receipts[0].ID)
	}
	admin := s.token(auth.Admin, "acme")
	erase := func(body any) *response {
		return s.do(t, request{Method: "POST", Path: "/v1/erasures", Token: admin, Body: body})
	}

	// Bad requests name the field and erase nothing.
	for _, tc := range []struct {
		body  any
		field string
	}{
		{map[string]any{"ids": []string{ids[1]}}, "reason"},
		{map[string]any{"reason": "r"}, "ids"},
		{map[string]any{"ids": []string{ids[1]}, "actor_id": "bob", "reason": "r"}, "ids"},
		{map[string]any{"ids": []string{ids[1], "no-such-event"}, "reason": "r"}, "ids[1]"},
	} {
		r := erase(tc.body)
		if code, _, f := r.errorBody(t); r.Status != http.StatusBadRequest || code != trail.EINVALID || f != tc.field {
			t.Errorf("%v: %d %s %q, want 400 invalid on %s", tc.body, r.Status, code, f, tc.field)
		}
	}
	// By id.
	r := erase(map[string]any{"ids": []string{ids[1]}, "reason": "GDPR request 17"})
	var out struct{ Erased int }
	r.JSON(t, &out)
	if r.Status != http.StatusOK || out.Erased != 1 {
		t.Fatalf("erase by id: %d %s", r.Status, r.Body)
	}
	// By actor: every event of alice.
	r = erase(map[string]any{"actor_id": "alice", "reason": "GDPR request 18"})
	r.JSON(t, &out)
	if r.Status != http.StatusOK || out.Erased != 3 {
		t.Fatalf("erase by actor: %d %s", r.Status, r.Body)
	}
	reader := s.token(auth.Auditor, "acme")
	for i, id := range ids {
		r := s.do(t, request{Method: "GET", Path: "/v1/events/" + id + "?proof=1", Token: reader})
		if r.Status != http.StatusOK {
			t.Fatalf("get %d: %d %s", i, r.Status, r.Body)
		}
		erased := i != 3
		if got := bytes.Contains(r.Body, []byte(`"erased":true`)); got != erased {
			t.Errorf("event %d: erased %v, want %v: %s", i, got, erased, r.Body)
		}
		// The event's own fields, not the whole body: the proof's hashes
		// are base64, which spells "bob" now and then.
		var got struct {
			Event json.RawMessage `json:"event"`
		}
		r.JSON(t, &got)
		var fields map[string]any
		if err := json.Unmarshal(got.Event, &fields); err != nil {
			t.Fatalf("event %d: %v: %s", i, err, r.Body)
		}
		delete(fields, "leaf_hash")
		flat, _ := json.Marshal(fields)
		if erased && (bytes.Contains(flat, []byte("alice")) || bytes.Contains(flat, []byte("bob"))) {
			t.Errorf("erased event %d still names its actor: %s", i, r.Body)
		}
	}
	// Queries: without a filter the erased events are listed as erased;
	// a filter on the erased actor finds nothing.
	var page trail.Page
	r = s.do(t, request{Method: "GET", Path: "/v1/events?order=asc&limit=5", Token: reader})
	r.JSON(t, &page)
	if r.Status != http.StatusOK || len(page.Events) != 5 {
		t.Fatalf("list: %d %s", r.Status, r.Body)
	}
	for i, e := range page.Events {
		if want := i != 3; e.Erased != want || e.ID != ids[i] {
			t.Errorf("list: event %d erased %v id %s, want erased %v id %s", i, e.Erased, e.ID, want, ids[i])
		}
	}
	r = s.do(t, request{Method: "GET", Path: "/v1/events?actor=alice", Token: reader})
	r.JSON(t, &page)
	if r.Status != http.StatusOK || len(page.Events) != 0 {
		t.Fatalf("query by an erased actor: %d %s", r.Status, r.Body)
	}
	// The erasures are in the log, without the actor they erased.
	recs, err := s.Store.Read(context.Background(), "acme", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, rec := range recs {
		if rec.Data == nil || !bytes.Contains(rec.Data, []byte("trail.events.erased")) {
			continue
		}
		n++
		if bytes.Contains(rec.Data, []byte("alice")) || !bytes.Contains(rec.Data, []byte("GDPR request")) {
			t.Errorf("erasure record: %s", rec.Data)
		}
	}
	if n != 2 {
		t.Fatalf("%d erasure records, want 2", n)
	}
	if rep, err := s.Store.Verify(context.Background()); err != nil || rep.Erased != 4 {
		t.Fatalf("Verify: %+v, %v; want 4 erased, no damage", rep, err)
	}
}
