package limit

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a settable clock for tests.
type clock struct{ t atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.t.Store(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.t.Load()) }
func (c *clock) Advance(d time.Duration) { c.t.Add(int64(d)) }

// step is one call in a scripted test: advance the clock, then Allow.
type step struct {
	advance   time.Duration
	key       string
	n         int
	wantOK    bool
	wantRetry time.Duration
}

func run(t *testing.T, l *Limiter, c *clock, steps []step) {
	t.Helper()
	for i, s := range steps {
		c.Advance(s.advance)
		key := s.key
		if key == "" {
			key = "k"
		}
		ok, retry := l.Allow(key, s.n)
		if ok != s.wantOK || retry != s.wantRetry {
			t.Errorf("step %d: Allow(%q, %d) = %v, %v; want %v, %v", i, key, s.n, ok, retry, s.wantOK, s.wantRetry)
		}
	}
}

func TestAllow(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{"burst then reject", Config{Rate: 10, Burst: 3}, []step{
			{0, "", 1, true, 0},
			{0, "", 1, true, 0},
			{0, "", 1, true, 0},
			{0, "", 1, false, 100 * ms},
			{40 * ms, "", 1, false, 60 * ms},
			{59 * ms, "", 1, false, ms},
			{ms, "", 1, true, 0},
			{0, "", 1, false, 100 * ms},
		}},
		{"refill stops at burst", Config{Rate: 10, Burst: 2}, []step{
			{0, "", 2, true, 0},
			{time.Hour, "", 1, true, 0},
			{0, "", 1, true, 0},
			{0, "", 1, false, 100 * ms},
		}},
		{"batch waits for its tokens", Config{Rate: 2, Burst: 4}, []step{
			{0, "", 3, true, 0},
			{0, "", 2, false, 500 * ms}, // holds 1, needs 2
			{0, "", 1, true, 0},         // a smaller call still fits
			{0, "", 4, false, 2000 * ms},
		}},
		{"oversized batch when full, then debt", Config{Rate: 1, Burst: 5}, []step{
			{0, "", 1, true, 0},
			{0, "", 20, false, time.Second}, // needs a full bucket: 5
			{time.Second, "", 20, true, 0},  // full: allowed, 15 in debt
			{0, "", 1, false, 16 * time.Second},
			{15 * time.Second, "", 1, false, time.Second},
			{time.Second, "", 1, true, 0},
		}},
		{"n below 1 costs 1", Config{Rate: 1, Burst: 2}, []step{
			{0, "", 0, true, 0},
			{0, "", -5, true, 0},
			{0, "", 0, false, time.Second},
		}},
		{"burst below 1 is 1", Config{Rate: 4, Burst: 0}, []step{
			{0, "", 1, true, 0},
			{0, "", 1, false, 250 * ms},
		}},
		{"independent keys", Config{Rate: 1, Burst: 1}, []step{
			{0, "a", 1, true, 0},
			{0, "a", 1, false, time.Second},
			{0, "b", 1, true, 0},
			{0, "b", 1, false, time.Second},
			{time.Second, "a", 1, true, 0},
		}},
		{"fractional rate", Config{Rate: 0.5, Burst: 1}, []step{
			{0, "", 1, true, 0},
			{0, "", 1, false, 2 * time.Second},
			{time.Second, "", 1, false, time.Second},
		}},
		{"clock going backwards earns nothing", Config{Rate: 1, Burst: 1}, []step{
			{0, "", 1, true, 0},
			{-time.Hour, "", 1, false, time.Second},
			{time.Hour, "", 1, false, time.Second},
			{time.Second, "", 1, true, 0},
		}},
		{"unlimited", Config{Rate: 0, Burst: 1}, []step{
			{0, "", 1000, true, 0},
			{0, "", 1000, true, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			run(t, New(tt.cfg, c.Now), c, tt.steps)
		})
	}
}

func TestUnlimited(t *testing.T) {
	for _, rate := range []float64{0, -1, 1 / zero(), -1 / zero()} {
		l := New(Config{Rate: rate, Burst: 1}, nil)
		for i := range 100 {
			if ok, retry := l.Allow(fmt.Sprint(i%3), 50); !ok || retry != 0 {
				t.Fatalf("rate %v: Allow = %v, %v; want unlimited", rate, ok, retry)
			}
		}
		if l.Hits() != 0 || l.Len() != 0 {
			t.Errorf("rate %v: Hits %d, Len %d; want 0, 0", rate, l.Hits(), l.Len())
		}
	}
}

func zero() float64 { return 0 }

func TestHits(t *testing.T) {
	c := newClock()
	l := New(Config{Rate: 1, Burst: 2}, c.Now)
	for range 5 {
		l.Allow("a", 1)
	}
	l.Allow("b", 1)
	if got := l.Hits(); got != 3 {
		t.Errorf("Hits = %d, want 3", got)
	}
}

// TestRetryAfterSuffices checks, for random rates and costs, that a call
// refused with retryAfter d is refused after d-1ns and allowed after d.
func TestRetryAfterSuffices(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		c := newClock()
		cfg := Config{Rate: 0.01 + r.Float64()*1000, Burst: 1 + r.IntN(50)}
		l := New(cfg, c.Now)
		l.Allow("k", 1+r.IntN(2*cfg.Burst))
		c.Advance(time.Duration(r.Int64N(int64(time.Second))))
		n := 1 + r.IntN(2*cfg.Burst)
		ok, retry := l.Allow("k", n)
		if ok {
			continue
		}
		c.Advance(retry - 1)
		if retry > 1 {
			if ok, _ := l.Allow("k", n); ok {
				t.Fatalf("case %d %+v n=%d: allowed 1ns before retryAfter %v", i, cfg, n, retry)
			}
		}
		c.Advance(1)
		if ok, again := l.Allow("k", n); !ok {
			t.Fatalf("case %d %+v n=%d: refused after retryAfter %v (now %v more)", i, cfg, n, retry, again)
		}
	}
}

func TestEvictionBound(t *testing.T) {
	c := newClock()
	l := New(Config{Rate: 1, Burst: 2, MaxKeys: 10}, c.Now)

	// "hot" is drained and kept recently used while 1000 other keys pass.
	l.Allow("hot", 2)
	for i := range 1000 {
		l.Allow(fmt.Sprint("k", i), 1)
		l.Allow("hot", 0)
		if n := l.Len(); n > 10 {
			t.Fatalf("after %d keys: Len = %d, want at most 10", i+1, n)
		}
	}
	if ok, _ := l.Allow("hot", 1); ok {
		t.Error("a recently used, drained bucket was evicted")
	}
}

func TestEvictsRefilledBuckets(t *testing.T) {
	c := newClock()
	l := New(Config{Rate: 1, Burst: 1}, c.Now)
	for i := range evictScan {
		l.Allow(fmt.Sprint("idle", i), 1)
	}
	l.Allow("busy", 1)
	c.Advance(2 * time.Second) // every bucket has refilled
	l.Allow("busy", 1)         // "busy" is drained again and most recently used
	l.Allow("new", 1)          // drops the refilled idle buckets
	if got := l.Len(); got != 2 {
		t.Errorf("Len = %d, want 2 (busy and new)", got)
	}
}

func TestConcurrent(t *testing.T) {
	c := newClock()
	const burst = 100
	l := New(Config{Rate: 1, Burst: burst, MaxKeys: 50}, c.Now)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				if ok, _ := l.Allow("shared", 1); ok {
					allowed.Add(1)
				}
				l.Allow(fmt.Sprint("own", g, i%100), 1)
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != burst {
		t.Errorf("allowed %d calls on one key with a stopped clock, want %d", got, burst)
	}
	if got := l.Hits(); got < 8*1000-burst {
		t.Errorf("Hits = %d, want at least %d", got, 8*1000-burst)
	}
	if l.Len() > 50 {
		t.Errorf("Len = %d, want at most 50", l.Len())
	}
}

func BenchmarkAllow(b *testing.B) {
	b.Run("one key", func(b *testing.B) {
		l := New(Config{Rate: 1e9, Burst: 1e9}, nil)
		b.ReportAllocs()
		for b.Loop() {
			l.Allow("key", 1)
		}
	})
	b.Run("10k keys", func(b *testing.B) {
		l := New(Config{Rate: 100, Burst: 10}, nil)
		keys := make([]string, 10_000)
		for i := range keys {
			keys[i] = fmt.Sprint("key", i)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			l.Allow(keys[i%len(keys)], 1)
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		l := New(Config{Rate: 1e9, Burst: 1e9}, nil)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.Allow("key", 1)
			}
		})
	})
}
