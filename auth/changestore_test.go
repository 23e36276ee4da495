package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
)

// memStore is a ChangeStore in memory that several Keys share, as several
// nodes share one database. It counts the calls Keys makes.
type memStore struct {
	mu   sync.Mutex
	keys map[string]Key

	saves, updates, touches atomic.Int64
	fail                    atomic.Bool
}

var _ ChangeStore = (*memStore)(nil)

func newMemStore() *memStore { return &memStore{keys: map[string]Key{}} }

var errStoreDown = errors.New("store is down")

func (s *memStore) Load(ctx context.Context) ([]Key, error) {
	if s.fail.Load() {
		return nil, errStoreDown
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []Key
	for _, id := range slices.Sorted(maps.Keys(s.keys)) {
		keys = append(keys, cloneKey(s.keys[id]))
	}
	return keys, nil
}

func (s *memStore) Save(ctx context.Context, keys []Key) error {
	s.saves.Add(1)
	return errors.New("memStore: Save must not be called on a ChangeStore")
}

func (s *memStore) Update(ctx context.Context, id string, change func(*Key) (Key, error)) (Key, error) {
	if s.fail.Load() {
		return Key{}, errStoreDown
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.updates.Add(1)
	var cur *Key
	if k, ok := s.keys[id]; ok {
		c := cloneKey(k)
		cur = &c
	}
	next, err := change(cur)
	if err != nil {
		return Key{}, err
	}
	if next.ID != id {
		return Key{}, fmt.Errorf("change returned key %q for id %q", next.ID, id)
	}
	s.keys[id] = cloneKey(next)
	return cloneKey(next), nil
}

func (s *memStore) CreateFirst(ctx context.Context, key Key) (bool, error) {
	if s.fail.Load() {
		return false, errStoreDown
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.keys) > 0 {
		return false, nil
	}
	s.keys[key.ID] = cloneKey(key)
	return true, nil
}

func (s *memStore) Touch(ctx context.Context, id string, usedAt time.Time) error {
	if s.fail.Load() {
		return errStoreDown
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.touches.Add(1)
	k, ok := s.keys[id]
	if ok && (k.LastUsedAt == nil || usedAt.After(*k.LastUsedAt)) {
		k.LastUsedAt = cloneTime(&usedAt)
		s.keys[id] = k
	}
	return nil
}

// stored returns the stored key with id.
func (s *memStore) stored(t *testing.T, id string) Key {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[id]
	if !ok {
		t.Fatalf("no stored key %s", id)
	}
	return cloneKey(k)
}

// put writes key behind the back of every Keys, as another program would.
func (s *memStore) put(key Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[key.ID] = cloneKey(key)
}

// nodes returns n Keys sharing one memStore, all on clock.
func nodes(t *testing.T, n int) ([]*Keys, *memStore, *clock) {
	t.Helper()
	store, c := newMemStore(), newClock()
	ks := make([]*Keys, n)
	for i := range ks {
		k, err := NewKeys(t.Context(), store, c.Now, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		ks[i] = k
	}
	return ks, store, c
}

func reload(t *testing.T, k *Keys) {
	t.Helper()
	if err := k.Reload(t.Context()); err != nil {
		t.Fatalf("Reload: %v", err)
	}
}

func TestChangeStoreReloadShowsOtherNodesChanges(t *testing.T) {
	ks, store, _ := nodes(t, 2)
	a, b := ks[0], ks[1]

	key, token, err := a.Create(t.Context(), "ci", Writer, "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Authenticate(t.Context(), token)
	wantCode(t, err, trail.EUNAUTHENTICATED, "invalid API key") // b has not reloaded
	reload(t, b)
	if _, err := b.Authenticate(t.Context(), token); err != nil {
		t.Fatalf("after Reload: %v", err)
	}

	if _, err := a.Revoke(t.Context(), key.ID); err != nil {
		t.Fatal(err)
	}
	reload(t, b)
	_, err = b.Authenticate(t.Context(), token)
	wantCode(t, err, trail.EUNAUTHENTICATED, "revoked")

	_, newToken, err := b.Rotate(t.Context(), key.ID, 0)
	wantCode(t, err, trail.ECONFLICT, "revoked")
	if newToken != "" {
		t.Error("a failed Rotate returned a token")
	}
	if n := store.saves.Load(); n != 0 {
		t.Errorf("Keys called Save %d times on a ChangeStore", n)
	}
}

// A node that has not heard of a revocation decides on the stored key, so
// it can neither rotate the key back to life nor un-revoke it by recording
// a use.
func TestChangeStoreStaleNodeCannotUndoRevocation(t *testing.T) {
	ks, store, c := nodes(t, 2)
	a, b := ks[0], ks[1]
	key, token, err := a.Create(t.Context(), "ci", Viewer, "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	reload(t, b)
	if _, err := a.Revoke(t.Context(), key.ID); err != nil {
		t.Fatal(err)
	}

	// b is stale: it still accepts the token and records the use.
	c.Advance(time.Minute)
	if _, err := b.Authenticate(t.Context(), token); err != nil {
		t.Fatalf("stale node: %v", err)
	}
	if got := store.stored(t, key.ID); got.RevokedAt == nil || got.LastUsedAt == nil || !got.LastUsedAt.Equal(c.Now()) {
		t.Errorf("stored after a stale use = revoked %v, last used %v; want revoked and last used now", got.RevokedAt, got.LastUsedAt)
	}

	_, _, err = b.Rotate(t.Context(), key.ID, time.Hour)
	wantCode(t, err, trail.ECONFLICT, "revoked")
	if got := store.stored(t, key.ID); got.PrevHash != "" || got.RevokedAt == nil {
		t.Errorf("stored after a stale Rotate = %+v, want it unchanged", got)
	}

	// Revoking on b again changes nothing stored and brings b up to date.
	revoked, err := b.Revoke(t.Context(), key.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := store.stored(t, key.ID).RevokedAt; revoked.RevokedAt == nil || !revoked.RevokedAt.Equal(*want) {
		t.Errorf("Revoke of a revoked key: RevokedAt %v, want the first revocation's %v", revoked.RevokedAt, want)
	}
	_, err = b.Authenticate(t.Context(), token)
	wantCode(t, err, trail.EUNAUTHENTICATED, "revoked")
}

func TestChangeStoreActsOnKeysNotYetSeen(t *testing.T) {
	ks, _, _ := nodes(t, 2)
	a, b := ks[0], ks[1]
	key, token, err := a.Create(t.Context(), "ci", Writer, "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Revoke(t.Context(), key.ID); err != nil {
		t.Fatalf("Revoke of a key created on another node, before Reload: %v", err)
	}
	reload(t, a)
	_, err = a.Authenticate(t.Context(), token)
	wantCode(t, err, trail.EUNAUTHENTICATED, "revoked")

	_, err = b.Revoke(t.Context(), "0123456789abcdef")
	wantCode(t, err, trail.ENOTFOUND, "not found")
	_, _, err = b.Rotate(t.Context(), "0123456789abcdef", 0)
	wantCode(t, err, trail.ENOTFOUND, "not found")
}

func TestChangeStoreConcurrentCreatesAreAllKept(t *testing.T) {
	ks, store, _ := nodes(t, 3)
	const each = 20
	var wg sync.WaitGroup
	for _, k := range ks {
		wg.Go(func() {
			for range each {
				if _, _, err := k.Create(t.Context(), "n", Writer, "acme", nil); err != nil {
					t.Errorf("Create: %v", err)
				}
			}
		})
	}
	wg.Wait()
	for i, k := range ks {
		reload(t, k)
		if got, want := len(k.List(t.Context(), "")), len(ks)*each; got != want {
			t.Errorf("node %d lists %d keys, want %d", i, got, want)
		}
	}
	if n := store.saves.Load(); n != 0 {
		t.Errorf("Keys called Save %d times on a ChangeStore", n)
	}
}

func TestChangeStoreLastUsed(t *testing.T) {
	ks, store, c := nodes(t, 2)
	a, b := ks[0], ks[1]
	key, token, err := a.Create(t.Context(), "ci", Writer, "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	reload(t, b)
	updates := store.updates.Load()

	first := c.Now()
	if _, err := a.Authenticate(t.Context(), token); err != nil {
		t.Fatal(err)
	}
	c.Advance(10 * time.Second)
	if _, err := a.Authenticate(t.Context(), token); err != nil {
		t.Fatal(err)
	}
	if got := store.stored(t, key.ID).LastUsedAt; got == nil || !got.Equal(first) {
		t.Errorf("stored LastUsedAt = %v, want the first use %v (written once a minute)", got, first)
	}
	if got := store.touches.Load(); got != 1 {
		t.Errorf("%d touches, want 1", got)
	}
	if got := store.updates.Load() - updates; got != 0 {
		t.Errorf("recording a use made %d Updates, want none (Touch only)", got)
	}

	reload(t, a)
	if got, _ := a.Get(t.Context(), key.ID); !got.LastUsedAt.Equal(c.Now()) {
		t.Errorf("after Reload LastUsedAt = %v, want the newer time in memory %v", got.LastUsedAt, c.Now())
	}

	c.Advance(time.Hour)
	if _, err := b.Authenticate(t.Context(), token); err != nil {
		t.Fatal(err)
	}
	reload(t, a)
	if got, _ := a.Get(t.Context(), key.ID); !got.LastUsedAt.Equal(c.Now()) {
		t.Errorf("after Reload LastUsedAt = %v, want the newer stored time %v", got.LastUsedAt, c.Now())
	}

	// A change writes the time remembered in memory along with it.
	c.Advance(10 * time.Second)
	if _, err := a.Authenticate(t.Context(), token); err != nil { // written: a's last write is an hour old
		t.Fatal(err)
	}
	c.Advance(10 * time.Second)
	if _, err := a.Authenticate(t.Context(), token); err != nil { // remembered only
		t.Fatal(err)
	}
	used := c.Now()
	if _, _, err := a.Rotate(t.Context(), key.ID, time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := store.stored(t, key.ID).LastUsedAt; got == nil || !got.Equal(used) {
		t.Errorf("stored LastUsedAt after Rotate = %v, want %v", got, used)
	}
}

func TestChangeStoreFailureChangesNothing(t *testing.T) {
	ks, store, _ := nodes(t, 1)
	k := ks[0]
	key, token, err := k.Create(t.Context(), "ci", Writer, "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	store.fail.Store(true)
	if _, tok, err := k.Create(t.Context(), "ci", Writer, "acme", nil); !errors.Is(err, errStoreDown) || tok != "" {
		t.Errorf("Create with a failing store = %q, %v; want %v", tok, err, errStoreDown)
	}
	if _, err := k.Revoke(t.Context(), key.ID); !errors.Is(err, errStoreDown) {
		t.Errorf("Revoke with a failing store: %v", err)
	}
	if _, tok, err := k.Rotate(t.Context(), key.ID, 0); err == nil || tok != "" {
		t.Errorf("Rotate with a failing store = %q, %v", tok, err)
	}
	if err := k.Reload(t.Context()); !errors.Is(err, errStoreDown) {
		t.Errorf("Reload with a failing store: %v", err)
	}
	if n := len(k.List(t.Context(), "")); n != 1 {
		t.Errorf("%d keys, want 1", n)
	}
	if _, err := k.Authenticate(t.Context(), token); err != nil {
		t.Errorf("the key changed although the store failed: %v", err)
	}
}

func TestChangeStoreBootstrapOnce(t *testing.T) {
	ks, store, _ := nodes(t, 4)
	tokens := make([]string, len(ks))
	var wg sync.WaitGroup
	for i, k := range ks {
		wg.Go(func() {
			tok, err := k.Bootstrap(t.Context(), "")
			if err != nil {
				t.Errorf("node %d: Bootstrap: %v", i, err)
			}
			tokens[i] = tok
		})
	}
	wg.Wait()
	var winner string
	for _, tok := range tokens {
		if tok != "" {
			if winner != "" {
				t.Fatal("two nodes bootstrapped the same store")
			}
			winner = tok
		}
	}
	if winner == "" {
		t.Fatal("no node bootstrapped")
	}
	if n := len(store.keys); n != 1 {
		t.Errorf("store holds %d keys, want 1", n)
	}
	for i, k := range ks {
		if k.Empty() {
			t.Errorf("node %d: Empty after Bootstrap", i)
		}
		if _, err := k.Authenticate(t.Context(), winner); err != nil {
			t.Errorf("node %d: Authenticate(bootstrap token): %v", i, err)
		}
	}
}

func TestReloadLeavesOutKeysItCannotIndex(t *testing.T) {
	ks, store, _ := nodes(t, 1)
	k := ks[0]
	good, goodToken, err := k.Create(t.Context(), "good", Writer, "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, twinToken, err := k.Create(t.Context(), "twin", Writer, "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	bad := good
	bad.ID, bad.Hash = "badbadbadbadbad0", "not a hash"
	store.put(bad)
	copied := store.stored(t, good.ID) // another key with good's secret
	copied.ID = "c0c0c0c0c0c0c0c0"
	copied.Hash = HashToken(twinToken)
	store.put(copied)

	err = k.Reload(t.Context())
	if err == nil {
		t.Fatal("Reload of invalid keys returned no error")
	}
	for _, want := range []string{"badbadbadbadbad0", "hash is not", "shares a secret"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Reload error %q does not mention %q", err, want)
		}
	}
	if _, err := k.Authenticate(t.Context(), goodToken); err != nil {
		t.Errorf("a valid key stopped working: %v", err)
	}
	_, err = k.Authenticate(t.Context(), twinToken)
	wantCode(t, err, trail.EUNAUTHENTICATED, "invalid API key") // two keys claim it: neither is used
	if _, err := k.Get(t.Context(), bad.ID); err == nil {
		t.Error("an invalid key was installed")
	}
}

// Reload swaps the index while other goroutines authenticate, create and
// revoke; run with -race.
func TestReloadConcurrently(t *testing.T) {
	ks, _, c := nodes(t, 2)
	a, b := ks[0], ks[1]
	_, token, err := a.Create(t.Context(), "stable", Viewer, "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	victim, victimToken, err := a.Create(t.Context(), "victim", Viewer, "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	reload(t, b)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for j := range 300 {
				if _, err := b.Authenticate(t.Context(), token); err != nil {
					t.Errorf("Authenticate during Reload: %v", err)
					return
				}
				b.Authenticate(t.Context(), victimToken)
				if j%100 == 0 {
					c.Advance(time.Minute)
				}
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			if err := b.Reload(t.Context()); err != nil {
				t.Errorf("Reload: %v", err)
			}
		}
	})
	wg.Go(func() {
		for range 20 {
			if _, _, err := a.Create(t.Context(), "more", Writer, "acme", nil); err != nil {
				t.Errorf("Create: %v", err)
			}
		}
		if _, err := a.Revoke(t.Context(), victim.ID); err != nil {
			t.Errorf("Revoke: %v", err)
		}
	})
	wg.Wait()
	reload(t, b)
	_, err = b.Authenticate(t.Context(), victimToken)
	wantCode(t, err, trail.EUNAUTHENTICATED, "revoked")
	if n := len(b.List(t.Context(), "")); n != 22 {
		t.Errorf("%d keys, want 22", n)
	}
}

// FileStore is not a ChangeStore: changes still save the whole set, and
// Reload re-reads the file.
func TestFileStoreReload(t *testing.T) {
	f := newFixture(t)
	key, token := f.create(t, Writer, "acme")
	if _, err := f.keys.Authenticate(t.Context(), token); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(10 * time.Second)
	if _, err := f.keys.Authenticate(t.Context(), token); err != nil { // remembered, not yet written
		t.Fatal(err)
	}

	// Another Keys on the same file (trail keys, say) revokes the key.
	other := f.reopen(t)
	if _, err := other.Revoke(t.Context(), key.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.keys.Authenticate(t.Context(), token); err != nil {
		t.Fatalf("before Reload: %v", err)
	}
	saves := f.store.saves.Load()
	if err := f.keys.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := f.store.saves.Load() - saves; n != 0 {
		t.Errorf("Reload saved %d times", n)
	}
	_, err := f.keys.Authenticate(t.Context(), token)
	wantCode(t, err, trail.EUNAUTHENTICATED, "revoked")
	if got, _ := f.keys.Get(t.Context(), key.ID); got.LastUsedAt == nil || !got.LastUsedAt.Equal(f.clock.Now()) {
		t.Errorf("LastUsedAt after Reload = %v, want the newer time in memory %v", got.LastUsedAt, f.clock.Now())
	}

	if err := os.WriteFile(f.path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.keys.Reload(t.Context()); err == nil || !strings.Contains(err.Error(), filepath.Base(f.path)) {
		t.Errorf("Reload of a corrupt file: %v, want an error naming the file", err)
	}
	if _, err := f.keys.Get(t.Context(), key.ID); err != nil {
		t.Errorf("a failed Reload changed the keys: %v", err)
	}
}
