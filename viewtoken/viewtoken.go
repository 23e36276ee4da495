// Package viewtoken mints and checks viewer tokens: short-lived, stateless
// bearer tokens that let a customer's application embed a read-only view of
// one tenant's events, optionally bounded by a fixed filter (DESIGN.md §6,
// /v1/viewer-tokens; docs/embedding.md).
//
// # Model
//
// A token carries everything needed to check it: the tenant, the filter (in
// the query language of package query, kept as text), when it was issued,
// when it expires, and a random id that names it in the audit log. The
// payload is authenticated with HMAC-SHA256 under a key derived from a
// server secret, so every node that shares the secret accepts the tokens of
// every other node and nothing is stored. The flip side: a token cannot be
// revoked on its own. It lapses at ExpiresAt (keep TTLs short), and
// changing the secret revokes every token at once.
//
// # Wire format
//
//	"vt_" base64url-nopad( payload ‖ HMAC-SHA256(key, payload) )
//
//	payload (version 1), integers big-endian:
//	  1 byte   version = 1
//	  8 bytes  issued at, Unix seconds
//	  8 bytes  expires at, Unix seconds (after issued at)
//	  16 bytes random id
//	  1 byte   tenant length n (1..63), then n bytes of tenant name
//	  2 bytes  filter length m (0..MaxFilter), then m bytes of UTF-8 filter
//
// key = HMAC-SHA256(secret, "trail/viewer-token/v1"). The MAC is checked,
// in constant time, before any field is read.
package viewtoken

import (
	"crypto/hmac"
	cryptorand "crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	trail "github.com/trail-audit/trail"
)

// Prefix starts every viewer token; API keys start with "trl_".
const Prefix = "vt_"

// Limits and defaults.
const (
	DefaultTTL    = 15 * time.Minute // the lifetime of a token when none is asked for
	DefaultMaxTTL = 24 * time.Hour   // the longest lifetime unless Config.MaxTTL says otherwise
	MaxFilter     = 4096             // bytes of filter text (the query language's own limit)
	MinSecret     = 16               // bytes of Config.Secret

	version    = 1
	idBytes    = 16
	macBytes   = sha256.Size
	headerLen  = 1 + 8 + 8 + idBytes
	minPayload = headerLen + 1 + 1 + 2 // a one-character tenant, no filter
	maxPayload = headerLen + 1 + 63 + 2 + MaxFilter
	// MaxLength is the longest string Verify reads; longer ones are
	// refused before decoding.
	MaxLength = len(Prefix) + ((maxPayload+macBytes)*4+2)/3
)

// Token is the content of a viewer token.
type Token struct {
	ID        string    // 32 lowercase hex digits, random; names the token in logs, is not secret
	Tenant    string    // the one tenant the token reads
	Filter    string    // query-language filter ANDed with every read; "" = the whole tenant
	IssuedAt  time.Time // UTC, whole seconds
	ExpiresAt time.Time // UTC, whole seconds; the token is refused from this instant on
}

// Config configures a Minter.
type Config struct {
	// Secret keys the MAC. It must be random, at least MinSecret bytes,
	// and the same on every node; changing it revokes every token.
	Secret []byte
	// MaxTTL bounds a token's lifetime, at minting and when checked; zero
	// means DefaultMaxTTL.
	MaxTTL time.Duration
	Now    func() time.Time // nil: time.Now
	Rand   io.Reader        // the token ids; nil: crypto/rand.Reader
}

// Minter mints and verifies viewer tokens. It is safe for concurrent use
// when Config.Rand is.
type Minter struct {
	key    []byte
	maxTTL time.Duration
	now    func() time.Time
	rand   io.Reader
}

// New returns a Minter. It fails when the secret is shorter than MinSecret
// or MaxTTL is negative.
func New(cfg Config) (*Minter, error) {
	if len(cfg.Secret) < MinSecret {
		return nil, fmt.Errorf("viewtoken: the secret must be at least %d bytes", MinSecret)
	}
	if cfg.MaxTTL < 0 {
		return nil, fmt.Errorf("viewtoken: MaxTTL must not be negative")
	}
	m := &Minter{key: DeriveKey(cfg.Secret), maxTTL: cfg.MaxTTL, now: cfg.Now, rand: cfg.Rand}
	if m.maxTTL == 0 {
		m.maxTTL = DefaultMaxTTL
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.rand == nil {
		m.rand = cryptorand.Reader
	}
	return m, nil
}

// MaxTTL returns the longest lifetime m mints or accepts.
func (m *Minter) MaxTTL() time.Duration { return m.maxTTL }

// DeriveKey returns the MAC key of secret.
func DeriveKey(secret []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte("trail/viewer-token/v1"))
	return h.Sum(nil)
}

// Mint returns a new token for tenant and filter that expires ttl from now
// (DefaultTTL when ttl is zero), and its content. It does not parse the
// filter: the caller checks it with package query first. Errors are
// EINVALID *trail.Error values naming the field: "tenant" (not a tenant
// name, or the reserved _system), "filter" (longer than MaxFilter bytes or
// not UTF-8) or "ttl" (negative, under a second, or over MaxTTL).
func (m *Minter) Mint(tenant, filter string, ttl time.Duration) (string, Token, error) {
	if err := trail.ValidateTenantName(tenant); err != nil || tenant == trail.SystemTenant {
		return "", Token{}, trail.FieldError("tenant", "must be a tenant name matching [a-z0-9][a-z0-9_-]{0,62}")
	}
	if len(filter) > MaxFilter || !utf8.ValidString(filter) {
		return "", Token{}, trail.FieldError("filter", "must be UTF-8 text of at most %d bytes", MaxFilter)
	}
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl < time.Second || ttl > m.maxTTL {
		return "", Token{}, trail.FieldError("ttl", "must be between 1s and %s", m.maxTTL)
	}
	var id [idBytes]byte
	if _, err := io.ReadFull(m.rand, id[:]); err != nil {
		return "", Token{}, fmt.Errorf("viewtoken: random id: %w", err)
	}
	now := m.now().UTC().Truncate(time.Second)
	t := Token{ID: hex.EncodeToString(id[:]), Tenant: tenant, Filter: filter, IssuedAt: now, ExpiresAt: now.Add(ttl.Truncate(time.Second))}
	return encode(m.key, t, id), t, nil
}

// encode returns the token string of t with the random id bytes id, MAC'd
// under key. t.ID is ignored; t's fields must be within the limits Mint
// checks.
func encode(key []byte, t Token, id [idBytes]byte) string {
	b := make([]byte, 0, headerLen+1+len(t.Tenant)+2+len(t.Filter)+macBytes)
	b = append(b, version)
	b = binary.BigEndian.AppendUint64(b, uint64(t.IssuedAt.Unix()))
	b = binary.BigEndian.AppendUint64(b, uint64(t.ExpiresAt.Unix()))
	b = append(b, id[:]...)
	b = append(b, byte(len(t.Tenant)))
	b = append(b, t.Tenant...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(t.Filter)))
	b = append(b, t.Filter...)
	mac := hmac.New(sha256.New, key)
	mac.Write(b)
	b = mac.Sum(b)
	return Prefix + base64.RawURLEncoding.EncodeToString(b)
}

// errInvalid is the one answer to every malformed, forged or tampered
// token: it says nothing about which check failed.
func errInvalid() error { return trail.Errorf(trail.EUNAUTHENTICATED, "invalid viewer token") }

// Decode checks s's MAC under key and returns its content. It does not
// look at the clock. Every failure is the same EUNAUTHENTICATED
// *trail.Error "invalid viewer token".
func Decode(key []byte, s string) (Token, error) {
	body, ok := strings.CutPrefix(s, Prefix)
	if !ok || len(s) > MaxLength || !isBase64URL(body) {
		return Token{}, errInvalid()
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(body)
	if err != nil || len(b) < minPayload+macBytes || len(b) > maxPayload+macBytes {
		return Token{}, errInvalid()
	}
	payload, sum := b[:len(b)-macBytes], b[len(b)-macBytes:]
	mac := hmac.New(sha256.New, key)
	mac.Write(payload)
	if !hmac.Equal(mac.Sum(nil), sum) {
		return Token{}, errInvalid()
	}
	return parsePayload(payload)
}

// isBase64URL reports whether s is made of base64url characters only (the
// decoder would skip CR and LF, giving one token several spellings).
func isBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// parsePayload reads an authenticated payload; a payload that does not
// follow the format exactly (a version from the future, a bad length, a
// trailing byte) is refused even though its MAC matched.
func parsePayload(p []byte) (Token, error) {
	if len(p) < minPayload || p[0] != version {
		return Token{}, errInvalid()
	}
	issued := int64(binary.BigEndian.Uint64(p[1:9]))
	expires := int64(binary.BigEndian.Uint64(p[9:17]))
	id := hex.EncodeToString(p[17:headerLen])
	rest := p[headerLen:]
	n := int(rest[0])
	if n < 1 || n > 63 || len(rest) < 1+n+2 {
		return Token{}, errInvalid()
	}
	tenant := string(rest[1 : 1+n])
	rest = rest[1+n:]
	m := int(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	if m > MaxFilter || len(rest) != m {
		return Token{}, errInvalid()
	}
	filter := string(rest)
	const maxUnix = 1 << 40 // far beyond any real expiry; keeps time arithmetic exact
	if issued < 0 || expires <= issued || expires > maxUnix || trail.ValidateTenantName(tenant) != nil ||
		tenant == trail.SystemTenant || !utf8.ValidString(filter) {
		return Token{}, errInvalid()
	}
	return Token{ID: id, Tenant: tenant, Filter: filter, IssuedAt: time.Unix(issued, 0).UTC(), ExpiresAt: time.Unix(expires, 0).UTC()}, nil
}

// Verify returns the content of token s when its MAC is right, it has not
// expired and its lifetime is within MaxTTL (which refuses tokens minted
// under a longer maximum once the maximum is lowered). Failures are
// EUNAUTHENTICATED *trail.Error values: "invalid viewer token" or "viewer
// token expired". The filter is returned as text, unparsed.
func (m *Minter) Verify(s string) (Token, error) {
	t, err := Decode(m.key, s)
	if err != nil {
		return Token{}, err
	}
	if t.ExpiresAt.Sub(t.IssuedAt) > m.maxTTL {
		return Token{}, errInvalid()
	}
	if !m.now().Before(t.ExpiresAt) {
		return Token{}, trail.Errorf(trail.EUNAUTHENTICATED, "viewer token expired")
	}
	return t, nil
}
