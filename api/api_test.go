package api_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/api"
	"github.com/trail-audit/trail/auth"
	"github.com/trail-audit/trail/checkpoint"
	"github.com/trail-audit/trail/export"
	"github.com/trail-audit/trail/limit"
	"github.com/trail-audit/trail/merkle"
)

// openCheckpoint verifies a signed note with the server's key.
func (s *testServer) openCheckpoint(t testing.TB, note string) checkpoint.Checkpoint {
	t.Helper()
	cp, err := checkpoint.Open([]byte(note), s.Verifier)
	if err != nil {
		t.Fatalf("open checkpoint %q: %v", note, err)
	}
	return cp
}

// verifyInclusion checks p against cp for a leaf hash.
func verifyInclusion(t testing.TB, leaf trail.Hash, p *trail.InclusionProof, cp checkpoint.Checkpoint) {
	t.Helper()
	if p == nil {
		t.Fatal("no inclusion proof")
	}
	if p.TreeSize != cp.Size {
		t.Errorf("proof for tree size %d, checkpoint size %d", p.TreeSize, cp.Size)
	}
	hs := make([]merkle.Hash, len(p.Hashes))
	for i, h := range p.Hashes {
		hs[i] = merkle.Hash(h)
	}
	if err := merkle.VerifyInclusion(merkle.Hash(leaf), p.LeafIndex, cp.Size, hs, merkle.Hash(cp.Root)); err != nil {
		t.Errorf("leaf %d: %v", p.LeafIndex, err)
	}
}

func TestIngestForms(t *testing.T) {
	s := newTestServer(t, nil)
	writer := s.token(auth.Writer, "a")
	tests := []struct {
		name, contentType, body string
		n                       int
	}{
		{"one event", "application/json", `{"action":"user.login","actor":{"id":"u1"}}`, 1},
		{"one event without Content-Type", "", `{"action":"user.login","actor":{"id":"u1"}}`, 1},
		{"batch", "application/json", `{"events":[{"action":"a.1","actor":{"id":"u1"}},{"action":"a.2","actor":{"id":"u2"}},{"action":"a.3","actor":{"id":"u3"}}]}`, 3},
		{"NDJSON", "application/x-ndjson", "{\"action\":\"n.1\",\"actor\":{\"id\":\"u1\"}}\n\n{\"action\":\"n.2\",\"actor\":{\"id\":\"u2\"}}\n", 2},
		{"NDJSON without final newline", "application/x-ndjson; charset=utf-8", "{\"action\":\"n.1\",\"actor\":{\"id\":\"u1\"}}\n{\"action\":\"n.2\",\"actor\":{\"id\":\"u2\"}}", 2},
	}
	var lastSeq int64 = -1
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := request{Method: "POST", Path: "/v1/events", Token: writer, Body: tt.body}
			if tt.contentType != "" {
				req.Header = map[string]string{"Content-Type": tt.contentType}
			}
			r := s.do(t, req)
			if r.Status != http.StatusCreated {
				t.Fatalf("got %d %s, want 201", r.Status, r.Body)
			}
			var out ingestResult
			r.JSON(t, &out)
			if len(out.Receipts) != tt.n {
				t.Fatalf("got %d receipts, want %d", len(out.Receipts), tt.n)
			}
			for _, rc := range out.Receipts {
				if rc.Tenant != "a" {
					t.Errorf("receipt tenant %q, want a (the key's tenant)", rc.Tenant)
				}
				if rc.ID == "" {
					t.Error("receipt without id")
				}
				if rc.Seq <= lastSeq {
					t.Errorf("seq %d after %d: receipts are not in request order", rc.Seq, lastSeq)
				}
				lastSeq = rc.Seq
			}
			cp := s.openCheckpoint(t, out.Checkpoints["a"])
			if cp.Origin != "trail.test/a" || cp.Size < lastSeq+1 {
				t.Errorf("checkpoint %s size %d, want trail.test/a covering seq %d", cp.Origin, cp.Size, lastSeq)
			}
			if len(out.Checkpoints) != 1 {
				t.Errorf("checkpoints for %v, want a only", keysOf(out.Checkpoints))
			}
		})
	}
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestIngestReceiptProof(t *testing.T) {
	s := newTestServer(t, nil)
	s.ingest(t, s.operator(), ev("a", "x", "u"), ev("b", "y", "u"), ev("a", "z", "u"))
	r := s.do(t, request{Method: "POST", Path: "/v1/events?receipt=proof", Token: s.operator(), Body: map[string]any{"events": []any{
		ev("a", "p.1", "u"), ev("b", "p.2", "u"), ev("a", "p.3", "u"), ev("c", "p.4", "u")}}})
	if r.Status != http.StatusCreated {
		t.Fatalf("got %d %s", r.Status, r.Body)
	}
	var out ingestResult
	r.JSON(t, &out)
	if got := keysOf(out.Checkpoints); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("checkpoints for %v, want a, b, c", got)
	}
	for i, rc := range out.Receipts {
		cp := s.openCheckpoint(t, out.Checkpoints[rc.Tenant])
		if cp.Origin != "trail.test/"+rc.Tenant {
			t.Errorf("receipt %d: checkpoint origin %s", i, cp.Origin)
		}
		if rc.Inclusion == nil || rc.Inclusion.LeafIndex != rc.Seq {
			t.Fatalf("receipt %d: inclusion %+v, want a proof of seq %d", i, rc.Inclusion, rc.Seq)
		}
		verifyInclusion(t, rc.LeafHash, rc.Inclusion, cp)
	}
	// The receipt's leaf hash is the stored event's.
	g := s.do(t, request{Method: "GET", Path: "/v1/events/" + out.Receipts[0].ID + "?tenant=a", Token: s.operator()})
	var e trail.Event
	g.JSON(t, &e)
	if e.LeafHash == nil || *e.LeafHash != out.Receipts[0].LeafHash {
		t.Errorf("stored leaf hash %v, receipt %v", e.LeafHash, out.Receipts[0].LeafHash)
	}
	// Without ?receipt=proof there is no proof.
	plain := s.ingest(t, s.operator(), ev("a", "x", "u"))
	if plain.Receipts[0].Inclusion != nil {
		t.Error("receipt has a proof without ?receipt=proof")
	}
}

// TestIngestAnswerFraming checks that an ingest answer larger than
// net/http's chunking buffer goes out with its Content-Length, not
// chunked, and that it is byte for byte encoding/json's rendering of the
// receipts and checkpoints (tenants sorted).
func TestIngestAnswerFraming(t *testing.T) {
	s := newTestServer(t, nil)
	for _, path := range []string{"/v1/events", "/v1/events?receipt=proof"} {
		var events []any
		for i := range 40 {
			events = append(events, ev([]string{"a", "b", "c"}[i%3], fmt.Sprintf("frame.%d", i), "u<&>"))
		}
		r := s.do(t, request{Method: "POST", Path: path, Token: s.operator(), Body: map[string]any{"events": events}})
		if r.Status != http.StatusCreated {
			t.Fatalf("%s: got %d %s", path, r.Status, r.Body)
		}
		if len(r.Body) <= 4096 {
			t.Fatalf("%s: answer of %d bytes, want one larger than net/http buffers", path, len(r.Body))
		}
		if got, want := r.Header.Get("Content-Length"), strconv.Itoa(len(r.Body)); got != want {
			t.Errorf("%s: Content-Length %q, want %q (Transfer-Encoding %q)", path, got, want, r.Header.Get("Transfer-Encoding"))
		}
		var out ingestResult
		r.JSON(t, &out)
		want, err := json.Marshal(out)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSuffix(string(r.Body), "\n"); got != string(want) {
			t.Errorf("%s: answer\n%s\nwant encoding/json's\n%s", path, got, want)
		}
	}
}

func TestIngestIdempotent(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.token(auth.Writer, "a")
	e := ev("", "x", "u")
	e["id"] = "client-1"
	first := s.ingest(t, w, e)
	again := s.ingest(t, w, e)
	if again.Receipts[0].Seq != first.Receipts[0].Seq || !again.Receipts[0].Duplicate {
		t.Errorf("repeat: got %+v, want the original receipt marked duplicate", again.Receipts[0])
	}
	if n := len(s.actions(t, "a")); n != 1 {
		t.Errorf("log has %d events, want 1", n)
	}
}

func TestIngestValidation(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.token(auth.Writer, "a")
	s.ingest(t, w, ev("", "seed", "u"))
	ok := `{"action":"a","actor":{"id":"u"}}`
	batch := func(third string) string { return `{"events":[` + ok + `,` + ok + `,` + third + `]}` }
	tests := []struct {
		name, contentType, body string
		status                  int
		field                   string
	}{
		{"actor missing in a batch", "", batch(`{"action":"a"}`), 400, "events[2].actor.id"},
		{"actor id empty in a batch", "", batch(`{"action":"a","actor":{"id":""}}`), 400, "events[2].actor.id"},
		{"action missing", "", batch(`{"actor":{"id":"u"}}`), 400, "events[2].action"},
		{"unknown field", "", batch(`{"action":"a","actor":{"id":"u"},"colour":"red"}`), 400, "events[2].colour"},
		{"unknown nested field", "", batch(`{"action":"a","actor":{"id":"u","age":3}}`), 400, "events[2].age"},
		{"server field seq", "", batch(`{"action":"a","actor":{"id":"u"},"seq":7}`), 400, "events[2].seq"},
		{"server field received_at", "", batch(`{"action":"a","actor":{"id":"u"},"received_at":"2026-01-01T00:00:00Z"}`), 400, "events[2].received_at"},
		{"server field leaf_hash", "", batch(`{"action":"a","actor":{"id":"u"},"leaf_hash":"x"}`), 400, "events[2].leaf_hash"},
		{"wrong type", "", batch(`{"action":"a","actor":{"id":"u"},"request":{"status":"200"}}`), 400, "events[2].request.status"},
		{"wrong type at the top", "", batch(`{"action":7,"actor":{"id":"u"}}`), 400, "events[2].action"},
		{"bad time", "", batch(`{"action":"a","actor":{"id":"u"},"time":"yesterday"}`), 400, "events[2].time"},
		{"bad outcome", "", batch(`{"action":"a","actor":{"id":"u"},"outcome":"maybe"}`), 400, "events[2].outcome"},
		{"bad tenant", "", batch(`{"action":"a","actor":{"id":"u"},"tenant":"Not A Tenant"}`), 400, "events[2].tenant"},
		{"another tenant after two of the key's", "", batch(`{"action":"a","actor":{"id":"u"},"tenant":"b"}`), 403, "events[2].tenant"},
		{"reserved tenant after two of the key's", "", batch(`{"action":"a","actor":{"id":"u"},"tenant":"_system"}`), 403, "events[2].tenant"},
		{"the key's tenant after another", "", `{"events":[{"action":"a","actor":{"id":"u"},"tenant":"b"},` + ok + `]}`, 403, "events[0].tenant"},
		{"NDJSON line", "application/x-ndjson", ok + "\n" + `{"action":"a"}` + "\n", 400, "events[1].actor.id"},
		{"single event", "", `{"action":"a","actor":{"id":"u"},"seq":1}`, 400, "events[0].seq"},
		{"malformed JSON", "", `{"action":`, 400, "events[0]"},
		{"empty batch", "", `{"events":[]}`, 400, "events"},
		{"batch with another field", "", `{"events":[` + ok + `],"extra":1}`, 400, "extra"},
		{"Content-Type", "text/plain", ok, 400, "Content-Type"},
		{"reserved action", "", batch(`{"action":"trail.key.created","actor":{"id":"u"}}`), 403, "events[2].action"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(s.actions(t, "a"))
			req := request{Method: "POST", Path: "/v1/events", Token: w, Body: tt.body}
			if tt.contentType != "" {
				req.Header = map[string]string{"Content-Type": tt.contentType}
			}
			r := s.do(t, req)
			if r.Status != tt.status {
				t.Fatalf("got %d %s, want %d", r.Status, r.Body, tt.status)
			}
			code, msg, field := r.errorBody(t)
			if field != tt.field {
				t.Errorf("field %q (%s: %s), want %q", field, code, msg, tt.field)
			}
			if msg == "" {
				t.Error("no message")
			}
			if after := len(s.actions(t, "a")); after != before {
				t.Errorf("log grew from %d to %d: a rejected batch stored something", before, after)
			}
		})
	}
}

func TestIngestTooLarge(t *testing.T) {
	s := newTestServer(t, func(c *api.Config) {
		c.Limits = trail.Limits{MaxBatchEvents: 3, MaxBatchBytes: 4 << 10}
	})
	w := s.token(auth.Writer, "a")
	big := strings.Repeat("x", 70<<10)
	tests := []struct {
		name  string
		body  string
		field string
	}{
		{"body over the byte limit", `{"action":"a","actor":{"id":"u"},"reason":"` + strings.Repeat("x", 2<<20) + `"}`, ""},
		{"too many events", `{"events":[` + strings.Repeat(`{"action":"a","actor":{"id":"u"}},`, 3) + `{"action":"a","actor":{"id":"u"}}]}`, "events"},
		{"event over 64 KiB", `{"events":[{"action":"a","actor":{"id":"u"}},{"action":"a","actor":{"id":"u"},"metadata":{"blob":"` + big + `"}}]}`, "events[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, request{Method: "POST", Path: "/v1/events", Token: w, Body: tt.body})
			if r.Status != http.StatusRequestEntityTooLarge {
				t.Fatalf("got %d %.200s, want 413", r.Status, r.Body)
			}
			if code, _, field := r.errorBody(t); code != "too_large" || field != tt.field {
				t.Errorf("error %s field %q, want too_large field %q", code, field, tt.field)
			}
			if n := len(s.actions(t, "a")); n != 0 {
				t.Errorf("%d events stored", n)
			}
		})
	}
}

// queryServer holds a tenant with events that differ in every filter.
func queryServer(t *testing.T) (*testServer, string) {
	s := newTestServer(t, nil)
	base := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	e := func(id string, minute int, action, actor, outcome, severity, rtype, rid, ip, reqID, reason string, meta map[string]any) map[string]any {
		x := map[string]any{"id": id, "time": base.Add(time.Duration(minute) * time.Minute).Format(time.RFC3339), "action": action,
			"actor": map[string]any{"id": actor}, "outcome": outcome, "severity": severity,
			"resource": map[string]any{"type": rtype, "id": rid}, "source": map[string]any{"ip": ip},
			"request": map[string]any{"id": reqID}, "reason": reason}
		if meta != nil {
			x["metadata"] = meta
		}
		return x
	}
	w := s.token(auth.Writer, "a")
	s.ingest(t, w,
		e("e0", 0, "user.login", "u1", "success", "info", "session", "s1", "10.0.0.1", "r0", "routine sign in", map[string]any{"plan": "pro"}),
		e("e1", 1, "user.login", "u2", "failure", "medium", "session", "s2", "10.0.0.2", "r1", "wrong password twice", nil),
		e("e2", 2, "user.logout", "u1", "success", "info", "session", "s1", "192.168.1.5", "r2", "bye", map[string]any{"plan": "free"}),
		e("e3", 3, "route.update", "u3", "denied", "high", "route", "r9", "2001:db8::1", "r3", "changed upstream to b", nil),
		e("e4", 4, "route.delete", "u2", "error", "critical", "route", "r8", "10.1.2.3", "r4", "wrong password again", map[string]any{"plan": "pro"}),
	)
	return s, s.token(auth.Viewer, "a")
}

func TestQueryFilters(t *testing.T) {
	s, viewer := queryServer(t)
	tests := []struct {
		query string
		want  []string // ids, newest first
	}{
		{"", []string{"e4", "e3", "e2", "e1", "e0"}},
		{"order=asc", []string{"e0", "e1", "e2", "e3", "e4"}},
		{"actor=u1", []string{"e2", "e0"}},
		{"actor=u*", []string{"e4", "e3", "e2", "e1", "e0"}},
		{"action=user.login", []string{"e1", "e0"}},
		{"action=user.*", []string{"e2", "e1", "e0"}},
		{"outcome=failure", []string{"e1"}},
		{"severity=critical", []string{"e4"}},
		{"resource_type=route", []string{"e4", "e3"}},
		{"resource_id=s1", []string{"e2", "e0"}},
		{"ip=10.0.0.2", []string{"e1"}},
		{"ip=10.0.0.0/8", []string{"e4", "e1", "e0"}},
		{"ip=2001:db8::/32", []string{"e3"}},
		{"request_id=r3", []string{"e3"}},
		{"from=2026-11-22T10:01:00Z", []string{"e4", "e3", "e2", "e1"}},
		{"to=2026-11-22T10:02:00Z", []string{"e1", "e0"}},
		{"from=2026-11-22T10:01:00Z&to=2026-11-22T10:03:00Z", []string{"e2", "e1"}},
		{"action=user.*&actor=u1", []string{"e2", "e0"}},
		{"q=" + url.QueryEscape("action:user.login outcome:failure"), []string{"e1"}},
		{"q=" + url.QueryEscape("-actor:u2"), []string{"e3", "e2", "e0"}},
		{"q=" + url.QueryEscape("outcome:denied OR outcome:error"), []string{"e4", "e3"}},
		{"q=" + url.QueryEscape("metadata.plan:pro"), []string{"e4", "e0"}},
		{"q=" + url.QueryEscape(`"wrong password"`), []string{"e4", "e1"}},
		{"q=" + url.QueryEscape("ip:10.0.0.0/8 -severity:critical"), []string{"e1", "e0"}},
		{"q=" + url.QueryEscape("action:route.*") + "&severity=high", []string{"e3"}},
		{"actor=nobody", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := s.do(t, request{Method: "GET", Path: "/v1/events?" + tt.query, Token: viewer})
			if r.Status != http.StatusOK {
				t.Fatalf("got %d %s", r.Status, r.Body)
			}
			var page struct {
				Events []trail.Event `json:"events"`
			}
			r.JSON(t, &page)
			got := []string{}
			for _, e := range page.Events {
				if !strings.HasPrefix(e.Action, "trail.") {
					got = append(got, e.ID)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestQueryErrors(t *testing.T) {
	s, viewer := queryServer(t)
	tests := []struct {
		query, field, message string
	}{
		{"q=" + url.QueryEscape("action:user.login ("), "q", "column "},
		{"q=" + url.QueryEscape("nosuchfield:x"), "q", "column 1"},
		{"limit=1001", "limit", ""},
		{"limit=abc", "limit", ""},
		{"from=yesterday", "from", ""},
		{"to=2026-13-01", "to", ""},
		{"order=sideways", "order", ""},
		{"cursor=garbage", "cursor", ""},
		{"ip=not-an-ip", "ip", ""},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := s.do(t, request{Method: "GET", Path: "/v1/events?" + tt.query, Token: viewer})
			if r.Status != http.StatusBadRequest {
				t.Fatalf("got %d %s, want 400", r.Status, r.Body)
			}
			code, msg, field := r.errorBody(t)
			if code != "invalid" || field != tt.field || !strings.Contains(msg, tt.message) {
				t.Errorf("got %s %q %q, want invalid field %q with %q", code, field, msg, tt.field, tt.message)
			}
		})
	}
}

func TestQueryPaging(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.token(auth.Writer, "a")
	var events []map[string]any
	for i := range 25 {
		events = append(events, ev("", "page.test", "u"+strconv.Itoa(i)))
	}
	res := s.ingest(t, w, events...)
	var want []int64
	for _, rc := range res.Receipts {
		want = append(want, rc.Seq)
	}
	viewer := s.token(auth.Viewer, "a")
	for _, order := range []string{"asc", "desc"} {
		t.Run(order, func(t *testing.T) {
			var got []int64
			cursor := ""
			pages := 0
			for {
				path := "/v1/events?action=page.test&limit=10&order=" + order
				if cursor != "" {
					path += "&cursor=" + url.QueryEscape(cursor)
				}
				r := s.do(t, request{Method: "GET", Path: path, Token: viewer})
				if r.Status != http.StatusOK {
					t.Fatalf("got %d %s", r.Status, r.Body)
				}
				var page struct {
					Events     []trail.Event `json:"events"`
					NextCursor string        `json:"next_cursor"`
				}
				r.JSON(t, &page)
				pages++
				if len(page.Events) > 10 {
					t.Fatalf("page of %d events, limit 10", len(page.Events))
				}
				for _, e := range page.Events {
					got = append(got, e.Seq)
				}
				if page.NextCursor == "" {
					break
				}
				if pages > 10 {
					t.Fatal("paging does not end")
				}
				cursor = page.NextCursor
			}
			exp := slices.Clone(want)
			if order == "desc" {
				slices.Reverse(exp)
			}
			if !slices.Equal(got, exp) {
				t.Errorf("paged seqs %v, want %v", got, exp)
			}
			if pages < 3 {
				t.Errorf("%d pages, want at least 3", pages)
			}
		})
	}
}

func TestGetEventWithProof(t *testing.T) {
	s := newTestServer(t, nil)
	x := ev("", "doc.view", "u")
	x["id"] = "doc-1"
	s.ingest(t, s.token(auth.Writer, "a"), ev("", "before", "u"), x, ev("", "after", "u"))
	viewer := s.token(auth.Viewer, "a")

	r := s.do(t, request{Method: "GET", Path: "/v1/events/doc-1", Token: viewer})
	var e trail.Event
	r.JSON(t, &e)
	if r.Status != http.StatusOK || e.ID != "doc-1" || e.Seq != 1 || e.Tenant != "a" || e.LeafHash == nil {
		t.Fatalf("got %d %s, want event doc-1 at seq 1 with its leaf hash", r.Status, r.Body)
	}
	for _, p := range []string{"1", "true"} {
		r = s.do(t, request{Method: "GET", Path: "/v1/events/doc-1?proof=" + p, Token: viewer})
		var wp struct {
			Event      trail.Event           `json:"event"`
			Checkpoint string                `json:"checkpoint"`
			Inclusion  *trail.InclusionProof `json:"inclusion"`
		}
		r.JSON(t, &wp)
		if wp.Event.ID != "doc-1" {
			t.Fatalf("proof=%s: got %s", p, r.Body)
		}
		cp := s.openCheckpoint(t, wp.Checkpoint)
		verifyInclusion(t, *wp.Event.LeafHash, wp.Inclusion, cp)
	}
}

func TestStats(t *testing.T) {
	s, viewer := queryServer(t)
	r := s.do(t, request{Method: "GET", Path: "/v1/stats?group_by=action&action=user.*", Token: viewer})
	var st trail.Stats
	r.JSON(t, &st)
	want := []trail.StatsCount{{Value: "user.login", Count: 2}, {Value: "user.logout", Count: 1}}
	if r.Status != http.StatusOK || !slices.Equal(st.Counts, want) {
		t.Errorf("group_by=action: got %d %s, want counts %v", r.Status, r.Body, want)
	}

	r = s.do(t, request{Method: "GET", Path: "/v1/stats?interval=1m&from=2026-11-22T10:00:00Z&to=2026-11-22T10:02:00Z&group_by=outcome", Token: viewer})
	st = trail.Stats{}
	r.JSON(t, &st)
	if r.Status != http.StatusOK || len(st.Buckets) != 2 ||
		st.Buckets[0].Counts["success"] != 1 || st.Buckets[1].Counts["failure"] != 1 ||
		!st.Buckets[0].Start.Equal(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("interval=1m: got %d %s", r.Status, r.Body)
	}

	for _, q := range []string{"", "group_by=colour", "interval=fortnight", "interval=1ms"} {
		r = s.do(t, request{Method: "GET", Path: "/v1/stats?" + q, Token: viewer})
		if r.Status != http.StatusBadRequest {
			t.Errorf("stats?%s: got %d, want 400", q, r.Status)
		}
	}
}

func TestCheckpointAndProofs(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.token(auth.Writer, "a")
	viewer := s.token(auth.Viewer, "a")
	first := s.ingest(t, w, ev("", "x", "u"), ev("", "x", "u"), ev("", "x", "u"))
	cp1 := s.openCheckpoint(t, first.Checkpoints["a"])
	second := s.ingest(t, w, ev("", "y", "u"), ev("", "y", "u"), ev("", "y", "u"), ev("", "y", "u"))
	cp2 := s.openCheckpoint(t, second.Checkpoints["a"])
	if cp1.Size != 3 || cp2.Size != 7 {
		t.Fatalf("checkpoint sizes %d, %d, want 3, 7", cp1.Size, cp2.Size)
	}

	// The checkpoint endpoint serves the latest signed note as text.
	r := s.do(t, request{Method: "GET", Path: "/v1/log/checkpoint", Token: viewer})
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want text/plain", ct)
	}
	latest := s.openCheckpoint(t, string(r.Body))
	if latest.Origin != "trail.test/a" || latest.Size < cp2.Size {
		t.Errorf("latest checkpoint %s %d, want trail.test/a at least %d", latest.Origin, latest.Size, cp2.Size)
	}

	// Inclusion of every leaf in the older tree.
	for seq := range int64(3) {
		r := s.do(t, request{Method: "GET", Path: fmt.Sprintf("/v1/log/proof/inclusion?seq=%d&size=%d", seq, cp1.Size), Token: viewer})
		var p trail.InclusionProof
		r.JSON(t, &p)
		verifyInclusion(t, first.Receipts[seq].LeafHash, &p, cp1)
	}

	// Consistency from the older tree to the newer.
	r = s.do(t, request{Method: "GET", Path: fmt.Sprintf("/v1/log/proof/consistency?from=%d&to=%d", cp1.Size, cp2.Size), Token: viewer})
	var cp trail.ConsistencyProof
	r.JSON(t, &cp)
	hs := make([]merkle.Hash, len(cp.Hashes))
	for i, h := range cp.Hashes {
		hs[i] = merkle.Hash(h)
	}
	if err := merkle.VerifyConsistency(cp1.Size, cp2.Size, hs, merkle.Hash(cp1.Root), merkle.Hash(cp2.Root)); err != nil {
		t.Errorf("consistency %d→%d: %v", cp1.Size, cp2.Size, err)
	}

	for _, p := range []string{"inclusion", "inclusion?seq=-1", "inclusion?seq=99", "inclusion?seq=0&size=999", "consistency", "consistency?from=5&to=3", "consistency?from=x"} {
		if r := s.do(t, request{Method: "GET", Path: "/v1/log/proof/" + p, Token: viewer}); r.Status != http.StatusBadRequest {
			t.Errorf("%s: got %d, want 400", p, r.Status)
		}
	}
	// The verifier key is public and is the one that signs.
	r = s.do(t, request{Method: "GET", Path: "/v1/log/key"})
	if strings.TrimSpace(string(r.Body)) != s.VKey {
		t.Errorf("key %q, want %q", r.Body, s.VKey)
	}
}

// exportSeed ingests events for the export tests, including cells that
// look like spreadsheet formulas.
func exportSeed(t *testing.T, s *testServer) ingestResult {
	return s.ingest(t, s.token(auth.Writer, "a"),
		map[string]any{"action": "doc.edit", "actor": map[string]any{"id": "u1", "name": "=HYPERLINK(\"http://evil\")"}, "reason": "+1+2",
			"resource": map[string]any{"type": "doc", "id": "-3", "name": "@SUM(A1:A9)"}, "metadata": map[string]any{"note": "é ü \u2028 <b>"}},
		ev("", "doc.view", "u2"),
		ev("", "doc.view", "u3"),
	)
}

func TestExportNDJSON(t *testing.T) {
	s := newTestServer(t, nil)
	res := exportSeed(t, s)
	auditor := s.token(auth.Auditor, "a")
	r := s.do(t, request{Method: "GET", Path: "/v1/export?action=doc.*", Token: auditor})
	if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("got %d %s", r.Status, r.Header.Get("Content-Type"))
	}
	if cd := r.Header.Get("Content-Disposition"); !regexp.MustCompile(`^attachment; filename="trail-a-\d{8}T\d{6}Z\.ndjson"$`).MatchString(cd) {
		t.Errorf("Content-Disposition %q", cd)
	}
	lines := bytes.Split(bytes.TrimSuffix(r.Body, []byte("\n")), []byte("\n"))
	if len(lines) != len(res.Receipts) {
		t.Fatalf("%d lines, want %d", len(lines), len(res.Receipts))
	}
	for i, line := range lines {
		sum := sha256.Sum256(append([]byte{0}, line...))
		if trail.Hash(sum) != res.Receipts[i].LeafHash {
			t.Errorf("line %d: SHA-256(0x00‖line) = %s, leaf hash %s", i, base64.StdEncoding.EncodeToString(sum[:]), res.Receipts[i].LeafHash)
		}
		var e trail.Event
		if err := json.Unmarshal(line, &e); err != nil || e.Seq != res.Receipts[i].Seq {
			t.Errorf("line %d: seq %d (%v), want %d in log order", i, e.Seq, err, res.Receipts[i].Seq)
		}
	}
}

func TestExportCSVNeutralisesFormulas(t *testing.T) {
	s := newTestServer(t, nil)
	exportSeed(t, s)
	r := s.do(t, request{Method: "GET", Path: "/v1/export?format=csv&action=doc.edit", Token: s.token(auth.Auditor, "a")})
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("got %d %s", r.Status, r.Header.Get("Content-Type"))
	}
	rows, err := csv.NewReader(bytes.NewReader(r.Body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || !slices.Equal(rows[0], export.CSVColumns) {
		t.Fatalf("rows %v, want the header and one row", rows)
	}
	cell := map[string]string{}
	for i, name := range rows[0] {
		cell[name] = rows[1][i]
	}
	for col, want := range map[string]string{"actor_name": `'=HYPERLINK("http://evil")`, "reason": "'+1+2", "resource_id": "'-3", "resource_name": "'@SUM(A1:A9)", "action": "doc.edit"} {
		if cell[col] != want {
			t.Errorf("%s = %q, want %q", col, cell[col], want)
		}
	}
	for col, v := range cell {
		if v != "" && strings.ContainsRune("=+-@", rune(v[0])) {
			t.Errorf("%s = %q starts a formula", col, v)
		}
	}
}

func TestExportBundleVerifies(t *testing.T) {
	s := newTestServer(t, nil)
	res := exportSeed(t, s)
	r := s.do(t, request{Method: "GET", Path: "/v1/export?format=bundle&action=doc.*", Token: s.token(auth.Auditor, "a")})
	if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "application/zip" {
		t.Fatalf("got %d %s %.200s", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	rep, err := export.VerifyBundle(bytes.NewReader(r.Body), int64(len(r.Body)), s.VKey)
	if err != nil {
		t.Fatalf("VerifyBundle: %v", err)
	}
	if !rep.KeyTrusted || rep.Tenant != "a" || rep.Events != len(res.Receipts) || rep.FirstSeq != res.Receipts[0].Seq {
		t.Errorf("report %+v, want %d events of tenant a checked with the trusted key", rep, len(res.Receipts))
	}
	if r := s.do(t, request{Method: "GET", Path: "/v1/export?format=bundle&order=desc", Token: s.token(auth.Auditor, "a")}); r.Status != http.StatusBadRequest {
		t.Errorf("bundle in desc order: got %d, want 400", r.Status)
	}
}

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	ID, Event, Data string
}

// openStream starts a live tail and returns its events as they arrive.
// The stream ends with the test.
func (s *testServer) openStream(t *testing.T, path, token, lastID string) <-chan sseEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req := request{Method: "GET", Path: path, Token: token}
	if lastID != "" {
		req.Header = map[string]string{"Last-Event-ID": lastID}
	}
	resp, err := s.Client.Do(s.newRequest(t, ctx, req))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		resp.Body.Close()
		t.Fatalf("stream: got %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	ch := make(chan sseEvent, 1000)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var cur sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if cur.Data != "" {
					ch <- cur
				}
				cur = sseEvent{}
			case strings.HasPrefix(line, ":"):
			case strings.HasPrefix(line, "id: "):
				cur.ID = line[4:]
			case strings.HasPrefix(line, "event: "):
				cur.Event = line[7:]
			case strings.HasPrefix(line, "data: "):
				cur.Data += line[6:]
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		<-done
	})
	return ch
}

// next returns the next n events of a stream.
func next(t *testing.T, ch <-chan sseEvent, n int) []sseEvent {
	t.Helper()
	var out []sseEvent
	timeout := time.After(10 * time.Second)
	for len(out) < n {
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatalf("stream ended after %d of %d events", len(out), n)
			}
			out = append(out, e)
		case <-timeout:
			t.Fatalf("got %d of %d events", len(out), n)
		}
	}
	return out
}

// quiet checks that no event arrives for a moment.
func quiet(t *testing.T, ch <-chan sseEvent) {
	t.Helper()
	select {
	case e := <-ch:
		t.Errorf("unexpected event %+v", e)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestStream(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.token(auth.Writer, "a")
	viewer := s.token(auth.Viewer, "a")
	s.ingest(t, w, ev("", "user.login", "old")) // before the stream: not sent
	stream := s.openStream(t, "/v1/stream?action=user.login&outcome=failure", viewer, "")

	fail := func(actor string) map[string]any {
		x := ev("", "user.login", actor)
		x["outcome"] = "failure"
		return x
	}
	res := s.ingest(t, w, fail("m1"), ev("", "user.login", "n1"), ev("", "user.logout", "n2"), fail("m2"))
	s.ingest(t, s.token(auth.Writer, "b"), fail("other tenant"))
	res2 := s.ingest(t, w, fail("m3"))
	want := []trail.Receipt{res.Receipts[0], res.Receipts[3], res2.Receipts[0]}
	got := next(t, stream, 3)
	for i, e := range got {
		var x trail.Event
		if err := json.Unmarshal([]byte(e.Data), &x); err != nil {
			t.Fatal(err)
		}
		if e.ID != strconv.FormatInt(want[i].Seq, 10) || x.Seq != want[i].Seq || x.ID != want[i].ID || e.Event != "event" {
			t.Errorf("event %d: id %s seq %d (%s), want id = seq = %d", i, e.ID, x.Seq, e.Event, want[i].Seq)
		}
		if x.LeafHash == nil || *x.LeafHash != want[i].LeafHash {
			t.Errorf("event %d: leaf hash %v, want %v", i, x.LeafHash, want[i].LeafHash)
		}
	}
	quiet(t, stream)

	// Reconnect after the second event: the third and everything since,
	// without gaps or duplicates.
	missed := s.ingest(t, w, fail("m4"), ev("", "x", "n3"), fail("m5"))
	resumed := s.openStream(t, "/v1/stream?action=user.login&outcome=failure", viewer, got[1].ID)
	live := s.ingest(t, w, fail("m6"))
	wantSeqs := []int64{want[2].Seq, missed.Receipts[0].Seq, missed.Receipts[2].Seq, live.Receipts[0].Seq}
	var gotSeqs []int64
	for _, e := range next(t, resumed, len(wantSeqs)) {
		n, _ := strconv.ParseInt(e.ID, 10, 64)
		gotSeqs = append(gotSeqs, n)
	}
	if !slices.Equal(gotSeqs, wantSeqs) {
		t.Errorf("resumed seqs %v, want %v", gotSeqs, wantSeqs)
	}
	quiet(t, resumed)

	for _, h := range []string{"x", "-1"} {
		r := s.do(t, request{Method: "GET", Path: "/v1/stream", Token: viewer, Header: map[string]string{"Last-Event-ID": h}})
		if r.Status != http.StatusBadRequest {
			t.Errorf("Last-Event-ID %q: got %d, want 400", h, r.Status)
		}
	}
}

// TestStreamSlowClient: a client that never reads does not slow ingest.
func TestStreamSlowClient(t *testing.T) {
	s := newTestServer(t, nil)
	w := s.token(auth.Writer, "a")
	u, _ := url.Parse(s.URL)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetReadBuffer(4 << 10)
	}
	fmt.Fprintf(conn, "GET /v1/stream HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", u.Host, s.token(auth.Viewer, "a"))
	waitFor(t, "the stream to open", func() bool { return metricValue(t, s, "trail_streams") == 1 })

	pad := strings.Repeat("p", 6000) // 12 MB in all: more than the socket buffers hold
	start := time.Now()
	var slowest time.Duration
	for range 20 {
		batch := make([]map[string]any, 100)
		for i := range batch {
			batch[i] = ev("", "bulk", "u")
			batch[i]["reason"] = pad
		}
		t0 := time.Now()
		s.ingest(t, w, batch...)
		slowest = max(slowest, time.Since(t0))
	}
	total := time.Since(start)
	t.Logf("2000 events in %v, slowest batch %v", total, slowest)
	if slowest > 5*time.Second {
		t.Errorf("slowest ingest took %v while a client did not read its stream", slowest)
	}
	if n := len(s.actions(t, "a")); n < 2000 {
		t.Errorf("log has %d events, want at least 2000", n)
	}
	conn.Close()
	waitFor(t, "the stream to close", func() bool { return metricValue(t, s, "trail_streams") == 0 })
}

// metrics returns the /metrics text.
func metrics(t testing.TB, s *testServer) string {
	t.Helper()
	r := s.do(t, request{Method: "GET", Path: "/metrics"})
	if r.Status != http.StatusOK {
		t.Fatalf("/metrics: got %d", r.Status)
	}
	return string(r.Body)
}

// metricValue returns the value of the sample named series (name and
// labels exactly as exposed), -1 when absent.
func metricValue(t testing.TB, s *testServer, series string) float64 {
	t.Helper()
	for line := range strings.SplitSeq(metrics(t, s), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", line, err)
			}
			return f
		}
	}
	return -1
}

func TestRateLimits(t *testing.T) {
	s := newTestServer(t, func(c *api.Config) {
		c.IngestRate = limit.Config{Rate: 0.001, Burst: 3}
		c.ReadRate = limit.Config{Rate: 0.001, Burst: 2}
	})
	w := s.token(auth.Writer, "a")
	v := s.token(auth.Viewer, "a")
	s.ingest(t, w, ev("", "x", "u"), ev("", "x", "u"))
	s.ingest(t, w, ev("", "x", "u"))
	tests := []struct {
		name  string
		req   request
		scope string
	}{
		{"ingest", request{Method: "POST", Path: "/v1/events", Token: w, Body: ev("", "x", "u")}, "ingest"},
		{"read", request{Method: "GET", Path: "/v1/events", Token: v}, "read"},
	}
	// The viewer's burst of 2.
	for range 2 {
		if r := s.do(t, request{Method: "GET", Path: "/v1/events", Token: v}); r.Status != http.StatusOK {
			t.Fatalf("read within the burst: got %d", r.Status)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, tt.req)
			if r.Status != http.StatusTooManyRequests {
				t.Fatalf("got %d %s, want 429", r.Status, r.Body)
			}
			ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
			if err != nil || ra < 1 {
				t.Errorf("Retry-After %q, want a positive number of seconds", r.Header.Get("Retry-After"))
			}
			if code, _, _ := r.errorBody(t); code != "rate_limited" {
				t.Errorf("code %q, want rate_limited", code)
			}
			if got := metricValue(t, s, `trail_rate_limited_total{scope="`+tt.scope+`"}`); got != 1 {
				t.Errorf("trail_rate_limited_total{scope=%q} = %v, want 1", tt.scope, got)
			}
		})
	}
	// Limits are per key: another viewer still reads.
	if r := s.do(t, request{Method: "GET", Path: "/v1/events", Token: s.token(auth.Auditor, "a")}); r.Status != http.StatusOK {
		t.Errorf("another key: got %d, want 200", r.Status)
	}
	// Time refills the bucket.
	s.Clock.Advance(time.Hour)
	if r := s.do(t, request{Method: "GET", Path: "/v1/events", Token: v}); r.Status != http.StatusOK {
		t.Errorf("after an hour: got %d, want 200", r.Status)
	}
}

func TestRateLimitPerIP(t *testing.T) {
	s := newTestServer(t, func(c *api.Config) {
		c.IPRate = limit.Config{Rate: 0.001, Burst: 2}
	})
	for range 2 {
		s.do(t, request{Method: "GET", Path: "/healthz"})
	}
	r := s.do(t, request{Method: "GET", Path: "/v1/events", Token: s.operator()})
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Errorf("third request from one address: got %d, Retry-After %q, want 429 with Retry-After", r.Status, r.Header.Get("Retry-After"))
	}
	if got := metricValue(t, s, `trail_rate_limited_total{scope="ip"}`); got != 1 {
		t.Errorf(`trail_rate_limited_total{scope="ip"} = %v, want 1`, got)
	}
}

func TestSelfAudit(t *testing.T) {
	s := newTestServer(t, nil)
	s.ingest(t, s.token(auth.Writer, "a"), ev("", "x", "u"))
	admin := s.token(auth.Admin, "a")
	adminID := ""
	for _, k := range s.Keys.List(context.Background(), "a") {
		if k.Role == auth.Admin {
			adminID = k.ID
		}
	}

	s.do(t, request{Method: "GET", Path: "/v1/events?action=x", Token: admin})
	s.do(t, request{Method: "GET", Path: "/v1/export", Token: admin})
	s.do(t, request{Method: "GET", Path: "/v1/stats?group_by=action", Token: admin})
	s.openStream(t, "/v1/stream", admin, "")
	s.do(t, request{Method: "POST", Path: "/v1/keys", Token: admin, Body: map[string]any{"name": "ci", "role": "writer"}})
	want := []string{"trail.events.query", "trail.events.export", "trail.events.stats", "trail.events.stream", "trail.key.created"}
	waitFor(t, "self-audit events", func() bool {
		got := s.actions(t, "a")
		for _, w := range want {
			if !slices.Contains(got, w) {
				return false
			}
		}
		return true
	})
	// They name the caller's key.
	page := s.do(t, request{Method: "GET", Path: "/v1/events?tenant=a&q=" + url.QueryEscape("action:trail.key.created"), Token: s.operator()})
	var p struct{ Events []trail.Event }
	page.JSON(t, &p)
	if len(p.Events) != 1 || p.Events[0].Actor.ID != adminID || p.Events[0].Actor.Type != trail.ActorAPIKey || p.Events[0].Metadata["role"] != "writer" {
		t.Errorf("trail.key.created events %s, want one by key %s", page.Body, adminID)
	}

	// A failed authentication is recorded in _system.
	s.do(t, request{Method: "GET", Path: "/v1/events", Token: "trl_0000000000000000_nope"})
	waitFor(t, "trail.auth.failed in _system", func() bool { return slices.Contains(s.actions(t, "_system"), "trail.auth.failed") })
	for _, a := range s.actions(t, "a") {
		if a == "trail.auth.failed" {
			t.Error("trail.auth.failed recorded in tenant a")
		}
	}
}

func TestMetrics(t *testing.T) {
	s := newTestServer(t, nil)
	s.ingest(t, s.token(auth.Writer, "a"), ev("", "x", "u"), ev("", "x", "u"), ev("", "x", "u"))
	s.ingest(t, s.operator(), ev("b", "x", "u"))
	s.do(t, request{Method: "GET", Path: "/v1/events", Token: s.token(auth.Viewer, "a")})
	s.do(t, request{Method: "GET", Path: "/v1/events", Token: "bad"})
	if got := metricValue(t, s, "trail_ingest_events_total"); got != 4 {
		t.Errorf("trail_ingest_events_total = %v, want 4", got)
	}
	if got := metricValue(t, s, "trail_ingest_batches_total"); got != 2 {
		t.Errorf("trail_ingest_batches_total = %v, want 2", got)
	}
	if got := metricValue(t, s, "trail_commit_seconds_count"); got != 2 {
		t.Errorf("trail_commit_seconds_count = %v, want 2", got)
	}
	if got := metricValue(t, s, "trail_query_seconds_count"); got != 1 {
		t.Errorf("trail_query_seconds_count = %v, want 1", got)
	}
	if got := metricValue(t, s, "trail_auth_failures_total"); got != 1 {
		t.Errorf("trail_auth_failures_total = %v, want 1", got)
	}
	if got := metricValue(t, s, `trail_log_events{tenant="b"}`); got != 1 {
		t.Errorf(`trail_log_events{tenant="b"} = %v, want 1`, got)
	}
	if got := metricValue(t, s, `trail_log_events{tenant="a"}`); got < 3 {
		t.Errorf(`trail_log_events{tenant="a"} = %v, want at least 3`, got)
	}
	if got := metricValue(t, s, `trail_http_requests_total{route="POST /v1/events",status="2xx"}`); got != 2 {
		t.Errorf(`trail_http_requests_total{route="POST /v1/events",status="2xx"} = %v, want 2`, got)
	}
	if got := metricValue(t, s, `trail_http_requests_total{route="GET /v1/events",status="4xx"}`); got != 1 {
		t.Errorf(`trail_http_requests_total{route="GET /v1/events",status="4xx"} = %v, want 1`, got)
	}
}

func TestUnknownEndpoint(t *testing.T) {
	s := newTestServer(t, nil)
	r := s.send(t, request{Method: "GET", Path: "/v1/nothing"})
	if code, _, _ := r.errorBody(t); r.Status != http.StatusNotFound || code != "not_found" {
		t.Errorf("got %d %s, want 404 not_found", r.Status, r.Body)
	}
}

func TestReadyz(t *testing.T) {
	var notReady atomic.Bool
	s := newTestServer(t, func(c *api.Config) {
		c.Ready = func(context.Context) error {
			if !notReady.Load() {
				return nil
			}
			return fmt.Errorf("disk on fire")
		}
	})
	if r := s.do(t, request{Method: "GET", Path: "/readyz"}); r.Status != http.StatusOK {
		t.Errorf("ready: got %d", r.Status)
	}
	notReady.Store(true)
	r := s.do(t, request{Method: "GET", Path: "/readyz"})
	if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" || strings.Contains(string(r.Body), "fire") {
		t.Errorf("not ready: got %d %s, want 503 with Retry-After and no internal detail", r.Status, r.Body)
	}
}

func TestIngestAutoTenantsOff(t *testing.T) {
	s := newTestServer(t, func(c *api.Config) { c.AutoTenants = false })
	op := s.operator()
	r := s.do(t, request{Method: "POST", Path: "/v1/events", Token: op, Body: ev("fresh", "x", "u")})
	if code, _, field := r.errorBody(t); r.Status != http.StatusNotFound || code != "not_found" || field != "events[0].tenant" {
		t.Fatalf("unknown tenant: got %d %s, want 404 naming events[0].tenant", r.Status, r.Body)
	}
	if r := s.do(t, request{Method: "POST", Path: "/v1/tenants", Token: op, Body: map[string]any{"name": "fresh"}}); r.Status != http.StatusCreated {
		t.Fatalf("create tenant: got %d %s", r.Status, r.Body)
	}
	s.ingest(t, op, ev("fresh", "x", "u"))
	if got := s.actions(t, "fresh"); !slices.Equal(got, []string{"trail.tenant.created", "x"}) {
		t.Errorf("log of fresh: %v, want trail.tenant.created then x", got)
	}
	// A key scoped to one tenant is not subject to auto-creation.
	s.ingest(t, s.token(auth.Writer, "scoped"), ev("", "x", "u"))
}

// TestExportWholeLogFromLeaves exports an unfiltered log (the fast path
// that streams stored leaves) after retention erased its oldest events:
// every live line hashes to its leaf hash, erased events are stubs that
// carry their leaf hash, and the filtered path gives the same lines.
func TestExportWholeLogFromLeaves(t *testing.T) {
	s := newTestServer(t, nil)
	writer := s.token(auth.Writer, "a")
	for i := 0; i < 5; i++ {
		s.ingest(t, writer, ev("a", "old.event", "u1"))
	}
	time.Sleep(2 * time.Millisecond) // the store runs on the real clock
	cut := time.Now()
	time.Sleep(2 * time.Millisecond)
	for i := 0; i < 5; i++ {
		s.ingest(t, writer, ev("a", "new.event", "u2"))
	}
	res, err := s.Store.Retain(context.Background(), "a", cut)
	if err != nil {
		t.Fatal(err)
	}
	auditor := s.token(auth.Auditor, "a")
	// Read the log first: the export's own self-audit event lands after it.
	recs, err := s.Store.Read(context.Background(), "a", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	whole := s.do(t, request{Method: "GET", Path: "/v1/export", Token: auditor})
	if whole.Status != http.StatusOK {
		t.Fatalf("export: %d %s", whole.Status, whole.Body)
	}
	lines := bytes.Split(bytes.TrimSuffix(whole.Body, []byte("\n")), []byte("\n"))
	if len(lines) < len(recs) {
		t.Fatalf("%d lines, want at least %d (the whole log)", len(lines), len(recs))
	}
	lines = lines[:len(recs)]
	erased := 0
	for i, line := range lines {
		var e trail.Event
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if recs[i].Data == nil {
			erased++
			if !e.Erased || e.LeafHash == nil || *e.LeafHash != recs[i].LeafHash || e.Seq != recs[i].Seq {
				t.Errorf("line %d: %s, want the erased stub of seq %d", i, line, recs[i].Seq)
			}
			continue
		}
		if sum := sha256.Sum256(append([]byte{0}, line...)); trail.Hash(sum) != recs[i].LeafHash {
			t.Errorf("line %d does not hash to its leaf hash", i)
		}
	}
	if int64(erased) != res.Purged || erased < 5 {
		t.Errorf("%d erased stubs, want %d (at least the 5 old events)", erased, res.Purged)
	}
	// The same lines through the filtered path (a filter every event matches).
	filtered := s.do(t, request{Method: "GET", Path: "/v1/export?q=-action:none.such", Token: auditor})
	fl := bytes.Split(bytes.TrimSuffix(filtered.Body, []byte("\n")), []byte("\n"))
	live := 0
	for _, l := range lines {
		if !bytes.Contains(l, []byte(`"erased":true`)) {
			if live >= len(fl) || !bytes.Equal(l, fl[live]) {
				t.Fatalf("filtered export differs at live line %d", live)
			}
			live++
		}
	}
}
