package auth

import (
	"crypto/rand"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzAuthenticate checks that no token but the real ones authenticates and
// that no input panics.
func FuzzAuthenticate(f *testing.F) {
	k, err := NewKeys(f.Context(), NewFileStore(filepath.Join(f.TempDir(), "keys.json")), newClock().Now, rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	key, token, err := k.Create(f.Context(), "ci", Writer, "acme", nil)
	if err != nil {
		f.Fatal(err)
	}
	_, second, err := k.Create(f.Context(), "second", Viewer, "acme", nil)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := k.Bootstrap(f.Context(), ""); err != nil { // a no-op: keys exist
		f.Fatal(err)
	}
	valid := map[string]bool{token: true, second: true}
	for _, s := range []string{
		"", "trl_", "trl_" + key.ID + "_", "trl_" + key.ID + "_" + strings.Repeat("A", 43),
		token[:len(token)-1], token + "=", strings.ToUpper(token), key.Hash, "Bearer " + token,
		"\x00", strings.Repeat("\xff", 70),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := k.Authenticate(t.Context(), s)
		if valid[s] {
			return
		}
		if err == nil {
			t.Fatalf("Authenticate(%q) = %+v, want an error", s, p)
		}
		if p != (Principal{}) {
			t.Fatalf("Authenticate(%q) returned %+v with an error", s, p)
		}
		if id, ok := TokenID(s); ok && len(id) != 16 {
			t.Fatalf("TokenID(%q) = %q", s, id)
		}
	})
}
