package client

import (
	"bytes"
	"net/http"
	"testing"
	"time"
)

// fixedRand is a Rand that always yields the same byte.
type fixedRand byte

func (f fixedRand) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(f)
	}
	return len(p), nil
}

func TestBackoff(t *testing.T) {
	cfg := Config{Server: "http://x", Key: "k", MinBackoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second}
	for _, tc := range []struct {
		name    string
		attempt int
		after   time.Duration
		lo, hi  time.Duration
	}{
		{"first", 1, 0, 50 * time.Millisecond, 100 * time.Millisecond},
		{"second doubles", 2, 0, 100 * time.Millisecond, 200 * time.Millisecond},
		{"fifth", 5, 0, 800 * time.Millisecond, 1600 * time.Millisecond},
		{"capped", 9, 0, time.Second, 2 * time.Second},
		{"far beyond the shift width", 100, 0, time.Second, 2 * time.Second},
		{"Retry-After longer than the backoff wins", 1, 3 * time.Second, 3 * time.Second, 3 * time.Second},
		{"Retry-After shorter than the backoff", 5, 10 * time.Millisecond, 800 * time.Millisecond, 1600 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []fixedRand{0x00, 0x7f, 0xff} {
				cfg.Rand = r
				c := &Client{cfg: cfg}
				if got := c.backoff(tc.attempt, tc.after); got < tc.lo || got > tc.hi {
					t.Errorf("backoff(%d, %v) with rand %#x = %v, want within [%v, %v]", tc.attempt, tc.after, byte(r), got, tc.lo, tc.hi)
				}
			}
		})
	}
	// Jitter spreads clients that failed together.
	cfg.Rand = bytes.NewReader(bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7, 8, 250, 9, 77, 3, 200, 100, 50, 25}, 4))
	c := &Client{cfg: cfg}
	if a, b := c.backoff(3, 0), c.backoff(3, 0); a == b {
		t.Errorf("two backoffs with different random bytes are both %v", a)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"1", time.Second},
		{" 7 ", 7 * time.Second},
		{"-3", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"86400", time.Hour},
	} {
		if got := retryAfter(tc.header, now); got != tc.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tc.header, got, tc.want)
		}
	}
}

func TestEventIndex(t *testing.T) {
	for _, tc := range []struct {
		field string
		i     int
		ok    bool
	}{
		{"events[0]", 0, true},
		{"events[12].actor.id", 12, true},
		{"events[3].metadata.plan", 3, true},
		{"events", 0, false},
		{"events[]", 0, false},
		{"events[-1]", 0, false},
		{"events[x]", 0, false},
		{"tenant", 0, false},
		{"", 0, false},
	} {
		if i, ok := eventIndex(tc.field); i != tc.i || ok != tc.ok {
			t.Errorf("eventIndex(%q) = %d, %v, want %d, %v", tc.field, i, ok, tc.i, tc.ok)
		}
	}
}
