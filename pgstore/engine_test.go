package pgstore_test

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/mod/sumdb/note"

	"github.com/trail-audit/trail"
	"github.com/trail-audit/trail/checkpoint"
	"github.com/trail-audit/trail/gen"
	"github.com/trail-audit/trail/merkle"
	"github.com/trail-audit/trail/pgstore"
	"github.com/trail-audit/trail/pgstore/pgtest"
)

// fixedClock is a manually advanced clock.
type fixedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fixedClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fixedClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var epoch = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

func appendN(t *testing.T, s trail.Store, g *gen.Gen, tenant string, n int, at time.Time) *trail.AppendResult {
	t.Helper()
	evs := make([]*trail.Event, n)
	for i := range evs {
		evs[i] = g.Event(tenant, at)
	}
	res, err := s.Append(t.Context(), evs)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return res
}

// exec runs SQL on dsn.
func exec(t *testing.T, dsn, sql string, args ...any) pgconn.CommandTag {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	tag, err := conn.Exec(t.Context(), sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return tag
}

// TestVerifyFindsSQLTampering alters the database behind trail's back in
// every way an attacker with SQL access could and expects Verify to name
// the tenant, the seq and the table.
func TestVerifyFindsSQLTampering(t *testing.T) {
	cases := []struct {
		name  string
		sql   string
		seq   int64 // -1: any
		table string
	}{
		{"indexed column", `UPDATE trail_events SET actor_id = 'mallory' WHERE tenant = 'acme' AND seq = 5`, 5, "trail_events"},
		{"words", `UPDATE trail_words SET words = array_remove(words, words[1]) WHERE tenant = 'acme' AND first_seq = 100`, -1, "trail_words"},
		{"words gap", `DELETE FROM trail_words WHERE tenant = 'acme' AND first_seq = 100`, 100, "trail_words"},
		{"signatures cleared", `UPDATE trail_words SET slices = decode(repeat('00', length(slices)), 'hex') WHERE tenant = 'acme' AND first_seq = 100`, 100, "trail_words"},
		{"signatures cut", `UPDATE trail_words SET slices = substring(slices FROM 1 FOR length(slices) - 1) WHERE tenant = 'acme' AND first_seq = 100`, 100, "trail_words"},
		{"deleted row", `DELETE FROM trail_events WHERE tenant = 'acme' AND seq = 7`, 7, "trail_events"},
		{"extra row", `INSERT INTO trail_events SELECT tenant, 300, received_at, time, id || 'x', action, outcome, severity, actor_id,
			resource_type, resource_id, source_ip, request_id, data FROM trail_events WHERE tenant = 'acme' AND seq = 1`, 300, "trail_events"},
		// The two edits below always change the byte: writing a fixed
		// value would leave it as it was when it already held that value
		// (a leaf hash byte of 0xff, a signature character 'X').
		{"leaf tile", `UPDATE trail_tiles SET data = set_byte(data, 32, get_byte(data, 32) # 255) WHERE tenant = 'acme' AND level = 0 AND idx = 0`, 1, ""},
		{"checkpoint", `UPDATE trail_checkpoints SET note = overlay(note placing
			CASE WHEN get_byte(note, length(note) - 6) = ascii('X') THEN 'Y'::bytea ELSE 'X'::bytea END from length(note) - 5 for 1)
			WHERE tenant = 'acme' AND size = 100`, 100, "trail_checkpoints"},
		{"id", `UPDATE trail_ids SET seq = 3 WHERE tenant = 'acme' AND seq = 4`, -1, "trail_ids"},
		{"erased stub", `INSERT INTO trail_erased SELECT tenant, seq, id, received_at, now() FROM trail_events WHERE tenant = 'acme' AND seq = 9`, 9, "trail_erased"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, dsn := pgtest.Schema(t)
			clk := &fixedClock{t: epoch}
			s := open(t, dsn, clk.Now)
			defer s.Close()
			g := gen.New(1, 2)
			appendN(t, s, g, "acme", 100, clk.Now())
			appendN(t, s, g, "acme", 200, clk.Now())
			appendN(t, s, g, "zeta", 10, clk.Now())
			if _, err := s.Verify(t.Context()); err != nil {
				t.Fatalf("Verify before tampering: %v", err)
			}
			exec(t, dsn, tc.sql)
			_, err := s.Verify(t.Context())
			var te *trail.TamperError
			if !errors.As(err, &te) {
				t.Fatalf("Verify after %s: %v, want a TamperError", tc.name, err)
			}
			if te.Tenant != "acme" || (tc.seq >= 0 && te.Seq != tc.seq) || (tc.table != "" && te.File != tc.table) {
				t.Errorf("Verify: %+v, want tenant acme, seq %d, table %q", te, tc.seq, tc.table)
			}
			t.Logf("%s: %v", tc.name, te)
		})
	}
}

// TestLatestNoteAlteredAfterRead: a store remembers the latest checkpoint
// notes it has verified or signed, so that followers' reads do not verify
// the same signature again. A note altered in the database afterwards
// differs from the remembered one and must still be refused, by
// Checkpoint and by Read.
func TestLatestNoteAlteredAfterRead(t *testing.T) {
	_, dsn := pgtest.Schema(t)
	clk := &fixedClock{t: epoch}
	s := open(t, dsn, clk.Now)
	defer s.Close()
	g := gen.New(1, 2)
	res := appendN(t, s, g, "acme", 20, clk.Now())
	signed := res.Checkpoints["acme"]
	for i := 0; i < 2; i++ { // the second read takes the remembered note
		cp, err := s.Checkpoint(t.Context(), "acme")
		if err != nil {
			t.Fatalf("Checkpoint: %v", err)
		}
		if cp.Size != 20 || cp.Root != signed.Root || !bytes.Equal(cp.Note, signed.Note) {
			t.Fatalf("Checkpoint: size %d root %x, want the signed one (20, %x)", cp.Size, cp.Root, signed.Root)
		}
		if recs, err := s.Read(t.Context(), "acme", 0, 100); err != nil || len(recs) != 20 {
			t.Fatalf("Read: %d records, %v; want 20", len(recs), err)
		}
	}
	// Change one byte of the signature line's base64 (the note's last
	// line): still a well-formed note, no longer a valid signature.
	exec(t, dsn, `UPDATE trail_tenants SET checkpoint = overlay(checkpoint placing
		(CASE WHEN get_byte(checkpoint, length(checkpoint) - 6) = 65 THEN 'B' ELSE 'A' END)::bytea
		from length(checkpoint) - 5 for 1) WHERE tenant = 'acme'`)
	var te *trail.TamperError
	if _, err := s.Checkpoint(t.Context(), "acme"); !errors.As(err, &te) || te.Tenant != "acme" || te.File != "trail_tenants" {
		t.Errorf("Checkpoint after the note was altered: %v, want a TamperError for acme in trail_tenants", err)
	}
	if _, err := s.Read(t.Context(), "acme", 0, 100); !errors.As(err, &te) || te.Tenant != "acme" {
		t.Errorf("Read after the note was altered: %v, want a TamperError for acme", err)
	}
}

// TestTwoNodes runs two stores on one schema, as two trail nodes on one
// database, and ingests into the same tenants through both at once.
func TestTwoNodes(t *testing.T) {
	_, dsn := pgtest.Schema(t)
	signer, verifier := testKey(t)
	openNode := func() *pgstore.Store {
		s, err := pgstore.Open(t.Context(), pgstore.Options{DSN: dsn, Signer: signer, Verifier: verifier,
			ServerName: "trail.test", PollInterval: time.Minute}) // only notifications wake readers
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	nodes := []*pgstore.Store{openNode(), openNode()}
	tenants := []string{"shared1", "shared2"}

	// A reader on node 1 follows shared1 while both nodes write.
	followed := make(chan int64, 1)
	go func() {
		var size int64
		for size < 1 {
			n, err := nodes[1].Wait(t.Context(), "shared1", size)
			if err != nil {
				followed <- -1
				return
			}
			size = n
		}
		followed <- size
	}()

	const writers, batches, per = 3, 15, 10
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers*batches)
	var cpMu sync.Mutex
	var cps []*trail.Checkpoint // every checkpoint of shared1 returned by either node
	for n, node := range nodes {
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				g := gen.New(uint64(100*n+w), 2)
				for b := range batches {
					var evs []*trail.Event
					for i := range per {
						evs = append(evs, g.Event(tenants[(b+i)%2], time.Now()))
					}
					res, err := node.Append(context.Background(), evs)
					if err != nil {
						errs <- err
						return
					}
					cpMu.Lock()
					if cp := res.Checkpoints["shared1"]; cp != nil {
						cps = append(cps, cp)
					}
					cpMu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("append: %v", err)
	}
	select {
	case got := <-followed:
		if got < 1 {
			t.Fatal("the reader on node 1 failed")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the reader on node 1 never saw a commit (notifications lost?)")
	}

	total := int64(2 * writers * batches * per / 2)
	for _, tenant := range tenants {
		recs, err := nodes[0].Read(t.Context(), tenant, 0, 10000)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(recs)) != total {
			t.Fatalf("%s: %d records, want %d", tenant, len(recs), total)
		}
		for i, r := range recs {
			if r.Seq != int64(i) {
				t.Fatalf("%s: record %d has seq %d", tenant, i, r.Seq)
			}
		}
		a, err := nodes[0].Checkpoint(t.Context(), tenant)
		if err != nil {
			t.Fatal(err)
		}
		b, err := nodes[1].Checkpoint(t.Context(), tenant)
		if err != nil {
			t.Fatal(err)
		}
		if a.Size != total || !bytes.Equal(a.Note, b.Note) {
			t.Fatalf("%s: node checkpoints differ or are short: %d vs %d, want %d", tenant, a.Size, b.Size, total)
		}
	}
	// Every checkpoint either node signed is a prefix of the final tree.
	final, _ := nodes[1].Checkpoint(t.Context(), "shared1")
	for _, cp := range cps {
		p, err := nodes[1].ConsistencyProof(t.Context(), "shared1", cp.Size, final.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := merkle.VerifyConsistency(cp.Size, final.Size, hashes(p.Hashes), merkle.Hash(cp.Root), merkle.Hash(final.Root)); err != nil {
			t.Fatalf("checkpoint of size %d is not consistent with the final tree: %v", cp.Size, err)
		}
	}
	rep, err := nodes[1].Verify(t.Context())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if rep.Events != 2*total {
		t.Errorf("Verify checked %d events, want %d", rep.Events, 2*total)
	}
}

func hashes(hs []trail.Hash) []merkle.Hash {
	out := make([]merkle.Hash, len(hs))
	for i, h := range hs {
		out[i] = merkle.Hash(h)
	}
	return out
}

// TestNotifyLatency measures how long a reader on one node waits for a
// commit made through another: the design target is 100 ms.
func TestNotifyLatency(t *testing.T) {
	_, dsn := pgtest.Schema(t)
	signer, verifier := testKey(t)
	var nodes []*pgstore.Store
	for range 2 {
		s, err := pgstore.Open(t.Context(), pgstore.Options{DSN: dsn, Signer: signer, Verifier: verifier,
			ServerName: "trail.test", PollInterval: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		nodes = append(nodes, s)
	}
	g := gen.New(3, 1)
	var worst time.Duration
	for i := range 20 {
		got := make(chan time.Time, 1)
		go func() {
			if _, err := nodes[1].Wait(t.Context(), "lat", int64(i)); err == nil {
				got <- time.Now()
			}
		}()
		time.Sleep(5 * time.Millisecond) // let the reader block
		start := time.Now()
		appendN(t, nodes[0], g, "lat", 1, time.Now())
		select {
		case at := <-got:
			worst = max(worst, at.Sub(start))
		case <-time.After(5 * time.Second):
			t.Fatalf("commit %d never reached the other node", i)
		}
	}
	t.Logf("worst commit-to-wakeup latency across nodes over 20 commits: %v (target 100 ms)", worst)
}

// TestRetentionDropsPartitions purges per tenant and drops partitions
// only once no tenant has rows in them; proofs stay valid.
func TestRetentionDropsPartitions(t *testing.T) {
	_, dsn := pgtest.Schema(t)
	clk := &fixedClock{t: epoch}
	s := open(t, dsn, clk.Now)
	defer s.Close()
	g := gen.New(5, 2)
	first := appendN(t, s, g, "a", 10, clk.Now())
	appendN(t, s, g, "b", 5, clk.Now())
	clk.Advance(3 * 24 * time.Hour)
	appendN(t, s, g, "a", 10, clk.Now())
	partitions := func() []string {
		conn, err := pgx.Connect(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		rows, _ := conn.Query(t.Context(), `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace
			WHERE p.relname = 'trail_events' AND n.nspname = current_schema() ORDER BY 1`)
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	day0 := "trail_events_p20261101"
	has := func(name string) bool {
		for _, n := range partitions() {
			if n == name {
				return true
			}
		}
		return false
	}
	if !has(day0) || !has("trail_events_p20261106") {
		t.Fatalf("partitions %v: want day 0 and two days ahead of day 3", partitions())
	}
	cut := epoch.Add(2 * 24 * time.Hour)
	res, err := s.Retain(t.Context(), "a", cut)
	if err != nil {
		t.Fatal(err)
	}
	if res.Purged != 10 || res.FirstSeq != 0 || res.LastSeq != 9 {
		t.Fatalf("Retain a: %+v, want seqs 0–9 purged", res)
	}
	if !has(day0) {
		t.Fatalf("day 0 dropped while tenant b still has rows in it")
	}
	if _, err := s.Retain(t.Context(), "b", cut); err != nil {
		t.Fatal(err)
	}
	if has(day0) || has("trail_events_p20261102") {
		t.Fatalf("partitions after both tenants' retention: %v, want days 0–1 dropped", partitions())
	}
	if !has("trail_events_p20261104") {
		t.Fatalf("partitions %v: day 3 must stay", partitions())
	}
	// A purged event reads back erased, and its receipt still proves.
	r := first.Receipts[3]
	e, err := s.Get(t.Context(), "a", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Erased || *e.LeafHash != r.LeafHash {
		t.Fatalf("purged event: %+v", e)
	}
	cp, _ := s.Checkpoint(t.Context(), "a")
	p, err := s.InclusionProof(t.Context(), "a", r.Seq, cp.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := merkle.VerifyInclusion(merkle.Hash(r.LeafHash), r.Seq, cp.Size, hashes(p.Hashes), merkle.Hash(cp.Root)); err != nil {
		t.Fatalf("inclusion of a purged event: %v", err)
	}
	rep, err := s.Verify(t.Context())
	if err != nil || rep.Erased != 15 {
		t.Fatalf("Verify: %+v, %v; want 15 erased", rep, err)
	}
	// Appending into a dropped range still works (the partition comes back).
	if _, err := s.Append(t.Context(), []*trail.Event{g.Event("a", clk.Now())}); err != nil {
		t.Fatal(err)
	}
}

// TestRoles applies RolesSQL and checks that the serving role cannot
// change or delete events, and that only the retention role can purge.
func TestRoles(t *testing.T) {
	schema, dsn := pgtest.Schema(t)
	suffix := strings.TrimPrefix(schema, "trail_test_")
	app, ret := "trail_app_"+suffix, "trail_ret_"+suffix
	owner := pgtest.DSN(t)
	for _, r := range []string{app, ret} {
		exec(t, owner, "CREATE ROLE "+pgx.Identifier{r}.Sanitize()+" LOGIN")
		t.Cleanup(func() {
			conn, err := pgx.Connect(context.Background(), owner)
			if err != nil {
				return
			}
			defer conn.Close(context.Background())
			conn.Exec(context.Background(), "DROP OWNED BY "+pgx.Identifier{r}.Sanitize())
			conn.Exec(context.Background(), "DROP ROLE "+pgx.Identifier{r}.Sanitize())
		})
	}
	// The owner creates the schema (first start), then grants.
	clk := &fixedClock{t: epoch}
	open(t, dsn, clk.Now).Close()
	for _, q := range pgstore.RolesSQL(schema, app, ret) {
		exec(t, owner, q)
	}
	as := func(role string) string {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("TRAIL_TEST_POSTGRES must be a URL for this test: %v", err)
		}
		u.User = url.User(role)
		return u.String()
	}
	signer, verifier := testKey(t)
	s, err := pgstore.Open(t.Context(), pgstore.Options{DSN: as(app), RetentionDSN: as(ret), Signer: signer, Verifier: verifier,
		ServerName: "trail.test", Now: clk.Now, PartitionInterval: 24 * time.Hour})
	if err != nil {
		t.Fatalf("open as the serving role: %v", err)
	}
	defer s.Close()
	g := gen.New(9, 1)
	appendN(t, s, g, "acme", 20, clk.Now())
	clk.Advance(30 * 24 * time.Hour) // a partition the serving role must create
	appendN(t, s, g, "acme", 20, clk.Now())

	for _, q := range []string{
		`UPDATE trail_events SET action = 'x' WHERE tenant = 'acme'`,
		`DELETE FROM trail_events WHERE tenant = 'acme'`,
		`DELETE FROM trail_ids`,
		`UPDATE trail_checkpoints SET note = ''`,
		`INSERT INTO trail_erased SELECT tenant, seq, id, received_at, now() FROM trail_events`,
		`SELECT trail_drop_partition('trail_events_p20261101')`,
	} {
		conn, err := pgx.Connect(t.Context(), as(app))
		if err != nil {
			t.Fatal(err)
		}
		_, err = conn.Exec(t.Context(), q)
		conn.Close(context.Background())
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42501" {
			t.Errorf("serving role: %s: %v, want permission denied (42501)", q, err)
		}
	}
	res, err := s.Retain(t.Context(), "acme", clk.Now().Add(-24*time.Hour))
	if err != nil || res.Purged != 20 {
		t.Fatalf("Retain through the retention role: %+v, %v", res, err)
	}
	// Without the retention role, the serving role cannot purge.
	s2, err := pgstore.Open(t.Context(), pgstore.Options{DSN: as(app), Signer: signer, Verifier: verifier,
		ServerName: "trail.test", Now: clk.Now, PartitionInterval: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.Retain(t.Context(), "acme", clk.Now()); err == nil {
		t.Fatal("the serving role purged events")
	}
	if _, err := s.Verify(t.Context()); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

// TestSigningKeyMismatch refuses a node whose key is not the database's.
func TestSigningKeyMismatch(t *testing.T) {
	_, dsn := pgtest.Schema(t)
	key := func(seed byte) (note.Signer, note.Verifier, string) {
		skey, vkey, err := checkpoint.GenerateKey("trail.test", bytes.NewReader(bytes.Repeat([]byte{seed}, 64)))
		if err != nil {
			t.Fatal(err)
		}
		s, _ := note.NewSigner(skey)
		v, _ := note.NewVerifier(vkey)
		return s, v, vkey
	}
	s1, v1, k1 := key(1)
	st, err := pgstore.Open(t.Context(), pgstore.Options{DSN: dsn, Signer: s1, Verifier: v1, VerifierKey: k1, ServerName: "trail.test"})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	s2, v2, k2 := key(2)
	_, err = pgstore.Open(t.Context(), pgstore.Options{DSN: dsn, Signer: s2, Verifier: v2, VerifierKey: k2, ServerName: "trail.test"})
	if err == nil || !strings.Contains(err.Error(), "signing key") {
		t.Fatalf("open with another key: %v, want a refusal naming the signing key", err)
	}
}

// TestConcurrentMigrate starts several nodes on an empty schema at once.
func TestConcurrentMigrate(t *testing.T) {
	_, dsn := pgtest.Schema(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := pgx.Connect(context.Background(), dsn)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close(context.Background())
			if _, err := pgstore.Migrate(context.Background(), conn); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n, distinct int
	if err := conn.QueryRow(t.Context(), `SELECT count(*), count(DISTINCT version) FROM trail_migrations`).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n != distinct || n == 0 {
		t.Fatalf("trail_migrations: %d rows, %d versions", n, distinct)
	}
}

// TestNULInColumns stores values with NUL, which PostgreSQL text cannot
// hold, and queries them exactly.
func TestNULInColumns(t *testing.T) {
	_, dsn := pgtest.Schema(t)
	clk := &fixedClock{t: epoch}
	s := open(t, dsn, clk.Now)
	defer s.Close()
	evs := []*trail.Event{
		{Action: "doc.read", Actor: trail.Actor{ID: "a\x00b"}, Metadata: map[string]any{"k": "v\x00w"}},
		{Action: "doc.read", Actor: trail.Actor{ID: "a\uFFFDb"}},
		{Action: "doc.read", Actor: trail.Actor{ID: "ab"}},
	}
	if _, err := s.Append(t.Context(), evs); err != nil {
		t.Fatalf("append: %v", err)
	}
	for _, tc := range []struct {
		filter *trail.Expr
		want   []int64
	}{
		{trail.Term(trail.FieldActor, "a\x00b"), []int64{0}},
		{trail.Term(trail.FieldActor, "a\uFFFDb"), []int64{1}},
		{trail.Not(trail.Term(trail.FieldActor, "a\uFFFDb")), []int64{2, 0}},
		{trail.PrefixTerm(trail.FieldActor, "a\x00"), []int64{0}},
		{trail.Term("metadata.k", "v\x00w"), []int64{0}},
	} {
		p, err := s.Query(t.Context(), &trail.Query{Tenant: "default", Filter: tc.filter})
		if err != nil {
			t.Fatalf("%v: %v", tc.filter, err)
		}
		var got []int64
		for _, e := range p.Events {
			got = append(got, e.Seq)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%v: seqs %v, want %v", tc.filter, got, tc.want)
		}
	}
	if _, err := s.Verify(t.Context()); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

// TestWordQueriesUseSignatures checks that queries for free text, metadata,
// resource ids and network prefixes (read first from the source_ip index)
// return exactly the events the matcher accepts, in both
// orders and across pages, whether the trail_words rows have per-event
// signatures (migration 5), some lack them, or none has them (rows
// written before migration 5).
func TestWordQueriesUseSignatures(t *testing.T) {
	_, dsn := pgtest.Schema(t)
	clk := &fixedClock{t: epoch}
	s := open(t, dsn, clk.Now)
	defer s.Close()
	g := gen.New(3, 2)
	for range 5 {
		appendN(t, s, g, "acme", 200, clk.Now())
	}
	appendN(t, s, g, "zeta", 50, clk.Now())
	recs, err := s.Read(t.Context(), "acme", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var all []*trail.Event
	for _, r := range recs {
		e, err := trail.DecodeEvent(r.Data)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, e)
	}
	var filters []*trail.Expr
	for _, seq := range []int{0, 137, 555, 999} {
		e := all[seq]
		ws := trail.Words(e.Reason)
		if len(ws) > 1 {
			filters = append(filters, trail.Term(trail.FieldText, ws[0]), trail.And(trail.Term(trail.FieldText, ws[0]), trail.Term(trail.FieldText, ws[len(ws)-1])))
		}
		if e.Resource != nil {
			filters = append(filters, trail.And(trail.Term(trail.FieldResourceID, e.Resource.ID), trail.Term(trail.FieldAction, e.Action)))
		}
		if e.Source != nil {
			if a, err := netip.ParseAddr(e.Source.IP); err == nil && a.Is4() {
				p, _ := a.Prefix(24)
				filters = append(filters, trail.Term(trail.FieldIP, p.String()), trail.Term(trail.FieldIP, a.String()))
			}
		}
	}
	filters = append(filters, trail.Term(trail.FieldText, "no-such-word"))
	want := make([][]int64, len(filters))
	for i, f := range filters {
		m, err := f.Compile()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range all {
			if m(e) {
				want[i] = append(want[i], e.Seq)
			}
		}
	}
	check := func(stage string) {
		t.Helper()
		for i, f := range filters {
			for _, order := range []trail.Order{trail.OrderAsc, trail.OrderDesc} {
				var got []int64
				q := &trail.Query{Tenant: "acme", Filter: f, Order: order, Limit: 7}
				for {
					p, err := s.Query(t.Context(), q)
					if err != nil {
						t.Fatalf("%s: query %d: %v", stage, i, err)
					}
					for _, e := range p.Events {
						got = append(got, e.Seq)
					}
					if p.NextCursor == "" {
						break
					}
					q.Cursor = p.NextCursor
				}
				if order == trail.OrderDesc {
					slices.Reverse(got)
				}
				if !slices.Equal(got, want[i]) {
					t.Errorf("%s: filter %d, order %v: got seqs %v, want %v", stage, i, order, got, want[i])
				}
			}
		}
	}
	for i := range want {
		t.Logf("filter %d: %v: %d events", i, filters[i], len(want[i]))
	}
	check("signatures")
	exec(t, dsn, `UPDATE trail_words SET slices = NULL WHERE tenant = 'acme' AND first_seq IN (200, 600)`)
	check("some rows without signatures")
	exec(t, dsn, `UPDATE trail_words SET slices = NULL`)
	check("no signatures")
	if _, err := s.Verify(t.Context()); err != nil {
		t.Errorf("Verify with rows without signatures: %v", err)
	}
}

// TestAppendSmallAndCopiedCommits stores commits below and at the size from
// which events go in by COPY (64) rather than from arrays in the commit's
// pipeline: both must store the same columns (Verify recomputes them from
// each leaf, source_ip NULL included), and a failed commit must leave
// nothing behind and its connection usable.
func TestAppendSmallAndCopiedCommits(t *testing.T) {
	_, dsn := pgtest.Schema(t)
	clk := &fixedClock{t: epoch}
	s := open(t, dsn, clk.Now)
	defer s.Close()
	g := gen.New(3, 4)
	for _, n := range []int{1, 63, 64, 200} {
		evs := make([]*trail.Event, n)
		for i := range evs {
			evs[i] = g.Event("acme", clk.Now())
			if i%3 == 0 {
				evs[i].Source = nil
			}
		}
		if _, err := s.Append(t.Context(), evs); err != nil {
			t.Fatalf("append %d: %v", n, err)
		}
	}
	var nulls, total int
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FILTER (WHERE source_ip IS NULL), count(*) FROM trail_events`).Scan(&nulls, &total); err != nil {
		t.Fatal(err)
	}
	if total != 328 || nulls < 328/3 {
		t.Errorf("%d rows, %d without source_ip; want 328 and at least %d", total, nulls, 328/3)
	}
	// A commit that fails inside its final pipeline (a trail_words row that
	// already exists) stores nothing; the next one succeeds.
	exec(t, dsn, `INSERT INTO trail_words (tenant, first_seq, last_seq, words) VALUES ('acme', 328, 328, '{}')`)
	if _, err := s.Append(t.Context(), []*trail.Event{g.Event("acme", clk.Now())}); err == nil {
		t.Fatal("append over a conflicting trail_words row succeeded")
	}
	exec(t, dsn, `DELETE FROM trail_words WHERE tenant = 'acme' AND first_seq = 328`)
	for range 8 { // more than the pool's idle connections: none is left in a transaction
		res, err := s.Append(t.Context(), []*trail.Event{g.Event("acme", clk.Now())})
		if err != nil {
			t.Fatalf("append after a failed commit: %v", err)
		}
		if res.Receipts[0].Duplicate {
			t.Fatal("a new event was reported as a duplicate")
		}
	}
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM trail_events`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	if total != 336 {
		t.Errorf("%d rows after the failed commit and 8 more, want 336", total)
	}
	if _, err := s.Verify(t.Context()); err != nil {
		t.Fatalf("verify: %v", err)
	}
}

// TestIdempotentAcrossNodes sends the same client-supplied ids through two
// nodes at once, in batches that overlap: every id is stored once and
// every receipt of an id names the same seq. The duplicate check must
// follow the tenant lock (it is pipelined right after it).
func TestIdempotentAcrossNodes(t *testing.T) {
	_, dsn := pgtest.Schema(t)
	signer, verifier := testKey(t)
	var nodes []*pgstore.Store
	for range 2 {
		s, err := pgstore.Open(t.Context(), pgstore.Options{DSN: dsn, Signer: signer, Verifier: verifier, ServerName: "trail.test"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		nodes = append(nodes, s)
	}
	const ids, workers = 60, 8
	g := gen.New(5, 1)
	base := make([]*trail.Event, ids)
	for i := range base {
		base[i] = g.Event("acme", epoch)
		base[i].ID = "evt-" + strings.Repeat("0", 3-len(strconv.Itoa(i))) + strconv.Itoa(i)
	}
	var mu sync.Mutex
	seqOf := map[string]int64{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range 5 {
				// Overlapping windows of ids, each a fresh copy (Append takes ownership).
				from := (w*7 + r*11) % ids
				var batch []*trail.Event
				for k := range 20 {
					e := *base[(from+k)%ids]
					batch = append(batch, &e)
				}
				res, err := nodes[(w+r)%2].Append(t.Context(), batch)
				if err != nil {
					t.Errorf("append: %v", err)
					return
				}
				mu.Lock()
				for _, rc := range res.Receipts {
					if seq, ok := seqOf[rc.ID]; ok && seq != rc.Seq {
						t.Errorf("id %s: receipts name seq %d and %d", rc.ID, seq, rc.Seq)
					}
					seqOf[rc.ID] = rc.Seq
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	var rows, distinct int
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(t.Context(), `SELECT count(*), count(DISTINCT id) FROM trail_events WHERE tenant = 'acme'`).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows != distinct || rows != len(seqOf) {
		t.Errorf("%d rows, %d distinct ids, %d ids sent and answered", rows, distinct, len(seqOf))
	}
	if _, err := nodes[0].Verify(t.Context()); err != nil {
		t.Fatalf("verify: %v", err)
	}
}

// TestReadBoundsAndMissingRows holds Read, which reads the tenant's row and
// the records in one statement, to its contract around the edges: only
// committed seqs, every one of them or a TamperError naming the first
// missing seq, ENOTFOUND for an unknown tenant.
func TestReadBoundsAndMissingRows(t *testing.T) {
	_, dsn := pgtest.Schema(t)
	clk := &fixedClock{t: epoch}
	s := open(t, dsn, clk.Now)
	defer s.Close()
	g := gen.New(3, 2)
	appendN(t, s, g, "acme", 20, clk.Now())

	check := func(from int64, limit int, want int, first int64) {
		t.Helper()
		recs, err := s.Read(t.Context(), "acme", from, limit)
		if err != nil {
			t.Fatalf("Read(%d, %d): %v", from, limit, err)
		}
		if len(recs) != want || (want > 0 && recs[0].Seq != first) {
			t.Fatalf("Read(%d, %d): %d records from %v, want %d from %d", from, limit, len(recs), recs, want, first)
		}
		for i, r := range recs {
			if r.Seq != first+int64(i) || r.Data == nil || r.LeafHash != trail.Hash(merkle.LeafHash(r.Data)) {
				t.Fatalf("Read(%d, %d): record %d is seq %d (data %v), hash %x", from, limit, i, r.Seq, r.Data != nil, r.LeafHash)
			}
		}
	}
	check(0, 100, 20, 0)
	check(5, 3, 3, 5)
	check(18, 100, 2, 18)
	check(20, 100, 0, 0)
	check(50, 10, 0, 0)
	check(3, 0, 0, 0)

	if _, err := s.Read(t.Context(), "nobody", 0, 10); trail.ErrorCode(err) != trail.ENOTFOUND {
		t.Errorf("Read of an unknown tenant: %v, want ENOTFOUND", err)
	}

	// A row past the committed size, slipped in behind trail's back, is
	// not a committed record.
	exec(t, dsn, `CREATE TEMP TABLE extra AS SELECT * FROM trail_events WHERE tenant = 'acme' AND seq = 0;
		UPDATE extra SET seq = 20;
		INSERT INTO trail_events SELECT * FROM extra`)
	check(15, 100, 5, 15)
	check(20, 100, 0, 0)

	var te *trail.TamperError
	exec(t, dsn, `DELETE FROM trail_events WHERE tenant = 'acme' AND seq = 19`)
	if _, err := s.Read(t.Context(), "acme", 10, 100); !errors.As(err, &te) || te.Seq != 19 {
		t.Errorf("Read after the last row was deleted: %v, want a TamperError at seq 19", err)
	}
	exec(t, dsn, `DELETE FROM trail_events WHERE tenant = 'acme' AND seq = 7`)
	if _, err := s.Read(t.Context(), "acme", 0, 100); !errors.As(err, &te) || te.Seq != 7 {
		t.Errorf("Read after a row was deleted: %v, want a TamperError at seq 7", err)
	}
}
