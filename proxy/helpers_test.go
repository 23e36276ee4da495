package proxy

import (
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trail-audit/trail"
)

// memRecorder keeps the events it is sent, in order.
type memRecorder struct {
	mu     sync.Mutex
	events []trail.Event
	err    error // returned by Send when set
}

func (m *memRecorder) Send(_ context.Context, e trail.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	m.events = append(m.events, e)
	return nil
}

func (m *memRecorder) all() []trail.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]trail.Event(nil), m.events...)
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// seededRand is a deterministic io.Reader safe for concurrent use.
type seededRand struct {
	mu sync.Mutex
	r  *rand.ChaCha8
}

func newSeededRand() *seededRand {
	return &seededRand{r: rand.NewChaCha8([32]byte{7})}
}

func (s *seededRand) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.r.Read(p)
}

// testMaskKey keys the hmac masking action in tests.
var testMaskKey = []byte("0123456789abcdef0123456789abcdef")

// fixture is an Auditor with its recorder and clock.
type fixture struct {
	a     *Auditor
	rec   *memRecorder
	clock *clock
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	if cfg.MaskKey == nil {
		cfg.MaskKey = testMaskKey
	}
	f := &fixture{rec: &memRecorder{}, clock: newClock()}
	a, err := New(cfg, Options{Recorder: f.rec, Tenant: "acme", Now: f.clock.Now, Rand: newSeededRand()})
	if err != nil {
		t.Fatal(err)
	}
	f.a = a
	return f
}

// do sends req through the middleware around next and returns the
// response and the one event recorded (nil when none was).
func (f *fixture) do(t *testing.T, next http.Handler, req *http.Request) (*httptest.ResponseRecorder, *trail.Event) {
	t.Helper()
	before := len(f.rec.all())
	w := httptest.NewRecorder()
	f.a.Wrap(next).ServeHTTP(w, req)
	evs := f.rec.all()
	switch len(evs) - before {
	case 0:
		return w, nil
	case 1:
		e := evs[len(evs)-1]
		return w, &e
	default:
		t.Fatalf("%d events recorded for one call", len(evs)-before)
		return nil, nil
	}
}

// okHandler answers 200 with a small JSON body after reading the request.
var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"ok":true}`)
})

func newRequest(method, target, body string) *http.Request {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	req.RemoteAddr = "198.51.100.9:40000"
	return req
}

// eventJSON is the event as it leaves the proxy.
func eventJSON(t *testing.T, e *trail.Event) string {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func auth(e *trail.Event) map[string]any {
	m, _ := e.Metadata["authn"].(map[string]any)
	return m
}
