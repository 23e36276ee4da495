package pgstore

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ipMerge lists the seqs of a tenant's events whose source_ip is one of a
// few addresses (a network of at most 256, see ipAddrs), in the scan's
// order, reading from the index (tenant, source_ip, seq) only as far as
// the merged order needs.
//
// Each address is a sorted run of that index. A k-way merge of the runs
// needs only about k + n entries for the first n seqs, where reading
// every run up to n entries (the first version) read all of a popular
// /24 (18k entries of the largest tenant at 10M events). So each round
// reads a few entries of the addresses that may still hold one of the
// next n seqs, in one statement (a LATERAL scan per address), and a seq
// is returned once no address can hold one before it.
//
// Invariant: every seq of address i not yet read lies strictly after
// bound[i] in the scan's order (below it when descending), and none is
// left when live[i] is false.
type ipMerge struct {
	sql   string       // one round, see newIPMerge
	args  []any        // the arguments of sql before the round's own
	desc  bool         // newest first
	addrs []netip.Addr // the network's addresses
	bound []int64      // per address, exclusive
	live  []bool       // per address: it may hold seqs not yet read
	limit []int32      // per address: entries to read in its next round, 0 before the first
	buf   []int64      // seqs read and not yet returned
	query queryFunc    // runs sql
	reads int          // index entries read so far
}

// queryFunc runs a statement, as pgxpool.Pool.Query does.
type queryFunc func(ctx context.Context, sql string, args ...any) (pgx.Rows, error)

// maxIPRound caps the entries one address reads in one round.
const maxIPRound = 4096

// newIPMerge returns a merge of the seqs of addrs past cursor (exclusive,
// in the scan's order) among the events that satisfy where, a conjunction
// of SQL conditions whose placeholders are args. It reads nothing yet.
func newIPMerge(query queryFunc, where []string, args []any, addrs []netip.Addr, cursor int64, desc bool) *ipMerge {
	n := len(args)
	p := func(k int) string { return "$" + strconv.Itoa(n+k) }
	past, floorCmp, order := ">", "<", "ASC"
	if desc {
		past, floorCmp, order = "<", ">", "DESC"
	}
	sql := "SELECT a.i, l.seq FROM unnest(" + p(1) + "::inet[], " + p(2) + "::bigint[], " + p(3) + "::int[], " + p(4) +
		"::int[]) AS a(ip, bound, lim, i), LATERAL (SELECT seq FROM trail_events WHERE " + strings.Join(where, " AND ") +
		" AND source_ip = a.ip AND seq " + past + " a.bound AND seq " + floorCmp + " " + p(5) +
		" ORDER BY seq " + order + " LIMIT a.lim) l"
	m := &ipMerge{
		sql:   sql,
		args:  args,
		desc:  desc,
		addrs: addrs,
		bound: make([]int64, len(addrs)),
		live:  make([]bool, len(addrs)),
		limit: make([]int32, len(addrs)),
		query: query,
	}
	for i := range addrs {
		m.bound[i], m.live[i] = cursor, true
	}
	return m
}

// order compares seqs a and b in the scan's order, as slices.SortFunc
// wants.
func (m *ipMerge) order(a, b int64) int {
	if m.desc {
		return cmp.Compare(b, a)
	}
	return cmp.Compare(a, b)
}

// ahead reports whether seq a comes strictly before seq b in the scan's
// order.
func (m *ipMerge) ahead(a, b int64) bool { return m.order(a, b) < 0 }

// frontier returns the bound of the live address that comes first in the
// scan's order: a read seq not after it cannot be preceded by a seq not
// yet read. ok is false when no address is live.
func (m *ipMerge) frontier() (f int64, ok bool) {
	for i, l := range m.live {
		if l && (!ok || m.ahead(m.bound[i], f)) {
			f, ok = m.bound[i], true
		}
	}
	return f, ok
}

// next returns the next n seqs in the scan's order, fewer only when the
// addresses hold no more. It errors when a statement fails.
func (m *ipMerge) next(ctx context.Context, n int) ([]int64, error) {
	for {
		slices.SortFunc(m.buf, m.order)
		f, live := m.frontier()
		ready := 0 // the read seqs that no unread one can precede
		for ready < len(m.buf) && (!live || !m.ahead(f, m.buf[ready])) {
			ready++
		}
		if ready >= n || !live {
			k := min(n, ready)
			out := slices.Clone(m.buf[:k])
			m.buf = slices.Delete(m.buf, 0, k)
			return out, nil
		}
		if err := m.read(ctx, n); err != nil {
			return nil, err
		}
	}
}

// read runs one round: for each live address that may hold one of the
// next n seqs, the entries after its bound (and before the n-th seq read
// so far, when n are read), up to its limit, which doubles for the next
// round. It keeps the invariant of ipMerge and moves every bound it reads
// past (or marks the address done), so that rounds make progress.
func (m *ipMerge) read(ctx context.Context, n int) error {
	// The floor: no seq behind the n-th read so far can be among the
	// next n. Without n read, the end of the log.
	floor, hasFloor := int64(math.MaxInt64), false
	if m.desc {
		floor = -1
	}
	if len(m.buf) >= n {
		floor, hasFloor = m.buf[n-1], true
	}
	first := int32(max(4, 2*n/len(m.addrs)+1))
	var pick []int
	var ips []netip.Addr
	var bounds []int64
	var limits, index []int32
	for i, l := range m.live {
		if !l || hasFloor && !m.ahead(m.bound[i], floor) {
			continue
		}
		if m.limit[i] == 0 {
			m.limit[i] = first
		}
		pick = append(pick, i)
		ips = append(ips, m.addrs[i])
		bounds = append(bounds, m.bound[i])
		limits = append(limits, m.limit[i])
		index = append(index, int32(i))
	}
	got := make(map[int32]int32, len(pick))
	rows, err := m.query(ctx, m.sql, append(slices.Clone(m.args), ips, bounds, limits, index, floor)...)
	if err != nil {
		return fmt.Errorf("read ip index: %w", err)
	}
	for rows.Next() {
		var i int32
		var seq int64
		if err := rows.Scan(&i, &seq); err != nil {
			rows.Close()
			return fmt.Errorf("read ip index: %w", err)
		}
		if i < 0 || int(i) >= len(m.addrs) {
			rows.Close()
			return fmt.Errorf("read ip index: address %d of %d", i, len(m.addrs))
		}
		got[i]++
		m.reads++
		m.buf = append(m.buf, seq)
		if m.ahead(m.bound[i], seq) { // the bound follows the entries read
			m.bound[i] = seq
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read ip index: %w", err)
	}
	for _, i := range pick {
		switch {
		case got[int32(i)] == m.limit[i]:
			m.limit[i] = min(2*m.limit[i], maxIPRound)
		case hasFloor:
			// Everything between the bound and the floor is read: what
			// remains lies after the floor.
			m.bound[i] = floor
		default:
			m.live[i] = false
		}
	}
	return nil
}
