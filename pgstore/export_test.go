package pgstore

import (
	"context"
	"fmt"
	"math"
	"net/netip"

	"github.com/trail-audit/trail"
)

// IPMergeFirst returns the first n seqs of tenant's events whose source
// address is in network p, newest first when desc, read through the
// per-address merge of the query path, and how many index entries the
// merge read for them. It errors when p has more than 256 addresses
// (queries walk the key then) or a statement fails.
func (s *Store) IPMergeFirst(ctx context.Context, tenant string, p netip.Prefix, n int, desc bool) (seqs []int64, reads int, err error) {
	addrs := ipAddrs(trail.Term(trail.FieldIP, p.String()))
	if addrs == nil {
		return nil, 0, fmt.Errorf("network %s: more than 256 addresses", p)
	}
	cursor := int64(-1)
	if desc {
		cursor = math.MaxInt64
	}
	m := newIPMerge(s.pool.Query, []string{"tenant = $1"}, []any{tenant}, addrs, cursor, desc)
	seqs, err = m.next(ctx, n)
	return seqs, m.reads, err
}
