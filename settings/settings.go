// Package settings keeps every tenant's data policies (trail.Settings):
// retention, legal hold and masking rules. A Registry caches them in
// memory for the hot path (every ingest masks with its tenant's rules) and
// persists every change to a Store before it takes effect: a FileStore in
// the data directory for the embedded store, a table for PostgreSQL
// (package pgstore/pgsettings), whose other nodes reload on notification.
package settings

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/trail-audit/trail"
	"github.com/trail-audit/trail/internal/atomicfile"
)

// Store persists settings. Load returns every tenant's stored settings
// (none, and no error, when nothing was stored yet); Put stores one
// tenant's and is durable when it returns.
type Store interface {
	Load(ctx context.Context) (map[string]trail.Settings, error)
	Put(ctx context.Context, tenant string, s trail.Settings) error
}

// Check validates settings beyond trail.Settings.Validate, e.g. that the
// masking rules compile. It returns a *trail.Error naming the field.
type Check func(tenant string, s trail.Settings) error

// Registry is the in-memory view of every tenant's settings. It is safe
// for concurrent use.
type Registry struct {
	store Store
	check Check

	putMu sync.Mutex // serialises changes, so a Reload never undoes a newer Put
	mu    sync.RWMutex
	m     map[string]trail.Settings
	gen   uint64 // bumped by every change, for caches derived from settings
}

// New loads store's settings. check may be nil.
func New(ctx context.Context, store Store, check Check) (*Registry, error) {
	r := &Registry{store: store, check: check}
	if err := r.Reload(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload replaces the cache with the store's content.
func (r *Registry) Reload(ctx context.Context) error {
	r.putMu.Lock()
	defer r.putMu.Unlock()
	m, err := r.store.Load(ctx)
	if err != nil {
		return fmt.Errorf("settings: load: %w", err)
	}
	if m == nil {
		m = map[string]trail.Settings{}
	}
	r.mu.Lock()
	r.m = m
	r.gen++
	r.mu.Unlock()
	return nil
}

// Get returns tenant's settings: the stored ones, or trail.DefaultSettings.
// The result is a copy.
func (r *Registry) Get(tenant string) trail.Settings {
	r.mu.RLock()
	s, ok := r.m[tenant]
	r.mu.RUnlock()
	if !ok {
		return trail.DefaultSettings()
	}
	s.Masking.Rules = slices.Clone(s.Masking.Rules)
	return s
}

// Generation changes whenever any tenant's settings change, so that a
// cache of values derived from settings (compiled maskers) knows when to
// rebuild.
func (r *Registry) Generation() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.gen
}

// Put validates and stores tenant's settings, then installs them.
func (r *Registry) Put(ctx context.Context, tenant string, s trail.Settings) (trail.Settings, error) {
	if err := trail.ValidateTenantName(tenant); err != nil {
		return trail.Settings{}, err
	}
	if err := s.Validate(); err != nil {
		return trail.Settings{}, err
	}
	if r.check != nil {
		if err := r.check(tenant, s); err != nil {
			return trail.Settings{}, err
		}
	}
	s.Masking.Rules = slices.Clone(s.Masking.Rules)
	r.putMu.Lock()
	defer r.putMu.Unlock()
	if err := r.store.Put(ctx, tenant, s); err != nil {
		return trail.Settings{}, fmt.Errorf("settings: store: %w", err)
	}
	r.mu.Lock()
	m := maps.Clone(r.m)
	if m == nil {
		m = map[string]trail.Settings{}
	}
	m[tenant] = s
	r.m = m
	r.gen++
	r.mu.Unlock()
	return r.Get(tenant), nil
}

// FileStore is a Store in one JSON file (mode 0600), replaced atomically
// on every Put:
//
//	{"version": 1, "tenants": {"acme": {"retention_days": 90, "legal_hold": false, "masking": {…}}}}
//
// It is safe for concurrent use within one process.
type FileStore struct {
	path string
	mu   sync.Mutex
}

// NewFileStore returns a FileStore for the file at path; nothing is read
// or created until Load or Put.
func NewFileStore(path string) *FileStore { return &FileStore{path: path} }

type settingsFile struct {
	Version int                       `json:"version"`
	Tenants map[string]trail.Settings `json:"tenants"`
}

const fileVersion = 1

// Load implements Store.
func (f *FileStore) Load(ctx context.Context) (map[string]trail.Settings, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.loadLocked()
}

func (f *FileStore) loadLocked() (map[string]trail.Settings, error) {
	var sf settingsFile
	if _, err := atomicfile.ReadJSON(f.path, fileVersion, &sf); err != nil {
		return nil, err
	}
	if sf.Tenants == nil {
		sf.Tenants = map[string]trail.Settings{}
	}
	for name, s := range sf.Tenants {
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("%s: tenant %s: %w", f.path, name, err)
		}
		sf.Tenants[name] = s
	}
	return sf.Tenants, nil
}

// Put implements Store.
func (f *FileStore) Put(ctx context.Context, tenant string, s trail.Settings) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	m, err := f.loadLocked()
	if err != nil {
		return err
	}
	m[tenant] = s
	data, err := json.MarshalIndent(settingsFile{Version: fileVersion, Tenants: m}, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(f.path, append(data, '\n'), 0o600)
}

// MemStore is a Store in memory, for tests and for servers configured
// without persistence. It is safe for concurrent use.
type MemStore struct {
	mu sync.Mutex
	m  map[string]trail.Settings
}

// Load implements Store.
func (m *MemStore) Load(ctx context.Context) (map[string]trail.Settings, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.m), nil
}

// Put implements Store.
func (m *MemStore) Put(ctx context.Context, tenant string, s trail.Settings) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[string]trail.Settings{}
	}
	m.m[tenant] = s
	return nil
}
