package checkpoint_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/trail-audit/trail/checkpoint"
)

// randomCheckpoints returns n checkpoints with varied origins, sizes and
// roots drawn from r.
func randomCheckpoints(r *rand.Rand, n int) []checkpoint.Checkpoint {
	cs := make([]checkpoint.Checkpoint, n)
	for i := range cs {
		cs[i] = checkpoint.Checkpoint{
			Origin: fmt.Sprintf("trail.example.com/tenant-%d%s", r.IntN(1000), strings.Repeat("x", r.IntN(40))),
			Size:   r.Int64N(1 << 40),
			Root:   sha256.Sum256([]byte(fmt.Sprint(r.Uint64()))),
		}
	}
	return cs
}

// TestSignAllMatchesSign checks that batch signing gives, byte for byte,
// the notes checkpoint.Sign gives with the note package's own signer
// (Ed25519 is deterministic, so any difference is a wrong signature), for
// many keys and batch sizes, and that every note opens.
func TestSignAllMatchesSign(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for key := 0; key < 24; key++ {
		seed := make([]byte, 64)
		for i := range seed {
			seed[i] = byte(r.Uint32())
		}
		skey, vkey, err := checkpoint.GenerateKey(fmt.Sprintf("trail-%d.example", key), bytes.NewReader(seed))
		if err != nil {
			t.Fatal(err)
		}
		ref, err := note.NewSigner(skey)
		if err != nil {
			t.Fatal(err)
		}
		fast, err := checkpoint.NewSigner(skey)
		if err != nil {
			t.Fatal(err)
		}
		if fast.Name() != ref.Name() || fast.KeyHash() != ref.KeyHash() {
			t.Fatalf("key %d: name/hash %s/%08x, want %s/%08x", key, fast.Name(), fast.KeyHash(), ref.Name(), ref.KeyHash())
		}
		v, err := note.NewVerifier(vkey)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{0, 1, 2, 3, 8, 17, 64} {
			cs := randomCheckpoints(r, n)
			got, err := checkpoint.SignAll(cs, fast)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != n {
				t.Fatalf("key %d: %d notes for %d checkpoints", key, len(got), n)
			}
			for i, c := range cs {
				want, err := checkpoint.Sign(c, ref)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got[i], want) {
					t.Fatalf("key %d, batch of %d, note %d:\n%s\nwant\n%s", key, n, i, got[i], want)
				}
				opened, err := checkpoint.Open(got[i], v)
				if err != nil {
					t.Fatalf("key %d, note %d: %v", key, i, err)
				}
				if opened != c {
					t.Fatalf("key %d, note %d: opened %+v, want %+v", key, i, opened, c)
				}
			}
		}
		// The single-message path (note.Signer) agrees too.
		msg := []byte("trail.example.com/acme\n1\n" + strings.Repeat("A", 43) + "=\n")
		a, _ := fast.Sign(msg)
		b, _ := ref.Sign(msg)
		if !bytes.Equal(a, b) {
			t.Fatalf("key %d: Sign differs from the note package's", key)
		}
	}
}

// TestSignAllOtherSigner checks the one-by-one path for a signer that is
// not a *checkpoint.Signer.
func TestSignAllOtherSigner(t *testing.T) {
	s, v, _ := testKey(t, "trail.example.com", 3)
	cs := randomCheckpoints(rand.New(rand.NewPCG(3, 4)), 5)
	notes, err := checkpoint.SignAll(cs, s)
	if err != nil {
		t.Fatal(err)
	}
	for i, msg := range notes {
		if c, err := checkpoint.Open(msg, v); err != nil || c != cs[i] {
			t.Fatalf("note %d: %+v, %v", i, c, err)
		}
	}
}

// TestSignAllRejects checks that one invalid checkpoint fails the whole
// batch with an error naming its index, for both paths.
func TestSignAllRejects(t *testing.T) {
	skey, _, err := checkpoint.GenerateKey("trail.example.com", seedReader(5))
	if err != nil {
		t.Fatal(err)
	}
	fast, err := checkpoint.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := note.NewSigner(skey)
	cs := randomCheckpoints(rand.New(rand.NewPCG(5, 6)), 4)
	cs[2].Size = -1
	for _, s := range []note.Signer{fast, ref} {
		notes, err := checkpoint.SignAll(cs, s)
		if err == nil || notes != nil {
			t.Fatalf("%T: SignAll = %d notes, %v; want an error and none", s, len(notes), err)
		}
		if !strings.Contains(err.Error(), "checkpoint 2") {
			t.Errorf("%T: error %q does not name checkpoint 2", s, err)
		}
	}
}

// TestNewSignerRejects checks that NewSigner refuses what note.NewSigner
// refuses.
func TestNewSignerRejects(t *testing.T) {
	skey, vkey, err := checkpoint.GenerateKey("trail.example.com", seedReader(6))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		"",
		vkey, // a verifier key
		strings.Replace(skey, "PRIVATE", "PUBLIC", 1),
		skey[:len(skey)-4],                                                 // truncated key bytes
		strings.Replace(skey, "trail.example.com", "other.example.com", 1), // hash mismatch
	} {
		if _, err := checkpoint.NewSigner(bad); err == nil {
			t.Errorf("NewSigner(%q) accepted", bad)
		}
		if _, err := note.NewSigner(bad); err == nil {
			t.Errorf("note.NewSigner(%q) accepted: the test case is wrong", bad)
		}
	}
}

// BenchmarkSignAll compares signing a commit's worth of checkpoints (one
// per tenant) as a batch with signing each through the note package.
func BenchmarkSignAll(b *testing.B) {
	skey, _, err := checkpoint.GenerateKey("trail.example.com", seedReader(7))
	if err != nil {
		b.Fatal(err)
	}
	fast, _ := checkpoint.NewSigner(skey)
	ref, _ := note.NewSigner(skey)
	for _, n := range []int{1, 8, 40} {
		cs := randomCheckpoints(rand.New(rand.NewPCG(7, 8)), n)
		for _, s := range []struct {
			name string
			s    note.Signer
		}{{"batch", fast}, {"each", ref}} {
			b.Run(fmt.Sprintf("%s/%d", s.name, n), func(b *testing.B) {
				for b.Loop() {
					if _, err := checkpoint.SignAll(cs, s.s); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n)/1e3, "µs/checkpoint")
			})
		}
	}
}
