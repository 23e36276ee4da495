package api_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/gen"
	"github.com/trail-audit/trail/internal/cpuclock"
)

// benchBody returns n generated events of one tenant as a batch body,
// {"events":[…]}, in the wire form trail bench sends.
func benchBody(b *testing.B, n int) []byte {
	b.Helper()
	g := gen.New(1, 1)
	t := g.Tenants()[0]
	now := time.Now().UTC()
	var buf bytes.Buffer
	buf.WriteString(`{"events":[`)
	for i := range n {
		if i > 0 {
			buf.WriteByte(',')
		}
		data, err := g.Event(t, now).ClientJSON()
		if err != nil {
			b.Fatal(err)
		}
		buf.Write(data)
	}
	buf.WriteString("]}")
	return buf.Bytes()
}

// BenchmarkIngestHandler posts events to the real handler over a real
// logstore in a temporary directory (durable acknowledgements, no
// network), reporting the server's cost per event: "batch" is one
// 1000-event request, "proof" the same with ?receipt=proof, "single" one
// event per request.
func BenchmarkIngestHandler(b *testing.B) {
	for _, bc := range []struct {
		name  string
		n     int
		query string
	}{{"batch", 1000, ""}, {"proof", 1000, "?receipt=proof"}, {"single", 1, ""}} {
		b.Run(bc.name, func(b *testing.B) {
			s := newTestServer(b, nil)
			token := "Bearer " + s.operator()
			body := benchBody(b, bc.n)
			if bc.n == 1 { // a single event is the object itself
				body = bytes.TrimSuffix(bytes.TrimPrefix(body, []byte(`{"events":[`)), []byte("]}"))
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/v1/events"+bc.query, bytes.NewReader(body))
				req.Header.Set("Authorization", token)
				req.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				s.API.ServeHTTP(w, req)
				if w.Code != http.StatusCreated {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*bc.n)/1e3, "µs/event")
			b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N*bc.n)/1e3, "cpu-µs/event")
		})
	}
}

// BenchmarkIngestHandlerSingleParallel posts one event per request from
// 64 goroutines at once, as trail bench's single-event phase does, so
// that the store commits them in groups; it reports the process's CPU
// per event (handler, store and its background work; no network).
func BenchmarkIngestHandlerSingleParallel(b *testing.B) {
	s := newTestServer(b, nil)
	token := "Bearer " + s.operator()
	body := benchBody(b, 1)
	body = bytes.TrimSuffix(bytes.TrimPrefix(body, []byte(`{"events":[`)), []byte("]}"))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.SetParallelism(32) // × GOMAXPROCS (2 here): 64 clients
	cpu0 := processCPU()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, "/v1/events", bytes.NewReader(body))
			req.Header.Set("Authorization", token)
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			s.API.ServeHTTP(w, req)
			if w.Code != http.StatusCreated {
				b.Errorf("status %d: %s", w.Code, w.Body)
				return
			}
		}
	})
	b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N)/1e3, "cpu-µs/event")
}

// processCPU returns the user and system CPU time the process has used
// (the server's goroutines and the store's included), or 0 where the
// system does not say.
func processCPU() time.Duration {
	d, _ := cpuclock.Process()
	return d
}

// TestIngestBodyBufferReuse sends batches of the same length one after
// another, so that each reuses the body buffer of the one before, and
// then queries the first batches' events through the head indexes and
// the decoded events the store keeps: none of them may see bytes of a
// later request (a decoder that kept slices of the body would).
func TestIngestBodyBufferReuse(t *testing.T) {
	s := newTestServer(t, nil)
	token := s.operator()
	const rounds, per = 6, 50
	for r := range rounds {
		events := make([]map[string]any, per)
		for i := range events {
			events[i] = map[string]any{
				"tenant": "acme", "action": fmt.Sprintf("round%d.act", r),
				"actor":    map[string]any{"id": fmt.Sprintf("actor-%d-%03d", r, i)},
				"metadata": map[string]any{"note": fmt.Sprintf("note-%d-%03d", r, i)},
			}
		}
		s.ingest(t, token, events...)
	}
	for r := range rounds {
		for _, i := range []int{0, per / 2, per - 1} {
			actor := fmt.Sprintf("actor-%d-%03d", r, i)
			res := s.do(t, request{Method: "GET", Path: "/v1/events?tenant=acme&actor=" + actor, Token: token})
			var page struct {
				Events []trail.Event `json:"events"`
			}
			res.JSON(t, &page)
			if len(page.Events) != 1 {
				t.Fatalf("actor %s: %d events: %s", actor, len(page.Events), res.Body)
			}
			e := page.Events[0]
			if e.Action != fmt.Sprintf("round%d.act", r) || e.Metadata["note"] != fmt.Sprintf("note-%d-%03d", r, i) {
				t.Fatalf("actor %s: event changed after later requests: action %q metadata %v", actor, e.Action, e.Metadata)
			}
		}
		q := "/v1/events?tenant=acme&q=" + url.QueryEscape(fmt.Sprintf("metadata.note:note-%d-007", r))
		res := s.do(t, request{Method: "GET", Path: q, Token: token})
		var page struct {
			Events []trail.Event `json:"events"`
		}
		res.JSON(t, &page)
		if len(page.Events) != 1 || page.Events[0].Actor.ID != fmt.Sprintf("actor-%d-007", r) {
			t.Fatalf("round %d metadata query: %s", r, res.Body)
		}
	}
}
