package pgstore

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/trail-audit/trail"
	"github.com/trail-audit/trail/checkpoint"
	"github.com/trail-audit/trail/merkle"
)

// tenantHead is a tenant's committed size and latest checkpoint.
type tenantHead struct {
	size int64
	cp   *trail.Checkpoint // nil when size is 0
}

// head reads tenant's row. A tenant without a row is ENOTFOUND.
func (s *Store) head(ctx context.Context, q querier, tenant string) (*tenantHead, error) {
	if err := trail.ValidateTenantName(tenant); err != nil {
		return nil, err
	}
	var size int64
	var note []byte
	err := q.QueryRow(ctx, `SELECT size, checkpoint FROM trail_tenants WHERE tenant = $1`, tenant).Scan(&size, &note)
	if err == pgx.ErrNoRows {
		return nil, trail.Errorf(trail.ENOTFOUND, "tenant %s not found", tenant)
	}
	if err != nil {
		return nil, s.dbError("read tenant", err)
	}
	return s.checkHead(tenant, size, note)
}

// checkHead returns the head of tenant from its row's size and latest
// note, after checking that the note is validly signed for tenant (or is
// one this store verified or signed before) and is for that size.
func (s *Store) checkHead(tenant string, size int64, note []byte) (*tenantHead, error) {
	h := tenantHead{size: size}
	if size == 0 {
		return &h, nil
	}
	if note == nil {
		return nil, &trail.TamperError{Tenant: tenant, Seq: -1, File: "trail_tenants", Reason: "tenant has events but no checkpoint"}
	}
	cp, ok := s.notes.get(tenant, note)
	if !ok {
		var err error
		if cp, err = s.openCheckpoint(tenant, note); err != nil {
			return nil, &trail.TamperError{Tenant: tenant, Seq: -1, File: "trail_tenants", Reason: "latest checkpoint: " + err.Error()}
		}
		s.notes.put(tenant, cp)
	}
	if cp.Size != size {
		return nil, &trail.TamperError{Tenant: tenant, Seq: -1, File: "trail_tenants",
			Reason: fmt.Sprintf("latest checkpoint is for size %d, the tenant has %d events", cp.Size, size)}
	}
	h.cp = cp
	return &h, nil
}

// openCheckpoint verifies a stored note and checks its origin.
func (s *Store) openCheckpoint(tenant string, msg []byte) (*trail.Checkpoint, error) {
	c, err := checkpoint.Open(msg, s.verifier)
	if err != nil {
		return nil, err
	}
	if c.Origin != s.origin(tenant) {
		return nil, fmt.Errorf("origin %q, want %q", c.Origin, s.origin(tenant))
	}
	return &trail.Checkpoint{Origin: c.Origin, Size: c.Size, Root: trail.Hash(c.Root), Note: append([]byte(nil), msg...)}, nil
}

// noteCache remembers, for each tenant, the latest checkpoint whose note
// this store verified or signed. head reads a tenant's note on every call
// (every Read of every follower, such as the alert engines), and an
// Ed25519 verification costs about 40 µs: a note byte for byte equal to
// a remembered one is the same signed statement and is not verified
// again. Any other note is, so a note altered in the database is still
// caught. Deep verification (verify.go) does not use the cache.
type noteCache struct {
	mu sync.Mutex
	m  map[string]*trail.Checkpoint
}

// maxCachedNotes bounds noteCache: past it the cache starts again empty.
const maxCachedNotes = 1 << 16

// get returns the remembered checkpoint of tenant when its note is note.
// The Checkpoint is a copy; its Note is shared and must not be modified.
func (c *noteCache) get(tenant string, note []byte) (*trail.Checkpoint, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp, ok := c.m[tenant]
	if !ok || !bytes.Equal(cp.Note, note) {
		return nil, false
	}
	out := *cp
	return &out, true
}

// put remembers cp, whose note is known to be validly signed for tenant.
func (c *noteCache) put(tenant string, cp *trail.Checkpoint) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedNotes {
		c.m = make(map[string]*trail.Checkpoint)
	}
	kept := *cp
	c.m[tenant] = &kept
}

// latestCheckpoint returns tenant's latest checkpoint read through q.
func (s *Store) latestCheckpoint(ctx context.Context, q querier, tenant string) (*trail.Checkpoint, error) {
	h, err := s.head(ctx, q, tenant)
	if err != nil {
		return nil, err
	}
	if h.cp == nil {
		return nil, trail.Errorf(trail.ENOTFOUND, "tenant %s has no checkpoint yet", tenant)
	}
	return h.cp, nil
}

// Checkpoint implements trail.Store.
func (s *Store) Checkpoint(ctx context.Context, tenant string) (*trail.Checkpoint, error) {
	return s.latestCheckpoint(ctx, s.pool, tenant)
}

// readTree returns a tree of tenant of at least size leaves, all committed:
// a cached one when it is large enough, else one opened at the committed
// size.
func (s *Store) readTree(ctx context.Context, tenant string, h *tenantHead, size int64) (*merkle.Tree, error) {
	s.readMu.Lock()
	t := s.readTrees[tenant]
	s.readMu.Unlock()
	if t != nil && t.Size() >= size {
		return t, nil
	}
	r := &tileReader{ctx: s.ctx, q: s.pool, tenant: tenant}
	t, err := merkle.Open(h.size, r)
	if err != nil {
		return nil, s.dbError("open tree", err)
	}
	if h.cp != nil && merkle.Hash(h.cp.Root) != t.Root() {
		return nil, &trail.TamperError{Tenant: tenant, Seq: -1, File: "trail_tiles",
			Reason: fmt.Sprintf("tiles give a root for size %d that differs from the latest checkpoint", h.size)}
	}
	s.readMu.Lock()
	if cur := s.readTrees[tenant]; cur == nil || cur.Size() < t.Size() {
		s.readTrees[tenant] = t
	}
	s.readMu.Unlock()
	return t, nil
}

// InclusionProof implements trail.Store.
func (s *Store) InclusionProof(ctx context.Context, tenant string, seq, size int64) (*trail.InclusionProof, error) {
	h, err := s.head(ctx, s.pool, tenant)
	if err != nil {
		return nil, err
	}
	if size <= 0 {
		size = h.size
	}
	if size > h.size {
		return nil, trail.FieldError("size", "tree size %d is larger than the latest checkpoint (%d)", size, h.size)
	}
	if seq < 0 || seq >= size {
		return nil, trail.FieldError("seq", "must be in [0, %d)", size)
	}
	tree, err := s.readTree(ctx, tenant, h, size)
	if err != nil {
		return nil, err
	}
	hs, err := tree.InclusionProof(seq, size)
	if err != nil {
		return nil, s.dbError("inclusion proof", err)
	}
	return &trail.InclusionProof{LeafIndex: seq, TreeSize: size, Hashes: toHashes(hs)}, nil
}

// ConsistencyProof implements trail.Store.
func (s *Store) ConsistencyProof(ctx context.Context, tenant string, from, to int64) (*trail.ConsistencyProof, error) {
	h, err := s.head(ctx, s.pool, tenant)
	if err != nil {
		return nil, err
	}
	if to <= 0 {
		to = h.size
	}
	if to > h.size {
		return nil, trail.FieldError("to", "tree size %d is larger than the latest checkpoint (%d)", to, h.size)
	}
	if from < 0 || from > to {
		return nil, trail.FieldError("from", "must be in [0, %d]", to)
	}
	p := &trail.ConsistencyProof{From: from, To: to, Hashes: []trail.Hash{}}
	if from == 0 || from == to {
		return p, nil
	}
	tree, err := s.readTree(ctx, tenant, h, to)
	if err != nil {
		return nil, err
	}
	hs, err := tree.ConsistencyProof(from, to)
	if err != nil {
		return nil, s.dbError("consistency proof", err)
	}
	p.Hashes = toHashes(hs)
	return p, nil
}

func toHashes(hs []merkle.Hash) []trail.Hash {
	out := make([]trail.Hash, len(hs))
	for i, h := range hs {
		out[i] = trail.Hash(h)
	}
	return out
}
