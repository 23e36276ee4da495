package pgstore

import (
	"context"
	"slices"

	"github.com/trail-audit/trail"
)

// Erase removes the content of tenant's events at seqs, keeping their ids
// and leaf hashes, so every proof stays valid and they read back erased.
// Seqs already erased are skipped; a seq past the log is an EINVALID
// error naming "seqs" and nothing is erased. It runs as the retention role
// (Options.RetentionDSN), the only one allowed to delete event content.
func (s *Store) Erase(ctx context.Context, tenant string, seqs []int64) (*trail.ErasureResult, error) {
	if s.opts.Signer == nil {
		return nil, errReadOnly
	}
	h, err := s.head(ctx, s.pool, tenant)
	if err != nil {
		return nil, err
	}
	for _, q := range seqs {
		if q < 0 || q >= h.size {
			return nil, trail.FieldError("seqs", "seq %d is not in the log (size %d)", q, h.size)
		}
	}
	res := &trail.ErasureResult{Tenant: tenant, Seqs: []int64{}}
	if len(seqs) == 0 {
		return res, nil
	}
	tx, err := s.retPool.Begin(ctx)
	if err != nil {
		return nil, s.dbError("erase", err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `SELECT 1 FROM trail_tenants WHERE tenant = $1 FOR UPDATE`, tenant); err != nil {
		return nil, s.dbError("erase", err)
	}
	rows, err := tx.Query(ctx, `
		WITH moved AS (
			DELETE FROM trail_events WHERE tenant = $1 AND seq = ANY($2)
			RETURNING seq, id, received_at)
		INSERT INTO trail_erased (tenant, seq, id, received_at, erased_at)
		SELECT $1, seq, id, received_at, $3 FROM moved
		RETURNING seq`, tenant, seqs, s.opts.Now())
	if err != nil {
		return nil, s.dbError("erase", err)
	}
	for rows.Next() {
		var q int64
		if err := rows.Scan(&q); err != nil {
			rows.Close()
			return nil, s.dbError("erase", err)
		}
		res.Seqs = append(res.Seqs, q)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, s.dbError("erase", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, s.dbError("erase", err)
	}
	slices.Sort(res.Seqs)
	res.Erased = int64(len(res.Seqs))
	return res, nil
}
