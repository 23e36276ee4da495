package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	trail "github.com/trail-audit/trail"
)

// schedulingSlack is what a bound on Send's duration allows beyond
// SendTimeout: the race detector and a machine shared by several test
// runs (load average 10 on 2 cores) delay goroutines by hundreds of
// milliseconds; an fsync under FailSpool can take as long.
const schedulingSlack = 400 * time.Millisecond

func event(i int) trail.Event {
	return trail.Event{Action: "sdk.test", Actor: trail.Actor{ID: "u_42"}, Outcome: trail.OutcomeSuccess, Metadata: map[string]any{"i": i}}
}

func newClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Tests that care about Close call it themselves; this one only
		// stops the goroutines (against a hung trail, by the deadline).
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		c.Close(ctx)
	})
	return c
}

// hungServer is a listener that accepts connections and never answers.
func hungServer(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return "http://" + ln.Addr().String()
}

func TestDeliversEveryEventExactlyOnce(t *testing.T) {
	p := startTrail(t)
	reg := prometheus.NewRegistry()
	c := newClient(t, Config{Server: p.URL, Key: p.writerKey("*"), Tenant: "acme", BatchSize: 100, Registerer: reg})
	var sent []string
	for i := range 1000 {
		id, err := c.SendID(t.Context(), event(i))
		if err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
		sent = append(sent, id)
	}
	if err := c.Flush(ctxTimeout(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	st := c.Stats()
	if st.Sent != 1000 || st.Acknowledged != 1000 || st.Duplicates != 0 || st.Queued != 0 {
		t.Errorf("Stats after Flush = %+v, want 1000 sent and acknowledged, nothing queued", st)
	}
	if got := counterValue(t, reg, "trail_client_events_acknowledged_total"); got != 1000 {
		t.Errorf("trail_client_events_acknowledged_total = %v, want 1000", got)
	}
	if n := requestCount(t, reg, "ok"); n < 10 {
		t.Errorf("request_duration_seconds{outcome=ok} counted %d requests, want at least 10 batches of 100", n)
	}
	if err := c.Close(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, p, "acme", sent)
	if err := c.Send(t.Context(), event(0)); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
}

// requestCount reads the sample count of the request latency histogram.
func requestCount(t *testing.T, reg *prometheus.Registry, outcome string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "trail_client_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}

// counterValue reads a registered counter.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// TestOutageKillTrail sends events continuously while trail is killed
// with SIGKILL and restarted on the same data directory and port: Send
// never blocks beyond its bound, and after Close every event Send
// accepted is in trail exactly once. With a spool, the spool absorbs the
// outage and Send refuses nothing; without one, the queue holds the
// events and the sender retries them from memory.
func TestOutageKillTrail(t *testing.T) {
	t.Run("spool", func(t *testing.T) {
		st, refused := outage(t, Config{FailPolicy: FailSpool, SpoolDir: t.TempDir(), QueueSize: 200})
		if refused != 0 {
			t.Errorf("Send refused %d events; the spool should have absorbed the outage", refused)
		}
		if st.Spooled == 0 || st.Replayed == 0 {
			t.Errorf("stats %+v: want events spooled and replayed", st)
		}
	})
	t.Run("memory", func(t *testing.T) {
		st, _ := outage(t, Config{FailPolicy: FailBlock, QueueSize: 100000})
		if st.Retried == 0 || st.Spooled != 0 {
			t.Errorf("stats %+v: want retries from memory and nothing spooled", st)
		}
	})
}

// outage runs the kill-and-restart scenario with cfg (Server, Key and the
// timings are set here) and checks exactly-once delivery and the bound on
// Send. It returns the final stats and how many events Send refused.
func outage(t *testing.T, cfg Config) (Stats, int64) {
	p := startTrail(t)
	const sendTimeout = 50 * time.Millisecond
	cfg.Server, cfg.Key = p.URL, p.writerKey("acme")
	cfg.BatchSize, cfg.FlushInterval, cfg.SendTimeout = 50, 20*time.Millisecond, sendTimeout
	cfg.MinBackoff, cfg.MaxBackoff = 20*time.Millisecond, 300*time.Millisecond
	c := newClient(t, cfg)

	var sent idList
	var slowest atomic.Int64
	var refused atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				id, err := c.SendID(context.Background(), event(g*1_000_000+i))
				d := time.Since(start)
				for old := slowest.Load(); d > time.Duration(old) && !slowest.CompareAndSwap(old, int64(d)); old = slowest.Load() {
				}
				if err != nil {
					refused.Add(1)
				} else {
					sent.add(id)
				}
				time.Sleep(500 * time.Microsecond)
			}
		}()
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; stats %+v", what, c.Stats())
			}
		}
	}
	waitFor("500 acknowledged events", func() bool { return c.Stats().Acknowledged >= 500 })
	p.kill()
	atKill := c.Stats()
	waitFor("300 events sent while trail is down", func() bool { return c.Stats().Sent >= atKill.Sent+300 })
	p.start()
	waitFor("delivery to resume", func() bool {
		st := c.Stats()
		return st.Acknowledged > atKill.Acknowledged+300 && st.SpoolBytes < 100
	})
	time.Sleep(100 * time.Millisecond) // and some live traffic after the restart
	close(stop)
	wg.Wait()
	if err := c.Close(ctxTimeout(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	st := c.Stats()
	t.Logf("sent %d, refused %d, slowest Send %v; stats %+v", len(sent.all()), refused.Load(), time.Duration(slowest.Load()), st)
	if max := time.Duration(slowest.Load()); max > sendTimeout+schedulingSlack {
		t.Errorf("slowest Send took %v, want at most SendTimeout %v (+%v for a loaded machine)", max, sendTimeout, schedulingSlack)
	}
	if st.Acknowledged != st.Sent || st.Dropped != 0 || st.Rejected != 0 {
		t.Errorf("stats %+v: want every sent event acknowledged, none dropped or rejected", st)
	}
	exactlyOnce(t, p, "acme", sent.all())
	return st, refused.Load()
}

// TestApplicationRestart closes the client while trail is down; a new
// client on the same spool delivers the events once trail is back.
func TestApplicationRestart(t *testing.T) {
	p := startTrail(t)
	key := p.writerKey("acme")
	p.kill()
	spool := t.TempDir()
	cfg := Config{Server: p.URL, Key: key, BatchSize: 40, FlushInterval: 10 * time.Millisecond, SpoolDir: spool, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}
	c1, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var sent []string
	for i := range 300 {
		id, err := c1.SendID(t.Context(), event(i))
		if err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
		sent = append(sent, id)
	}
	start := time.Now()
	if err := c1.Close(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatalf("Close with trail down: %v", err)
	}
	if st := c1.Stats(); st.Spooled != 300 || st.Acknowledged != 0 {
		t.Fatalf("after Close with trail down: stats %+v, want 300 spooled", st)
	}
	t.Logf("Close with trail down took %v", time.Since(start))

	c2 := newClient(t, cfg)
	if st := c2.Stats(); st.Recovered != 300 {
		t.Fatalf("new client found %d spooled events, want 300", st.Recovered)
	}
	p.start()
	more, err := c2.SendID(t.Context(), event(300))
	if err != nil {
		t.Fatal(err)
	}
	sent = append(sent, more)
	if err := c2.Close(ctxTimeout(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if st := c2.Stats(); st.Replayed < 300 || st.SpoolBytes != 0 || st.Acknowledged != 301 {
		t.Errorf("second client stats %+v, want the 300 spooled replayed, 301 acknowledged and an empty spool", st)
	}
	exactlyOnce(t, p, "acme", sent)
	if segs, _ := filepath.Glob(filepath.Join(spool, "*.spool")); len(segs) != 0 {
		t.Errorf("delivered segments left behind: %v", segs)
	}
}

// TestFailPolicies fills the queue in front of a trail that never answers.
func TestFailPolicies(t *testing.T) {
	const sendTimeout = 80 * time.Millisecond
	for _, tc := range []struct {
		policy  FailPolicy
		spool   bool
		wantErr error
	}{
		{FailBlock, false, ErrQueueFull},
		{FailDrop, false, ErrDropped},
		{FailSpool, true, ErrSpoolFull},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			// Batches form only when full: with a short FlushInterval the
			// pump could take the first events before the tenth arrived
			// (a slow machine) and leave the rest queued behind the hung
			// request.
			cfg := Config{Server: hungServer(t), Key: "k", BatchSize: 10, QueueSize: 10, FlushInterval: time.Hour,
				SendTimeout: sendTimeout, FailPolicy: tc.policy, RequestTimeout: time.Hour}
			if tc.spool {
				cfg.SpoolDir, cfg.SpoolMaxBytes = t.TempDir(), 4096
			}
			c := newClient(t, cfg)
			// The first batch leaves the queue for the request that hangs.
			for i := range 10 {
				if err := c.Send(t.Context(), event(i)); err != nil {
					t.Fatal(err)
				}
			}
			waitQueue(t, c, 0)
			for i := range 10 {
				if err := c.Send(t.Context(), event(i)); err != nil {
					t.Fatalf("Send into a queue with room: %v", err)
				}
			}
			var err error
			var accepted int
			var slowest time.Duration
			for i := 0; i < 1000 && err == nil; i++ {
				start := time.Now()
				err = c.Send(t.Context(), event(i))
				slowest = max(slowest, time.Since(start))
				if err == nil {
					accepted++
				}
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Send into a full queue = %v, want %v", err, tc.wantErr)
			}
			if trail.ErrorCode(err) != trail.EUNAVAILABLE {
				t.Errorf("error code %q, want %q", trail.ErrorCode(err), trail.EUNAVAILABLE)
			}
			if slowest > sendTimeout+schedulingSlack {
				t.Errorf("slowest Send took %v, want at most SendTimeout %v (+%v for a loaded machine)", slowest, sendTimeout, schedulingSlack)
			}
			st := c.Stats()
			switch tc.policy {
			case FailBlock:
				if slowest < sendTimeout {
					t.Errorf("Send gave up after %v, want it to wait SendTimeout %v", slowest, sendTimeout)
				}
				if accepted != 0 || st.Sent != 20 {
					t.Errorf("accepted %d more, stats %+v; want none beyond the 20 queued", accepted, st)
				}
			case FailDrop:
				if st.Dropped != 1 || st.Sent != 20 {
					t.Errorf("stats %+v, want 1 dropped, 20 sent", st)
				}
			case FailSpool:
				if accepted == 0 || st.Spooled != int64(accepted) || st.SpoolBytes > 4096 {
					t.Errorf("accepted %d into the spool; stats %+v; want them all spooled within 4096 bytes", accepted, st)
				}
			}
		})
	}
}

func waitQueue(t *testing.T, c *Client, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); c.Stats().Queued != n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("queue holds %d, want %d", c.Stats().Queued, n)
		}
	}
}

// TestSendBoundHungTrail: Send returns within SendTimeout while trail
// accepts connections and never answers, under every policy.
func TestSendBoundHungTrail(t *testing.T) {
	const sendTimeout = 30 * time.Millisecond
	for _, policy := range []FailPolicy{FailBlock, FailDrop, FailSpool} {
		t.Run(string(policy), func(t *testing.T) {
			c := newClient(t, Config{Server: hungServer(t), Key: "k", BatchSize: 20, QueueSize: 50, FlushInterval: time.Millisecond,
				SendTimeout: sendTimeout, FailPolicy: policy, SpoolDir: t.TempDir(), SpoolMaxBytes: 32 << 10, RequestTimeout: time.Hour})
			var took []time.Duration
			for i := range 150 {
				start := time.Now()
				c.Send(t.Context(), event(i))
				took = append(took, time.Since(start))
			}
			first := took[0]
			slices.Sort(took)
			t.Logf("150 Sends (first %v): median %v, p99 %v, max %v; stats %+v", first, took[len(took)/2], took[len(took)*99/100], took[len(took)-1], c.Stats())
			if slowest := took[len(took)-1]; slowest > sendTimeout+schedulingSlack {
				t.Errorf("slowest Send took %v, want at most SendTimeout %v (+%v for a loaded machine)", slowest, sendTimeout, schedulingSlack)
			}
		})
	}
}

// faultProxy forwards to a real trail, but answers the first `fail`
// requests itself with a status and a Retry-After, recording when each
// request came.
type faultProxy struct {
	mu    sync.Mutex
	fail  int
	code  int
	after string
	times []time.Time
}

func (f *faultProxy) start(t *testing.T, target string) string {
	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.times = append(f.times, time.Now())
		failing := f.fail > 0
		f.fail--
		f.mu.Unlock()
		if failing {
			w.Header().Set("Retry-After", f.after)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(f.code)
			fmt.Fprint(w, `{"error":{"code":"unavailable","message":"injected"}}`)
			return
		}
		rp.ServeHTTP(w, r)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func TestRetryAfterIsHonoured(t *testing.T) {
	p := startTrail(t)
	key := p.writerKey("acme")
	for _, code := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			f := &faultProxy{fail: 2, code: code, after: "1"}
			c := newClient(t, Config{Server: f.start(t, p.URL), Key: key, FlushInterval: time.Millisecond, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
			id, err := c.SendID(t.Context(), event(1))
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Flush(ctxTimeout(t, 20*time.Second)); err != nil {
				t.Fatal(err)
			}
			f.mu.Lock()
			times := f.times
			f.mu.Unlock()
			if len(times) != 3 {
				t.Fatalf("%d requests, want 2 refused and 1 delivered", len(times))
			}
			for i := 1; i < 3; i++ {
				if gap := times[i].Sub(times[i-1]); gap < time.Second {
					t.Errorf("retry %d came %v after the refusal, want at least the Retry-After of 1s (backoff alone is at most 20ms)", i, gap)
				}
			}
			if st := c.Stats(); st.Retried != 2 || st.Acknowledged != 1 {
				t.Errorf("stats %+v, want 2 retried, 1 acknowledged", st)
			}
			if got := p.ids("acme"); got[id] != 1 {
				t.Errorf("event stored %d times, want 1", got[id])
			}
		})
	}
}

// TestRejectedEventDoesNotBlockTheRest: trail refuses one event of a
// batch (a writer may not use the reserved trail.* actions); it is
// reported and the others are stored.
func TestRejectedEventDoesNotBlockTheRest(t *testing.T) {
	p := startTrail(t)
	var mu sync.Mutex
	var rejected []string
	c := newClient(t, Config{Server: p.URL, Key: p.writerKey("acme"), BatchSize: 10, FlushInterval: time.Hour,
		OnReject: func(id string, _ []byte, err error) {
			mu.Lock()
			rejected = append(rejected, id)
			mu.Unlock()
			if trail.ErrorCode(err) != trail.EFORBIDDEN {
				t.Errorf("rejection %v, want code forbidden", err)
			}
		}})
	var good []string
	var bad []string
	for i := range 10 {
		e := event(i)
		if i == 3 || i == 7 {
			e.Action = "trail.key.create"
		}
		id, err := c.SendID(t.Context(), e)
		if err != nil {
			t.Fatal(err)
		}
		if i == 3 || i == 7 {
			bad = append(bad, id)
		} else {
			good = append(good, id)
		}
	}
	if err := c.Flush(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(rejected) != fmt.Sprint(bad) {
		t.Errorf("rejected %v, want %v", rejected, bad)
	}
	if st := c.Stats(); st.Rejected != 2 || st.Acknowledged != 8 {
		t.Errorf("stats %+v, want 2 rejected, 8 acknowledged", st)
	}
	exactlyOnce(t, p, "acme", good)
}

// TestDuplicateIDIsSuccess: an id trail already holds is acknowledged
// (trail answers with the original receipt marked duplicate) and stored once.
func TestDuplicateIDIsSuccess(t *testing.T) {
	p := startTrail(t)
	c := newClient(t, Config{Server: p.URL, Key: p.writerKey("acme"), FlushInterval: time.Millisecond})
	e := event(1)
	e.ID = "order-77-paid"
	for range 3 {
		if err := c.Send(t.Context(), e); err != nil {
			t.Fatal(err)
		}
		if err := c.Flush(ctxTimeout(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if st := c.Stats(); st.Acknowledged != 3 || st.Duplicates != 2 || st.Rejected != 0 {
		t.Errorf("stats %+v, want 3 acknowledged of which 2 duplicates", st)
	}
	exactlyOnce(t, p, "acme", []string{"order-77-paid"})
}

func TestSendRefusesInvalidEvents(t *testing.T) {
	c := newClient(t, Config{Server: hungServer(t), Key: "k"})
	for _, tc := range []struct {
		name  string
		e     trail.Event
		field string
	}{
		{"no action", trail.Event{Actor: trail.Actor{ID: "u"}}, "action"},
		{"no actor", trail.Event{Action: "a.b"}, "actor.id"},
		{"bad outcome", trail.Event{Action: "a.b", Actor: trail.Actor{ID: "u"}, Outcome: "maybe"}, "outcome"},
		{"bad tenant", trail.Event{Action: "a.b", Actor: trail.Actor{ID: "u"}, Tenant: "Acme!"}, "tenant"},
		{"id with space", trail.Event{ID: "a b", Action: "a.b", Actor: trail.Actor{ID: "u"}}, "id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Send(t.Context(), tc.e)
			var te *trail.Error
			if !errors.As(err, &te) || te.Code != trail.EINVALID || te.Field != tc.field {
				t.Errorf("Send = %v, want an invalid error on field %s", err, tc.field)
			}
		})
	}
	if st := c.Stats(); st.Sent != 0 {
		t.Errorf("stats %+v: invalid events must not be counted as sent", st)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		cfg   Config
		field string
	}{
		{Config{Key: "k"}, "Server"},
		{Config{Server: "ftp://x", Key: "k"}, "Server"},
		{Config{Server: "http://x"}, "Key"},
		{Config{Server: "http://x", Key: "k", Tenant: "A"}, "Tenant"},
		{Config{Server: "http://x", Key: "k", BatchSize: 20000}, "BatchSize"},
		{Config{Server: "http://x", Key: "k", QueueSize: -1}, "QueueSize"},
		{Config{Server: "http://x", Key: "k", SendTimeout: -1}, "SendTimeout"},
		{Config{Server: "http://x", Key: "k", FailPolicy: "spool"}, "SpoolDir"},
		{Config{Server: "http://x", Key: "k", FailPolicy: "retry"}, "FailPolicy"},
		{Config{Server: "http://x", Key: "k", MinBackoff: time.Minute, MaxBackoff: time.Second}, "MaxBackoff"},
	} {
		_, err := New(tc.cfg)
		var te *trail.Error
		if !errors.As(err, &te) || te.Field != tc.field || te.Code != trail.EINVALID {
			t.Errorf("New(%+v) = %v, want an invalid error naming %s", tc.cfg, err, tc.field)
		}
	}
}

func TestSpoolIsExclusive(t *testing.T) {
	dir := t.TempDir()
	newClient(t, Config{Server: "http://127.0.0.1:1", Key: "k", SpoolDir: dir})
	_, err := New(Config{Server: "http://127.0.0.1:1", Key: "k", SpoolDir: dir})
	if trail.ErrorCode(err) != trail.ECONFLICT {
		t.Errorf("second New on the same SpoolDir = %v, want a conflict", err)
	}
}

// TestTornSpoolTailIsTruncated: a crash in the middle of a spool write
// leaves a partial record; the next client keeps every whole record and
// delivers it once.
func TestTornSpoolTailIsTruncated(t *testing.T) {
	p := startTrail(t)
	key := p.writerKey("acme")
	p.kill()
	dir := t.TempDir()
	cfg := Config{Server: p.URL, Key: key, SpoolDir: dir, FlushInterval: time.Millisecond, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	c1, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var sent []string
	for i := range 50 {
		id, err := c1.SendID(t.Context(), event(i))
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, id)
	}
	if err := c1.Close(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.spool"))
	if len(segs) == 0 {
		t.Fatal("no spool segment written")
	}
	last := segs[len(segs)-1]
	f, err := os.OpenFile(last, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	torn := appendRecord(nil, []byte(`{"id":"torn","action":"x","actor":{"id":"u"}}`))
	f.Write(torn[:len(torn)-5]) // the crash cut the last record short
	f.Close()
	before, _ := os.Stat(last)

	c2 := newClient(t, cfg)
	if st := c2.Stats(); st.Recovered != 50 {
		t.Fatalf("recovered %d events, want the 50 whole ones", st.Recovered)
	}
	if after, err := os.Stat(last); err == nil && after.Size() != before.Size()-int64(len(torn)-5) {
		t.Errorf("segment is %d bytes after recovery, want the torn %d bytes cut off", after.Size(), len(torn)-5)
	}
	p.start()
	if err := c2.Close(ctxTimeout(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, p, "acme", sent)
}

// TestCloseWithoutSpoolDropsAndReports: with no spool and trail down,
// Close gives up when its context ends and says how many were lost.
func TestCloseWithoutSpoolDropsAndReports(t *testing.T) {
	c, err := New(Config{Server: hungServer(t), Key: "k", FlushInterval: time.Millisecond, RequestTimeout: 50 * time.Millisecond, MinBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := c.Send(t.Context(), event(i)); err != nil {
			t.Fatal(err)
		}
	}
	err = c.Close(ctxTimeout(t, 300*time.Millisecond))
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want an error reporting the loss and the deadline", err)
	}
	if st := c.Stats(); st.Dropped != 5 {
		t.Errorf("stats %+v, want 5 dropped", st)
	}
}

// TestMetrics: every metric is registered, reads the same numbers as
// Stats, and a second client on the same registry is refused. Batches
// go out only when full (FlushInterval is an hour): with a short interval
// a loaded machine could send the first three events alone, leaving two
// queued behind the hung request for good.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := newClient(t, Config{Server: hungServer(t), Key: "k", BatchSize: 5, QueueSize: 5, FlushInterval: time.Hour,
		FailPolicy: FailDrop, RequestTimeout: time.Hour, SpoolDir: t.TempDir(), Registerer: reg})
	for i := range 5 {
		c.Send(t.Context(), event(i))
	}
	waitQueue(t, c, 0) // the batch hangs in a request
	for i := range 8 {
		c.Send(t.Context(), event(i))
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		switch {
		case m.GetCounter() != nil:
			got[mf.GetName()] = m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			got[mf.GetName()] = m.GetGauge().GetValue()
		default:
			got[mf.GetName()] = -1
		}
	}
	st := c.Stats()
	for name, want := range map[string]float64{
		"trail_client_events_sent_total":         float64(st.Sent),
		"trail_client_events_acknowledged_total": 0,
		"trail_client_events_duplicate_total":    0,
		"trail_client_events_retried_total":      0,
		"trail_client_events_spooled_total":      0,
		"trail_client_events_replayed_total":     0,
		"trail_client_events_rejected_total":     0,
		"trail_client_events_dropped_total":      float64(st.Dropped),
		"trail_client_queue_length":              float64(st.Queued),
		"trail_client_spool_bytes":               float64(st.SpoolBytes),
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (registered %v), want %v", name, v, ok, want)
		}
	}
	if st.Sent != 10 || st.Dropped != 3 || st.Queued != 5 {
		t.Errorf("stats %+v, want 10 sent, 5 queued, 3 dropped", st)
	}
	if _, err := New(Config{Server: "http://x", Key: "k", Registerer: reg}); err == nil {
		t.Error("a second client registered the same metrics")
	}
}

// sizeLimitProxy forwards to a real trail but answers 413 without naming
// an event to any request of more than max events, as a proxy with a
// small body limit in front of trail would.
func sizeLimitProxy(t *testing.T, target string, max int) (string, *atomic.Int64) {
	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(u)
	var refused atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var b struct{ Events []json.RawMessage }
		json.Unmarshal(body, &b)
		if len(b.Events) > max {
			refused.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			fmt.Fprint(w, `{"error":{"code":"too_large","message":"request body too large"}}`)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &refused
}

// TestBatchRefusedWithoutFieldIsSplit: a 413 that names no event halves
// the batch until the parts get through; nothing is rejected or doubled.
func TestBatchRefusedWithoutFieldIsSplit(t *testing.T) {
	p := startTrail(t)
	proxy, refused := sizeLimitProxy(t, p.URL, 4)
	c := newClient(t, Config{Server: proxy, Key: p.writerKey("acme"), BatchSize: 20, FlushInterval: time.Hour})
	var sent []string
	for i := range 20 {
		id, err := c.SendID(t.Context(), event(i))
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, id)
	}
	if err := c.Flush(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	// 20 → 10+10 → 5+5+5+5 → eight parts of 2 or 3: 1+2+4 refusals.
	if got := refused.Load(); got != 7 {
		t.Errorf("%d requests refused, want 7 (20, 10, 10, 5, 5, 5, 5)", got)
	}
	if st := c.Stats(); st.Acknowledged != 20 || st.Rejected != 0 || st.Retried != 0 {
		t.Errorf("stats %+v, want 20 acknowledged, none rejected or retried", st)
	}
	exactlyOnce(t, p, "acme", sent)
}

// TestWrongKeyIsRetriedNotRejected: a 401 is no event's fault; the
// events are kept and retried, not rejected.
func TestWrongKeyIsRetriedNotRejected(t *testing.T) {
	p := startTrail(t)
	c := newClient(t, Config{Server: p.URL, Key: "not-a-key", FlushInterval: time.Millisecond, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	if err := c.Send(t.Context(), event(1)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if err := c.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Flush with a wrong key = %v, want it still waiting at the deadline", err)
	}
	if st := c.Stats(); st.Rejected != 0 || st.Retried == 0 || st.Acknowledged != 0 {
		t.Errorf("stats %+v, want retries and no rejection", st)
	}
	if err := c.Close(ctxTimeout(t, 100*time.Millisecond)); err == nil {
		t.Error("Close = nil, want the undelivered event reported")
	}
	if st := c.Stats(); st.Dropped != 1 {
		t.Errorf("stats %+v, want the event dropped at Close (no spool)", st)
	}
}
