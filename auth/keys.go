package auth

import (
	"context"
	cryptorand "crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	trail "github.com/trail-audit/trail"
)

// Key is an API key as stored and listed. It never holds a secret: Hash is
// the hex SHA-256 of the whole secret token and is not part of its JSON.
type Key struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Role       Role       `json:"role"`
	Tenant     string     `json:"tenant"` // a tenant name or AllTenants
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`

	Hash           string     `json:"-"` // hex SHA-256 of the current secret token
	PrevHash       string     `json:"-"` // hex SHA-256 of the secret replaced by the last rotation
	PrevValidUntil *time.Time `json:"-"` // the replaced secret works before this time
}

// Limits on what Keys accepts.
const (
	maxNameLen        = 100  // characters of Key.Name
	maxTokenLen       = 1024 // longer tokens are rejected without hashing
	minBootstrapLen   = 32   // characters of a bootstrap secret
	usePersistEvery   = time.Minute
	usePersistTimeout = 10 * time.Second // bound on writing a last-used time
)

// Token format: "trl_" + 16 lowercase hex digits of the key id + "_" + 43
// characters of unpadded base64url encoding 32 random bytes.
const (
	tokenPrefix = "trl_"
	idLen       = 16
	secretBytes = 32
	tokenLen    = len(tokenPrefix) + idLen + 1 + 43
)

// HashToken returns the hex SHA-256 of a secret token, the form in which
// keys are stored and looked up.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// TokenID returns the key id embedded in a token of trail's own format, and
// false for any other string (a bootstrap secret of another shape, say). It
// does not authenticate anything; it lets logs name a key without its secret.
func TokenID(token string) (string, bool) {
	if len(token) != tokenLen || !strings.HasPrefix(token, tokenPrefix) || token[len(tokenPrefix)+idLen] != '_' {
		return "", false
	}
	id := token[len(tokenPrefix) : len(tokenPrefix)+idLen]
	if !isLowerHex(id) {
		return "", false
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(token[len(tokenPrefix)+idLen+1:]); err != nil {
		return "", false
	}
	return id, true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// entry is one key in memory. Its address is stable for the life of the
// key, so the use counters survive updates of key.
type entry struct {
	key      Key          // guarded by Keys.mu; LastUsedAt is kept in lastUsed
	lastUsed atomic.Int64 // unix nanoseconds of the last successful use; 0 = never
	flushAt  atomic.Int64 // unix nanoseconds before which lastUsed is not persisted again
}

// snapshot returns a deep copy of the key with its last-used time.
func (e *entry) snapshot() Key {
	k := cloneKey(e.key)
	if n := e.lastUsed.Load(); n != 0 {
		t := time.Unix(0, n).UTC()
		k.LastUsedAt = &t
	}
	return k
}

func cloneKey(k Key) Key {
	k.ExpiresAt = cloneTime(k.ExpiresAt)
	k.RevokedAt = cloneTime(k.RevokedAt)
	k.LastUsedAt = cloneTime(k.LastUsedAt)
	k.PrevValidUntil = cloneTime(k.PrevValidUntil)
	return k
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := t.UTC()
	return &c
}

// Keys manages API keys: it creates, authenticates, rotates and revokes them
// and persists every change to a Store before it takes effect. It holds an
// index of every key by the hash of its current and previous secret, so
// authentication is a map lookup and never touches the store. Keys is safe
// for concurrent use.
//
// Over a ChangeStore several Keys, one per node, may share one store: each
// change writes only the key it changes, and is decided on the stored key,
// so concurrent changes on different nodes are all kept and a node whose
// memory is stale cannot undo another node's revocation. A node sees the
// changes of the others when Reload runs; a watcher (pgstore/pgkeys.Watch)
// calls it whenever the store reports a change.
type Keys struct {
	store   Store
	changes ChangeStore // store, when it is one; nil otherwise
	now     func() time.Time
	rand    io.Reader

	// write serialises changes and reloads. It is held across store I/O,
	// so that a reload never installs a view older than a change this Keys
	// made, and it guards rand. Lock order: write, then mu.
	write sync.Mutex

	// mu guards the index: byID, byHash and every entry's key. It is held
	// for memory only, never across store I/O; both write and mu are held
	// to change the index, so either suffices to read it.
	mu     sync.RWMutex
	byID   map[string]*entry
	byHash map[string]*entry // current and previous secret hashes
}

// NewKeys loads the keys of store and returns a manager for them. now and
// rand are the clock and the source of secrets; nil means time.Now and
// crypto/rand.Reader. A store whose keys are inconsistent (a bad hash, an
// unknown role, a duplicate id or secret) is an error that names the key.
// When store is a ChangeStore, Keys changes keys through it one at a time
// (see ChangeStore) and never calls Save.
func NewKeys(ctx context.Context, store Store, now func() time.Time, rand io.Reader) (*Keys, error) {
	if now == nil {
		now = time.Now
	}
	if rand == nil {
		rand = cryptorand.Reader
	}
	k := &Keys{store: store, now: now, rand: rand, byID: map[string]*entry{}, byHash: map[string]*entry{}}
	k.changes, _ = store.(ChangeStore)
	keys, err := store.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("auth: load keys: %w", err)
	}
	byID, byHash, problems := buildIndex(keys, nil)
	if len(problems) > 0 {
		return nil, fmt.Errorf("auth: load keys: %w", problems[0])
	}
	k.byID, k.byHash = byID, byHash
	return k, nil
}

// buildIndex indexes the valid keys of keys by id and by secret hash,
// reusing the entry of old (which may be nil) with the same id, so that use
// counters survive, and merging last-used times: the later of the stored
// and the remembered one wins. Keys that cannot be indexed safely are left
// out, each with a problem: an invalid key, a second key with an id already
// seen, and every key whose current or previous secret hash another key
// also has (a token must name one key). Reused entries of old are updated
// in place, so the caller must hold Keys.mu for writing and install the
// result; with old nil and any problem, buildIndex returns no index.
func buildIndex(keys []Key, old map[string]*entry) (map[string]*entry, map[string]*entry, []error) {
	var problems []error
	valid := make([]Key, 0, len(keys))
	ids := make(map[string]bool, len(keys))
	hashes := make(map[string]int, 2*len(keys))
	for i, key := range keys {
		if err := checkStored(key); err != nil {
			problems = append(problems, fmt.Errorf("key %d (%q): %w", i, key.ID, err))
			continue
		}
		if ids[key.ID] {
			problems = append(problems, fmt.Errorf("duplicate key id %q", key.ID))
			continue
		}
		ids[key.ID] = true
		valid = append(valid, key)
		for _, h := range []string{key.Hash, key.PrevHash} {
			if h != "" {
				hashes[h]++
			}
		}
	}
	type install struct {
		e   *entry
		key Key
	}
	installs := make([]install, 0, len(valid))
	for _, key := range valid {
		if hashes[key.Hash] > 1 || key.PrevHash != "" && hashes[key.PrevHash] > 1 {
			problems = append(problems, fmt.Errorf("key %q shares a secret with another key", key.ID))
			continue
		}
		e := old[key.ID]
		if e == nil {
			e = &entry{}
		}
		installs = append(installs, install{e, key})
	}
	byID := make(map[string]*entry, len(installs))
	byHash := make(map[string]*entry, 2*len(installs))
	for _, in := range installs {
		byID[in.key.ID] = in.e
		for _, h := range []string{in.key.Hash, in.key.PrevHash} {
			if h != "" {
				byHash[h] = in.e
			}
		}
	}
	if len(problems) > 0 && old == nil {
		return nil, nil, problems // NewKeys refuses; nothing to set up
	}
	for _, in := range installs {
		in.e.set(in.key)
	}
	return byID, byHash, problems
}

// set replaces the entry's key with key and advances its last-used time to
// key's when that is later. The caller must hold Keys.mu for writing, or
// own the entry exclusively.
func (e *entry) set(key Key) {
	e.key = cloneKey(key)
	e.key.LastUsedAt = nil
	if key.LastUsedAt != nil {
		advance(&e.lastUsed, key.LastUsedAt.UnixNano())
	}
}

// advance sets a to n when n is larger.
func advance(a *atomic.Int64, n int64) {
	for {
		old := a.Load()
		if old >= n || a.CompareAndSwap(old, n) {
			return
		}
	}
}

// Reload re-reads every key from the store and replaces the whole index at
// once: an Authenticate call sees either the keys before or the keys after
// the reload, never a mix. Keys created, rotated or revoked elsewhere (by
// another node sharing a ChangeStore) take effect for every Authenticate
// call that starts after Reload returns; keys no longer in the store are
// forgotten. A last-used time remembered in memory that is later than the
// stored one is kept (it is written with the key's next use or change).
//
// Reload is serialised with this Keys' own changes, so it never installs a
// view older than a change made through it. When the store cannot be read,
// Reload returns the error and changes nothing. Keys that cannot be indexed
// safely (invalid, a duplicate id, a secret hash shared by two keys) are
// left out, so they authenticate nothing, the others are installed, and
// Reload returns an error naming each one. Reload is safe to call
// concurrently with every other method.
func (k *Keys) Reload(ctx context.Context) error {
	k.write.Lock()
	defer k.write.Unlock()
	return k.reloadLocked(ctx)
}

// reloadLocked is Reload; k.write must be held.
func (k *Keys) reloadLocked(ctx context.Context) error {
	keys, err := k.store.Load(ctx)
	if err != nil {
		return fmt.Errorf("auth: reload keys: %w", err)
	}
	k.mu.Lock()
	byID, byHash, problems := buildIndex(keys, k.byID)
	k.byID, k.byHash = byID, byHash
	k.mu.Unlock()
	if len(problems) > 0 {
		return fmt.Errorf("auth: reload keys: %d keys left out: %w", len(problems), errors.Join(problems...))
	}
	return nil
}

// checkStored reports what is wrong with a key read from a store.
func checkStored(k Key) error {
	switch {
	case k.ID == "":
		return errors.New("empty id")
	case !k.Role.Valid():
		return fmt.Errorf("unknown role %q", k.Role)
	case k.Tenant == "":
		return errors.New("empty tenant")
	case !isHash(k.Hash):
		return errors.New("hash is not 64 lowercase hex digits")
	case k.PrevHash != "" && !isHash(k.PrevHash):
		return errors.New("prev_hash is not 64 lowercase hex digits")
	case k.PrevHash != "" && k.PrevValidUntil == nil:
		return errors.New("prev_hash without prev_valid_until")
	case k.PrevHash == k.Hash && k.PrevHash != "":
		return errors.New("prev_hash equals hash")
	}
	return nil
}

func isHash(s string) bool { return len(s) == 2*sha256.Size && isLowerHex(s) }

func unauthenticated(msg string) error { return trail.Errorf(trail.EUNAUTHENTICATED, "%s", msg) }

// Authenticate returns the principal of a secret token. It hashes the whole
// token with SHA-256 and looks the hash up, so a bootstrap secret of any
// shape works. Every failure is an EUNAUTHENTICATED *trail.Error whose
// message says only what is wrong with the presented key: "missing API key",
// "invalid API key" (no such key), "API key revoked", "API key expired" or
// "API key secret was replaced by rotation" (a previous secret after its
// grace period). The previous secret of a rotated key is accepted until the
// key's PrevValidUntil.
//
// A successful call records the key's LastUsedAt in memory and writes it to
// the store at most once a minute per key; a failure of that write does not
// fail the authentication (the time is written with the next change).
func (k *Keys) Authenticate(ctx context.Context, token string) (Principal, error) {
	if token == "" {
		return Principal{}, unauthenticated("missing API key")
	}
	if len(token) > maxTokenLen {
		return Principal{}, unauthenticated("invalid API key")
	}
	h := HashToken(token)
	now := k.now()

	k.mu.RLock()
	e, ok := k.byHash[h]
	var key Key
	if ok {
		key = e.key
	}
	k.mu.RUnlock()

	switch {
	case !ok:
		return Principal{}, unauthenticated("invalid API key")
	case key.RevokedAt != nil:
		return Principal{}, unauthenticated("API key revoked")
	case key.ExpiresAt != nil && !now.Before(*key.ExpiresAt):
		return Principal{}, unauthenticated("API key expired")
	case h != key.Hash && (key.PrevValidUntil == nil || !now.Before(*key.PrevValidUntil)):
		return Principal{}, unauthenticated("API key secret was replaced by rotation")
	}

	k.recordUse(ctx, e, key.ID, now)
	return Principal{KeyID: key.ID, Name: key.Name, Role: key.Role, Tenant: key.Tenant}, nil
}

// recordUse sets e's last-used time to now and persists it when the last
// write of it is more than a minute old: over a ChangeStore with Touch,
// which changes nothing else of the key, otherwise by saving every key.
func (k *Keys) recordUse(ctx context.Context, e *entry, id string, now time.Time) {
	n := now.UnixNano()
	advance(&e.lastUsed, n)
	due := e.flushAt.Load()
	if n < due || !e.flushAt.CompareAndSwap(due, n+int64(usePersistEvery)) {
		return // written recently, or another caller is writing it
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), usePersistTimeout)
	defer cancel()
	if k.changes != nil {
		_ = k.changes.Touch(ctx, id, now.UTC())
		return
	}
	k.write.Lock()
	defer k.write.Unlock()
	_ = k.store.Save(ctx, k.snapshotLocked(Key{}))
}

// snapshotLocked returns every key, with change in place of the key of the
// same id (or added when there is none), sorted by creation time. k.write
// or k.mu must be held.
func (k *Keys) snapshotLocked(change Key) []Key {
	keys := make([]Key, 0, len(k.byID)+1)
	found := false
	for id, e := range k.byID {
		if id == change.ID {
			found = true
			c := cloneKey(change)
			c.LastUsedAt = e.snapshot().LastUsedAt
			keys = append(keys, c)
			continue
		}
		keys = append(keys, e.snapshot())
	}
	if change.ID != "" && !found {
		keys = append(keys, cloneKey(change))
	}
	sortKeys(keys)
	return keys
}

func sortKeys(keys []Key) {
	slices.SortFunc(keys, func(a, b Key) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// errUnchanged is returned by a change function of changeLocked to leave
// the key as it is.
var errUnchanged = errors.New("auth: key unchanged")

// changeLocked applies change to the current state of key id (nil when
// there is none), stores the key change returns and installs it in memory,
// and returns the key as it now is. When change returns errUnchanged,
// nothing is written and the current key is returned; any other error of
// change is returned as it is. Store errors are returned wrapped and leave
// memory unchanged. k.write must be held.
//
// Over a ChangeStore the current state is the stored key, read and written
// in one Update, so the decision is never made on stale memory; the stored
// last-used time advances to the one remembered in memory when that is
// later. Over another Store the current state is the key in memory and
// every key is saved.
func (k *Keys) changeLocked(ctx context.Context, id string, change func(cur *Key) (Key, error)) (Key, error) {
	if k.changes == nil {
		var cur *Key
		if e, ok := k.byID[id]; ok {
			c := e.snapshot()
			cur = &c
		}
		next, err := change(cur)
		if errors.Is(err, errUnchanged) {
			return *cur, nil
		}
		if err != nil {
			return Key{}, err
		}
		if err := k.store.Save(ctx, k.snapshotLocked(next)); err != nil {
			return Key{}, fmt.Errorf("auth: save keys: %w", err)
		}
		return k.install(next), nil
	}

	var remembered *time.Time
	if e, ok := k.byID[id]; ok {
		remembered = e.snapshot().LastUsedAt
	}
	var (
		changeErr error
		current   Key // the stored key, when change left it unchanged
	)
	stored, err := k.changes.Update(ctx, id, func(cur *Key) (Key, error) {
		next, err := change(cur)
		changeErr = err
		if errors.Is(err, errUnchanged) {
			current = cloneKey(*cur)
		}
		if err != nil {
			return Key{}, err
		}
		next.LastUsedAt = later(next.LastUsedAt, remembered)
		return next, nil
	})
	switch {
	case err == nil:
		return k.install(stored), nil
	case changeErr != nil && errors.Is(err, changeErr):
		if errors.Is(changeErr, errUnchanged) {
			return k.install(current), nil
		}
		return Key{}, changeErr
	default:
		return Key{}, fmt.Errorf("auth: save key: %w", err)
	}
}

// later returns the later of two optional times.
func later(a, b *time.Time) *time.Time {
	if a == nil || b != nil && b.After(*a) {
		return cloneTime(b)
	}
	return cloneTime(a)
}

// install puts key into the index in place of the key with its id (or adds
// it) and returns it as it now is in memory, with its last-used time.
// k.write must be held.
func (k *Keys) install(key Key) Key {
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.byID[key.ID]
	if !ok {
		e = &entry{}
		k.byID[key.ID] = e
	}
	for _, h := range []string{e.key.Hash, e.key.PrevHash} {
		if h != "" && k.byHash[h] == e {
			delete(k.byHash, h)
		}
	}
	e.set(key)
	for _, h := range []string{key.Hash, key.PrevHash} {
		if h != "" {
			k.byHash[h] = e
		}
	}
	return e.snapshot()
}

// newIDLocked returns a random key id that no key in memory has. k.write
// must be held (it also guards k.rand).
func (k *Keys) newIDLocked() (string, error) {
	var b [idLen / 2]byte
	for range 4 {
		if _, err := io.ReadFull(k.rand, b[:]); err != nil {
			return "", fmt.Errorf("auth: random key id: %w", err)
		}
		id := hex.EncodeToString(b[:])
		if _, dup := k.byID[id]; !dup {
			return id, nil
		}
	}
	return "", errors.New("auth: random key ids keep colliding; is the random source broken?")
}

// newTokenLocked returns a fresh secret token for key id. k.write must be
// held.
func (k *Keys) newTokenLocked(id string) (string, error) {
	var b [secretBytes]byte
	if _, err := io.ReadFull(k.rand, b[:]); err != nil {
		return "", fmt.Errorf("auth: random secret: %w", err)
	}
	token := tokenPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(b[:])
	if _, dup := k.byHash[HashToken(token)]; dup {
		return "", errors.New("auth: random secret repeats; is the random source broken?")
	}
	return token, nil
}

// validateName checks a key name: 1 to 100 characters of valid UTF-8
// without control characters, after trimming surrounding space.
func validateName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", trail.FieldError("name", "required")
	case !utf8.ValidString(name):
		return "", trail.FieldError("name", "must be valid UTF-8")
	case utf8.RuneCountInString(name) > maxNameLen:
		return "", trail.FieldError("name", "at most %d characters", maxNameLen)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return "", trail.FieldError("name", "must not contain control characters")
	}
	return name, nil
}

// validateScope checks the tenant a key of role is scoped to. Operator keys
// must be scoped to AllTenants; admin keys to one tenant; writer, auditor
// and viewer keys to either. No key is scoped to the reserved _system tenant.
func validateScope(role Role, tenant string) error {
	switch {
	case tenant == AllTenants && role == Admin:
		return trail.FieldError("tenant", "an admin key must name one tenant; use an operator key for all tenants")
	case tenant == AllTenants:
		return nil
	case role == Operator:
		return trail.FieldError("tenant", `an operator key must be scoped to "*" (all tenants)`)
	case tenant == "":
		return trail.FieldError("tenant", `required: a tenant name or "*"`)
	case tenant == trail.SystemTenant:
		return trail.FieldError("tenant", "%s is reserved; read it with an operator key", trail.SystemTenant)
	}
	return trail.ValidateTenantName(tenant)
}

// Create makes a key and returns it with its secret token, which is shown
// this once and never stored. Invalid input is an EINVALID *trail.Error
// whose Field is "name" (1 to 100 characters once trimmed, no control
// characters), "role", "tenant" or "expires_at" (must be in the future).
//
// Scopes: an operator key must have tenant AllTenants ("*"); an admin key
// must name one tenant (it manages that tenant's keys and settings); writer,
// auditor and viewer keys may name one tenant or "*" (a shared ingest key, a
// compliance auditor across tenants). The reserved tenant _system cannot be
// named.
//
// The token has the form
//
//	trl_<16 hex digits: Key.ID>_<43 characters: base64url of 32 random bytes>
//
// Errors from the store are returned wrapped and leave nothing changed.
func (k *Keys) Create(ctx context.Context, name string, role Role, tenant string, expiresAt *time.Time) (Key, string, error) {
	now := k.now().UTC()
	name, err := validateName(name)
	if err != nil {
		return Key{}, "", err
	}
	if _, err := ParseRole(string(role)); err != nil {
		return Key{}, "", err
	}
	if err := validateScope(role, tenant); err != nil {
		return Key{}, "", err
	}
	if expiresAt != nil && !expiresAt.After(now) {
		return Key{}, "", trail.FieldError("expires_at", "must be in the future")
	}

	k.write.Lock()
	defer k.write.Unlock()
	id, err := k.newIDLocked()
	if err != nil {
		return Key{}, "", err
	}
	token, err := k.newTokenLocked(id)
	if err != nil {
		return Key{}, "", err
	}
	created := Key{
		ID: id, Name: name, Role: role, Tenant: tenant,
		CreatedAt: now, ExpiresAt: cloneTime(expiresAt), Hash: HashToken(token),
	}
	key, err := k.changeLocked(ctx, id, func(cur *Key) (Key, error) {
		if cur != nil { // another node has a key of this random id
			return Key{}, fmt.Errorf("auth: random key id %s is taken; try again", id)
		}
		return created, nil
	})
	if err != nil {
		return Key{}, "", err
	}
	return key, token, nil
}

func notFound(id string) error { return trail.Errorf(trail.ENOTFOUND, "key %s not found", id) }

// List returns the keys scoped to tenant, or every key when tenant is "" or
// AllTenants, sorted by creation time. Listing one tenant does not include
// keys scoped to AllTenants.
func (k *Keys) List(ctx context.Context, tenant string) []Key {
	k.mu.RLock()
	defer k.mu.RUnlock()
	keys := make([]Key, 0, len(k.byID))
	for _, e := range k.byID {
		if tenant == "" || tenant == AllTenants || e.key.Tenant == tenant {
			keys = append(keys, e.snapshot())
		}
	}
	sortKeys(keys)
	return keys
}

// Get returns the key with the given id, or an ENOTFOUND *trail.Error.
func (k *Keys) Get(ctx context.Context, id string) (Key, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	e, ok := k.byID[id]
	if !ok {
		return Key{}, notFound(id)
	}
	return e.snapshot(), nil
}

// Revoke revokes a key, effective for every Authenticate call that starts
// after it returns, and returns the revoked key. Both its current and any
// previous secret stop working. Revoking a revoked key changes nothing. An
// unknown id is an ENOTFOUND *trail.Error. Over a ChangeStore the revocation
// is decided and written on the stored key, so a key created on another
// node and not yet seen here can be revoked; other nodes refuse the key
// once their Reload has run.
func (k *Keys) Revoke(ctx context.Context, id string) (Key, error) {
	k.write.Lock()
	defer k.write.Unlock()
	now := k.now().UTC()
	return k.changeLocked(ctx, id, func(cur *Key) (Key, error) {
		if cur == nil {
			return Key{}, notFound(id)
		}
		if cur.RevokedAt != nil {
			return Key{}, errUnchanged
		}
		key := cloneKey(*cur)
		key.RevokedAt = &now
		return key, nil
	})
}

// Rotate gives a key a new secret token, returned this once, keeping its
// id, name, role, scope and expiry. The old secret keeps working for grace
// (0: not at all); a secret replaced by an earlier rotation stops working
// at once. An unknown id is ENOTFOUND, a revoked or expired key ECONFLICT
// and a negative grace EINVALID with Field "grace".
func (k *Keys) Rotate(ctx context.Context, id string, grace time.Duration) (Key, string, error) {
	if grace < 0 {
		return Key{}, "", trail.FieldError("grace", "must not be negative")
	}
	k.write.Lock()
	defer k.write.Unlock()
	now := k.now().UTC()
	if _, ok := k.byID[id]; !ok && k.changes == nil {
		return Key{}, "", notFound(id)
	}
	token, err := k.newTokenLocked(id)
	if err != nil {
		return Key{}, "", err
	}
	key, err := k.changeLocked(ctx, id, func(cur *Key) (Key, error) {
		switch {
		case cur == nil:
			return Key{}, notFound(id)
		case cur.RevokedAt != nil:
			return Key{}, trail.Errorf(trail.ECONFLICT, "key %s is revoked", id)
		case cur.ExpiresAt != nil && !now.Before(*cur.ExpiresAt):
			return Key{}, trail.Errorf(trail.ECONFLICT, "key %s has expired", id)
		}
		key := cloneKey(*cur)
		until := now.Add(grace)
		key.PrevHash, key.PrevValidUntil = key.Hash, &until
		key.Hash = HashToken(token)
		return key, nil
	})
	if err != nil {
		return Key{}, "", err
	}
	return key, token, nil
}

// Empty reports whether there are no keys at all, revoked ones included.
func (k *Keys) Empty() bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return len(k.byID) == 0
}

// Bootstrap creates the first operator key, named "bootstrap" and scoped to
// AllTenants, when there are no keys at all, and returns its token for the
// caller to print once. When secret is non-empty (from TRAIL_BOOTSTRAP_KEY)
// the key's hash is that of secret, which is returned; it must be at least 32
// printable ASCII characters without spaces, else Bootstrap returns an
// EINVALID *trail.Error whose Field is "TRAIL_BOOTSTRAP_KEY". A secret in
// trail's token format keeps its embedded id. Otherwise the token is random.
// When keys exist already Bootstrap returns "" and changes nothing. Over a
// ChangeStore the store decides whether it holds no key at all, so of
// several nodes bootstrapping one store at once exactly one creates the key
// and the others return "" after reloading.
func (k *Keys) Bootstrap(ctx context.Context, secret string) (string, error) {
	if secret != "" {
		if len(secret) < minBootstrapLen {
			return "", trail.FieldError("TRAIL_BOOTSTRAP_KEY", "must be at least %d characters", minBootstrapLen)
		}
		if len(secret) > maxTokenLen {
			return "", trail.FieldError("TRAIL_BOOTSTRAP_KEY", "must be at most %d characters", maxTokenLen)
		}
		for i := 0; i < len(secret); i++ {
			if secret[i] <= ' ' || secret[i] > '~' {
				return "", trail.FieldError("TRAIL_BOOTSTRAP_KEY", "must be printable ASCII without spaces")
			}
		}
	}
	k.write.Lock()
	defer k.write.Unlock()
	if len(k.byID) > 0 {
		return "", nil
	}
	id, ok := TokenID(secret)
	if !ok {
		var err error
		if id, err = k.newIDLocked(); err != nil {
			return "", err
		}
	}
	token := secret
	if token == "" {
		var err error
		if token, err = k.newTokenLocked(id); err != nil {
			return "", err
		}
	}
	key := Key{
		ID: id, Name: "bootstrap", Role: Operator, Tenant: AllTenants,
		CreatedAt: k.now().UTC(), Hash: HashToken(token),
	}
	if k.changes == nil {
		if _, err := k.changeLocked(ctx, id, func(*Key) (Key, error) { return key, nil }); err != nil {
			return "", err
		}
		return token, nil
	}
	created, err := k.changes.CreateFirst(ctx, key)
	if err != nil {
		return "", fmt.Errorf("auth: save key: %w", err)
	}
	if !created { // another node bootstrapped the shared store first
		return "", k.reloadLocked(ctx)
	}
	k.install(key)
	return token, nil
}
