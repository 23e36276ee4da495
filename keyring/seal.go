package keyring

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
)

const (
	unitMagic = 0xEC
	nonceSize = 12
	tagSize   = 16
)

// UnknownKeyError reports a unit sealed with a key the ring does not hold.
// Its message has no package prefix so that callers can put the file first.
type UnknownKeyError struct{ ID string }

func (e *UnknownKeyError) Error() string {
	return fmt.Sprintf("encrypted with key id %s, which the keyring does not hold", e.ID)
}

// DecryptError reports a unit that does not authenticate under the key its
// id names: the key bytes are not the ones it was sealed with, or the unit
// or its additional data changed. Its message has no package prefix.
type DecryptError struct{ ID string }

func (e *DecryptError) Error() string {
	return fmt.Sprintf("cannot decrypt with key %s: wrong key or damaged data", e.ID)
}

// WrongKeyError reports, from VerifyCheck, that the ring's key of an id is
// not the key a check value was made with.
type WrongKeyError struct{ ID string }

func (e *WrongKeyError) Error() string {
	return fmt.Sprintf("key %s is not the key this data was encrypted with (its bytes differ)", e.ID)
}

// ErrNotSealed is wrapped by Open's error for bytes that are not a sealed
// unit at all.
var ErrNotSealed = errors.New("not an encrypted unit")

// IsSealed reports whether b starts like a sealed unit. A format whose
// plaintext never starts with byte 0xEC can tell its sealed and plain
// forms apart with it.
func IsSealed(b []byte) bool { return len(b) > 0 && b[0] == unitMagic }

// Overhead returns how many bytes sealing adds under the key id.
func Overhead(id string) int { return 2 + len(id) + nonceSize + tagSize }

// Open appends to dst the plaintext of the sealed unit, authenticated with
// aad, and returns the extended slice. dst and unit may not overlap. It
// returns an *UnknownKeyError when the ring lacks the unit's key, a
// *DecryptError when the unit does not authenticate, and an error wrapping
// ErrNotSealed when unit is malformed.
func (r *Ring) Open(dst, unit, aad []byte) ([]byte, error) {
	if len(unit) < 2 || unit[0] != unitMagic {
		return nil, ErrNotSealed
	}
	n := int(unit[1])
	if n == 0 || len(unit) < 2+n+nonceSize+tagSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrNotSealed, len(unit))
	}
	id := unit[2 : 2+n]
	aead, ok := r.keys[string(id)]
	if !ok {
		if ValidateID(string(id)) != nil {
			return nil, fmt.Errorf("%w: bad key id", ErrNotSealed)
		}
		return nil, &UnknownKeyError{ID: string(id)}
	}
	nonce := unit[2+n : 2+n+nonceSize]
	out, err := aead.Open(dst, nonce, unit[2+n+nonceSize:], aad)
	if err != nil {
		return nil, &DecryptError{ID: string(id)}
	}
	return out, nil
}

// KeyOf returns the key id a sealed unit names, or "" when unit is not one.
func KeyOf(unit []byte) string {
	if len(unit) < 2 || unit[0] != unitMagic || len(unit) < 2+int(unit[1]) {
		return ""
	}
	return string(unit[2 : 2+int(unit[1])])
}

// Sealer seals units under its ring's current key. It is safe for
// concurrent use. See the package documentation for its nonces.
type Sealer struct {
	*Ring
	hi uint32 // the random first nonce, as a 96-bit number
	lo uint64
	n  atomic.Uint64 // nonces used
}

// NewSealer returns a Sealer of r whose first nonce is read from rand,
// which must be cryptographically random (crypto/rand.Reader): a nonce
// repeated under one key reveals the plaintexts and lets the key's units
// be forged.
func (r *Ring) NewSealer(rand io.Reader) (*Sealer, error) {
	var b [nonceSize]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return nil, fmt.Errorf("keyring: nonce: %w", err)
	}
	return &Sealer{Ring: r, hi: binary.BigEndian.Uint32(b[:4]), lo: binary.BigEndian.Uint64(b[4:])}, nil
}

// nonce writes the Sealer's next nonce to b.
func (s *Sealer) nonce(b []byte) {
	n := s.n.Add(1) - 1
	lo := s.lo + n
	hi := s.hi
	if lo < s.lo {
		hi++ // carry
	}
	binary.BigEndian.PutUint32(b, hi)
	binary.BigEndian.PutUint64(b[4:], lo)
}

// Seal appends to dst the unit sealing plaintext under the current key,
// bound to aad, and returns the extended slice. dst and plaintext may not
// overlap. The unit is Overhead(Current()) bytes longer than plaintext.
func (s *Sealer) Seal(dst, plaintext, aad []byte) []byte {
	return s.seal(s.current, dst, plaintext, aad)
}

func (s *Sealer) seal(id string, dst, plaintext, aad []byte) []byte {
	dst = slices.Grow(dst, Overhead(id)+len(plaintext))
	dst = append(dst, unitMagic, byte(len(id)))
	dst = append(dst, id...)
	n := len(dst)
	dst = dst[:n+nonceSize]
	s.nonce(dst[n:])
	return s.keys[id].Seal(dst, dst[n:], plaintext, aad)
}

// checkText is what a check value seals.
const checkText = "trail keyring check value"

// CheckValue returns a value that VerifyCheck accepts only with the same
// key bytes under id: a store keeps it beside data encrypted with id so
// that a wrong key is reported as such, not as damaged data. It returns an
// *UnknownKeyError when the ring lacks id.
func (s *Sealer) CheckValue(id string) ([]byte, error) {
	if !s.Has(id) {
		return nil, &UnknownKeyError{ID: id}
	}
	return s.seal(id, nil, []byte(checkText), []byte("keyring check "+id)), nil
}

// VerifyCheck checks a value made by CheckValue for key id against the
// ring's key of that id. It returns nil when they match, an
// *UnknownKeyError when the ring lacks id, a *WrongKeyError when the
// ring's key differs, and another error when check is malformed.
func (r *Ring) VerifyCheck(id string, check []byte) error {
	if !r.Has(id) {
		return &UnknownKeyError{ID: id}
	}
	if KeyOf(check) != id {
		return fmt.Errorf("keyring: check value of key %s is malformed", id)
	}
	text, err := r.Open(nil, check, []byte("keyring check "+id))
	var de *DecryptError
	switch {
	case errors.As(err, &de):
		return &WrongKeyError{ID: id}
	case err != nil:
		return fmt.Errorf("keyring: check value of key %s: %w", id, err)
	case string(text) != checkText:
		return fmt.Errorf("keyring: check value of key %s is malformed", id)
	}
	return nil
}
