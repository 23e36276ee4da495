package pgstore

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"strconv"

	"github.com/trail-audit/trail"
)

// IPMergeFirst returns the first n seqs of tenant's events whose source
// address is in network p, newest first when desc, read through the merge
// of the query path (networkRuns), and how many index entries the merge
// read for them. It errors when queries on p do not merge (they walk the
// key) or a statement fails.
func (s *Store) IPMergeFirst(ctx context.Context, tenant string, p netip.Prefix, n int, desc bool) (seqs []int64, reads int, err error) {
	runs, ok := networkRuns(trail.Term(trail.FieldIP, p.String()))
	if !ok {
		return nil, 0, fmt.Errorf("network %s: not read by a merge", p)
	}
	m := newTestIPMerge(s, tenant, runs, desc)
	seqs, err = m.next(ctx, n)
	return seqs, m.reads, err
}

// IPMergePlan returns the plan (EXPLAIN ANALYZE, JSON) of the first round
// of the merge that IPMergeFirst runs.
func (s *Store) IPMergePlan(ctx context.Context, tenant string, p netip.Prefix, n int, desc bool) (string, error) {
	runs, ok := networkRuns(trail.Term(trail.FieldIP, p.String()))
	if !ok {
		return "", fmt.Errorf("network %s: not read by a merge", p)
	}
	m := newTestIPMerge(s, tenant, runs, desc)
	_, _, _, args := m.roundArgs(n)
	br := s.pool.SendBatch(ctx, m.roundBatch("EXPLAIN (ANALYZE, FORMAT JSON) "+m.sql, args))
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return "", err
	}
	var plan string
	if err := br.QueryRow().Scan(&plan); err != nil {
		return "", err
	}
	return plan, br.Close()
}

// newTestIPMerge returns the merge of runs over the whole log of tenant.
func newTestIPMerge(s *Store, tenant string, runs ipRuns, desc bool) *ipMerge {
	cursor := int64(-1)
	if desc {
		cursor = math.MaxInt64
	}
	return newIPMerge(s.pool, []string{"tenant = $1"}, []any{tenant}, runs, cursor, desc)
}

// CandidatesPlan returns the plan (EXPLAIN, JSON) of the statement that
// reads the candidate seqs of tenant's events under filter, newest first.
func (s *Store) CandidatesPlan(ctx context.Context, tenant string, filter *trail.Expr, seqs []int64) (string, error) {
	var b sqlBuilder
	t := b.arg(tenant)
	where := []string{"tenant = " + t}
	if c, _ := b.cond(filter); c != "" {
		where = append(where, c)
	}
	sql := candidatesSQL(t, where, "$"+strconv.Itoa(len(b.args)+1), "DESC")
	var plan string
	err := s.pool.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+sql, append(b.args, seqs)...).Scan(&plan)
	return plan, err
}

// Polls returns how many times waiters polled a tenant's size.
func (s *Store) Polls() int64 { return s.polls.Load() }
