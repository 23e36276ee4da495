package schema

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/trail-audit/trail/internal/atomicfile"
)

// Store persists schema versions. Load returns every stored version of
// every tenant and action (none, and no error, when nothing was stored
// yet), in any order. Add stores v as the next version of its tenant and
// action, 1 for the first, ignoring v.Version, and returns it with the
// version it was given; it is durable when it returns. A version once
// stored is never changed or removed.
type Store interface {
	Load(ctx context.Context) ([]Version, error)
	Add(ctx context.Context, v Version) (Version, error)
}

// nextVersion returns the version after the highest of tenant and action
// in vs.
func nextVersion(vs []Version, tenant, action string) int {
	n := 0
	for _, v := range vs {
		if v.Tenant == tenant && v.Action == action {
			n = max(n, v.Version)
		}
	}
	return n + 1
}

// FileStore is a Store in one JSON file (mode 0600), replaced atomically
// on every Add:
//
//	{"version": 1, "schemas": [{"tenant": "acme", "action": "invoice.paid", "version": 1,
//	  "schema": {"type": "object", …}, "created_at": "2026-11-22T10:04:05Z"}, …]}
//
// It is safe for concurrent use within one process.
type FileStore struct {
	path string
	mu   sync.Mutex
}

// NewFileStore returns a FileStore for the file at path; nothing is read
// or created until Load or Add.
func NewFileStore(path string) *FileStore { return &FileStore{path: path} }

type schemasFile struct {
	Version int       `json:"version"`
	Schemas []Version `json:"schemas"`
}

const fileVersion = 1

// Load implements Store.
func (f *FileStore) Load(ctx context.Context) ([]Version, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.loadLocked()
}

func (f *FileStore) loadLocked() ([]Version, error) {
	var sf schemasFile
	if _, err := atomicfile.ReadJSON(f.path, fileVersion, &sf); err != nil {
		return nil, err
	}
	for i, v := range sf.Schemas { // indented by the file's layout
		var b bytes.Buffer
		if err := json.Compact(&b, v.Schema); err != nil {
			return nil, fmt.Errorf("%s: %w", f.path, err)
		}
		sf.Schemas[i].Schema = b.Bytes()
	}
	return sf.Schemas, nil
}

// Add implements Store.
func (f *FileStore) Add(ctx context.Context, v Version) (Version, error) {
	if err := ctx.Err(); err != nil {
		return Version{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	vs, err := f.loadLocked()
	if err != nil {
		return Version{}, err
	}
	v.Version = nextVersion(vs, v.Tenant, v.Action)
	vs = append(vs, v)
	slices.SortFunc(vs, compareVersions)
	data, err := json.MarshalIndent(schemasFile{Version: fileVersion, Schemas: vs}, "", "  ")
	if err != nil {
		return Version{}, err
	}
	if err := atomicfile.WriteFile(f.path, append(data, '\n'), 0o600); err != nil {
		return Version{}, err
	}
	return v, nil
}

// compareVersions orders by tenant, action and version.
func compareVersions(a, b Version) int {
	return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.Action, b.Action), cmp.Compare(a.Version, b.Version))
}

// MemStore is a Store in memory, for tests and for servers configured
// without persistence. It is safe for concurrent use.
type MemStore struct {
	mu sync.Mutex
	vs []Version
}

// Load implements Store.
func (m *MemStore) Load(ctx context.Context) ([]Version, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.vs), nil
}

// Add implements Store.
func (m *MemStore) Add(ctx context.Context, v Version) (Version, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v.Version = nextVersion(m.vs, v.Tenant, v.Action)
	m.vs = append(m.vs, v)
	return v, nil
}
