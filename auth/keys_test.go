package auth

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
)

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// countingStore counts the saves to a FileStore and can be made to fail.
type countingStore struct {
	Store
	saves atomic.Int64
	fail  atomic.Bool
}

func (s *countingStore) Save(ctx context.Context, keys []Key) error {
	if s.fail.Load() {
		return errors.New("disk on fire")
	}
	s.saves.Add(1)
	return s.Store.Save(ctx, keys)
}

type fixture struct {
	keys  *Keys
	clock *clock
	store *countingStore
	path  string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keys.json")
	f := &fixture{clock: newClock(), store: &countingStore{Store: NewFileStore(path)}, path: path}
	f.keys = f.reopen(t)
	return f
}

// reopen returns a new Keys over the same file.
func (f *fixture) reopen(t *testing.T) *Keys {
	t.Helper()
	k, err := NewKeys(t.Context(), f.store, f.clock.Now, rand.Reader)
	if err != nil {
		t.Fatalf("NewKeys: %v", err)
	}
	return k
}

func (f *fixture) create(t *testing.T, role Role, tenant string) (Key, string) {
	t.Helper()
	key, token, err := f.keys.Create(t.Context(), "test "+string(role), role, tenant, nil)
	if err != nil {
		t.Fatalf("Create(%s, %s): %v", role, tenant, err)
	}
	return key, token
}

// wantCode fails unless err is a *trail.Error with code whose message
// contains msg.
func wantCode(t *testing.T, err error, code, msg string) {
	t.Helper()
	var e *trail.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v, want a *trail.Error with code %s", err, code)
	}
	if e.Code != code || !strings.Contains(e.Message, msg) {
		t.Fatalf("error = %s %q, want %s containing %q", e.Code, e.Message, code, msg)
	}
}

var tokenRE = regexp.MustCompile(`^trl_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$`)

func TestCreateAuthenticate(t *testing.T) {
	f := newFixture(t)
	key, token := f.create(t, Viewer, "acme")

	m := tokenRE.FindStringSubmatch(token)
	if m == nil {
		t.Fatalf("token %q does not match %s", token, tokenRE)
	}
	if m[1] != key.ID {
		t.Errorf("token id %s, Key.ID %s", m[1], key.ID)
	}
	if id, ok := TokenID(token); !ok || id != key.ID {
		t.Errorf("TokenID = %q, %v; want %q, true", id, ok, key.ID)
	}
	if key.Hash != HashToken(token) {
		t.Errorf("Key.Hash is not the SHA-256 of the token")
	}
	if !key.CreatedAt.Equal(f.clock.Now()) || key.LastUsedAt != nil || key.RevokedAt != nil {
		t.Errorf("new key = %+v", key)
	}

	p, err := f.keys.Authenticate(t.Context(), token)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	want := Principal{KeyID: key.ID, Name: "test viewer", Role: Viewer, Tenant: "acme"}
	if p != want {
		t.Errorf("Principal = %+v, want %+v", p, want)
	}
	got, err := f.keys.Get(t.Context(), key.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(f.clock.Now()) {
		t.Errorf("LastUsedAt = %v, want %v", got.LastUsedAt, f.clock.Now())
	}
}

func TestKeyJSONHasNoSecrets(t *testing.T) {
	f := newFixture(t)
	key, _ := f.create(t, Writer, "acme")
	key, _, err := f.keys.Rotate(t.Context(), key.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(key)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{key.Hash, key.PrevHash, "hash", "prev"} {
		if strings.Contains(string(b), s) {
			t.Errorf("JSON %s contains %q", b, s)
		}
	}
}

func TestCreateValidation(t *testing.T) {
	f := newFixture(t)
	past := f.clock.Now().Add(-time.Second)
	now := f.clock.Now()
	tests := []struct {
		name      string
		keyName   string
		role      Role
		tenant    string
		expiresAt *time.Time
		wantField string // "" = valid
	}{
		{"valid", "ci", Writer, "acme", nil, ""},
		{"empty name", "", Writer, "acme", nil, "name"},
		{"blank name", "   ", Writer, "acme", nil, "name"},
		{"100 characters", strings.Repeat("é", 100), Writer, "acme", nil, ""},
		{"101 characters", strings.Repeat("é", 101), Writer, "acme", nil, "name"},
		{"control character", "ci\x00", Writer, "acme", nil, "name"},
		{"invalid UTF-8", "ci\xff", Writer, "acme", nil, "name"},
		{"unknown role", "ci", "root", "acme", nil, "role"},
		{"empty role", "ci", "", "acme", nil, "role"},
		{"empty tenant", "ci", Writer, "", nil, "tenant"},
		{"bad tenant", "ci", Writer, "Acme!", nil, "tenant"},
		{"system tenant", "ci", Auditor, trail.SystemTenant, nil, "tenant"},
		{"operator scoped", "ops", Operator, "acme", nil, "tenant"},
		{"operator all tenants", "ops", Operator, AllTenants, nil, ""},
		{"admin all tenants", "adm", Admin, AllTenants, nil, "tenant"},
		{"admin one tenant", "adm", Admin, "acme", nil, ""},
		{"writer all tenants", "ci", Writer, AllTenants, nil, ""},
		{"viewer all tenants", "ro", Viewer, AllTenants, nil, ""},
		{"auditor all tenants", "audit", Auditor, AllTenants, nil, ""},
		{"expires in the past", "ci", Writer, "acme", &past, "expires_at"},
		{"expires now", "ci", Writer, "acme", &now, "expires_at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, token, err := f.keys.Create(t.Context(), tt.keyName, tt.role, tt.tenant, tt.expiresAt)
			if tt.wantField == "" {
				if err != nil || token == "" {
					t.Fatalf("Create = %q, %v; want a token", token, err)
				}
				return
			}
			var e *trail.Error
			if !errors.As(err, &e) || e.Code != trail.EINVALID || e.Field != tt.wantField {
				t.Fatalf("Create error = %v, want EINVALID on field %s", err, tt.wantField)
			}
			if token != "" {
				t.Errorf("a failed Create returned a token")
			}
		})
	}
}

func TestCreateTrimsName(t *testing.T) {
	f := newFixture(t)
	key, _, err := f.keys.Create(t.Context(), "  ci  ", Writer, "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	if key.Name != "ci" {
		t.Errorf("Name = %q, want ci", key.Name)
	}
}

func TestAuthenticateUnknown(t *testing.T) {
	f := newFixture(t)
	key, token := f.create(t, Viewer, "acme")
	tests := []struct {
		name, token, wantMsg string
	}{
		{"empty", "", "missing API key"},
		{"garbage", "hello", "invalid API key"},
		{"same id, other secret", "trl_" + key.ID + "_" + strings.Repeat("A", 43), "invalid API key"},
		{"token with a suffix", token + "x", "invalid API key"},
		{"token with a space", " " + token, "invalid API key"},
		{"huge", strings.Repeat("x", 1<<20), "invalid API key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := f.keys.Authenticate(t.Context(), tt.token)
			wantCode(t, err, trail.EUNAUTHENTICATED, tt.wantMsg)
			if p != (Principal{}) {
				t.Errorf("Principal = %+v on failure", p)
			}
			if strings.Contains(err.Error(), key.ID) {
				t.Errorf("error %q names a key", err)
			}
		})
	}
}

func TestRevoke(t *testing.T) {
	f := newFixture(t)
	key, token := f.create(t, Writer, "acme")
	other, otherToken := f.create(t, Writer, "acme")

	revoked, err := f.keys.Revoke(t.Context(), key.ID)
	if err != nil {
		t.Fatal(err)
	}
	if revoked.RevokedAt == nil || !revoked.RevokedAt.Equal(f.clock.Now()) {
		t.Errorf("RevokedAt = %v, want %v", revoked.RevokedAt, f.clock.Now())
	}
	_, err = f.keys.Authenticate(t.Context(), token)
	wantCode(t, err, trail.EUNAUTHENTICATED, "API key revoked")
	if _, err := f.keys.Authenticate(t.Context(), otherToken); err != nil {
		t.Errorf("revoking %s broke %s: %v", key.ID, other.ID, err)
	}

	f.clock.Advance(time.Hour)
	again, err := f.keys.Revoke(t.Context(), key.ID)
	if err != nil || !again.RevokedAt.Equal(*revoked.RevokedAt) {
		t.Errorf("second Revoke = %v, %v; want the first revocation time kept", again.RevokedAt, err)
	}
	_, err = f.keys.Revoke(t.Context(), "0000000000000000")
	wantCode(t, err, trail.ENOTFOUND, "not found")
	_, err = f.keys.Get(t.Context(), "0000000000000000")
	wantCode(t, err, trail.ENOTFOUND, "not found")
	_, _, err = f.keys.Rotate(t.Context(), key.ID, 0)
	wantCode(t, err, trail.ECONFLICT, "revoked")
}

func TestExpiry(t *testing.T) {
	f := newFixture(t)
	exp := f.clock.Now().Add(time.Hour)
	key, token, err := f.keys.Create(t.Context(), "temp", Viewer, "acme", &exp)
	if err != nil {
		t.Fatal(err)
	}
	if key.ExpiresAt == nil || !key.ExpiresAt.Equal(exp) {
		t.Fatalf("ExpiresAt = %v, want %v", key.ExpiresAt, exp)
	}
	f.clock.Advance(time.Hour - time.Nanosecond)
	if _, err := f.keys.Authenticate(t.Context(), token); err != nil {
		t.Fatalf("just before expiry: %v", err)
	}
	f.clock.Advance(time.Nanosecond)
	_, err = f.keys.Authenticate(t.Context(), token)
	wantCode(t, err, trail.EUNAUTHENTICATED, "API key expired")
	_, _, err = f.keys.Rotate(t.Context(), key.ID, 0)
	wantCode(t, err, trail.ECONFLICT, "expired")
}

func TestRotate(t *testing.T) {
	f := newFixture(t)
	key, old := f.create(t, Admin, "acme")

	rotated, fresh, err := f.keys.Rotate(t.Context(), key.ID, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if fresh == old || rotated.ID != key.ID || !strings.HasPrefix(fresh, "trl_"+key.ID+"_") {
		t.Fatalf("Rotate = %+v, %q; want the same id and a new token", rotated, fresh)
	}
	if rotated.Name != key.Name || rotated.Role != key.Role || rotated.Tenant != key.Tenant || !rotated.CreatedAt.Equal(key.CreatedAt) {
		t.Errorf("Rotate changed the key: %+v, was %+v", rotated, key)
	}
	for _, tok := range []string{old, fresh} {
		if _, err := f.keys.Authenticate(t.Context(), tok); err != nil {
			t.Errorf("during grace: %v", err)
		}
	}
	f.clock.Advance(10*time.Minute - time.Nanosecond)
	if _, err := f.keys.Authenticate(t.Context(), old); err != nil {
		t.Errorf("old secret at the end of grace: %v", err)
	}
	f.clock.Advance(time.Nanosecond)
	_, err = f.keys.Authenticate(t.Context(), old)
	wantCode(t, err, trail.EUNAUTHENTICATED, "replaced by rotation")
	if _, err := f.keys.Authenticate(t.Context(), fresh); err != nil {
		t.Errorf("new secret after grace: %v", err)
	}

	// Grace 0 revokes the old secret at once.
	_, newest, err := f.keys.Rotate(t.Context(), key.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.keys.Authenticate(t.Context(), fresh)
	wantCode(t, err, trail.EUNAUTHENTICATED, "replaced by rotation")
	if _, err := f.keys.Authenticate(t.Context(), newest); err != nil {
		t.Errorf("newest secret: %v", err)
	}

	_, _, err = f.keys.Rotate(t.Context(), key.ID, -time.Second)
	var e *trail.Error
	if !errors.As(err, &e) || e.Code != trail.EINVALID || e.Field != "grace" {
		t.Errorf("negative grace: %v, want EINVALID on grace", err)
	}
	_, _, err = f.keys.Rotate(t.Context(), "0000000000000000", 0)
	wantCode(t, err, trail.ENOTFOUND, "not found")
}

func TestRotateTwiceDropsTheFirstSecret(t *testing.T) {
	f := newFixture(t)
	key, first := f.create(t, Writer, "acme")
	_, second, err := f.keys.Rotate(t.Context(), key.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, third, err := f.keys.Rotate(t.Context(), key.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.keys.Authenticate(t.Context(), first)
	wantCode(t, err, trail.EUNAUTHENTICATED, "invalid API key")
	for _, tok := range []string{second, third} {
		if _, err := f.keys.Authenticate(t.Context(), tok); err != nil {
			t.Errorf("Authenticate: %v", err)
		}
	}
}

func TestRevokeStopsRotatedSecret(t *testing.T) {
	f := newFixture(t)
	key, old := f.create(t, Writer, "acme")
	if _, _, err := f.keys.Rotate(t.Context(), key.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := f.keys.Revoke(t.Context(), key.ID); err != nil {
		t.Fatal(err)
	}
	_, err := f.keys.Authenticate(t.Context(), old)
	wantCode(t, err, trail.EUNAUTHENTICATED, "API key revoked")
}

func TestList(t *testing.T) {
	f := newFixture(t)
	var ids []string
	for _, tenant := range []string{"acme", "globex", "acme", AllTenants} {
		role := Viewer
		key, _ := f.create(t, role, tenant)
		ids = append(ids, key.ID)
		f.clock.Advance(time.Second)
	}
	tests := []struct {
		tenant string
		want   []string
	}{
		{"", ids},
		{AllTenants, ids},
		{"acme", []string{ids[0], ids[2]}},
		{"globex", []string{ids[1]}},
		{"initech", nil},
	}
	for _, tt := range tests {
		var got []string
		for _, k := range f.keys.List(t.Context(), tt.tenant) {
			got = append(got, k.ID)
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("List(%q) = %v, want %v", tt.tenant, got, tt.want)
		}
	}
}

func TestReturnedKeysAreCopies(t *testing.T) {
	f := newFixture(t)
	exp := f.clock.Now().Add(time.Hour)
	key, token, err := f.keys.Create(t.Context(), "ci", Writer, "acme", &exp)
	if err != nil {
		t.Fatal(err)
	}
	exp = exp.Add(-2 * time.Hour)                      // the caller's time
	*key.ExpiresAt = key.ExpiresAt.Add(-2 * time.Hour) // the returned key
	if _, err := f.keys.Authenticate(t.Context(), token); err != nil {
		t.Errorf("changing returned times changed the key: %v", err)
	}
}

func TestPersistence(t *testing.T) {
	f := newFixture(t)
	exp := f.clock.Now().Add(24 * time.Hour)
	writer, writerToken, err := f.keys.Create(t.Context(), "ci", Writer, "acme", &exp)
	if err != nil {
		t.Fatal(err)
	}
	revoked, revokedToken := f.create(t, Viewer, "acme")
	rotated, oldToken := f.create(t, Auditor, AllTenants)
	if _, err := f.keys.Revoke(t.Context(), revoked.ID); err != nil {
		t.Fatal(err)
	}
	_, newToken, err := f.keys.Rotate(t.Context(), rotated.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.keys.Authenticate(t.Context(), writerToken); err != nil {
		t.Fatal(err)
	}

	k := f.reopen(t)
	if got, want := len(k.List(t.Context(), "")), 3; got != want {
		t.Fatalf("reopened: %d keys, want %d", got, want)
	}
	got, err := k.Get(t.Context(), writer.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ExpiresAt == nil || !got.ExpiresAt.Equal(exp) || got.LastUsedAt == nil || !got.LastUsedAt.Equal(f.clock.Now()) {
		t.Errorf("reopened key = %+v, want expiry and last use kept", got)
	}
	for _, tok := range []string{writerToken, oldToken, newToken} {
		if _, err := k.Authenticate(t.Context(), tok); err != nil {
			t.Errorf("reopened: Authenticate: %v", err)
		}
	}
	_, err = k.Authenticate(t.Context(), revokedToken)
	wantCode(t, err, trail.EUNAUTHENTICATED, "revoked")
	f.clock.Advance(time.Hour)
	_, err = k.Authenticate(t.Context(), oldToken)
	wantCode(t, err, trail.EUNAUTHENTICATED, "replaced by rotation")

	data, err := os.ReadFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{writerToken, revokedToken, oldToken, newToken} {
		if strings.Contains(string(data), tok) {
			t.Errorf("key file contains a secret token")
		}
	}
	if !strings.Contains(string(data), HashToken(writerToken)) {
		t.Errorf("key file lacks the hash of a token")
	}
}

func TestFileMode(t *testing.T) {
	f := newFixture(t)
	f.create(t, Writer, "acme")
	fi, err := os.Stat(f.path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("key file mode %v, want 0600", got)
	}
	entries, err := os.ReadDir(filepath.Dir(f.path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d files, want only the key file (no temporaries)", len(entries))
	}
}

func TestLoadErrors(t *testing.T) {
	goodHash := HashToken("x")
	tests := []struct {
		name, content, want string
	}{
		{"not JSON", "{\"version\":1,\"keys\":[", "corrupt"},
		{"trailing garbage", `{"version":1,"keys":[]} x`, "corrupt"},
		{"wrong version", `{"version":9,"keys":[]}`, "unsupported version 9"},
		{"no version", `{"keys":[]}`, "unsupported version 0"},
		{"bad hash", `{"version":1,"keys":[{"id":"a","name":"n","role":"writer","tenant":"acme","hash":"zz"}]}`, "hash is not"},
		{"bad role", `{"version":1,"keys":[{"id":"a","name":"n","role":"root","tenant":"acme","hash":"` + goodHash + `"}]}`, "unknown role"},
		{"duplicate id", `{"version":1,"keys":[{"id":"a","name":"n","role":"writer","tenant":"acme","hash":"` + goodHash + `"},` +
			`{"id":"a","name":"n","role":"writer","tenant":"acme","hash":"` + HashToken("y") + `"}]}`, "duplicate key id"},
		{"shared secret", `{"version":1,"keys":[{"id":"a","name":"n","role":"writer","tenant":"acme","hash":"` + goodHash + `"},` +
			`{"id":"b","name":"n","role":"writer","tenant":"acme","hash":"` + goodHash + `"}]}`, "shares a secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keys.json")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := NewKeys(t.Context(), NewFileStore(path), newClock().Now, rand.Reader)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewKeys error = %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(tt.want, "corrupt") && !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestMissingFileIsEmpty(t *testing.T) {
	k, err := NewKeys(t.Context(), NewFileStore(filepath.Join(t.TempDir(), "sub", "keys.json")), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !k.Empty() {
		t.Error("Empty() = false for a missing file")
	}
	if _, _, err := k.Create(t.Context(), "ci", Writer, "acme", nil); err != nil {
		t.Fatalf("Create in a missing directory: %v", err)
	}
	if k.Empty() {
		t.Error("Empty() = true after Create")
	}
}

func TestStoreFailureChangesNothing(t *testing.T) {
	f := newFixture(t)
	key, token := f.create(t, Writer, "acme")
	f.store.fail.Store(true)

	if _, tok, err := f.keys.Create(t.Context(), "ci", Writer, "acme", nil); err == nil || tok != "" {
		t.Errorf("Create with a failing store = %q, %v", tok, err)
	}
	if _, err := f.keys.Revoke(t.Context(), key.ID); err == nil {
		t.Error("Revoke with a failing store succeeded")
	}
	if _, tok, err := f.keys.Rotate(t.Context(), key.ID, 0); err == nil || tok != "" {
		t.Errorf("Rotate with a failing store = %q, %v", tok, err)
	}
	if n := len(f.keys.List(t.Context(), "")); n != 1 {
		t.Errorf("%d keys, want 1", n)
	}
	if _, err := f.keys.Authenticate(t.Context(), token); err != nil {
		t.Errorf("the key changed although the store failed: %v", err)
	}
}

func TestLastUsedPersistedOncePerMinute(t *testing.T) {
	f := newFixture(t)
	key, token := f.create(t, Writer, "acme")
	base := f.store.saves.Load()
	auth := func() {
		t.Helper()
		if _, err := f.keys.Authenticate(t.Context(), token); err != nil {
			t.Fatal(err)
		}
	}
	auth() // first use: written
	for range 10 {
		f.clock.Advance(5 * time.Second)
		auth()
	}
	if got := f.store.saves.Load() - base; got != 1 {
		t.Errorf("%d saves within a minute, want 1", got)
	}
	got, _ := f.keys.Get(t.Context(), key.ID)
	if !got.LastUsedAt.Equal(f.clock.Now()) {
		t.Errorf("LastUsedAt in memory = %v, want %v", got.LastUsedAt, f.clock.Now())
	}
	f.clock.Advance(10 * time.Second) // a minute after the first write
	auth()
	if got := f.store.saves.Load() - base; got != 2 {
		t.Errorf("%d saves after a minute, want 2", got)
	}
	if got, _ := f.reopen(t).Get(t.Context(), key.ID); !got.LastUsedAt.Equal(f.clock.Now()) {
		t.Errorf("persisted LastUsedAt = %v, want %v", got.LastUsedAt, f.clock.Now())
	}

	// A failing write does not fail authentication.
	f.store.fail.Store(true)
	f.clock.Advance(2 * time.Minute)
	auth()
}

func TestBootstrap(t *testing.T) {
	t.Run("random", func(t *testing.T) {
		f := newFixture(t)
		if !f.keys.Empty() {
			t.Fatal("new Keys not empty")
		}
		token, err := f.keys.Bootstrap(t.Context(), "")
		if err != nil {
			t.Fatal(err)
		}
		if !tokenRE.MatchString(token) {
			t.Errorf("bootstrap token %q has the wrong format", token)
		}
		p, err := f.keys.Authenticate(t.Context(), token)
		if err != nil {
			t.Fatal(err)
		}
		if p.Role != Operator || p.Tenant != AllTenants {
			t.Errorf("bootstrap principal = %+v, want an all-tenant operator", p)
		}
		again, err := f.keys.Bootstrap(t.Context(), "")
		if err != nil || again != "" {
			t.Errorf("second Bootstrap = %q, %v; want \"\", nil", again, err)
		}
		again, err = f.reopen(t).Bootstrap(t.Context(), "")
		if err != nil || again != "" {
			t.Errorf("Bootstrap after reopening = %q, %v; want \"\", nil", again, err)
		}
		if n := len(f.keys.List(t.Context(), "")); n != 1 {
			t.Errorf("%d keys, want 1", n)
		}
	})
	t.Run("from secret", func(t *testing.T) {
		f := newFixture(t)
		secret := strings.Repeat("s3cr3t!", 5)
		token, err := f.keys.Bootstrap(t.Context(), secret)
		if err != nil || token != secret {
			t.Fatalf("Bootstrap = %q, %v; want the secret back", token, err)
		}
		if _, err := f.reopen(t).Authenticate(t.Context(), secret); err != nil {
			t.Errorf("Authenticate(secret) after reopening: %v", err)
		}
	})
	t.Run("from secret in token format", func(t *testing.T) {
		f := newFixture(t)
		secret := "trl_0123456789abcdef_" + strings.Repeat("A", 43)
		if _, err := f.keys.Bootstrap(t.Context(), secret); err != nil {
			t.Fatal(err)
		}
		if _, err := f.keys.Get(t.Context(), "0123456789abcdef"); err != nil {
			t.Errorf("the embedded id was not kept: %v", err)
		}
	})
	for name, secret := range map[string]string{
		"short":     strings.Repeat("x", 31),
		"space":     strings.Repeat("x", 31) + " ",
		"non-ASCII": strings.Repeat("x", 31) + "é",
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			token, err := f.keys.Bootstrap(t.Context(), secret)
			var e *trail.Error
			if !errors.As(err, &e) || e.Code != trail.EINVALID || e.Field != "TRAIL_BOOTSTRAP_KEY" {
				t.Fatalf("Bootstrap = %q, %v; want EINVALID on TRAIL_BOOTSTRAP_KEY", token, err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q contains the secret", err)
			}
			if !f.keys.Empty() {
				t.Error("a failed Bootstrap created a key")
			}
		})
	}
}

func TestConcurrentAuthenticate(t *testing.T) {
	f := newFixture(t)
	var tokens []string
	for range 4 {
		_, tok := f.create(t, Viewer, "acme")
		tokens = append(tokens, tok)
	}
	victim, victimToken := f.create(t, Viewer, "acme")

	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for j := range 200 {
				if _, err := f.keys.Authenticate(t.Context(), tokens[(i+j)%len(tokens)]); err != nil {
					t.Errorf("Authenticate: %v", err)
					return
				}
				f.keys.Authenticate(t.Context(), victimToken)
				if j%50 == 0 {
					f.clock.Advance(time.Minute)
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			if _, _, err := f.keys.Create(t.Context(), "more", Writer, "acme", nil); err != nil {
				t.Errorf("Create: %v", err)
			}
			f.keys.List(t.Context(), "acme")
		}
		if _, err := f.keys.Revoke(t.Context(), victim.ID); err != nil {
			t.Errorf("Revoke: %v", err)
		}
	})
	wg.Wait()
	_, err := f.keys.Authenticate(t.Context(), victimToken)
	wantCode(t, err, trail.EUNAUTHENTICATED, "revoked")
	if n := len(f.reopen(t).List(t.Context(), "")); n != 25 {
		t.Errorf("reopened: %d keys, want 25", n)
	}
}

func TestBrokenRandomSource(t *testing.T) {
	f := newFixture(t)
	k, err := NewKeys(t.Context(), f.store, f.clock.Now, strings.NewReader("short"))
	if err != nil {
		t.Fatal(err)
	}
	if _, tok, err := k.Create(t.Context(), "ci", Writer, "acme", nil); err == nil || tok != "" {
		t.Errorf("Create with an exhausted random source = %q, %v", tok, err)
	}
	zeros := &zeroReader{}
	k, err = NewKeys(t.Context(), f.store, f.clock.Now, zeros)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := k.Create(t.Context(), "ci", Writer, "acme", nil); err != nil {
		t.Fatalf("first Create: %v", err)
	}
	if _, _, err := k.Create(t.Context(), "ci", Writer, "acme", nil); err == nil {
		t.Error("a constant random source went unnoticed")
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
