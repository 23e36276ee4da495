package pgstore

import (
	"context"
	"time"

	"github.com/trail-audit/trail"
)

// Retain implements trail.Store. In one transaction it moves the ids of
// tenant's events received before the cut-off to trail_erased and deletes
// their rows; their leaf hashes stay in trail_tiles. Then it drops the
// partitions that ended before the cut-off and hold no row of any tenant.
func (s *Store) Retain(ctx context.Context, tenant string, before time.Time) (*trail.RetentionResult, error) {
	if s.opts.Signer == nil {
		return nil, errReadOnly
	}
	if err := s.requireTenant(ctx, tenant); err != nil {
		return nil, err
	}
	res := &trail.RetentionResult{Tenant: tenant, FirstSeq: -1, LastSeq: -1}
	tx, err := s.retPool.Begin(ctx)
	if err != nil {
		return nil, s.dbError("retain", err)
	}
	defer tx.Rollback(context.Background())
	// Lock the tenant: an append cannot interleave.
	if _, err := tx.Exec(ctx, `SELECT 1 FROM trail_tenants WHERE tenant = $1 FOR UPDATE`, tenant); err != nil {
		return nil, s.dbError("retain", err)
	}
	err = tx.QueryRow(ctx, `
		WITH moved AS (
			DELETE FROM trail_events WHERE tenant = $1 AND received_at < $2
			RETURNING seq, id, received_at),
		kept AS (
			INSERT INTO trail_erased (tenant, seq, id, received_at, erased_at)
			SELECT $1, seq, id, received_at, $3 FROM moved
			RETURNING seq)
		SELECT count(*), coalesce(min(seq), -1), coalesce(max(seq), -1) FROM kept`,
		tenant, before, s.opts.Now()).Scan(&res.Purged, &res.FirstSeq, &res.LastSeq)
	if err != nil {
		return nil, s.dbError("retain", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, s.dbError("retain", err)
	}
	if err := s.dropEmptyPartitions(ctx, before); err != nil {
		return nil, err
	}
	return res, nil
}

// dropEmptyPartitions drops every partition that ended at or before
// before and holds no row.
func (s *Store) dropEmptyPartitions(ctx context.Context, before time.Time) error {
	if err := s.loadPartitions(ctx); err != nil {
		return err
	}
	iv := int64(s.opts.PartitionInterval / time.Second)
	var old []int64
	s.partMu.Lock()
	for start := range s.parts {
		if start+iv <= before.Unix() {
			old = append(old, start)
		}
	}
	s.partMu.Unlock()
	for _, start := range old {
		var dropped bool
		err := s.retPool.QueryRow(ctx, `SELECT trail_drop_partition($1)`, partitionName(start)).Scan(&dropped)
		if err != nil {
			return s.dbError("drop partition", err)
		}
		if dropped {
			s.partMu.Lock()
			delete(s.parts, start)
			s.partMu.Unlock()
			s.opts.Logger.Info("pgstore: dropped an empty partition", "partition", partitionName(start))
		}
	}
	return nil
}
