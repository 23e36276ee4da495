package mask

import (
	"strings"
	"testing"
	"time"
)

// TestScanIsLinear masks long repetitions of every trigger at two lengths,
// 32× apart, and compares the times: a linear scan takes about 32× as long
// on the longer text, a quadratic one about 1000×. Taking the fastest of
// several runs and comparing a ratio (not an absolute time) keeps the test
// meaningful on a loaded machine or under the race detector, which slow
// both lengths alike.
func TestScanIsLinear(t *testing.T) {
	if raceEnabled {
		t.Skip("timing ratios are not meaningful under the race detector (linear scans measured up to 700×); go test ./mask without -race runs this")
	}
	cfgs := []Config{DefaultConfig(), {Rules: []Rule{{Detector: DetectorIP, Action: ActionPartial}, {Detector: DetectorAccessKey, Action: ActionKeep}}}}
	pats := []string{"1 ", "1-", "a@", "%40a.", "eyJ", "eyJaaaaaaaaaa.", "Bearer ", "Basic ", "token=\"", "token:\"", "sig=\"", "://", "::", "1:", "-----BEGIN PRIVATE KEY-----", "AKIA", "a=", "password=", "x.", "@a.b", "1.1.", "\\\"", "AKIAIOSFODNN7EXAMPLE ", "aB3/"}
	const short, long = 4000, 128000
	fastest := func(m *Masker, s string) time.Duration {
		best := time.Duration(1<<63 - 1)
		for range 3 {
			start := time.Now()
			m.walker().text(s, allDetectors)
			best = min(best, time.Since(start))
		}
		return best
	}
	for _, cfg := range cfgs {
		m := mustNew(t, cfg)
		for _, p := range pats {
			ts := fastest(m, strings.Repeat(p, short/len(p)))
			tl := fastest(m, strings.Repeat(p, long/len(p)))
			// Below a few milliseconds timer noise dominates the ratio; a
			// quadratic scan of 128 KB is far slower than that. Linear scans
			// measure 20–40× here, quadratic ones ≈ 1000×.
			if tl > 20*time.Millisecond && tl > 250*max(ts, time.Microsecond) {
				t.Errorf("%q: %d bytes took %v, %d bytes %v (%.0f×; linear ≈ 32×, quadratic ≈ 1000×)", p, long, tl, short, ts, float64(tl)/float64(ts))
			}
		}
	}
}
