package viewtoken

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
)

var (
	testSecret = bytes.Repeat([]byte{0x42}, 32)
	t0         = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
)

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

func newMinter(t testing.TB, c *clock, maxTTL time.Duration) *Minter {
	t.Helper()
	m, err := New(Config{Secret: testSecret, MaxTTL: maxTTL, Now: c.Now, Rand: bytes.NewReader(bytes.Repeat([]byte{1, 2, 3, 4}, 1<<12))})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMintVerify(t *testing.T) {
	c := &clock{t0}
	m := newMinter(t, c, 0)
	tests := []struct {
		name, tenant, filter string
		ttl, wantTTL         time.Duration
	}{
		{"default ttl", "acme", "actor:u_1", 0, DefaultTTL},
		{"no filter", "acme", "", time.Hour, time.Hour},
		{"maximum ttl", "globex", `action:user.* "quoted phrase" -outcome:failure`, 24 * time.Hour, 24 * time.Hour},
		{"unicode filter", "a", "text:\"café\"", time.Minute, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, tok, err := m.Mint(tt.tenant, tt.filter, tt.ttl)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(s, Prefix) {
				t.Errorf("token %q does not start with %q", s, Prefix)
			}
			if got := tok.ExpiresAt.Sub(tok.IssuedAt); got != tt.wantTTL {
				t.Errorf("lifetime %s, want %s", got, tt.wantTTL)
			}
			got, err := m.Verify(s)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got != tok {
				t.Errorf("Verify = %+v, want %+v", got, tok)
			}
			if len(got.ID) != 32 {
				t.Errorf("id %q, want 32 hex digits", got.ID)
			}
		})
	}
}

func TestMintRefuses(t *testing.T) {
	m := newMinter(t, &clock{t0}, time.Hour)
	tests := []struct {
		name, tenant, filter string
		ttl                  time.Duration
		field                string
	}{
		{"no tenant", "", "", 0, "tenant"},
		{"all tenants", "*", "", 0, "tenant"},
		{"system tenant", "_system", "", 0, "tenant"},
		{"upper case tenant", "Acme", "", 0, "tenant"},
		{"long filter", "acme", strings.Repeat("a", MaxFilter+1), 0, "filter"},
		{"bad utf-8 filter", "acme", "actor:\xff", 0, "filter"},
		{"negative ttl", "acme", "", -time.Minute, "ttl"},
		{"under a second", "acme", "", time.Millisecond, "ttl"},
		{"over the maximum", "acme", "", time.Hour + time.Second, "ttl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := m.Mint(tt.tenant, tt.filter, tt.ttl)
			var te *trail.Error
			if !asError(err, &te) || te.Code != trail.EINVALID || te.Field != tt.field {
				t.Errorf("Mint: %v, want an invalid error on %s", err, tt.field)
			}
		})
	}
}

func asError(err error, te **trail.Error) bool {
	e, ok := err.(*trail.Error)
	*te = e
	return ok
}

// TestVerifyRefuses: an expired, tampered, foreign or over-long-lived
// token is refused as unauthenticated.
func TestVerifyRefuses(t *testing.T) {
	c := &clock{t0}
	m := newMinter(t, c, 0)
	s, _, err := m.Mint("acme", "actor:u_1", 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(s, Prefix))
	flip := func(i int) string {
		b := bytes.Clone(raw)
		b[i] ^= 1
		return Prefix + base64.RawURLEncoding.EncodeToString(b)
	}
	other, err := New(Config{Secret: bytes.Repeat([]byte{0x43}, 32), Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	foreign, _, _ := other.Mint("acme", "actor:u_1", 15*time.Minute)
	long := newMinter(t, c, 48*time.Hour)
	longLived, _, _ := long.Mint("acme", "", 30*time.Hour)

	tests := []struct{ name, token, want string }{
		{"flipped version", flip(0), "invalid viewer token"},
		{"flipped expiry", flip(16), "invalid viewer token"},
		{"flipped tenant", flip(headerLen + 1), "invalid viewer token"},
		{"flipped filter", flip(len(raw) - macBytes - 1), "invalid viewer token"},
		{"flipped MAC", flip(len(raw) - 1), "invalid viewer token"},
		{"truncated", s[:len(s)-4], "invalid viewer token"},
		{"padding appended", s + "AA", "invalid viewer token"},
		{"other secret", foreign, "invalid viewer token"},
		{"lifetime over the maximum", longLived, "invalid viewer token"},
		{"API key", "trl_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "invalid viewer token"},
		{"prefix only", Prefix, "invalid viewer token"},
		{"not base64", Prefix + "!!!!", "invalid viewer token"},
		{"huge", Prefix + strings.Repeat("A", MaxLength), "invalid viewer token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := m.Verify(tt.token)
			if trail.ErrorCode(err) != trail.EUNAUTHENTICATED || trail.ErrorMessage(err) != tt.want {
				t.Errorf("Verify: %v, want unauthenticated %q", err, tt.want)
			}
		})
	}

	c.t = t0.Add(15*time.Minute - time.Second)
	if _, err := m.Verify(s); err != nil {
		t.Errorf("a second before expiry: %v", err)
	}
	c.t = t0.Add(15 * time.Minute)
	if _, err := m.Verify(s); trail.ErrorMessage(err) != "viewer token expired" {
		t.Errorf("at expiry: %v, want viewer token expired", err)
	}
}

// TestWireFormat pins the layout of version 1, so that tokens minted by
// one release are read by the next.
func TestWireFormat(t *testing.T) {
	id, _ := hex.DecodeString("000102030405060708090a0b0c0d0e0f")
	var idb [idBytes]byte
	copy(idb[:], id)
	key := DeriveKey(testSecret)
	s := encode(key, Token{Tenant: "acme", Filter: "actor:u_1", IssuedAt: t0, ExpiresAt: t0.Add(15 * time.Minute)}, idb)
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(s, Prefix))
	if err != nil {
		t.Fatal(err)
	}
	payload := raw[:len(raw)-macBytes]
	want := "01" + "000000006b02bd20" + "000000006b02c0a4" + "000102030405060708090a0b0c0d0e0f" +
		"04" + hex.EncodeToString([]byte("acme")) + "0009" + hex.EncodeToString([]byte("actor:u_1"))
	if got := hex.EncodeToString(payload); got != want {
		t.Errorf("payload\n got %s\nwant %s", got, want)
	}
	tok, err := Decode(key, s)
	if err != nil {
		t.Fatal(err)
	}
	if tok.ID != hex.EncodeToString(id) || tok.Tenant != "acme" || tok.Filter != "actor:u_1" || !tok.IssuedAt.Equal(t0) {
		t.Errorf("Decode = %+v", tok)
	}
}

func TestNewRefusesShortSecret(t *testing.T) {
	if _, err := New(Config{Secret: make([]byte, MinSecret-1)}); err == nil {
		t.Error("New accepted a 15-byte secret")
	}
	if _, err := New(Config{Secret: testSecret, MaxTTL: -time.Second}); err == nil {
		t.Error("New accepted a negative MaxTTL")
	}
}

// FuzzDecode: Decode never panics, and whatever it accepts is canonical:
// encoding the decoded content again gives back the same string, so no two
// strings carry one token.
func FuzzDecode(f *testing.F) {
	c := &clock{t0}
	m := newMinter(f, c, 0)
	for _, in := range []struct{ tenant, filter string }{{"acme", "actor:u_1"}, {"a", ""}, {"globex", `(action:a OR action:b) -ip:10.0.0.0/8`}} {
		s, _, err := m.Mint(in.tenant, in.filter, time.Hour)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(s)
		f.Add(s[:len(s)-1])
	}
	f.Add("")
	f.Add(Prefix)
	f.Add(Prefix + "AAAA")
	f.Add("trl_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	key := DeriveKey(testSecret)
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := Decode(key, s)
		if err != nil {
			if trail.ErrorCode(err) != trail.EUNAUTHENTICATED {
				t.Fatalf("Decode(%q): error %v is not unauthenticated", s, err)
			}
			return
		}
		id, err := hex.DecodeString(tok.ID)
		if err != nil || len(id) != idBytes {
			t.Fatalf("Decode(%q): id %q", s, tok.ID)
		}
		var idb [idBytes]byte
		copy(idb[:], id)
		if again := encode(key, tok, idb); again != s {
			t.Fatalf("Decode(%q) = %+v, which encodes as %q", s, tok, again)
		}
		// The payload of a valid token may also be wrapped under any MAC
		// key: parsePayload alone must agree.
		if _, err := parsePayload(mustPayload(t, s)); err != nil {
			t.Fatalf("parsePayload refused what Decode accepted: %v", err)
		}
	})
}

func mustPayload(t *testing.T, s string) []byte {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(s, Prefix))
	if err != nil {
		t.Fatal(err)
	}
	return raw[:len(raw)-macBytes]
}

// FuzzParsePayload reaches the field parser without having to forge a MAC.
func FuzzParsePayload(f *testing.F) {
	id := [idBytes]byte{}
	key := DeriveKey(testSecret)
	for _, filter := range []string{"", "actor:u_1"} {
		s := encode(key, Token{Tenant: "acme", Filter: filter, IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}, id)
		raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(s, Prefix))
		f.Add(raw[:len(raw)-macBytes])
	}
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, p []byte) {
		tok, err := parsePayload(p)
		if err != nil {
			return
		}
		var idb [idBytes]byte
		hex.Decode(idb[:], []byte(tok.ID))
		s := encode(key, tok, idb)
		if got := mustPayload(t, s); !bytes.Equal(got, p) {
			t.Fatalf("parsePayload(%x) = %+v, which encodes as %x", p, tok, got)
		}
		if !tok.ExpiresAt.After(tok.IssuedAt) || trail.ValidateTenantName(tok.Tenant) != nil {
			t.Fatalf("parsePayload accepted %+v", tok)
		}
	})
}

func BenchmarkMint(b *testing.B) {
	m := newMinter(b, &clock{t0}, 0)
	m.rand = zeroReader{}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := m.Mint("acme", "actor:u_1", time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	m := newMinter(b, &clock{t0}, 0)
	s, _, err := m.Mint("acme", "actor:u_1", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Verify(s); err != nil {
			b.Fatal(err)
		}
	}
}

// zeroReader is an endless source of zero bytes.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
