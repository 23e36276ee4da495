package keyring_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trail-audit/trail/keyring"
)

// line returns a key line of id with every key byte b.
func line(id string, b byte) string {
	return id + " " + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) + "\n"
}

func mustParse(t *testing.T, text string) *keyring.Ring {
	t.Helper()
	r, err := keyring.Parse(text)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return r
}

func TestParse(t *testing.T) {
	raw := strings.TrimRight(base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32)), "=")
	for _, tc := range []struct {
		name    string
		text    string
		ids     []string
		current string
	}{
		{"one key", line("k1", 1), []string{"k1"}, "k1"},
		{"newest is current", line("k1", 1) + line("k2", 2), []string{"k1", "k2"}, "k2"},
		{"designated current", "current k1\n" + line("k1", 1) + line("k2", 2), []string{"k1", "k2"}, "k1"},
		{"comments and blanks", "# keys\n\n  " + strings.TrimSuffix(line("a.b_c-1", 1), "\n") + "  # old\r\n", []string{"a.b_c-1"}, "a.b_c-1"},
		{"unpadded base64", "k " + raw, []string{"k"}, "k"},
		{"no final newline", strings.TrimSuffix(line("k1", 1), "\n"), []string{"k1"}, "k1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustParse(t, tc.text)
			if got := strings.Join(r.IDs(), ","); got != strings.Join(tc.ids, ",") {
				t.Errorf("IDs() = %s, want %s", got, strings.Join(tc.ids, ","))
			}
			if got := r.Current(); got != tc.current {
				t.Errorf("Current() = %s, want %s", got, tc.current)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	secret := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))
	for _, tc := range []struct {
		name string
		text string
		want string
	}{
		{"empty", "# nothing\n", "keyring: no keys"},
		{"short key", "k1 " + base64.StdEncoding.EncodeToString(make([]byte, 31)), "keyring: line 1: key k1: secret is 31 bytes, want 32"},
		{"not base64", "\nk1 not*base64", "keyring: line 2: key k1: secret is not standard base64"},
		{"three fields", line("k1", 1) + "k2 " + secret + " extra", "keyring: line 2: want"},
		{"one field", "k1", "keyring: line 1: want"},
		{"duplicate id", line("k1", 1) + line("k1", 2), "keyring: line 2: key k1 already defined on line 1"},
		{"bad id", "k/1 " + secret, "keyring: line 1: key id: character '/' not allowed"},
		{"long id", strings.Repeat("k", 65) + " " + secret, "keyring: line 1: key id of 65 characters: want 1 to 64"},
		{"current names a secret", "current " + secret, "keyring: line 1: key id: character"},
		{"undefined current", line("k1", 1) + "current k9\n", "keyring: line 2: current key k9 is not defined"},
		{"two currents", line("k1", 1) + "current k1\ncurrent k1\n", "keyring: line 3: current key already named on line 2"},
		{"swapped fields", secret + " k1", "keyring: line 1: key id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := keyring.Parse(tc.text)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("Parse: got %v, want an error starting %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret[:12]) {
				t.Errorf("error %q quotes key bytes", err)
			}
		})
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		mode os.FileMode
		ok   bool
	}{{0o600, true}, {0o400, true}, {0o640, false}, {0o644, false}, {0o700, false}, {0o606, false}} {
		name := filepath.Join(dir, "keys-"+tc.mode.String())
		if err := os.WriteFile(name, []byte(line("k1", 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(name, tc.mode); err != nil {
			t.Fatal(err)
		}
		r, err := keyring.ReadFile(name)
		switch {
		case tc.ok && err != nil:
			t.Errorf("mode %v: %v", tc.mode, err)
		case tc.ok && r.Current() != "k1":
			t.Errorf("mode %v: current %s, want k1", tc.mode, r.Current())
		case !tc.ok && (err == nil || !strings.Contains(err.Error(), "wider than 0600")):
			t.Errorf("mode %v: got %v, want a refusal naming the mode", tc.mode, err)
		}
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte(line("k1", 1)+"k2 AAAA\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := keyring.ReadFile(bad); err == nil || !strings.Contains(err.Error(), bad+": line 2: key k2") {
		t.Errorf("ReadFile of a bad file: got %v, want the file and line named", err)
	}
	if _, err := keyring.ReadFile(dir); err == nil {
		t.Errorf("ReadFile of a directory: got nil error")
	}
}

func TestGenerate(t *testing.T) {
	l, err := keyring.Generate(bytes.NewReader(bytes.Repeat([]byte{5}, 32)), "k7")
	if err != nil {
		t.Fatal(err)
	}
	if want := line("k7", 5); l != want {
		t.Errorf("Generate = %q, want %q", l, want)
	}
	a, _ := keyring.Generate(rand.Reader, "k1")
	b, _ := keyring.Generate(rand.Reader, "k1")
	if a == b {
		t.Errorf("two generated keys are equal")
	}
	mustParse(t, a)
	if _, err := keyring.Generate(bytes.NewReader(nil), "k1"); err == nil {
		t.Errorf("Generate with an empty reader: got nil error")
	}
	for _, id := range []string{"bad id", "current", ""} {
		if _, err := keyring.Generate(rand.Reader, id); err == nil {
			t.Errorf("Generate with id %q: got nil error", id)
		}
	}
}

func TestSealOpen(t *testing.T) {
	r1 := mustParse(t, line("k1", 1))
	s1, err := r1.NewSealer(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("the distinctive event")
	unit := s1.Seal(nil, plain, []byte("place 1"))
	if len(unit) != len(plain)+keyring.Overhead("k1") {
		t.Errorf("unit of %d bytes, want %d", len(unit), len(plain)+keyring.Overhead("k1"))
	}
	if bytes.Contains(unit, plain) {
		t.Errorf("unit holds the plaintext")
	}
	if !keyring.IsSealed(unit) || keyring.KeyOf(unit) != "k1" {
		t.Errorf("IsSealed, KeyOf = %v, %q; want true, k1", keyring.IsSealed(unit), keyring.KeyOf(unit))
	}
	got, err := r1.Open([]byte("x"), unit, []byte("place 1"))
	if err != nil || string(got) != "x"+string(plain) {
		t.Fatalf("Open = %q, %v; want the plaintext appended", got, err)
	}

	rotated := mustParse(t, line("k1", 1)+line("k2", 2))
	s2, _ := rotated.NewSealer(rand.Reader)
	if u := s2.Seal(nil, plain, nil); keyring.KeyOf(u) != "k2" {
		t.Errorf("after rotation, sealed with %s, want k2", keyring.KeyOf(u))
	}
	if _, err := rotated.Open(nil, unit, []byte("place 1")); err != nil {
		t.Errorf("a rotated ring opens an old unit: %v", err)
	}

	var uk *keyring.UnknownKeyError
	if _, err := mustParse(t, line("k2", 2)).Open(nil, unit, []byte("place 1")); !errors.As(err, &uk) || uk.ID != "k1" ||
		err.Error() != "encrypted with key id k1, which the keyring does not hold" {
		t.Errorf("Open without the key: got %v, want an UnknownKeyError for k1", err)
	}
	var de *keyring.DecryptError
	if _, err := mustParse(t, line("k1", 9)).Open(nil, unit, []byte("place 1")); !errors.As(err, &de) || de.ID != "k1" ||
		err.Error() != "cannot decrypt with key k1: wrong key or damaged data" {
		t.Errorf("Open with other key bytes: got %v, want a DecryptError for k1", err)
	}
	if _, err := r1.Open(nil, unit, []byte("place 2")); !errors.As(err, &de) {
		t.Errorf("Open at another place: got %v, want a DecryptError", err)
	}
	flipped := bytes.Clone(unit)
	flipped[len(flipped)-20] ^= 1
	if _, err := r1.Open(nil, flipped, []byte("place 1")); !errors.As(err, &de) {
		t.Errorf("Open of a damaged unit: got %v, want a DecryptError", err)
	}
	for _, bad := range [][]byte{nil, {0x01, 2, 3}, unit[:10], {0xEC, 0}} {
		if _, err := r1.Open(nil, bad, nil); !errors.Is(err, keyring.ErrNotSealed) {
			t.Errorf("Open(%x): got %v, want ErrNotSealed", bad, err)
		}
	}
}

// TestNonces checks that a Sealer counts up from its random first nonce,
// carrying into the high 32 bits.
func TestNonces(t *testing.T) {
	r := mustParse(t, line("k", 1))
	start := append(bytes.Repeat([]byte{0}, 3), 7, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe)
	s, err := r.NewSealer(bytes.NewReader(start))
	if err != nil {
		t.Fatal(err)
	}
	nonceOf := func(u []byte) []byte { return u[2+1 : 2+1+12] }
	want := [][]byte{
		{0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe},
		{0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		{0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0},
	}
	for i, w := range want {
		if got := nonceOf(s.Seal(nil, []byte("x"), nil)); !bytes.Equal(got, w) {
			t.Errorf("nonce %d = %x, want %x", i, got, w)
		}
	}
	if _, err := r.NewSealer(bytes.NewReader(nil)); err == nil {
		t.Errorf("NewSealer with an empty reader: got nil error")
	}
}

func TestCheckValue(t *testing.T) {
	r := mustParse(t, line("k1", 1)+line("k2", 2))
	s, _ := r.NewSealer(rand.Reader)
	check, err := s.CheckValue("k1")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.VerifyCheck("k1", check); err != nil {
		t.Errorf("VerifyCheck with the same key: %v", err)
	}
	var wk *keyring.WrongKeyError
	if err := mustParse(t, line("k1", 8)).VerifyCheck("k1", check); !errors.As(err, &wk) || wk.ID != "k1" {
		t.Errorf("VerifyCheck with other key bytes: got %v, want a WrongKeyError", err)
	}
	var uk *keyring.UnknownKeyError
	if err := mustParse(t, line("k2", 2)).VerifyCheck("k1", check); !errors.As(err, &uk) {
		t.Errorf("VerifyCheck without the key: got %v, want an UnknownKeyError", err)
	}
	if err := r.VerifyCheck("k2", check); err == nil {
		t.Errorf("VerifyCheck of k1's value for k2: got nil error")
	}
	if _, err := s.CheckValue("k9"); !errors.As(err, &uk) {
		t.Errorf("CheckValue of an absent key: got %v, want an UnknownKeyError", err)
	}
}

func BenchmarkSeal(b *testing.B) {
	r, _ := keyring.Parse(line("k1", 1))
	s, _ := r.NewSealer(rand.Reader)
	plain := make([]byte, 64<<10)
	aad := []byte("wal 1 0")
	buf := make([]byte, 0, len(plain)+64)
	b.SetBytes(int64(len(plain)))
	b.ReportAllocs()
	for b.Loop() {
		buf = s.Seal(buf[:0], plain, aad)
	}
}
