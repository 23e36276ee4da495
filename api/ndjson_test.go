package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/trail-audit/trail/auth"
)

// TestIngestLargeNDJSON: an NDJSON body far larger than any read buffer
// (≈ 200 KiB) stores every line as it was sent. A line scanner that
// reused its buffer once handed back lines overwritten by later ones.
func TestIngestLargeNDJSON(t *testing.T) {
	s := newTestServer(t, nil)
	writer, reader := s.token(auth.Writer, "a"), s.token(auth.Viewer, "a")
	const n = 300
	var body strings.Builder
	pad := strings.Repeat("x", 600)
	for i := range n {
		fmt.Fprintf(&body, `{"action":"doc.read","actor":{"id":"u%03d"},"metadata":{"i":%d,"pad":"%s%03d"}}`+"\n", i, i, pad, i)
	}
	r := s.do(t, request{Method: "POST", Path: "/v1/events", Token: writer, Body: body.String(), Header: map[string]string{"Content-Type": "application/x-ndjson"}})
	if r.Status != http.StatusCreated {
		t.Fatalf("ingest: %d %s", r.Status, r.Body)
	}
	var out ingestResult
	r.JSON(t, &out)
	if len(out.Receipts) != n {
		t.Fatalf("%d receipts, want %d", len(out.Receipts), n)
	}
	for i, rc := range out.Receipts {
		g := s.do(t, request{Method: "GET", Path: "/v1/events/" + rc.ID, Token: reader})
		if g.Status != http.StatusOK {
			t.Fatalf("get %s: %d %s", rc.ID, g.Status, g.Body)
		}
		var ev struct {
			Actor    struct{ ID string }
			Metadata struct {
				I   int
				Pad string
			}
		}
		g.JSON(t, &ev)
		if want := fmt.Sprintf("u%03d", i); ev.Actor.ID != want || ev.Metadata.I != i || ev.Metadata.Pad != fmt.Sprintf("%s%03d", pad, i) {
			t.Fatalf("event %d stored as actor %q, metadata.i %d (pad ok: %v); want actor %s", i, ev.Actor.ID, ev.Metadata.I, ev.Metadata.Pad == fmt.Sprintf("%s%03d", pad, i), want)
		}
	}
}
