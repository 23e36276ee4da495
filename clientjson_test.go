package trail_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
)

// TestClientJSON: an event with server fields set encodes without them,
// and decodes as a client event back to the same client fields.
func TestClientJSON(t *testing.T) {
	h := trail.Hash{1}
	e := &trail.Event{ID: "e1", Seq: 7, Tenant: "acme", Time: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
		ReceivedAt: time.Date(2026, 11, 22, 10, 0, 1, 0, time.UTC), Action: "doc.update", Outcome: "success", Severity: "low",
		Actor: trail.Actor{ID: "u_1", Name: "Ada", Type: "user"}, Resource: &trail.Resource{Type: "doc", ID: "d_1"},
		Source: &trail.Source{IP: "203.0.113.7"}, Request: &trail.Request{ID: "r1", Method: "PUT", Path: "/docs/d_1", Status: 200},
		Changes: []trail.Change{{Field: "title", Old: "a", New: "b"}}, Reason: "edit", Metadata: map[string]any{"n": 1.0},
		Masked: []string{"metadata.x"}, Erased: true, LeafHash: &h, Leaf: []byte("x")}
	b, err := e.ClientJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"seq"`, `"received_at"`, `"masked"`, `"erased"`, `"leaf_hash"`} {
		if strings.Contains(string(b), k) {
			t.Errorf("client JSON has the server field %s: %s", k, b)
		}
	}
	got, ok := trail.DecodeClientEvent(b)
	if !ok {
		t.Fatalf("DecodeClientEvent refused %s", b)
	}
	want := *e
	want.Seq, want.ReceivedAt, want.Masked, want.Erased, want.LeafHash, want.Leaf = 0, time.Time{}, nil, false, nil, nil
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", *got, want)
	}
	// Optional fields are left out; action and actor are always there.
	b, _ = (&trail.Event{}).ClientJSON()
	if string(b) != `{"action":"","actor":{"id":""}}` {
		t.Errorf("empty event = %s", b)
	}
}
