package keyring_test

import (
	"strings"
	"testing"

	"github.com/trail-audit/trail/keyring"
)

// FuzzParse checks that Parse never panics, that a ring it returns is
// usable (a current key it holds, sealing that opens again), and that its
// errors name a line and never quote a whole key.
func FuzzParse(f *testing.F) {
	f.Add(line("k1", 1))
	f.Add(line("k1", 1) + line("k2", 2) + "current k1\n")
	f.Add("# comment\n\nk1 AAAA\n")
	f.Add("current k1\n")
	f.Add(line("k1", 1) + line("k1", 1))
	f.Add("k1 " + strings.Repeat("A", 43) + "\n")
	f.Fuzz(func(t *testing.T, text string) {
		r, err := keyring.Parse(text)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "keyring: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
			// A secret is the second field of a line; one that is also
			// an id somewhere may be quoted as that id.
			ids := map[string]bool{}
			var secrets []string
			for l := range strings.Lines(text) {
				if f := strings.Fields(strings.SplitN(l, "#", 2)[0]); len(f) > 0 {
					ids[f[0]] = true
					if len(f) > 1 && f[0] != "current" {
						secrets = append(secrets, f[1])
					}
				}
			}
			for _, sec := range secrets {
				if len(sec) >= 8 && !ids[sec] && strings.Contains(err.Error(), sec) {
					t.Fatalf("error %q quotes the secret %q", err, sec)
				}
			}
			return
		}
		if !r.Has(r.Current()) || len(r.IDs()) == 0 {
			t.Fatalf("ring with ids %v has current %q", r.IDs(), r.Current())
		}
		s, err := r.NewSealer(strings.NewReader(strings.Repeat("n", 12)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Open(nil, s.Seal(nil, []byte(text), []byte("aad")), []byte("aad"))
		if err != nil || string(got) != text {
			t.Fatalf("seal and open: %q, %v", got, err)
		}
	})
}
