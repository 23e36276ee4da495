package pgstore

import (
	"context"
	"fmt"
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

// inTerms lists the column fields that are also entries of the terms
// column, so that rare values can be found through its GIN index.
var inTerms = map[string]bool{trail.FieldResourceID: true, trail.FieldRequestID: true}

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
func (b *sqlBuilder) cond(x *trail.Expr) (sql string, exact bool) {
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
		if x.Prefix {
			return "(" + col + " LIKE " + b.arg(likePrefix(x.Value)) + " AND " + col + " <> '')", true
		}
		if x.Value == "" {
			return "false", true
		}
		c := col + " = " + b.arg(x.Value)
		if inTerms[x.Field] {
			c = "(" + c + " AND terms @> " + b.arg([]string{termKey(x.Field, trail.IndexKey(x.Value))}) + ")"
		}
		return c, true
	}
	switch {
	case x.Field == trail.FieldIP:
		p, err := trail.ParseIPMatch(x.Value)
		if err != nil {
			return "false", true
		}
		return "source_ip <<= " + b.arg(p) + "::inet", true
	case x.Field == trail.FieldText:
		words := trail.Words(x.Value)
		if x.Prefix && len(words) > 0 {
			words = words[:len(words)-1]
		}
		if len(words) == 0 {
			return "", false
		}
		keys := make([]string, len(words))
		for i, w := range words {
			keys[i] = termKey(trail.FieldText, w)
		}
		return "terms @> " + b.arg(keys), false
	case strings.HasPrefix(x.Field, trail.MetadataPrefix):
		if x.Prefix || !trail.MetadataIndexed(x.Field) {
			return "", false
		}
		return "terms @> " + b.arg([]string{termKey(x.Field, trail.IndexKey(x.Value))}), false
	}
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
	if (!q.From.IsZero() && e.Time.Before(q.From)) || (!q.To.IsZero() && !e.Time.Before(q.To)) {
		return false
	}
	return sel.match(e)
}

// requireTenant returns ENOTFOUND unless tenant has a log.
func (s *Store) requireTenant(ctx context.Context, tenant string) error {
	if err := trail.ValidateTenantName(tenant); err != nil {
		return err
	}
	if _, ok, _ := s.knownSize(tenant); ok {
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
func (s *Store) scan(ctx context.Context, sel *selection, want int, fn func(*trail.Event) bool) error {
	q := sel.q
	if err := s.requireTenant(ctx, q.Tenant); err != nil {
		return err
	}
	var b sqlBuilder
	where := []string{"tenant = " + b.arg(q.Tenant)}
	// Times in the database have microseconds; the matcher decides at the
	// edges.
	if !q.From.IsZero() {
		where = append(where, "time >= "+b.arg(q.From.Add(-time.Microsecond)))
	}
	if !q.To.IsZero() {
		where = append(where, "time < "+b.arg(q.To.Add(time.Microsecond)))
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
	cursorArg := b.arg(int64(0))
	cursorAt := len(b.args) - 1
	limitArg := b.arg(0)
	limitAt := len(b.args) - 1
	hasCursor, cursor := sel.hasCursor, sel.after
	sqlWith := "SELECT seq, data FROM trail_events WHERE " + strings.Join(where, " AND ") +
		" AND seq " + cmp + " " + cursorArg + " ORDER BY seq " + order + " LIMIT " + limitArg
	sqlWithout := "SELECT seq, data FROM trail_events WHERE " + strings.Join(where, " AND ") +
		" AND " + cursorArg + "::bigint IS NOT NULL ORDER BY seq " + order + " LIMIT " + limitArg

	page := 5000
	if want > 0 {
		page = want + 1
		if !exact {
			page = max(4*want, 256)
		}
	}
	for {
		b.args[cursorAt] = cursor
		b.args[limitAt] = page
		sql := sqlWithout
		if hasCursor {
			sql = sqlWith
		}
		rows, err := s.pool.Query(ctx, sql, b.args...)
		if err != nil {
			return s.dbError("query", err)
		}
		n := 0
		stop := false
		for rows.Next() {
			var seq int64
			var data []byte
			if err := rows.Scan(&seq, &data); err != nil {
				rows.Close()
				return s.dbError("query", err)
			}
			n++
			cursor, hasCursor = seq, true
			e, err := decodeStored(q.Tenant, seq, data)
			if err != nil {
				rows.Close()
				return err
			}
			if sel.accepts(e) && !fn(e) {
				stop = true
				break
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return s.dbError("query", err)
		}
		if stop || n < page {
			return nil
		}
		page = min(4*page, 20000)
	}
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
	err = s.scan(ctx, sel, q.Limit, func(e *trail.Event) bool {
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
	err = s.scan(ctx, sel, 0, func(e *trail.Event) bool {
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

// Read implements trail.Store.
func (s *Store) Read(ctx context.Context, tenant string, from int64, limit int) ([]trail.Record, error) {
	if from < 0 {
		return nil, trail.FieldError("from", "must not be negative")
	}
	h, err := s.head(ctx, s.pool, tenant)
	if err != nil {
		return nil, err
	}
	hi := min(h.size, from+int64(max(limit, 0)))
	if from >= hi {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `
		SELECT seq, data FROM trail_events WHERE tenant = $1 AND seq >= $2 AND seq < $3
		UNION ALL
		SELECT seq, NULL FROM trail_erased WHERE tenant = $1 AND seq >= $2 AND seq < $3
		ORDER BY seq`, tenant, from, hi)
	if err != nil {
		return nil, s.dbError("read", err)
	}
	defer rows.Close()
	out := make([]trail.Record, 0, hi-from)
	var tree *merkle.Tree // opened for the first erased record
	for rows.Next() {
		var seq int64
		var data []byte
		if err := rows.Scan(&seq, &data); err != nil {
			return nil, s.dbError("read", err)
		}
		want := from + int64(len(out))
		if seq != want {
			return nil, &trail.TamperError{Tenant: tenant, Seq: want, File: "trail_events", Reason: "event row is missing"}
		}
		r := trail.Record{Tenant: tenant, Seq: seq, Data: data}
		if data != nil {
			r.LeafHash = trail.Hash(leafHash(data))
		} else {
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
	if err := rows.Err(); err != nil {
		return nil, s.dbError("read", err)
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
