package mask

import (
	"strings"
	"testing"
	"time"
)

// TestScanIsLinear masks long repetitions of every trigger: a scan that
// went quadratic would take seconds.
func TestScanIsLinear(t *testing.T) {
	cfgs := []Config{DefaultConfig(), {Rules: []Rule{{Detector: DetectorIP, Action: ActionPartial}, {Detector: DetectorAccessKey, Action: ActionKeep}}}}
	pats := []string{"1 ", "1-", "a@", "%40a.", "eyJ", "eyJaaaaaaaaaa.", "Bearer ", "Basic ", "token=\"", "token:\"", "sig=\"", "://", "::", "1:", "-----BEGIN PRIVATE KEY-----", "AKIA", "a=", "password=", "x.", "@a.b", "1.1.", "\\\"", "AKIAIOSFODNN7EXAMPLE ", "aB3/"}
	for _, cfg := range cfgs {
		m := mustNew(t, cfg)
		for _, p := range pats {
			s := strings.Repeat(p, 16000/len(p))
			start := time.Now()
			w := m.walker()
			w.text(s, allDetectors)
			if d := time.Since(start); d > 100*time.Millisecond {
				t.Errorf("%q x %d: %v", p, len(s)/len(p), d)
			}
		}
	}
}
