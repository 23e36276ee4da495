package sink_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/sink"
)

// latencyRun ingests rate events/s into a real logstore for d, in batches
// every 10 ms, while a webhook sink (file cursors, signed requests) delivers
// them to an httptest receiver. It returns the commit → delivered latencies
// (Append returned → the receiver decoded the event) and the achieved ingest rate.
func latencyRun(t testing.TB, rate int, d time.Duration) (lat []time.Duration, achieved float64) {
	st := openStore(t)
	secret := newSecret(t)
	var mu sync.Mutex
	recvAt := map[int64]time.Time{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := verifyStandardWebhook(secret, r.Header, body, time.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var msg struct {
			Data []struct {
				Seq int64 `json:"seq"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &msg); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		now := time.Now()
		mu.Lock()
		for _, e := range msg.Data {
			if _, ok := recvAt[e.Seq]; !ok {
				recvAt[e.Seq] = now
			}
		}
		mu.Unlock()
	}))
	defer srv.Close()
	cfg := sink.Sink{ID: "lat", Tenant: "acme", Name: "hook", Type: sink.TypeWebhook, URL: srv.URL, Secret: secret}
	r, stop := startRunner(t, cfg, sink.Options{Store: st, Cursors: &sink.FileCursors{Dir: t.TempDir()}})
	defer stop()

	const tick = 10 * time.Millisecond
	per := max(1, rate*int(tick)/int(time.Second))
	commitAt := map[int64]time.Time{}
	start := time.Now()
	var total int
	for next := start; time.Since(start) < d; next = next.Add(tick) {
		time.Sleep(time.Until(next))
		evs := make([]*trail.Event, per)
		for i := range evs {
			evs[i] = &trail.Event{Tenant: "acme", Action: "doc.read", Actor: trail.Actor{ID: fmt.Sprintf("u_%d", i%50)},
				Source: &trail.Source{IP: "10.1.2.3"}, Metadata: map[string]any{"i": float64(total + i)}}
		}
		res, err := st.Append(context.Background(), evs)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		for _, rc := range res.Receipts {
			commitAt[rc.Seq] = now
		}
		total += per
	}
	achieved = float64(total) / time.Since(start).Seconds()
	waitFor(t, "all delivered", 60*time.Second, func() bool { return r.Status().Cursor == int64(total) })
	mu.Lock()
	defer mu.Unlock()
	for seq, c := range commitAt {
		got, ok := recvAt[seq]
		if !ok {
			t.Fatalf("seq %d never delivered", seq)
		}
		lat = append(lat, max(0, got.Sub(c)))
	}
	slices.Sort(lat)
	return lat, achieved
}

func percentile(lat []time.Duration, p float64) time.Duration {
	return lat[min(len(lat)-1, int(float64(len(lat))*p))]
}

// TestWebhookLatency measures commit → delivered latency of a webhook sink
// under 10k events/s of continuous ingest and logs p50/p99/max. It asserts
// only that everything arrived: timing depends on the machine (and -race).
// Run it alone, without -race, to get figures: go test -run WebhookLatency -v ./sink/
func TestWebhookLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("latency run takes a few seconds")
	}
	lat, achieved := latencyRun(t, 10000, 3*time.Second)
	t.Logf("%d events at %.0f events/s ingest: commit→delivered p50 %v, p99 %v, max %v",
		len(lat), achieved, percentile(lat, 0.50), percentile(lat, 0.99), lat[len(lat)-1])
}

// BenchmarkWebhookLatency reports the same figures as metrics; b.N is
// ignored beyond running once per benchmark iteration.
func BenchmarkWebhookLatency(b *testing.B) {
	for b.Loop() {
		lat, achieved := latencyRun(b, 10000, 5*time.Second)
		b.ReportMetric(float64(percentile(lat, 0.50).Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
		b.ReportMetric(achieved, "ingest-events/s")
	}
}
