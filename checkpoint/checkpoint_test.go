package checkpoint_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/trail-audit/trail/checkpoint"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// seedReader returns a fixed stream of bytes, so keys generated from it are
// fixed too.
func seedReader(seed byte) *bytes.Reader {
	return bytes.NewReader(bytes.Repeat([]byte{seed}, 64))
}

// testKey returns the fixed test key pair named name.
func testKey(t testing.TB, name string, seed byte) (note.Signer, note.Verifier, string) {
	t.Helper()
	skey, vkey, err := checkpoint.GenerateKey(name, seedReader(seed))
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return s, v, vkey
}

var golden = checkpoint.Checkpoint{
	Origin: "trail.example.com/acme",
	Size:   1234,
	Root:   sha256.Sum256([]byte("golden root")),
}

func TestGolden(t *testing.T) {
	s, v, vkey := testKey(t, "trail.example.com", 1)
	msg, err := checkpoint.Sign(golden, s)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"testdata/checkpoint.golden": msg,
		"testdata/verifier.key":      []byte(vkey + "\n"),
	}
	for path, got := range files {
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -update to create it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\ngot\n%s\nwant\n%s", path, got, want)
		}
	}
	// The golden file opens with the published verifier key alone.
	want, _ := os.ReadFile("testdata/checkpoint.golden")
	pub, _ := os.ReadFile("testdata/verifier.key")
	v2, err := note.NewVerifier(strings.TrimSpace(string(pub)))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []note.Verifier{v, v2} {
		c, err := checkpoint.Open(want, v)
		if err != nil {
			t.Fatalf("Open(golden): %v", err)
		}
		if c != golden {
			t.Errorf("Open(golden) = %+v, want %+v", c, golden)
		}
	}
}

func TestBody(t *testing.T) {
	c := checkpoint.Checkpoint{Origin: "example.com/log", Size: 0, Root: sha256.Sum256(nil)}
	got := string(c.Body())
	want := "example.com/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
	if got != want {
		t.Errorf("Body() = %q, want %q", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	s, v, _ := testKey(t, "trail.example.com", 1)
	tests := []checkpoint.Checkpoint{
		{Origin: "o", Size: 0},
		{Origin: "trail.example.com/default", Size: 1, Root: sha256.Sum256([]byte("a"))},
		{Origin: "trail.example.com/acme", Size: 1<<63 - 1, Root: sha256.Sum256([]byte("b"))},
		{Origin: "ünïcödé/tenant", Size: 42},
	}
	for _, c := range tests {
		t.Run(c.Origin, func(t *testing.T) {
			msg, err := checkpoint.Sign(c, s)
			if err != nil {
				t.Fatal(err)
			}
			got, err := checkpoint.Open(msg, v)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if got != c {
				t.Errorf("got %+v, want %+v", got, c)
			}
		})
	}
}

func TestSignRejects(t *testing.T) {
	s, _, _ := testKey(t, "trail.example.com", 1)
	tests := []struct {
		name string
		c    checkpoint.Checkpoint
		want string
	}{
		{"empty origin", checkpoint.Checkpoint{Size: 1}, "origin: empty"},
		{"newline in origin", checkpoint.Checkpoint{Origin: "a\nb"}, "origin: invalid character at byte 1"},
		{"negative size", checkpoint.Checkpoint{Origin: "a", Size: -1}, "size -1: must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := checkpoint.Sign(tt.c, s)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestParseBody(t *testing.T) {
	root := "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
	tests := []struct {
		name    string
		body    string
		want    checkpoint.Checkpoint
		wantErr string // "" means valid
	}{
		{"minimal", "o\n0\n" + root + "\n", checkpoint.Checkpoint{Origin: "o", Root: sha256.Sum256(nil)}, ""},
		{"extension lines ignored", "o\n7\n" + root + "\next one\next two\n", checkpoint.Checkpoint{Origin: "o", Size: 7, Root: sha256.Sum256(nil)}, ""},
		{"max size", "o\n9223372036854775807\n" + root + "\n", checkpoint.Checkpoint{Origin: "o", Size: 1<<63 - 1, Root: sha256.Sum256(nil)}, ""},
		{"empty", "", checkpoint.Checkpoint{}, "does not end with a newline"},
		{"no final newline", "o\n0\n" + root, checkpoint.Checkpoint{}, "does not end with a newline"},
		{"two lines", "o\n0\n", checkpoint.Checkpoint{}, "2 lines, want at least 3"},
		{"empty origin", "\n0\n" + root + "\n", checkpoint.Checkpoint{}, "line 1: origin: empty"},
		{"control character in origin", "o\t\n0\n" + root + "\n", checkpoint.Checkpoint{}, "line 1: origin: invalid character"},
		{"invalid UTF-8 in origin", "o\xff\n0\n" + root + "\n", checkpoint.Checkpoint{}, "line 1: origin: invalid character"},
		{"empty size", "o\n\n" + root + "\n", checkpoint.Checkpoint{}, "line 2: size"},
		{"leading zero", "o\n01\n" + root + "\n", checkpoint.Checkpoint{}, "line 2: size \"01\""},
		{"signed size", "o\n+1\n" + root + "\n", checkpoint.Checkpoint{}, "line 2: size \"+1\""},
		{"negative size", "o\n-1\n" + root + "\n", checkpoint.Checkpoint{}, "line 2: size \"-1\""},
		{"hex size", "o\n0x1\n" + root + "\n", checkpoint.Checkpoint{}, "line 2"},
		{"size with space", "o\n1 \n" + root + "\n", checkpoint.Checkpoint{}, "line 2"},
		{"size overflow", "o\n9223372036854775808\n" + root + "\n", checkpoint.Checkpoint{}, "line 2: size \"9223372036854775808\": out of range"},
		{"short root", "o\n1\nAAAA\n", checkpoint.Checkpoint{}, "line 3: root hash: 4 characters, want 44"},
		{"url base64 root", "o\n1\n47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=\n", checkpoint.Checkpoint{}, "line 3: root hash"},
		{"non-canonical padding bits", "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=\n", checkpoint.Checkpoint{}, "line 3: root hash"},
		{"unpadded root", "o\n1\n00000000000000000000000000000000000000000010\n", checkpoint.Checkpoint{}, "line 3: root hash: 33 bytes, want 32"},
		{"empty extension line", "o\n1\n" + root + "\n\n", checkpoint.Checkpoint{}, "line 4: empty extension line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := checkpoint.ParseBody([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, checkpoint.ErrMalformed) {
					t.Fatalf("got error %v, want ErrMalformed containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestOpenRejects(t *testing.T) {
	s, v, _ := testKey(t, "trail.example.com", 1)
	_, otherV, _ := testKey(t, "other.example.com", 2)
	_, sameNameV, _ := testKey(t, "trail.example.com", 3)
	otherS, _, _ := testKey(t, "other.example.com", 2)
	msg, err := checkpoint.Sign(golden, s)
	if err != nil {
		t.Fatal(err)
	}
	text, sigs, _ := strings.Cut(string(msg), "\n\n")
	sigLine := strings.TrimSuffix(sigs, "\n")
	byOther, err := checkpoint.Sign(golden, otherS)
	if err != nil {
		t.Fatal(err)
	}
	badBody, err := note.Sign(&note.Note{Text: "o\n01\n" + strings.Split(text, "\n")[2] + "\n"}, s)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		msg  string
		v    note.Verifier
		want error
	}{
		{"tampered size", strings.Replace(string(msg), "1234", "1235", 1), v, checkpoint.ErrSignature},
		{"tampered origin", strings.Replace(string(msg), "acme", "acmf", 1), v, checkpoint.ErrSignature},
		{"wrong key", string(msg), otherV, checkpoint.ErrUnknownKey},
		{"same name, different key", string(msg), sameNameV, checkpoint.ErrUnknownKey},
		{"signed by another key only", string(byOther), v, checkpoint.ErrUnknownKey},
		{"truncated signature (bad base64)", text + "\n\n" + sigLine[:len(sigLine)-1] + "\n", v, checkpoint.ErrMalformed},
		{"truncated signature (valid base64)", text + "\n\n" + sigLine[:len(sigLine)-4] + "\n", v, checkpoint.ErrSignature},
		{"no signature", text + "\n\n", v, checkpoint.ErrMalformed},
		{"no blank line", text + "\n", v, checkpoint.ErrMalformed},
		{"signature without final newline", strings.TrimSuffix(string(msg), "\n"), v, checkpoint.ErrMalformed},
		{"validly signed bad body", string(badBody), v, checkpoint.ErrMalformed},
		{"empty", "", v, checkpoint.ErrMalformed},
	}
	all := []error{checkpoint.ErrMalformed, checkpoint.ErrSignature, checkpoint.ErrUnknownKey}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := checkpoint.Open([]byte(tt.msg), tt.v)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			for _, other := range all {
				if other != tt.want && errors.Is(err, other) {
					t.Errorf("error %v also matches %v", err, other)
				}
			}
		})
	}
}

func TestOpenIgnoresOtherSignatures(t *testing.T) {
	s, v, _ := testKey(t, "trail.example.com", 1)
	otherS, _, _ := testKey(t, "witness.example.com", 2)
	msg, err := note.Sign(&note.Note{Text: string(golden.Body())}, otherS, s)
	if err != nil {
		t.Fatal(err)
	}
	c, err := checkpoint.Open(msg, v)
	if err != nil {
		t.Fatal(err)
	}
	if c != golden {
		t.Errorf("got %+v, want %+v", c, golden)
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	skey, vkey, err := checkpoint.GenerateKey("trail.example.com", seedReader(1))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "checkpoint.key")

	if err := checkpoint.WriteKeyFile(path, skey); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := info.Mode().Perm(), fs.FileMode(0o600); got != want {
		t.Errorf("mode = %#o, want %#o", got, want)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %d entries, want 1 (no temp file left)", len(entries))
	}

	s, v, err := checkpoint.LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Name(), "trail.example.com"; got != want {
		t.Errorf("signer name = %q, want %q", got, want)
	}
	if got, err := checkpoint.VerifierKey(skey); err != nil || got != vkey {
		t.Errorf("VerifierKey = %q, %v; want %q", got, err, vkey)
	}
	msg, err := checkpoint.Sign(golden, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := checkpoint.Open(msg, v); err != nil {
		t.Errorf("loaded verifier rejects the loaded signer's checkpoint: %v", err)
	}

	t.Run("refuses to overwrite", func(t *testing.T) {
		other, _, _ := checkpoint.GenerateKey("x", seedReader(9))
		err := checkpoint.WriteKeyFile(path, other)
		if !errors.Is(err, fs.ErrExist) {
			t.Errorf("got %v, want fs.ErrExist", err)
		}
		data, _ := os.ReadFile(path)
		if got, want := string(data), skey+"\n"; got != want {
			t.Errorf("file changed to %q", got)
		}
	})
	t.Run("refuses an invalid key", func(t *testing.T) {
		if err := checkpoint.WriteKeyFile(filepath.Join(dir, "bad.key"), "PRIVATE+KEY+nope"); err == nil {
			t.Error("got nil error")
		}
	})
	t.Run("refuses group-readable file", func(t *testing.T) {
		loose := filepath.Join(dir, "loose.key")
		if err := os.WriteFile(loose, []byte(skey), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(loose, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := checkpoint.LoadKeyFile(loose)
		if err == nil || !strings.Contains(err.Error(), "mode 0644") || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("got %v, want a mode 0644 error suggesting chmod 600", err)
		}
	})
	t.Run("refuses a non-key", func(t *testing.T) {
		junk := filepath.Join(dir, "junk.key")
		if err := os.WriteFile(junk, []byte(vkey), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := checkpoint.LoadKeyFile(junk); err == nil || !strings.Contains(err.Error(), "not a signer key") {
			t.Errorf("got %v, want a not a signer key error", err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		if _, _, err := checkpoint.LoadKeyFile(filepath.Join(dir, "absent")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("got %v, want fs.ErrNotExist", err)
		}
	})
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub.key")
	s1, v1, err := checkpoint.LoadOrCreateKeyFile(path, "trail.example.com", seedReader(4))
	if err != nil {
		t.Fatal(err)
	}
	// The second call loads the same key; the reader is not used.
	s2, v2, err := checkpoint.LoadOrCreateKeyFile(path, "ignored", seedReader(5))
	if err != nil {
		t.Fatal(err)
	}
	if s1.Name() != s2.Name() || s1.KeyHash() != s2.KeyHash() || v1.KeyHash() != v2.KeyHash() {
		t.Errorf("second call: got key %s+%08x, want %s+%08x", s2.Name(), s2.KeyHash(), s1.Name(), s1.KeyHash())
	}
	if _, _, err := checkpoint.LoadOrCreateKeyFile(path, "bad name", seedReader(5)); err != nil {
		t.Errorf("existing key with another name: %v", err)
	}
	if _, _, err := checkpoint.LoadOrCreateKeyFile(filepath.Join(t.TempDir(), "k"), "bad name", seedReader(5)); err == nil {
		t.Error("new key with an invalid name: got nil error")
	}
}

// TestVerifierKeyManySeeds derives verifier keys from signer keys whose
// base64 holds '+' and '/' characters: the derived key must verify what
// the signer signs.
func TestVerifierKeyManySeeds(t *testing.T) {
	for i := 0; i < 64; i++ {
		seed := bytes.Repeat([]byte{byte(i * 37)}, 64)
		skey, vkey, err := checkpoint.GenerateKey("trail.local", bytes.NewReader(seed))
		if err != nil {
			t.Fatal(err)
		}
		got, err := checkpoint.VerifierKey(skey)
		if err != nil {
			t.Fatalf("seed %d: VerifierKey(%q): %v", i, skey, err)
		}
		if got != vkey {
			t.Fatalf("seed %d: VerifierKey = %q, want %q", i, got, vkey)
		}
	}
}
