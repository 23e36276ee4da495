package alert

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/internal/atomicfile"
)

// StateStore keeps each tenant's engine state: the cursor, the rules, the
// evaluation state (windows, baselines, seen-sets, cooldowns) and the
// alert list, as one opaque blob saved whole. Implementations must be
// safe for concurrent use and Save must be atomic: a Load after a crash
// returns either the old or the new blob.
type StateStore interface {
	// Load returns the tenant's last saved blob, or nil and no error when
	// there is none.
	Load(ctx context.Context, tenant string) ([]byte, error)
	// Save replaces the tenant's blob durably.
	Save(ctx context.Context, tenant string, data []byte) error
}

// MemoryState is a StateStore in memory, for tests and for servers
// without a data directory. The zero value is ready to use.
type MemoryState struct {
	mu sync.Mutex
	m  map[string][]byte
}

var _ StateStore = (*MemoryState)(nil)

// Load implements StateStore.
func (s *MemoryState) Load(_ context.Context, tenant string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.m[tenant]; ok {
		return append([]byte(nil), b...), nil
	}
	return nil, nil
}

// Save implements StateStore.
func (s *MemoryState) Save(_ context.Context, tenant string, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string][]byte{}
	}
	s.m[tenant] = append([]byte(nil), data...)
	return nil
}

// FileState is a StateStore of one JSON file per tenant, Dir/<tenant>.json,
// replaced atomically (write, fsync, rename, fsync the directory).
type FileState struct {
	Dir string
}

var _ StateStore = (*FileState)(nil)

func (s *FileState) path(tenant string) (string, error) {
	if err := trail.ValidateTenantName(tenant); err != nil {
		return "", err
	}
	return filepath.Join(s.Dir, tenant+".json"), nil
}

// Load implements StateStore.
func (s *FileState) Load(_ context.Context, tenant string) ([]byte, error) {
	p, err := s.path(tenant)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("alert state: %w", err)
	}
	return b, nil
}

// Save implements StateStore.
func (s *FileState) Save(_ context.Context, tenant string, data []byte) error {
	p, err := s.path(tenant)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(p, data, 0o600); err != nil {
		return fmt.Errorf("alert state: %w", err)
	}
	return nil
}
