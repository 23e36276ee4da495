package pgstore

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/trail-audit/trail"
	"github.com/trail-audit/trail/merkle"
)

// columns maps the indexed fields that have a column of their own.
var columns = map[string]string{
	trail.FieldActor:        "actor_id",
	trail.FieldAction:       "action",
	trail.FieldOutcome:      "outcome",
	trail.FieldSeverity:     "severity",
	trail.FieldResourceType: "resource_type",
	trail.FieldResourceID:   "resource_id",
	trail.FieldRequestID:    "request_id",
}

// sqlBuilder accumulates the arguments of one SQL statement.
type sqlBuilder struct{ args []any }

func (b *sqlBuilder) arg(v any) string {
	b.args = append(b.args, v)
	return "$" + strconv.Itoa(len(b.args))
}

// cond translates x into a SQL condition that holds for every event x
// matches: a superset, which the matcher then narrows to exactly x. ""
// means no condition. exact reports that the condition holds for exactly
// the events x matches (with NULL meaning false), so that it may be
// negated.
//
// A condition given up on ("") leaves no argument behind: one added for a
// part of it (the actor of "actor OR some words") would be a parameter the
// statement never uses, whose type PostgreSQL cannot determine.
func (b *sqlBuilder) cond(x *trail.Expr) (sql string, exact bool) {
	n := len(b.args)
	sql, exact = b.condOf(x)
	if sql == "" {
		clear(b.args[n:])
		b.args = b.args[:n]
	}
	return sql, exact
}

func (b *sqlBuilder) condOf(x *trail.Expr) (sql string, exact bool) {
	if x == nil {
		return "", true
	}
	switch x.Op {
	case trail.OpNot:
		in, ex := b.cond(x.Args[0])
		if !ex || in == "" {
			return "", false
		}
		return "NOT coalesce(" + in + ", false)", true
	case trail.OpAnd:
		var parts []string
		exact = true
		for _, a := range x.Args {
			c, ex := b.cond(a)
			exact = exact && ex
			if c != "" {
				parts = append(parts, c)
			}
		}
		if len(parts) == 0 {
			return "", false
		}
		return "(" + strings.Join(parts, " AND ") + ")", exact
	case trail.OpOr:
		var parts []string
		exact = true
		for _, a := range x.Args {
			c, ex := b.cond(a)
			if c == "" {
				return "", false
			}
			exact = exact && ex
			parts = append(parts, c)
		}
		return "(" + strings.Join(parts, " OR ") + ")", exact
	}
	return b.term(x)
}

// term translates one field:value term.
func (b *sqlBuilder) term(x *trail.Expr) (string, bool) {
	if col, ok := columns[x.Field]; ok {
		if strings.ContainsAny(x.Value, "\x00\uFFFD") {
			return "", false // columns hold NUL as U+FFFD: leave it to the matcher
		}
		if x.Prefix {
			return "(" + col + " LIKE " + b.arg(likePrefix(x.Value)) + " AND " + col + " <> '')", true
		}
		if x.Value == "" {
			return "false", true
		}
		return col + " = " + b.arg(x.Value), true
	}
	switch {
	case x.Field == trail.FieldIP:
		p, err := trail.ParseIPMatch(x.Value)
		if err != nil {
			return "false", true
		}
		return "source_ip <<= " + b.arg(p) + "::inet", true
	}
	// Free text and metadata: trail_words narrows the seqs (see
	// requiredWords), the matcher decides.
	return "", false
}

// likePrefix returns a LIKE pattern matching strings that start with p.
func likePrefix(p string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(p) + "%"
}

// selection is a query's filter: the SQL that prunes and the matcher that
// decides.
type selection struct {
	q         *trail.Query
	match     trail.Matcher
	after     int64
	hasCursor bool
}

func newSelection(q *trail.Query) (*selection, error) {
	after, hasCursor, err := q.Normalize()
	if err != nil {
		return nil, err
	}
	m, err := q.Filter.Compile()
	if err != nil {
		return nil, err
	}
	return &selection{q: q, match: m, after: after, hasCursor: hasCursor}, nil
}

func (sel *selection) accepts(e *trail.Event) bool {
	q := sel.q
	t := e.Time
	if e.Erased { // what remains of an erased event: listed by receipt time, without a filter only
		t = e.ReceivedAt
		if q.Filter != nil {
			return false
		}
	}
	if (!q.From.IsZero() && t.Before(q.From)) || (!q.To.IsZero() && !t.Before(q.To)) {
		return false
	}
	return e.Erased || sel.match(e)
}

// requireTenant returns ENOTFOUND unless tenant has a log.
func (s *Store) requireTenant(ctx context.Context, tenant string) error {
	if err := trail.ValidateTenantName(tenant); err != nil {
		return err
	}
	if _, ok := s.knownSize(tenant); ok {
		return nil
	}
	var size int64
	err := s.pool.QueryRow(ctx, `SELECT size FROM trail_tenants WHERE tenant = $1`, tenant).Scan(&size)
	if err == pgx.ErrNoRows {
		return trail.Errorf(trail.ENOTFOUND, "tenant %s not found", tenant)
	}
	if err != nil {
		return s.dbError("read tenant", err)
	}
	s.observe(map[string]int64{tenant: size})
	return nil
}

// scan calls fn with every event selected by sel, in its order, until fn
// returns false. It fetches candidates in growing pages by seq, so a
// selective index or an early stop costs little.
//
// With stubs, a query without a filter also lists what remains of erased
// events (trail_erased), by their receipt time.
func (s *Store) scan(ctx context.Context, sel *selection, want int, stubs bool, fn func(*trail.Event) bool) error {
	q := sel.q
	if err := s.requireTenant(ctx, q.Tenant); err != nil {
		return err
	}
	stubs = stubs && q.Filter == nil
	var b sqlBuilder
	tenantArg := b.arg(q.Tenant)
	where := []string{"tenant = " + tenantArg}
	erasedWhere := []string{"tenant = " + tenantArg}
	// Times in the database have microseconds; the matcher decides at the
	// edges.
	if !q.From.IsZero() {
		a := b.arg(q.From.Add(-time.Microsecond))
		where = append(where, "time >= "+a)
		erasedWhere = append(erasedWhere, "received_at >= "+a)
	}
	if !q.To.IsZero() {
		a := b.arg(q.To.Add(time.Microsecond))
		where = append(where, "time < "+a)
		erasedWhere = append(erasedWhere, "received_at < "+a)
	}
	cond, exact := b.cond(q.Filter)
	if cond != "" {
		where = append(where, cond)
	}
	desc := q.Order != trail.OrderAsc
	cmp, order := ">", "ASC"
	if desc {
		cmp, order = "<", "DESC"
	}
	cursorAt, loAt, hiAt, limitAt := len(b.args), len(b.args)+1, len(b.args)+2, len(b.args)+3
	bounds := " AND seq " + cmp + " " + b.arg(int64(0)) + " AND seq >= " + b.arg(int64(0)) + " AND seq <= " + b.arg(int64(0))
	limit := " ORDER BY seq " + order + " LIMIT " + b.arg(0)
	sql := "SELECT seq, data, NULL::text, NULL::timestamptz FROM trail_events WHERE " + strings.Join(where, " AND ") + bounds + limit
	if stubs {
		// Each side ordered and limited on its own: over the UNION ALL as
		// a whole the planner sorted the tenant's every row (6 s for the
		// newest 100 of 1.78M) instead of merging two index scans.
		sql = "SELECT * FROM ((" + sql + ") UNION ALL (SELECT seq, NULL, id, received_at FROM trail_erased WHERE " +
			strings.Join(erasedWhere, " AND ") + bounds + limit + ")) u" + limit
	}
	var tree *merkle.Tree // for the leaf hashes of erased events, opened at the first
	firstPage := 5000
	if want > 0 {
		firstPage = want + 1
		if !exact {
			firstPage = max(4*want, 256)
		}
	}
	// cursor is the last seq seen: the next row is strictly after it in
	// the scan's order.
	cursor := int64(-1)
	if desc {
		cursor = math.MaxInt64
	}
	if sel.hasCursor {
		cursor = sel.after
	}

	// scanRange reads the events of seqs [lo, hi] past the cursor. It
	// reports whether fn asked to stop.
	scanRange := func(lo, hi int64) (bool, error) {
		page := firstPage
		for {
			b.args[cursorAt], b.args[loAt], b.args[hiAt], b.args[limitAt] = cursor, lo, hi, page
			rows, err := s.pool.Query(ctx, sql, b.args...)
			if err != nil {
				return false, s.dbError("query", err)
			}
			n := 0
			for rows.Next() {
				var seq int64
				var data []byte
				var id *string
				var recv *time.Time
				if err := rows.Scan(&seq, &data, &id, &recv); err != nil {
					rows.Close()
					return false, s.dbError("query", err)
				}
				n++
				cursor = seq
				var e *trail.Event
				if data == nil && id != nil && recv != nil {
					if tree == nil {
						h, err := s.head(ctx, s.pool, q.Tenant)
						if err == nil {
							tree, err = s.readTree(ctx, q.Tenant, h, h.size)
						}
						if err != nil {
							rows.Close()
							return false, err
						}
					}
					lh, err := tree.LeafHashAt(seq)
					if err != nil {
						rows.Close()
						return false, s.dbError("query", err)
					}
					h := trail.Hash(lh)
					e = &trail.Event{ID: *id, Seq: seq, Tenant: q.Tenant, ReceivedAt: recv.UTC(), Erased: true, LeafHash: &h}
				} else if e, err = decodeStored(q.Tenant, seq, data); err != nil {
					rows.Close()
					return false, err
				}
				if sel.accepts(e) && !fn(e) {
					rows.Close()
					return true, nil
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return false, s.dbError("query", err)
			}
			if n < page {
				return false, nil
			}
			page = min(4*page, 20000)
		}
	}

	// scanSeqs reads the events of candidate seqs (in the scan's order,
	// all past the cursor), in chunks sized by nextChunk, so that a dense
	// word stops early and a sparse one costs few statements. It reports
	// whether fn asked to stop.
	seqArgs := slices.Clone(b.args[:cursorAt])
	seqSQL := candidatesSQL(tenantArg, where, "$"+strconv.Itoa(cursorAt+1), order)
	chunk := firstPage
	hits := 0  // events that scanSeqs passed to fn
	tried := 0 // candidates that scanSeqs read
	// nextChunk is the number of candidates to read next. Without a
	// limit: growing chunks from firstPage. With one: what the rest of
	// the page needs at the rate of hits per candidate seen so far, +25 %,
	// and at first as if every candidate were a hit. A common word's
	// signature candidates are nearly all hits, and reading firstPage
	// (4× the page) of them read 4× the heap pages it needed: with 4M
	// events loaded and the load running, 100–300 ms of the slowest
	// word queries (p50 104 → 32 ms, p99 359 → 160 ms, one run each,
	// load average 15–18). A sparse word's rate sizes the chunks after
	// the first.
	nextChunk := func() int {
		if want <= 0 {
			k := chunk
			chunk = min(4*chunk, 20000)
			return k
		}
		need := max(want-hits, 1)
		switch {
		case tried == 0:
			return need + need/4 + 8
		case hits == 0:
			return min(4*tried, 20000)
		}
		return min(need*tried/hits*5/4+8, 20000)
	}
	scanSeqs := func(seqs []int64) (bool, error) {
		for len(seqs) > 0 {
			k := min(nextChunk(), len(seqs))
			tried += k
			rows, err := s.pool.Query(ctx, seqSQL, append(seqArgs, seqs[:k])...)
			if err != nil {
				return false, s.dbError("query", err)
			}
			for rows.Next() {
				var seq int64
				var data []byte
				if err := rows.Scan(&seq, &data); err != nil {
					rows.Close()
					return false, s.dbError("query", err)
				}
				e, err := decodeStored(q.Tenant, seq, data)
				if err != nil {
					rows.Close()
					return false, err
				}
				if !sel.accepts(e) {
					continue
				}
				hits++
				if !fn(e) {
					rows.Close()
					return true, nil
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return false, s.dbError("query", err)
			}
			seqs = seqs[k:]
		}
		return false, nil
	}

	// A network of at most 256 addresses or /24s: walking the key
	// backwards reads thousands of rows per hit when the network is rare
	// in a large tenant (p99 150 ms at 10M), and a range of an ip index
	// is not in seq order. So merge the seqs of each address or /24,
	// reading only as much of each as the merged order needs (ipMerge), a
	// page at a time, and read only those events.
	if runs, ok := networkRuns(q.Filter); ok {
		m := newIPMerge(s.pool, where, seqArgs, runs, cursor, desc)
		for {
			seqs, err := m.next(ctx, firstPage)
			if err != nil {
				return s.dbError("query", err)
			}
			if stop, err := scanSeqs(seqs); err != nil || stop || len(seqs) < firstPage {
				return err
			}
		}
	}

	words := requiredWords(q.Filter, nil)
	if len(words) == 0 {
		_, err := scanRange(0, math.MaxInt64)
		return err
	}
	// The signature bits every match has set.
	var pos []int32
	for _, w := range words {
		pos = sigPositions(pos, w)
	}
	slices.Sort(pos)
	pos = slices.Compact(pos)

	// Only the commits whose words include every required word can hold
	// a match: read their seq ranges, in the scan's order, many at a time
	// (trail_word_ranges, migration 6); then, for a growing batch of them,
	// the slices of the signature bits (signature.go), and only the events
	// whose bits are all set. A range without signatures is read whole.
	words = append(words, tenantKey(q.Tenant))
	slices.Sort(words)
	words = slices.Compact(words)
	const rangeSQL = `SELECT first_seq, last_seq FROM trail_word_ranges($1, $2, $3, $4, $5)`
	const slicesSQL = `SELECT first_seq, ARRAY(
			SELECT substring(slices FROM (u.p * ((last_seq - first_seq + 8) / 8) + 1)::int FOR ((last_seq - first_seq + 8) / 8)::int)
			FROM unnest($3::int[]) WITH ORDINALITY AS u(p, i) ORDER BY u.i)
		FROM trail_words WHERE tenant = $1 AND first_seq = ANY($2) AND slices IS NOT NULL`
	const rangesPerRead = 1024
	// batch is how many ranges' slices are read at once: 32, then as many
	// as the hits per range so far predict for the rest of the page (each
	// costs about 0.1 ms), or four times more.
	batch, done := 32, 0
	var seqs []int64 // candidates of the ranges read so far, not yet scanned
	for {
		rows, err := s.pool.Query(ctx, rangeSQL, q.Tenant, words, cursor, desc, rangesPerRead)
		if err != nil {
			return s.dbError("query", err)
		}
		var ranges [][2]int64
		for rows.Next() {
			var r [2]int64
			if err := rows.Scan(&r[0], &r[1]); err != nil {
				rows.Close()
				return s.dbError("query", err)
			}
			ranges = append(ranges, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return s.dbError("query", err)
		}
		read := len(ranges)
		for len(ranges) > 0 {
			k := min(batch, len(ranges))
			page := ranges[:k]
			ranges = ranges[k:]
			done += k
			if want > 0 && hits > 0 && hits < want {
				batch = min(max(5*(want-hits)*done/(4*hits)+1, 8), 1024)
			} else {
				batch = min(4*batch, 1024)
			}
			firsts := make([]int64, len(page))
			for i, r := range page {
				firsts[i] = r[0]
			}
			sl := make(map[int64][][]byte, len(page))
			rows, err := s.pool.Query(ctx, slicesSQL, q.Tenant, firsts, pos)
			if err != nil {
				return s.dbError("query", err)
			}
			for rows.Next() {
				var first int64
				var b [][]byte
				if err := rows.Scan(&first, &b); err != nil {
					rows.Close()
					return s.dbError("query", err)
				}
				sl[first] = b
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return s.dbError("query", err)
			}
			for _, r := range page {
				if cands, ok := sigCandidates(r[0], r[1], sl[r[0]], cursor, desc); ok {
					seqs = append(seqs, cands...)
				} else {
					// Read the candidates before this range, then it whole.
					stop, err := scanSeqs(seqs)
					if err != nil || stop {
						return err
					}
					seqs = seqs[:0]
					if stop, err = scanRange(r[0], r[1]); err != nil || stop {
						return err
					}
				}
				// The whole range was read or taken: move the cursor past it.
				if desc {
					cursor = min(cursor, r[0])
				} else {
					cursor = max(cursor, r[1])
				}
			}
			if stop, err := scanSeqs(seqs); err != nil || stop {
				return err
			}
			seqs = seqs[:0]
		}
		if read < rangesPerRead {
			return nil
		}
	}
}

// candidatesSQL returns the statement that reads the events of the seqs
// in array parameter seqs that satisfy where, in the given order ("ASC" or
// "DESC"). The events are found by their key: behind OFFSET 0, which the
// planner does not look through, the conditions of where only filter
// them. Otherwise the planner could drive the read by one of them instead:
// for an ip /24 whose size the histogram underestimated (1961 rows
// expected, 17,597 found), it read every event of the /24 in the largest
// tenant and kept the 101 candidates (934 ms cold, 120 ms warm, for a
// page read in 2 ms by key).
func candidatesSQL(tenantArg string, where []string, seqs, order string) string {
	return "SELECT seq, data FROM (SELECT * FROM trail_events WHERE tenant = " + tenantArg + " AND seq = ANY(" + seqs +
		") OFFSET 0) c WHERE " + strings.Join(where, " AND ") + " ORDER BY seq " + order
}

// sigCandidates returns the seqs of range [lo, hi] past cursor (in the
// scan's order) whose signature has every bit of the given slices set. ok
// is false when the range has no signatures, or slices of the wrong
// length (which Verify reports): the range must then be read whole.
func sigCandidates(lo, hi int64, sl [][]byte, cursor int64, desc bool) (seqs []int64, ok bool) {
	if sl == nil || hi < lo {
		return nil, false
	}
	l := int(sigSliceLen(hi - lo + 1))
	and := make([]byte, l)
	for i := range and {
		and[i] = 0xff
	}
	for _, b := range sl {
		if len(b) != l {
			return nil, false
		}
		for i := range and {
			and[i] &= b[i]
		}
	}
	n := int(hi - lo + 1)
	for k := range n {
		o := k
		if desc {
			o = n - 1 - k
		}
		seq := lo + int64(o)
		if and[o/8]&(1<<(o%8)) == 0 || (desc && seq >= cursor) || (!desc && seq <= cursor) {
			continue
		}
		seqs = append(seqs, seq)
	}
	return seqs, true
}

// requiredWords returns the trail_words entries that every event matching
// x has: those of the terms that x requires (its top-level conjuncts)
// among free-text words, exact metadata values and resource and request
// ids.
func requiredWords(x *trail.Expr, out []string) []string {
	if x == nil {
		return out
	}
	switch x.Op {
	case trail.OpAnd:
		for _, a := range x.Args {
			out = requiredWords(a, out)
		}
	case trail.OpTerm:
		switch {
		case x.Field == trail.FieldText:
			ws := trail.Words(x.Value)
			if x.Prefix && len(ws) > 0 {
				ws = ws[:len(ws)-1]
			}
			for _, w := range ws {
				out = append(out, termKey(trail.FieldText, w))
			}
		case x.Prefix || x.Value == "":
		case x.Field == trail.FieldResourceID, x.Field == trail.FieldRequestID, trail.MetadataIndexed(x.Field):
			out = append(out, termKey(x.Field, trail.IndexKey(x.Value)))
		}
	}
	return out
}

// decodeStored decodes a stored leaf, with LeafHash and Leaf set.
func decodeStored(tenant string, seq int64, data []byte) (*trail.Event, error) {
	e, err := trail.DecodeEvent(data)
	if err != nil || e.Seq != seq || e.Tenant != tenant {
		return nil, &trail.TamperError{Tenant: tenant, Seq: seq, File: "trail_events", Reason: "stored event does not decode to its own seq and tenant"}
	}
	h := trail.Hash(leafHash(data))
	e.LeafHash = &h
	e.Leaf = data
	return e, nil
}

// Query implements trail.Store.
func (s *Store) Query(ctx context.Context, q *trail.Query) (*trail.Page, error) {
	sel, err := newSelection(q)
	if err != nil {
		return nil, err
	}
	p := &trail.Page{Events: []*trail.Event{}}
	err = s.scan(ctx, sel, q.Limit, true, func(e *trail.Event) bool {
		p.Events = append(p.Events, e)
		return len(p.Events) < q.Limit
	})
	if err != nil {
		return nil, err
	}
	if len(p.Events) == q.Limit {
		p.NextCursor = trail.EncodeCursor(p.Events[len(p.Events)-1].Seq, q.Order)
	}
	return p, nil
}

// Stats implements trail.Store.
func (s *Store) Stats(ctx context.Context, sq *trail.StatsQuery) (*trail.Stats, error) {
	if err := sq.Validate(); err != nil {
		return nil, err
	}
	q := sq.Query
	q.Cursor = ""
	sel, err := newSelection(&q)
	if err != nil {
		return nil, err
	}
	c := trail.NewStatsCounter(sq)
	var addErr error
	err = s.scan(ctx, sel, 0, false, func(e *trail.Event) bool {
		addErr = c.Add(e)
		return addErr == nil
	})
	if err == nil {
		err = addErr
	}
	if err != nil {
		return nil, err
	}
	return c.Result(), nil
}

// Get implements trail.Store.
func (s *Store) Get(ctx context.Context, tenant, id string) (*trail.Event, error) {
	if err := trail.ValidateTenantName(tenant); err != nil {
		return nil, err
	}
	var seq int64
	var recv time.Time
	var data []byte
	var erased bool
	err := s.pool.QueryRow(ctx, `SELECT i.seq, i.received_at, e.data, x.seq IS NOT NULL FROM trail_ids i
		LEFT JOIN trail_events e ON e.tenant = i.tenant AND e.seq = i.seq AND e.received_at = i.received_at
		LEFT JOIN trail_erased x ON x.tenant = i.tenant AND x.seq = i.seq
		WHERE i.tenant = $1 AND i.id = $2`, tenant, id).Scan(&seq, &recv, &data, &erased)
	if err == pgx.ErrNoRows {
		if err := s.requireTenant(ctx, tenant); err != nil {
			return nil, err
		}
		return nil, trail.Errorf(trail.ENOTFOUND, "event %s not found", id)
	}
	if err != nil {
		return nil, s.dbError("get", err)
	}
	if data != nil {
		e, err := decodeStored(tenant, seq, data)
		if err != nil {
			return nil, err
		}
		if e.ID != id {
			return nil, &trail.TamperError{Tenant: tenant, Seq: seq, File: "trail_events", Reason: "stored event has another id than trail_ids says"}
		}
		return e, nil
	}
	if !erased {
		return nil, &trail.TamperError{Tenant: tenant, Seq: seq, File: "trail_events", Reason: "event row is missing"}
	}
	h, err := s.leafHashAt(ctx, tenant, seq)
	if err != nil {
		return nil, err
	}
	return &trail.Event{ID: id, Seq: seq, Tenant: tenant, ReceivedAt: recv.UTC(), Erased: true, LeafHash: &h}, nil
}

// leafHashAt reads the leaf hash of a committed seq from the tree.
func (s *Store) leafHashAt(ctx context.Context, tenant string, seq int64) (trail.Hash, error) {
	h, err := s.head(ctx, s.pool, tenant)
	if err != nil {
		return trail.Hash{}, err
	}
	if seq >= h.size {
		return trail.Hash{}, fmt.Errorf("pgstore: seq %d past the tree of tenant %s (%d)", seq, tenant, h.size)
	}
	tree, err := s.readTree(ctx, tenant, h, seq+1)
	if err != nil {
		return trail.Hash{}, err
	}
	lh, err := tree.LeafHashAt(seq)
	if err != nil {
		return trail.Hash{}, s.dbError("read leaf hash", err)
	}
	return trail.Hash(lh), nil
}

// Read implements trail.Store. One statement reads the tenant's row and
// the records, in one round trip and one snapshot: followers (an alert
// engine per tenant) read after every commit they wait for, so a second
// statement per Read was a second round trip and parse/bind/execute per
// commit on both sides.
func (s *Store) Read(ctx context.Context, tenant string, from int64, limit int) ([]trail.Record, error) {
	if from < 0 {
		return nil, trail.FieldError("from", "must not be negative")
	}
	if err := trail.ValidateTenantName(tenant); err != nil {
		return nil, err
	}
	to := from + int64(max(limit, 0))
	// The tenant's row comes first (seq -1). Rows at or past its size
	// cannot be visible in the same snapshot (a commit writes both), and
	// are not returned if they are.
	rows, err := s.pool.Query(ctx, `
		SELECT -1::bigint, checkpoint, NULL::text, NULL::timestamptz, size FROM trail_tenants WHERE tenant = $1
		UNION ALL
		SELECT seq, data, NULL, NULL, NULL FROM trail_events WHERE tenant = $1 AND seq >= $2 AND seq < $3
		UNION ALL
		SELECT seq, NULL, id, received_at, NULL FROM trail_erased WHERE tenant = $1 AND seq >= $2 AND seq < $3
		ORDER BY 1`, tenant, from, to)
	if err != nil {
		return nil, s.dbError("read", err)
	}
	defer rows.Close()
	var (
		h    *tenantHead
		hi   int64
		out  []trail.Record
		tree *merkle.Tree // opened for the first erased record
	)
	for rows.Next() {
		var seq int64
		var data []byte
		var id *string
		var recv *time.Time
		var size *int64
		if err := rows.Scan(&seq, &data, &id, &recv, &size); err != nil {
			return nil, s.dbError("read", err)
		}
		if seq < 0 {
			if size == nil {
				return nil, s.dbError("read", fmt.Errorf("tenant row of %s without a size", tenant))
			}
			if h, err = s.checkHead(tenant, *size, data); err != nil {
				return nil, err
			}
			if hi = min(h.size, to); from >= hi {
				return nil, nil
			}
			out = make([]trail.Record, 0, hi-from)
			continue
		}
		if h == nil {
			break // no tenant row: ENOTFOUND below
		}
		if seq >= hi {
			break
		}
		want := from + int64(len(out))
		if seq != want {
			return nil, &trail.TamperError{Tenant: tenant, Seq: want, File: "trail_events", Reason: "event row is missing"}
		}
		r := trail.Record{Tenant: tenant, Seq: seq, Data: data}
		if data != nil {
			r.LeafHash = trail.Hash(leafHash(data))
		} else {
			if id != nil && recv != nil {
				r.ID, r.ReceivedAt = *id, recv.UTC()
			}
			if tree == nil {
				if tree, err = s.readTree(ctx, tenant, h, hi); err != nil {
					return nil, err
				}
			}
			lh, err := tree.LeafHashAt(seq)
			if err != nil {
				return nil, s.dbError("read leaf hash", err)
			}
			r.LeafHash = trail.Hash(lh)
		}
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, s.dbError("read", err)
	}
	if h == nil {
		return nil, trail.Errorf(trail.ENOTFOUND, "tenant %s not found", tenant)
	}
	if int64(len(out)) != hi-from {
		return nil, &trail.TamperError{Tenant: tenant, Seq: from + int64(len(out)), File: "trail_events", Reason: "event row is missing"}
	}
	return out, nil
}

// Tenants implements trail.Store.
func (s *Store) Tenants(ctx context.Context) ([]trail.Tenant, error) {
	rows, err := s.pool.Query(ctx, `SELECT tenant, size FROM trail_tenants WHERE size > 0 ORDER BY tenant`)
	if err != nil {
		return nil, s.dbError("list tenants", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (trail.Tenant, error) {
		var t trail.Tenant
		err := r.Scan(&t.Name, &t.Size)
		return t, err
	})
	if err != nil {
		return nil, s.dbError("list tenants", err)
	}
	if out == nil {
		out = []trail.Tenant{}
	}
	return out, nil
}
