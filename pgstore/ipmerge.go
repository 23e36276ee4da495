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
	"github.com/trail-audit/trail"
)

// ipMerge lists the seqs of a tenant's events whose source address lies
// in one of a few runs of an index, in the scan's order, reading each run
// only as far as the merged order needs. A run is an address of
// (tenant, source_ip, seq) or an IPv4 /24 of (tenant, net24, seq)
// (migration 7, see ipRuns).
//
// A k-way merge of the runs needs only about k + n entries for the first
// n seqs, where reading every run up to n entries (the first version)
// read all of a popular /24 (18k entries of the largest tenant at 10M
// events). So each round reads a few entries of the runs that may still
// hold one of the next n seqs, in one statement (a LATERAL scan per run),
// and a seq is returned once no run can hold one before it.
//
// Invariant: every seq of run i not yet read lies strictly after bound[i]
// in the scan's order (below it when descending), and none is left when
// live[i] is false.
type ipMerge struct {
	sql   string      // one round, see newIPMerge
	args  []any       // the arguments of sql before the round's own
	desc  bool        // newest first
	runs  ipRuns      // the runs' keys and the index they are runs of
	bound []int64     // per run, exclusive
	live  []bool      // per run: it may hold seqs not yet read
	limit []int32     // per run: entries to read in its next round, 0 before the first
	buf   []int64     // seqs read and not yet returned
	db    batchSender // runs sql
	reads int         // index entries read so far
}

// batchSender sends statements in one round trip and one implicit
// transaction, as pgxpool.Pool does.
type batchSender interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// sortOffSQL turns sorts off until the end of the transaction. The planner
// estimates about one row per address (source_ip has millions of distinct
// values, most of them IPv6), so with a partition of the tenant and empty
// ones beside it, it appends the partitions and sorts each run's rows
// instead of merging the partitions' ordered index scans: the LIMIT then
// stops nothing, and every entry of the run is read (all 18k of a /24
// of the largest tenant at 10M events, 7961 buffers against 2524).
const sortOffSQL = `SELECT set_config('enable_sort', 'off', true)`

// maxIPRound caps the entries one address reads in one round.
const maxIPRound = 4096

// newIPMerge returns a merge of the seqs of runs past cursor (exclusive,
// in the scan's order) among the events that satisfy where, a conjunction
// of SQL conditions whose placeholders are args. It reads nothing yet.
func newIPMerge(db batchSender, where []string, args []any, runs ipRuns, cursor int64, desc bool) *ipMerge {
	n := len(args)
	p := func(k int) string { return "$" + strconv.Itoa(n+k) }
	past, floorCmp, order := ">", "<", "ASC"
	if desc {
		past, floorCmp, order = "<", ">", "DESC"
	}
	sql := "SELECT a.i, l.seq FROM unnest(" + p(1) + "::" + runs.keyType + "[], " + p(2) + "::bigint[], " + p(3) + "::int[], " + p(4) +
		"::int[]) AS a(k, bound, lim, i), LATERAL (SELECT seq FROM trail_events WHERE " + strings.Join(where, " AND ") +
		" AND " + runs.keyExpr + " = a.k AND seq " + past + " a.bound AND seq " + floorCmp + " " + p(5) +
		" ORDER BY seq " + order + " LIMIT a.lim) l"
	m := &ipMerge{
		sql:   sql,
		args:  args,
		desc:  desc,
		runs:  runs,
		bound: make([]int64, len(runs.keys)),
		live:  make([]bool, len(runs.keys)),
		limit: make([]int32, len(runs.keys)),
		db:    db,
	}
	for i := range runs.keys {
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
	pick, floor, hasFloor, args := m.roundArgs(n)
	got := make(map[int32]int32, len(pick))
	br := m.db.SendBatch(ctx, m.roundBatch(m.sql, args))
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return fmt.Errorf("read ip index: sorts off: %w", err)
	}
	rows, err := br.Query()
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
		if i < 0 || int(i) >= len(m.runs.keys) {
			rows.Close()
			return fmt.Errorf("read ip index: run %d of %d", i, len(m.runs.keys))
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
	if err := br.Close(); err != nil {
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

// roundBatch returns the batch that runs sql, a round's statement (or a
// plan of it), with args, sorts off (sortOffSQL).
func (m *ipMerge) roundBatch(sql string, args []any) *pgx.Batch {
	b := &pgx.Batch{}
	b.Queue(sortOffSQL)
	b.Queue(sql, args...)
	return b
}

// roundArgs chooses the addresses of the next round towards the next n
// seqs (pick: the live ones that may hold a seq before the floor) and
// returns them with the floor (hasFloor false: the end of the log) and the
// arguments of the round's statement. It sets the limit of an address
// that reads for the first time.
func (m *ipMerge) roundArgs(n int) (pick []int, floor int64, hasFloor bool, args []any) {
	// The floor: no seq behind the n-th read so far can be among the
	// next n. Without n read, the end of the log.
	floor = math.MaxInt64
	if m.desc {
		floor = -1
	}
	if len(m.buf) >= n {
		floor, hasFloor = m.buf[n-1], true
	}
	first := int32(max(4, 2*n/len(m.runs.keys)+1))
	var keys []netip.Prefix
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
		keys = append(keys, m.runs.keys[i])
		bounds = append(bounds, m.bound[i])
		limits = append(limits, m.limit[i])
		index = append(index, int32(i))
	}
	return pick, floor, hasFloor, append(slices.Clone(m.args), keys, bounds, limits, index, floor)
}

// net24SQL is the key of the index trail_events_net24 (migration 7): the
// /24 network of an IPv4 source_ip (of an IPv6 one, a /24 that no IPv4
// network equals).
const net24SQL = "network(set_masklen(source_ip, 24))"

// ipRuns are the runs of an index whose merge lists a network's events:
// keys of type keyType, compared with keyExpr, the key column of the
// index after tenant.
type ipRuns struct {
	keyExpr, keyType string
	keys             []netip.Prefix
}

// networkRuns returns the runs that hold the events of the network that x
// requires (its first top-level ip conjunct), or ok false when there is
// none or it needs more than 256 runs: an IPv4 network of /16 to /24 is
// its /24s in trail_events_net24; a network of at most 256 addresses
// (IPv4 longer than /24, IPv6 /120 and longer) is its addresses in
// trail_events_ip, as /32 or /128.
func networkRuns(x *trail.Expr) (r ipRuns, ok bool) {
	p, ok := requiredNetwork(x)
	if !ok {
		return ipRuns{}, false
	}
	p = p.Masked()
	bits := p.Addr().BitLen()
	switch {
	case p.Addr().Is4() && p.Bits() >= 16 && p.Bits() <= 24:
		r = ipRuns{keyExpr: net24SQL, keyType: "cidr"}
		for a := p.Addr(); a.IsValid() && p.Contains(a); {
			n := netip.PrefixFrom(a, 24)
			r.keys = append(r.keys, n)
			a = lastAddr(n).Next()
		}
		return r, true
	case bits-p.Bits() <= 8:
		r = ipRuns{keyExpr: "source_ip", keyType: "inet"}
		for a := p.Addr(); a.IsValid() && p.Contains(a); a = a.Next() {
			r.keys = append(r.keys, netip.PrefixFrom(a, bits))
		}
		return r, true
	}
	return ipRuns{}, false
}

// lastAddr returns the last address of the masked network p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// requiredNetwork returns the network of the first top-level ip conjunct
// of x.
func requiredNetwork(x *trail.Expr) (netip.Prefix, bool) {
	if x == nil {
		return netip.Prefix{}, false
	}
	switch x.Op {
	case trail.OpAnd:
		for _, a := range x.Args {
			if p, ok := requiredNetwork(a); ok {
				return p, true
			}
		}
	case trail.OpTerm:
		if x.Field != trail.FieldIP {
			return netip.Prefix{}, false
		}
		p, err := trail.ParseIPMatch(x.Value)
		return p, err == nil
	}
	return netip.Prefix{}, false
}
