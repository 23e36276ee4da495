package sink_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/sink"
)

// verifyStandardWebhook checks a request the way a Standard Webhooks
// receiver does, independently of package sink: the secret after "whsec_"
// is base64, the signed content is "<id>.<timestamp>.<body>", the header
// is a space-separated list of "v1,<base64 HMAC-SHA256>", and the
// timestamp must be within five minutes.
func verifyStandardWebhook(secret string, h http.Header, body []byte, now time.Time) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing webhook headers")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("bad timestamp")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("timestamp out of tolerance")
	}
	mac := hmac.New(sha256.New, key)
	io.WriteString(mac, id+"."+ts+".")
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		v, b64, ok := strings.Cut(s, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no valid signature")
}

// delivered is one event as a receiver saw it.
type delivered struct {
	ID  string
	Seq int64
	At  time.Time
}

// receiver is a webhook endpoint that verifies signatures and records
// what it acknowledged. While failing is set it answers 503.
type receiver struct {
	t       testing.TB
	secret  string
	tenant  string
	failing atomic.Bool
	mu      sync.Mutex
	got     []delivered
	ids     []string // webhook-id of each acknowledged request
	bad     []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := verifyStandardWebhook(rc.secret, r.Header, body, time.Now()); err != nil {
		rc.mu.Lock()
		rc.bad = append(rc.bad, err.Error())
		rc.mu.Unlock()
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if rc.failing.Load() {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	var msg struct {
		Type   string        `json:"type"`
		Tenant string        `json:"tenant"`
		Data   []trail.Event `json:"data"`
	}
	if err := json.Unmarshal(body, &msg); err != nil || msg.Type != "events" || msg.Tenant != rc.tenant || len(msg.Data) == 0 {
		rc.mu.Lock()
		rc.bad = append(rc.bad, "bad body: "+string(body[:min(len(body), 200)]))
		rc.mu.Unlock()
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	now := time.Now()
	rc.mu.Lock()
	for _, e := range msg.Data {
		if e.Tenant != rc.tenant || e.ID == "" {
			rc.bad = append(rc.bad, "event of tenant "+e.Tenant+" id "+e.ID)
		}
		rc.got = append(rc.got, delivered{ID: e.ID, Seq: e.Seq, At: now})
	}
	rc.ids = append(rc.ids, r.Header.Get("webhook-id"))
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) snapshot() []delivered {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.bad) > 0 {
		rc.t.Errorf("receiver rejected requests: %q", rc.bad[0])
	}
	return append([]delivered(nil), rc.got...)
}

// distinct counts the distinct seqs received.
func (rc *receiver) distinct() int {
	seen := map[int64]bool{}
	for _, d := range rc.snapshot() {
		seen[d.Seq] = true
	}
	return len(seen)
}

func newSecret(t testing.TB) string {
	s, err := sink.NewSecret(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startRunner makes and runs a Runner; it returns the runner and a stop
// function that cancels it and waits for Run to return.
func startRunner(t testing.TB, cfg sink.Sink, o sink.Options) (*sink.Runner, func()) {
	t.Helper()
	if o.Destination == nil {
		d, err := sink.Open(&cfg, sink.Env{})
		if err != nil {
			t.Fatal(err)
		}
		o.Destination = d
	}
	if o.MinBackoff == 0 {
		o.MinBackoff, o.MaxBackoff = 5*time.Millisecond, 40*time.Millisecond
	}
	r, err := sink.NewRunner(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v, want context.Canceled", err)
			}
			o.Destination.Close()
		})
	}
	t.Cleanup(stop)
	return r, stop
}

// checkStream checks at-least-once, in-order delivery of seqs 0..n-1
// (given which are expected): every expected seq arrived, nothing else
// did, and the stream never jumps forward past a seq not yet delivered.
func checkStream(t *testing.T, got []delivered, want []int64) {
	t.Helper()
	wantSet := map[int64]bool{}
	for _, s := range want {
		wantSet[s] = true
	}
	seen := map[int64]bool{}
	next := 0 // index into want of the first seq not yet seen
	for i, d := range got {
		if !wantSet[d.Seq] {
			t.Fatalf("delivery %d: seq %d was not expected", i, d.Seq)
		}
		if !seen[d.Seq] {
			if d.Seq != want[next] {
				t.Fatalf("delivery %d: seq %d arrived before seq %d (order broken or event skipped)", i, d.Seq, want[next])
			}
			seen[d.Seq] = true
			next++
		}
	}
	if next != len(want) {
		t.Fatalf("got %d distinct events, want %d", next, len(want))
	}
}

func seqRange(from, to int64) []int64 {
	var s []int64
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

func TestWebhookSignedDelivery(t *testing.T) {
	st := openStore(t)
	secret := newSecret(t)
	rc := &receiver{t: t, secret: secret, tenant: "acme"}
	srv := httptest.NewServer(rc)
	defer srv.Close()

	appendN(t, st, "acme", "doc.read", 0, 10)
	appendN(t, st, "other", "doc.read", 0, 10) // another tenant: never delivered
	appendN(t, st, "acme", "user.login", 10, 10)
	appendN(t, st, "acme", "doc.read", 20, 10)
	// Erased events are skipped.
	if _, err := st.Erase(context.Background(), "acme", []int64{12, 13}); err != nil {
		t.Fatal(err)
	}
	cfg := sink.Sink{ID: "s1", Tenant: "acme", Name: "hook", Type: sink.TypeWebhook, URL: srv.URL, Secret: secret,
		Filter: "action:user.login OR metadata.n:25", BatchSize: 3}
	r, _ := startRunner(t, cfg, sink.Options{Store: st, Cursors: &sink.MemCursors{}})
	want := []int64{10, 11, 14, 15, 16, 17, 18, 19, 25}
	waitFor(t, "delivery", 5*time.Second, func() bool { return r.Status().Cursor == 30 })
	checkStream(t, rc.snapshot(), want)
	st2 := r.Status()
	if st2.State != sink.StateRunning || st2.LastDeliveredSeq != 25 || st2.Lag != 0 || st2.LastError != "" {
		t.Errorf("status %+v, want running, last delivered 25, lag 0, no error", st2)
	}
	for _, id := range rc.ids {
		if !strings.HasPrefix(id, "s1_") {
			t.Errorf("webhook-id %q, want s1_<first>-<last>", id)
		}
	}
}

func TestWebhookWrongSecretIsRejected(t *testing.T) {
	st := openStore(t)
	rc := &receiver{t: t, secret: newSecret(t), tenant: "acme"}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	appendN(t, st, "acme", "doc.read", 0, 3)
	cfg := sink.Sink{ID: "s1", Tenant: "acme", Name: "hook", Type: sink.TypeWebhook, URL: srv.URL, Secret: newSecret(t)}
	r, _ := startRunner(t, cfg, sink.Options{Store: st, Cursors: &sink.MemCursors{}})
	waitFor(t, "retrying", 5*time.Second, func() bool { return r.Status().State == sink.StateRetrying })
	st2 := r.Status()
	if st2.Cursor != 0 || !strings.Contains(st2.LastError, "401") || st2.LastErrorAt.IsZero() {
		t.Errorf("status %+v, want cursor 0 and a 401 error", st2)
	}
	rc.mu.Lock()
	n := len(rc.bad)
	rc.bad = nil
	rc.mu.Unlock()
	if n == 0 {
		t.Error("receiver saw no bad signature")
	}
}

// TestWebhookOutage runs a sink through a 503 outage, a restart of the
// Runner during the outage, and a receiver that is down (connection
// refused), then checks that every event arrived in order, none was
// skipped, and the durable cursor carried across the restart.
func TestWebhookOutage(t *testing.T) {
	st := openStore(t)
	secret := newSecret(t)
	rc := &receiver{t: t, secret: secret, tenant: "acme"}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	srv := &http.Server{Handler: rc}
	go srv.Serve(ln)

	cursors := &sink.FileCursors{Dir: t.TempDir()}
	cfg := sink.Sink{ID: "out", Tenant: "acme", Name: "hook", Type: sink.TypeWebhook, URL: "http://" + addr, Secret: secret, BatchSize: 7}
	opts := sink.Options{Store: st, Cursors: cursors}

	// Phase 1: healthy.
	r1, stop1 := startRunner(t, cfg, opts)
	appendN(t, st, "acme", "doc.read", 0, 50)
	appendN(t, st, "other", "doc.read", 0, 20)
	waitFor(t, "first 50", 5*time.Second, func() bool { return r1.Status().Cursor == 50 })

	// Phase 2: the receiver answers 503; events keep coming.
	rc.failing.Store(true)
	appendN(t, st, "acme", "doc.read", 50, 50)
	waitFor(t, "retrying", 5*time.Second, func() bool { return r1.Status().Failures >= 3 })
	if s := r1.Status(); s.State != sink.StateRetrying || s.Cursor != 50 || s.Lag != 50 || !strings.Contains(s.LastError, "503") {
		t.Errorf("during the outage: status %+v, want retrying at cursor 50, lag 50, a 503 error", s)
	}
	stop1() // the process stops during the outage

	if seq, ok, err := cursors.Load(context.Background(), "out"); err != nil || !ok || seq != 50 {
		t.Fatalf("durable cursor %d, %v, %v; want 50", seq, ok, err)
	}

	// Phase 3: the receiver is down altogether; a new Runner starts.
	srv.Close()
	r2, _ := startRunner(t, cfg, opts)
	appendN(t, st, "acme", "doc.read", 100, 30)
	waitFor(t, "connection errors", 5*time.Second, func() bool { return r2.Status().Failures >= 3 })
	if s := r2.Status(); s.Cursor != 50 || s.State != sink.StateRetrying {
		t.Errorf("receiver down: status %+v, want retrying at cursor 50", s)
	}

	// Phase 4: the receiver comes back on the same address.
	rc.failing.Store(false)
	var ln2 net.Listener
	waitFor(t, "relisten", 5*time.Second, func() bool {
		ln2, err = net.Listen("tcp", addr)
		return err == nil
	})
	srv2 := &http.Server{Handler: rc}
	go srv2.Serve(ln2)
	defer srv2.Close()
	waitFor(t, "all 130", 10*time.Second, func() bool { return r2.Status().Cursor == 130 })
	checkStream(t, rc.snapshot(), seqRange(0, 130))
	if s := r2.Status(); s.State != sink.StateRunning || s.Failures != 0 || s.Lag != 0 {
		t.Errorf("after recovery: status %+v, want running, no failures, lag 0", s)
	}
	if seq, _, _ := cursors.Load(context.Background(), "out"); seq != 130 {
		t.Errorf("durable cursor %d, want 130", seq)
	}
}

func TestPauseResumeReplay(t *testing.T) {
	st := openStore(t)
	secret := newSecret(t)
	rc := &receiver{t: t, secret: secret, tenant: "acme"}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	cfg := sink.Sink{ID: "p", Tenant: "acme", Name: "hook", Type: sink.TypeWebhook, URL: srv.URL, Secret: secret, Paused: true}
	r, _ := startRunner(t, cfg, sink.Options{Store: st, Cursors: &sink.MemCursors{}})
	appendN(t, st, "acme", "doc.read", 0, 20)
	waitFor(t, "paused state", 5*time.Second, func() bool { return r.Status().State == sink.StatePaused })
	time.Sleep(50 * time.Millisecond)
	if n := rc.distinct(); n != 0 {
		t.Fatalf("paused sink delivered %d events", n)
	}
	r.Resume()
	waitFor(t, "delivery after resume", 5*time.Second, func() bool { return r.Status().Cursor == 20 })

	if err := r.Replay(context.Background(), 21); trail.ErrorCode(err) != trail.EINVALID {
		t.Errorf("Replay past the cursor: %v, want EINVALID", err)
	}
	before := len(rc.snapshot())
	if err := r.Replay(context.Background(), 15); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "replayed", 5*time.Second, func() bool { return len(rc.snapshot()) == before+5 })
	got := rc.snapshot()[before:]
	for i, d := range got {
		if d.Seq != int64(15+i) {
			t.Fatalf("replayed delivery %d: seq %d, want %d", i, d.Seq, 15+i)
		}
	}
	rc.mu.Lock()
	lastID := rc.ids[len(rc.ids)-1]
	rc.mu.Unlock()
	if lastID != "p_15-19_r1" {
		t.Errorf("webhook-id of the replayed batch %q, want p_15-19_r1 (a new id, so receivers do not drop it)", lastID)
	}
	r.Pause()
	appendN(t, st, "acme", "doc.read", 20, 5)
	waitFor(t, "paused lag", 5*time.Second, func() bool { s := r.Status(); return s.State == sink.StatePaused && s.Lag == 5 })
	time.Sleep(50 * time.Millisecond)
	if s := r.Status(); s.Cursor != 20 {
		t.Errorf("paused sink moved its cursor to %d", s.Cursor)
	}
}

// TestBackoff checks the retry delays: exponential from MinBackoff, capped
// at MaxBackoff, with the injected jitter, and reset after a success.
func TestBackoff(t *testing.T) {
	st := openStore(t)
	appendN(t, st, "acme", "doc.read", 0, 1)
	var mu sync.Mutex
	var sleeps []time.Duration
	fails := 6
	dest := destFunc(func(ctx context.Context, b *sink.Batch) error {
		mu.Lock()
		defer mu.Unlock()
		if fails > 0 {
			fails--
			return errors.New("boom")
		}
		return nil
	})
	cfg := sink.Sink{ID: "b", Tenant: "acme", Name: "b", Type: sink.TypeFile, Path: "x"}
	r, _ := startRunner(t, cfg, sink.Options{Store: st, Cursors: &sink.MemCursors{}, Destination: dest,
		MinBackoff: time.Second, MaxBackoff: 10 * time.Second,
		Rand: func() float64 { return 0.5 },
		Sleep: func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			sleeps = append(sleeps, d)
			mu.Unlock()
			return nil
		}})
	waitFor(t, "delivered", 5*time.Second, func() bool { return r.Status().Cursor == 1 })
	want := []time.Duration{750 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second, 6 * time.Second, 7500 * time.Millisecond, 7500 * time.Millisecond}
	mu.Lock()
	defer mu.Unlock()
	if len(sleeps) != len(want) {
		t.Fatalf("slept %v, want %v", sleeps, want)
	}
	for i := range want {
		if sleeps[i] != want[i] {
			t.Errorf("sleep %d: got %v, want %v", i, sleeps[i], want[i])
		}
	}
}

type destFunc func(ctx context.Context, b *sink.Batch) error

func (f destFunc) Deliver(ctx context.Context, b *sink.Batch) error {
	return f(ctx, b)
}
func (f destFunc) Close() error { return nil }
