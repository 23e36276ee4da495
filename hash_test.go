package trail_test

import (
	"encoding/json"
	"strings"
	"testing"

	trail "github.com/trail-audit/trail"
)

// TestHashUnmarshalText accepts exactly standard base64 of 32 bytes and
// never panics on anything else.
func TestHashUnmarshalText(t *testing.T) {
	good := strings.Repeat("A", 43) + "="
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"32 bytes", good, true},
		{"too long", strings.Repeat("A", 48), false},
		{"much too long", strings.Repeat("QUJD", 100), false},
		{"too short", strings.Repeat("A", 40), false},
		{"not base64", strings.Repeat("!", 44), false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h trail.Hash
			err := json.Unmarshal([]byte(`"`+tt.in+`"`), &h)
			if (err == nil) != tt.ok {
				t.Errorf("Unmarshal(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
			}
		})
	}
}

func FuzzHashUnmarshalText(f *testing.F) {
	f.Add(strings.Repeat("A", 43) + "=")
	f.Add(strings.Repeat("A", 60))
	f.Fuzz(func(t *testing.T, s string) {
		var h trail.Hash
		if h.UnmarshalText([]byte(s)) == nil {
			out, _ := h.MarshalText()
			if string(out) != s {
				t.Errorf("accepted %q but it re-encodes as %q", s, out)
			}
		}
	})
}
