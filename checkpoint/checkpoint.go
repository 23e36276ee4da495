package checkpoint

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// Errors returned, wrapped, by [Open] and [ParseBody]; test with errors.Is.
var (
	// ErrMalformed means the signed note or the checkpoint body in it is
	// not well formed.
	ErrMalformed = errors.New("malformed checkpoint")
	// ErrUnknownKey means the note is well formed but carries no signature
	// by the verifier's key (it is signed by another key, or by a key with
	// the same name but a different key hash).
	ErrUnknownKey = errors.New("checkpoint not signed by the expected key")
	// ErrSignature means the note carries a signature claiming to be by the
	// verifier's key, and that signature does not verify: the body or the
	// signature was altered.
	ErrSignature = errors.New("invalid checkpoint signature")
)

// Checkpoint is the signed statement that the log Origin had Size leaves with
// Merkle root Root (RFC 6962 Merkle Tree Hash).
type Checkpoint struct {
	Origin string   // unique log identity, e.g. "trail.example.com/acme"
	Size   int64    // number of leaves, ≥ 0
	Root   [32]byte // root hash of the tree of Size leaves
}

// Body returns the checkpoint's note body:
//
//	<origin>\n<size in decimal>\n<root in standard base64>\n
//
// Body does not validate c; [Sign] does.
func (c Checkpoint) Body() []byte {
	b := make([]byte, 0, len(c.Origin)+1+20+1+44+1)
	b = append(b, c.Origin...)
	b = append(b, '\n')
	b = strconv.AppendInt(b, c.Size, 10)
	b = append(b, '\n')
	b = base64.StdEncoding.AppendEncode(b, c.Root[:])
	return append(b, '\n')
}

// validate reports whether c can be written as a body that ParseBody accepts.
func (c Checkpoint) validate() error {
	if err := checkOrigin(c.Origin); err != nil {
		return err
	}
	if c.Size < 0 {
		return fmt.Errorf("size %d: must not be negative", c.Size)
	}
	return nil
}

func checkOrigin(origin string) error {
	if origin == "" {
		return errors.New("origin: empty")
	}
	for i, r := range origin {
		if r == utf8.RuneError || r < 0x20 || r == 0x7f {
			return fmt.Errorf("origin: invalid character at byte %d", i)
		}
	}
	return nil
}

// Sign returns the signed note of c, signed by s: c.Body(), a blank line and
// s's signature line. It returns an error if c.Origin is empty or holds a
// control character or invalid UTF-8, if c.Size is negative, or if s fails.
func Sign(c Checkpoint, s note.Signer) ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	msg, err := note.Sign(&note.Note{Text: string(c.Body())}, s)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	return msg, nil
}

// ParseBody parses a checkpoint body (the note text, without signatures). It
// is strict: line 1, the origin, must be non-empty valid UTF-8 without
// control characters; line 2, the size, must be decimal digits without a sign
// or leading zeros ("0" itself is fine) that fit an int64; line 3, the root,
// must be the canonical standard base64 (with padding) of 32 bytes. More
// non-empty lines may follow and are ignored (C2SP extension lines). Every
// line, the last included, must end in "\n". Errors wrap [ErrMalformed] and
// name the line.
func ParseBody(body []byte) (Checkpoint, error) {
	var c Checkpoint
	if len(body) == 0 || body[len(body)-1] != '\n' {
		return c, fmt.Errorf("%w: body does not end with a newline", ErrMalformed)
	}
	lines := bytes.Split(body[:len(body)-1], []byte("\n"))
	if len(lines) < 3 {
		return c, fmt.Errorf("%w: %d lines, want at least 3 (origin, size, root)", ErrMalformed, len(lines))
	}
	if err := checkOrigin(string(lines[0])); err != nil {
		return c, fmt.Errorf("%w: line 1: %v", ErrMalformed, err)
	}
	c.Origin = string(lines[0])

	size := lines[1]
	if len(size) == 0 || len(size) > 1 && size[0] == '0' {
		return c, fmt.Errorf("%w: line 2: size %q: want a decimal number without leading zeros", ErrMalformed, size)
	}
	for _, b := range size {
		if b < '0' || b > '9' {
			return c, fmt.Errorf("%w: line 2: size %q: want a decimal number without leading zeros", ErrMalformed, size)
		}
	}
	n, err := strconv.ParseInt(string(size), 10, 64)
	if err != nil {
		return c, fmt.Errorf("%w: line 2: size %q: out of range", ErrMalformed, size)
	}
	c.Size = n

	root := lines[2]
	if base64.StdEncoding.EncodedLen(len(c.Root)) != len(root) {
		return c, fmt.Errorf("%w: line 3: root hash: %d characters, want 44 (32 bytes, base64)", ErrMalformed, len(root))
	}
	var buf [33]byte // DecodedLen(44): Decode needs room for unpadded input
	m, err := base64.StdEncoding.Strict().Decode(buf[:], root)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: line 3: root hash: %v", ErrMalformed, err)
	}
	if m != len(c.Root) {
		return Checkpoint{}, fmt.Errorf("%w: line 3: root hash: %d bytes, want 32", ErrMalformed, m)
	}
	copy(c.Root[:], buf[:m])

	for i, ext := range lines[3:] {
		if len(ext) == 0 {
			return Checkpoint{}, fmt.Errorf("%w: line %d: empty extension line", ErrMalformed, i+4)
		}
	}
	return c, nil
}

// Open verifies that msg is a signed note with a valid signature by v, and
// parses its body with [ParseBody]. Signatures by other keys are ignored.
// Errors wrap exactly one of [ErrMalformed] (not a note, or a bad body),
// [ErrUnknownKey] (no signature by v's key) or [ErrSignature] (a signature by
// v's key that does not verify).
//
// Open does not check the origin; callers compare it with the log they expect.
func Open(msg []byte, v note.Verifier) (Checkpoint, error) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			return Checkpoint{}, fmt.Errorf("open checkpoint: %w: want a signature by %s+%08x", ErrUnknownKey, v.Name(), v.KeyHash())
		case errors.As(err, &invalid):
			return Checkpoint{}, fmt.Errorf("open checkpoint: %w: %v", ErrSignature, err)
		default:
			return Checkpoint{}, fmt.Errorf("open checkpoint: %w: %v", ErrMalformed, err)
		}
	}
	c, err := ParseBody([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("open checkpoint: %w", err)
	}
	return c, nil
}
