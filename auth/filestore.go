package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/trail-audit/trail/internal/atomicfile"
)

var _ Store = (*FileStore)(nil)

// FileStore is a Store in one JSON file, readable by its owner only (mode
// 0600), replaced atomically on every Save (temporary file, fsync, rename,
// fsync of the directory), so a crash leaves either the old or the new set.
// The file holds the hashes of the secrets, never the secrets:
//
//	{
//	  "version": 1,
//	  "keys": [
//	    {"id": "3f2a9c0d1e4b5a6c", "name": "ci", "role": "writer", "tenant": "acme",
//	     "created_at": "2025-01-02T03:04:05Z", "hash": "<64 hex digits>",
//	     "expires_at"?, "revoked_at"?, "last_used_at"?, "prev_hash"?, "prev_valid_until"?}
//	  ]
//	}
//
// FileStore is safe for concurrent use within one process; two processes
// must not share a file.
type FileStore struct {
	path string
	mu   sync.Mutex
}

// NewFileStore returns a FileStore for the file at path. Nothing is read or
// created until Load or Save; Save creates missing parent directories with
// mode 0700.
func NewFileStore(path string) *FileStore { return &FileStore{path: path} }

// fileVersion is the version of the key file format.
const fileVersion = 1

// keyFile is the persisted form of the key set. Unlike Key, it includes the
// hashes.
type keyFile struct {
	Version int       `json:"version"`
	Keys    []fileKey `json:"keys"`
}

// fileKey is Key with the hashes in its JSON. The fields match Key's one for
// one, so each converts to the other.
type fileKey struct {
	ID             string     `json:"id"`
	Name           string     `json:"name"`
	Role           Role       `json:"role"`
	Tenant         string     `json:"tenant"`
	CreatedAt      time.Time  `json:"created_at"`
	ExpiresAt      *time.Time `json:"expires_at,omitempty"`
	RevokedAt      *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt     *time.Time `json:"last_used_at,omitempty"`
	Hash           string     `json:"hash"`
	PrevHash       string     `json:"prev_hash,omitempty"`
	PrevValidUntil *time.Time `json:"prev_valid_until,omitempty"`
}

// Load reads the key file. A missing file is an empty set; a file that is
// not a valid key file is an error naming the file.
func (s *FileStore) Load(ctx context.Context) ([]Key, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	var f keyFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("key file %s is corrupt: %w", s.path, err)
	}
	if f.Version != fileVersion {
		return nil, fmt.Errorf("key file %s: unsupported version %d (want %d)", s.path, f.Version, fileVersion)
	}
	keys := make([]Key, len(f.Keys))
	for i, k := range f.Keys {
		keys[i] = Key(k)
	}
	return keys, nil
}

// Save atomically replaces the key file with keys.
func (s *FileStore) Save(ctx context.Context, keys []Key) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f := keyFile{Version: fileVersion, Keys: make([]fileKey, len(keys))}
	for i, k := range keys {
		f.Keys[i] = fileKey(k)
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("key file: %w", err)
	}
	data = append(data, '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := atomicfile.WriteFile(s.path, data, 0o600); err != nil {
		return fmt.Errorf("key file: %w", err)
	}
	return nil
}
