package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// KeySize is the size of a key: AES-256.
const KeySize = 32

// MaxIDLen is the longest key id.
const MaxIDLen = 64

// Ring is a set of keys with ids, one of them current. It is immutable and
// safe for concurrent use.
type Ring struct {
	keys    map[string]cipher.AEAD
	ids     []string // in file order
	current string
}

// Parse reads a ring from text in the key file syntax (see the package
// documentation), as given by a key file or an environment variable. Its
// errors name the line and never include key bytes.
func Parse(text string) (*Ring, error) {
	r, err := parse(text)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	return r, nil
}

// ReadFile reads a ring from the key file name. It refuses a file that is
// not a regular file or whose permissions are wider than 0600 (readable or
// writable by anyone but its owner, or executable).
func ReadFile(name string) (*Ring, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("keyring: %s is not a regular file", name)
	}
	if perm := fi.Mode().Perm(); perm&^0o600 != 0 {
		return nil, fmt.Errorf("keyring: %s has mode %#o, wider than 0600: run chmod 600 %s", name, perm, name)
	}
	data, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	r, err := parse(string(data))
	if err != nil {
		return nil, fmt.Errorf("keyring: %s: %w", name, err)
	}
	return r, nil
}

func parse(text string) (*Ring, error) {
	r := &Ring{keys: map[string]cipher.AEAD{}}
	defined := map[string]int{} // id → line
	currentLine := 0
	for i, line := range strings.Split(text, "\n") {
		n := i + 1
		if c := strings.IndexByte(line, '#'); c >= 0 {
			line = line[:c]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return nil, fmt.Errorf("line %d: want \"<id> <base64 key>\" or \"current <id>\", got %d fields", n, len(f))
		}
		if f[0] == "current" {
			if currentLine != 0 {
				return nil, fmt.Errorf("line %d: current key already named on line %d", n, currentLine)
			}
			if err := ValidateID(f[1]); err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			r.current, currentLine = f[1], n
			continue
		}
		id := f[0]
		if err := ValidateID(id); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if prev, ok := defined[id]; ok {
			return nil, fmt.Errorf("line %d: key %s already defined on line %d", n, id, prev)
		}
		secret, err := decodeSecret(f[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: key %s: %w", n, id, err)
		}
		aead, err := newAEAD(secret)
		clear(secret)
		if err != nil {
			return nil, fmt.Errorf("line %d: key %s: %w", n, id, err)
		}
		defined[id] = n
		r.keys[id] = aead
		r.ids = append(r.ids, id)
	}
	if len(r.ids) == 0 {
		return nil, errors.New("no keys")
	}
	if r.current == "" {
		r.current = r.ids[len(r.ids)-1]
	} else if _, ok := r.keys[r.current]; !ok {
		return nil, fmt.Errorf("line %d: current key %s is not defined", currentLine, r.current)
	}
	return r, nil
}

// decodeSecret decodes standard base64, padded or not, of KeySize bytes.
// Its errors never quote the input.
func decodeSecret(s string) ([]byte, error) {
	enc := base64.StdEncoding
	if len(s)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	b, err := enc.DecodeString(s)
	if err != nil {
		return nil, errors.New("secret is not standard base64")
	}
	if len(b) != KeySize {
		clear(b)
		return nil, fmt.Errorf("secret is %d bytes, want %d", len(b), KeySize)
	}
	return b, nil
}

func newAEAD(secret []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(secret)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// ValidateID reports whether id can name a key: 1 to MaxIDLen characters
// of A-Z a-z 0-9 . _ -, and not "current".
func ValidateID(id string) error {
	if id == "" || len(id) > MaxIDLen {
		return fmt.Errorf("key id of %d characters: want 1 to %d", len(id), MaxIDLen)
	}
	if id == "current" {
		return errors.New(`key id "current" is reserved`)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			// The id is not quoted: a misplaced secret would end up in logs.
			return fmt.Errorf("key id: character %q not allowed (use A-Z a-z 0-9 . _ -)", c)
		}
	}
	return nil
}

// Generate returns a new key line, "<id> <base64 of 32 bytes>\n", with the
// key bytes read from rand (crypto/rand.Reader in production). Append it
// to a key file to add the key; as the last key line it becomes current.
func Generate(rand io.Reader, id string) (string, error) {
	if err := ValidateID(id); err != nil {
		return "", fmt.Errorf("keyring: %w", err)
	}
	secret := make([]byte, KeySize)
	defer clear(secret)
	if _, err := io.ReadFull(rand, secret); err != nil {
		return "", fmt.Errorf("keyring: generate key %s: %w", id, err)
	}
	return id + " " + base64.StdEncoding.EncodeToString(secret) + "\n", nil
}

// Current returns the id of the key that encrypts.
func (r *Ring) Current() string { return r.current }

// IDs returns the ids of the ring's keys in the order they were defined.
func (r *Ring) IDs() []string { return slices.Clone(r.ids) }

// Has reports whether the ring holds a key with id.
func (r *Ring) Has(id string) bool {
	_, ok := r.keys[id]
	return ok
}
