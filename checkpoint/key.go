package checkpoint

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// GenerateKey returns a new Ed25519 key pair named name, encoded as the note
// package encodes keys: the signer key "PRIVATE+KEY+<name>+<hash>+<key>",
// which must be kept secret, and the verifier key "<name>+<hash>+<key>",
// which is published. The name must be a valid note key name (non-empty,
// no spaces or "+"). rand is the source of randomness, usually
// crypto/rand.Reader; a fixed reader gives a fixed key.
func GenerateKey(name string, rand io.Reader) (signerKey, verifierKey string, err error) {
	skey, vkey, err := note.GenerateKey(rand, name)
	if err != nil {
		return "", "", fmt.Errorf("generate key: %w", err)
	}
	if _, err := note.NewSigner(skey); err != nil {
		return "", "", fmt.Errorf("generate key: name %q: %w", name, err)
	}
	return skey, vkey, nil
}

// VerifierKey returns the verifier key matching an encoded Ed25519 signer key.
func VerifierKey(signerKey string) (string, error) {
	s, err := note.NewSigner(signerKey)
	if err != nil {
		return "", fmt.Errorf("verifier key: %w", err)
	}
	// NewSigner accepted it, so the key is PRIVATE+KEY+<name>+<hash>+<key>
	// where <key> is base64(alg ‖ 32-byte seed); the base64 may itself
	// contain '+', so split off exactly the first four fields.
	fields := strings.SplitN(signerKey, "+", 5)
	if len(fields) != 5 {
		return "", errors.New("verifier key: not an Ed25519 signer key")
	}
	key, err := base64.StdEncoding.DecodeString(fields[4])
	if err != nil || len(key) != 1+ed25519.SeedSize {
		return "", errors.New("verifier key: not an Ed25519 signer key")
	}
	pub := ed25519.NewKeyFromSeed(key[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(s.Name(), pub)
	if err != nil {
		return "", fmt.Errorf("verifier key: %w", err)
	}
	return vkey, nil
}

// signerAndVerifier decodes a signer key and derives its verifier.
func signerAndVerifier(signerKey string) (note.Signer, note.Verifier, error) {
	s, err := NewSigner(signerKey)
	if err != nil {
		return nil, nil, err
	}
	vkey, err := VerifierKey(signerKey)
	if err != nil {
		return nil, nil, err
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, nil, err
	}
	return s, v, nil
}

// WriteKeyFile writes signerKey, followed by a newline, to a new file at path
// with mode 0600. It writes a temporary file in the same directory, syncs it,
// links it to path (which fails if path exists) and syncs the directory, so
// path is either absent or complete, even after a crash. It refuses to
// overwrite an existing file (the error wraps fs.ErrExist) and refuses a key
// that does not parse.
func WriteKeyFile(path, signerKey string) error {
	if _, err := note.NewSigner(signerKey); err != nil {
		return fmt.Errorf("write key file %s: %w", path, err)
	}
	if err := writeNewFile(path, []byte(signerKey+"\n")); err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	return nil
}

func writeNewFile(path string, data []byte) (err error) {
	if _, err := os.Lstat(path); err == nil {
		return &fs.PathError{Op: "create", Path: path, Err: fs.ErrExist}
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*") // mode 0600
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
		}
		os.Remove(tmp) // linked to path on success; the temp name goes either way
	}()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp, path); err != nil { // atomic, and never overwrites
		return err
	}
	if err := os.Remove(tmp); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// LoadKeyFile reads the signer key written by [WriteKeyFile] and returns its
// signer (a [*Signer], so [SignAll] signs in batches) and the matching
// verifier. It refuses a file that group or others
// may read or write (mode & 0o077 != 0), saying so and how to fix it, and a
// file that does not hold a valid Ed25519 signer key. A missing file gives an
// error that wraps fs.ErrNotExist.
func LoadKeyFile(path string) (note.Signer, note.Verifier, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("load key file: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("load key file: %w", err)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, nil, fmt.Errorf("load key file %s: mode %#o lets group or others access the private key; run chmod 600 %s", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return nil, nil, fmt.Errorf("load key file %s: %w", path, err)
	}
	s, v, err := signerAndVerifier(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, nil, fmt.Errorf("load key file %s: not a signer key: %w", path, err)
	}
	return s, v, nil
}

// LoadOrCreateKeyFile loads the key file at path with [LoadKeyFile] or, when
// there is no file there, generates a key named name from rand, writes it
// with [WriteKeyFile] and returns it. An existing key is returned whatever
// its name. If another process creates the file first, its key is loaded.
func LoadOrCreateKeyFile(path, name string, rand io.Reader) (note.Signer, note.Verifier, error) {
	s, v, err := LoadKeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return s, v, err
	}
	skey, _, err := GenerateKey(name, rand)
	if err != nil {
		return nil, nil, err
	}
	if err := WriteKeyFile(path, skey); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, nil, err
	}
	return LoadKeyFile(path)
}
