package pgstore

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/trail-audit/trail"
	"github.com/trail-audit/trail/merkle"
)

// Verify implements trail.Store: for every tenant it checks every stored
// checkpoint's signature, recomputes every leaf hash from the stored
// event and the columns derived from it, compares the leaf hashes with the
// level-0 tiles, every upper tile with the tiles below it, every
// checkpoint's root with the root recomputed from the leaves, and the ids
// table with the events. The first difference is a *trail.TamperError
// naming the tenant, seq and table.
func (s *Store) Verify(ctx context.Context) (*trail.VerifyReport, error) {
	rows, err := s.pool.Query(ctx, `SELECT tenant FROM trail_tenants ORDER BY tenant`)
	if err != nil {
		return nil, s.dbError("verify", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, s.dbError("verify", err)
	}
	// Tenants are independent: verify several at once, and report the
	// first damage in tenant name order, whichever worker found it.
	reps := make([]trail.VerifyReport, len(names))
	errs := make([]error, len(names))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(len(names), max(2, runtime.GOMAXPROCS(0))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(names) || ctx.Err() != nil {
					return
				}
				errs[i] = s.verifyTenant(ctx, names[i], &reps[i])
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rep := &trail.VerifyReport{Tenants: len(names)}
	for i := range names {
		if errs[i] != nil {
			return nil, errs[i]
		}
		rep.Events += reps[i].Events
		rep.Erased += reps[i].Erased
		rep.Checkpoints += reps[i].Checkpoints
	}
	return rep, nil
}

// tamper returns a TamperError.
func tamper(tenant string, seq int64, table, format string, args ...any) error {
	return &trail.TamperError{Tenant: tenant, Seq: seq, File: table, Reason: fmt.Sprintf(format, args...)}
}

func (s *Store) verifyTenant(ctx context.Context, tenant string, rep *trail.VerifyReport) error {
	var size int64
	var root, note []byte
	if err := s.pool.QueryRow(ctx, `SELECT size, root, checkpoint FROM trail_tenants WHERE tenant = $1`, tenant).
		Scan(&size, &root, &note); err != nil {
		return s.dbError("verify", err)
	}
	// Every checkpoint, oldest first; the tenant row's must be the last.
	rows, err := s.pool.Query(ctx, `SELECT size, note FROM trail_checkpoints WHERE tenant = $1 ORDER BY size`, tenant)
	if err != nil {
		return s.dbError("verify", err)
	}
	type cpAt struct {
		size int64
		root merkle.Hash
	}
	var cps []cpAt
	for rows.Next() {
		var n int64
		var msg []byte
		if err := rows.Scan(&n, &msg); err != nil {
			rows.Close()
			return s.dbError("verify", err)
		}
		cp, err := s.openCheckpoint(tenant, msg)
		if err != nil {
			rows.Close()
			return tamper(tenant, n, "trail_checkpoints", "checkpoint for size %d: %v", n, err)
		}
		if cp.Size != n {
			rows.Close()
			return tamper(tenant, n, "trail_checkpoints", "checkpoint stored for size %d is signed for size %d", n, cp.Size)
		}
		cps = append(cps, cpAt{n, merkle.Hash(cp.Root)})
		rep.Checkpoints++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return s.dbError("verify", err)
	}
	if size > 0 {
		cp, err := s.openCheckpoint(tenant, note)
		if err != nil {
			return tamper(tenant, -1, "trail_tenants", "latest checkpoint: %v", err)
		}
		if cp.Size != size || !bytes.Equal(cp.Root[:], root) {
			return tamper(tenant, -1, "trail_tenants", "size %d and root differ from the latest checkpoint (size %d)", size, cp.Size)
		}
		if len(cps) == 0 || cps[len(cps)-1].size != size {
			return tamper(tenant, -1, "trail_checkpoints", "the latest checkpoint (size %d) is not stored", size)
		}
	}
	if len(cps) > 0 && cps[len(cps)-1].size > size {
		return tamper(tenant, cps[len(cps)-1].size-1, "trail_checkpoints", "a checkpoint covers size %d, the tenant has %d events", cps[len(cps)-1].size, size)
	}

	// Leaves against level-0 tiles, and roots against checkpoints.
	leaves := &tileStream{s: s, ctx: ctx, tenant: tenant, level: 0}
	events, err := s.openEventStream(ctx, tenant)
	if err != nil {
		return err
	}
	defer events.close()
	words, err := s.pool.Query(ctx, `SELECT first_seq, last_seq, words, slices FROM trail_words WHERE tenant = $1 ORDER BY first_seq`, tenant)
	if err != nil {
		return s.dbError("verify", err)
	}
	defer words.Close()
	chunk := wordsRow{first: 0, last: -1}
	var b merkle.Builder
	next := 0
	for seq := int64(0); seq < size; seq++ {
		if seq%65536 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		want, err := leaves.hash(seq)
		if err != nil {
			return err
		}
		got, erased, err := events.leaf(seq)
		if err != nil {
			return err
		}
		if erased {
			rep.Erased++
		} else if got != want {
			return tamper(tenant, seq, "trail_events", "leaf hash of the stored event differs from the tree")
		}
		if err := s.checkWords(tenant, seq, words, &chunk, erased, events.terms); err != nil {
			return err
		}
		b.Add(want)
		rep.Events++
		for next < len(cps) && cps[next].size == seq+1 {
			if b.Root() != cps[next].root {
				return tamper(tenant, seq, "trail_tiles", "root of the first %d leaves differs from the signed checkpoint", seq+1)
			}
			next++
		}
	}
	if err := events.end(size); err != nil {
		return err
	}
	if words.Next() {
		var extra wordsRow
		if err := words.Scan(&extra.first, &extra.last, &extra.words, &extra.slices); err != nil {
			return s.dbError("verify", err)
		}
		return tamper(tenant, extra.first, "trail_words", "a row covers seqs past the end of the tree (size %d)", size)
	}
	if err := words.Err(); err != nil {
		return s.dbError("verify", err)
	}
	if r := b.Root(); size > 0 && !bytes.Equal(root, r[:]) {
		return tamper(tenant, size-1, "trail_tenants", "root differs from the root of the leaves")
	}
	if err := s.verifyUpperTiles(ctx, tenant, size); err != nil {
		return err
	}
	return s.verifyIDs(ctx, tenant, size)
}

// tileStream reads the full and partial tiles of one level in order, a
// run of tiles at a time.
type tileStream struct {
	s      *Store
	ctx    context.Context
	tenant string
	level  int
	lo, hi int64 // tiles [lo, hi) are loaded
	tiles  map[int64][]byte
}

const tilesPerRead = 64

// hash returns hash i of the level.
func (ts *tileStream) hash(i int64) (merkle.Hash, error) {
	n := i >> merkle.TileHeight
	if ts.tiles == nil || n < ts.lo || n >= ts.hi {
		ts.lo, ts.hi = n, n+tilesPerRead
		ts.tiles = map[int64][]byte{}
		rows, err := ts.s.pool.Query(ts.ctx, `SELECT idx, data FROM trail_tiles
			WHERE tenant = $1 AND level = $2 AND idx >= $3 AND idx < $4`, ts.tenant, ts.level, ts.lo, ts.hi)
		if err != nil {
			return merkle.Hash{}, ts.s.dbError("verify", err)
		}
		for rows.Next() {
			var idx int64
			var data []byte
			if err := rows.Scan(&idx, &data); err != nil {
				rows.Close()
				return merkle.Hash{}, ts.s.dbError("verify", err)
			}
			ts.tiles[idx] = data
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return merkle.Hash{}, ts.s.dbError("verify", err)
		}
	}
	data := ts.tiles[n]
	off := int(i%(1<<merkle.TileHeight)) * 32
	if len(data) < off+32 || len(data)%32 != 0 {
		return merkle.Hash{}, tamper(ts.tenant, i<<(merkle.TileHeight*ts.level), "trail_tiles",
			"tile %d/%d is missing or too short for hash %d", ts.level, n, i)
	}
	return merkle.Hash(data[off : off+32]), nil
}

// verifyUpperTiles checks that every hash of a tile of level L ≥ 1 is the
// root of the full tile below it.
func (s *Store) verifyUpperTiles(ctx context.Context, tenant string, size int64) error {
	for L := 1; size>>(L*merkle.TileHeight) > 0; L++ {
		upper := &tileStream{s: s, ctx: ctx, tenant: tenant, level: L}
		lower := &tileStream{s: s, ctx: ctx, tenant: tenant, level: L - 1}
		n := size >> (L * merkle.TileHeight) // hashes at this tile level
		for j := range n {
			want, err := upper.hash(j)
			if err != nil {
				return err
			}
			var b merkle.Builder
			for k := range int64(1 << merkle.TileHeight) {
				h, err := lower.hash(j<<merkle.TileHeight + k)
				if err != nil {
					return err
				}
				b.Add(h)
			}
			if b.Root() != want {
				return tamper(tenant, j<<(L*merkle.TileHeight), "trail_tiles", "tile %d/%d: hash %d is not the root of the tile below", L, j>>merkle.TileHeight, j%(1<<merkle.TileHeight))
			}
		}
	}
	return nil
}

// verifyIDs checks that trail_ids holds exactly one id per seq, agreeing
// with the events and the erased stubs.
func (s *Store) verifyIDs(ctx context.Context, tenant string, size int64) error {
	var n int64
	var bad *int64
	err := s.pool.QueryRow(ctx, `SELECT count(*), min(seq) FILTER (WHERE seq < 0 OR seq >= $2) FROM trail_ids WHERE tenant = $1`,
		tenant, size).Scan(&n, &bad)
	if err != nil {
		return s.dbError("verify", err)
	}
	if bad != nil {
		return tamper(tenant, *bad, "trail_ids", "an id maps to seq %d, outside the log", *bad)
	}
	if n != size {
		return tamper(tenant, -1, "trail_ids", "%d ids for %d events", n, size)
	}
	var seq int64
	err = s.pool.QueryRow(ctx, `
		SELECT e.seq FROM trail_events e LEFT JOIN trail_ids i ON i.tenant = e.tenant AND i.id = e.id
		WHERE e.tenant = $1 AND (i.seq IS DISTINCT FROM e.seq OR i.received_at IS DISTINCT FROM e.received_at)
		UNION ALL
		SELECT x.seq FROM trail_erased x LEFT JOIN trail_ids i ON i.tenant = x.tenant AND i.id = x.id
		WHERE x.tenant = $1 AND i.seq IS DISTINCT FROM x.seq
		LIMIT 1`, tenant).Scan(&seq)
	if err == pgx.ErrNoRows {
		return nil
	}
	if err != nil {
		return s.dbError("verify", err)
	}
	return tamper(tenant, seq, "trail_ids", "the id of seq %d maps elsewhere", seq)
}

// eventStream merges the tenant's stored events and erased stubs in seq
// order and checks each stored row against its leaf.
type eventStream struct {
	s      *Store
	tenant string
	ev     pgx.Rows
	er     pgx.Rows
	evSeq  int64 // seq of the current event row, -1 at the end
	erSeq  int64
	row    storedRow
	terms  []string // trail_words entries of the event last checked
}

type storedRow struct {
	seq                                     int64
	id                                      string
	receivedAt, time                        time.Time
	action, outcome, severity, actor, rtype string
	rid, reqID                              string
	ip                                      *netip.Prefix
	data                                    []byte
}

func (s *Store) openEventStream(ctx context.Context, tenant string) (*eventStream, error) {
	es := &eventStream{s: s, tenant: tenant}
	var err error
	es.ev, err = s.pool.Query(ctx, `SELECT seq, id, received_at, time, action, outcome, severity, actor_id,
		resource_type, resource_id, source_ip, request_id, data
		FROM trail_events WHERE tenant = $1 ORDER BY seq`, tenant)
	if err != nil {
		return nil, s.dbError("verify", err)
	}
	es.er, err = s.pool.Query(ctx, `SELECT seq FROM trail_erased WHERE tenant = $1 ORDER BY seq`, tenant)
	if err != nil {
		es.ev.Close()
		return nil, s.dbError("verify", err)
	}
	if err := es.advanceEvent(); err != nil {
		es.close()
		return nil, err
	}
	if err := es.advanceErased(); err != nil {
		es.close()
		return nil, err
	}
	return es, nil
}

func (es *eventStream) close() {
	es.ev.Close()
	es.er.Close()
}

func (es *eventStream) advanceEvent() error {
	if !es.ev.Next() {
		es.evSeq = -1
		if err := es.ev.Err(); err != nil {
			return es.s.dbError("verify", err)
		}
		return nil
	}
	r := &es.row
	if err := es.ev.Scan(&r.seq, &r.id, &r.receivedAt, &r.time, &r.action, &r.outcome, &r.severity, &r.actor,
		&r.rtype, &r.rid, &r.ip, &r.reqID, &r.data); err != nil {
		return es.s.dbError("verify", err)
	}
	es.evSeq = r.seq
	return nil
}

func (es *eventStream) advanceErased() error {
	if !es.er.Next() {
		es.erSeq = -1
		if err := es.er.Err(); err != nil {
			return es.s.dbError("verify", err)
		}
		return nil
	}
	if err := es.er.Scan(&es.erSeq); err != nil {
		return es.s.dbError("verify", err)
	}
	return nil
}

// leaf returns the leaf hash of the stored event seq, or erased when its
// content was removed.
func (es *eventStream) leaf(seq int64) (h merkle.Hash, erased bool, err error) {
	switch {
	case es.evSeq == seq && es.erSeq == seq:
		return h, false, tamper(es.tenant, seq, "trail_erased", "seq is both stored and erased")
	case es.erSeq == seq:
		return h, true, es.advanceErased()
	case es.evSeq != seq:
		return h, false, tamper(es.tenant, seq, "trail_events", "event row is missing")
	}
	if err := es.check(&es.row); err != nil {
		return h, false, err
	}
	h = leafHash(es.row.data)
	return h, false, es.advanceEvent()
}

// end checks that no row lies past the tree.
func (es *eventStream) end(size int64) error {
	if es.evSeq >= 0 {
		return tamper(es.tenant, es.evSeq, "trail_events", "event row past the end of the tree (size %d)", size)
	}
	if es.erSeq >= 0 {
		return tamper(es.tenant, es.erSeq, "trail_erased", "erased row past the end of the tree (size %d)", size)
	}
	return nil
}

// check compares a row's columns with the values derived from its leaf.
func (es *eventStream) check(r *storedRow) error {
	e, err := decodeStored(es.tenant, r.seq, r.data)
	if err != nil {
		return err
	}
	want := eventRow(e, r.data)
	es.terms = termsOf(e)
	var ip *netip.Prefix
	if a, ok := want[11].(netip.Addr); ok {
		p := netip.PrefixFrom(a, a.BitLen())
		ip = &p
	}
	usec := func(t time.Time) time.Time { return t.Truncate(time.Microsecond) }
	switch {
	case r.id != e.ID:
		return tamper(es.tenant, r.seq, "trail_events", "column id differs from the stored event")
	case !usec(r.receivedAt).Equal(usec(e.ReceivedAt)), !usec(r.time).Equal(usec(e.Time)):
		return tamper(es.tenant, r.seq, "trail_events", "column received_at or time differs from the stored event")
	case r.action != want[5], r.outcome != want[6], r.severity != want[7], r.actor != want[8],
		r.rtype != want[9], r.rid != want[10], r.reqID != want[12]:
		return tamper(es.tenant, r.seq, "trail_events", "an indexed column differs from the stored event")
	case (ip == nil) != (r.ip == nil) || (ip != nil && *ip != *r.ip):
		return tamper(es.tenant, r.seq, "trail_events", "column source_ip differs from the stored event")
	}
	return nil
}

// wordsRow is a row of trail_words.
type wordsRow struct {
	first, last int64
	words       []string // sorted, as written
	slices      []byte   // the events' signatures (signature.go); nil: none
}

// checkWords advances cur to the trail_words row that covers seq and
// checks that it holds the event's terms and the tenant, and that the
// event's signature has the bits of each term set: the rows must tile the
// log without gaps or overlaps, or a query could miss events. A row
// without signatures (written before migration 5) is read whole by
// queries, so it hides nothing; bits set for no term only cost reads.
func (s *Store) checkWords(tenant string, seq int64, rows pgx.Rows, cur *wordsRow, erased bool, terms []string) error {
	if seq > cur.last {
		if !rows.Next() {
			if err := rows.Err(); err != nil {
				return s.dbError("verify", err)
			}
			return tamper(tenant, seq, "trail_words", "no row covers the seq")
		}
		var next wordsRow
		if err := rows.Scan(&next.first, &next.last, &next.words, &next.slices); err != nil {
			return s.dbError("verify", err)
		}
		if next.first != seq || next.last < next.first {
			return tamper(tenant, seq, "trail_words", "rows do not tile the log: row [%d, %d] follows one ending at %d", next.first, next.last, cur.last)
		}
		if !slices.IsSorted(next.words) {
			slices.Sort(next.words)
		}
		if _, ok := slices.BinarySearch(next.words, tenantKey(tenant)); !ok {
			return tamper(tenant, seq, "trail_words", "row [%d, %d] lacks the tenant", next.first, next.last)
		}
		if n := next.last - next.first + 1; next.slices != nil && int64(len(next.slices)) != sigBits*sigSliceLen(n) {
			return tamper(tenant, seq, "trail_words", "row [%d, %d]: signatures of %d bytes, want %d", next.first, next.last, len(next.slices), sigBits*sigSliceLen(n))
		}
		*cur = next
	}
	if erased {
		return nil
	}
	var pos []int32
	for _, t := range terms {
		if _, ok := slices.BinarySearch(cur.words, t); !ok {
			return tamper(tenant, seq, "trail_words", "row [%d, %d] lacks the term %q of seq %d", cur.first, cur.last, t, seq)
		}
		if cur.slices != nil {
			if pos = sigPositions(pos[:0], t); !sigHas(cur.slices, cur.last-cur.first+1, int(seq-cur.first), pos) {
				return tamper(tenant, seq, "trail_words", "row [%d, %d]: the signature of seq %d lacks the term %q", cur.first, cur.last, seq, t)
			}
		}
	}
	return nil
}
