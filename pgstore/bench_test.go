package pgstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/trail-audit/trail"
	"github.com/trail-audit/trail/gen"
	"github.com/trail-audit/trail/internal/cpuclock"
	"github.com/trail-audit/trail/internal/pgcpu"
	"github.com/trail-audit/trail/pgstore"
	"github.com/trail-audit/trail/pgstore/pgtest"
)

const benchTenants = 1000

// benchBatches returns n events as batches of at most size events, each
// spread over spread Zipf-chosen tenants.
func benchBatches(g *gen.Gen, n, size, spread int, from, to time.Time) [][]*trail.Event {
	var out [][]*trail.Event
	for n > 0 {
		k := min(n, size)
		tenants := make([]string, spread)
		for i := range tenants {
			tenants[i] = g.Tenant()
		}
		batch := make([]*trail.Event, k)
		for i := range batch {
			batch[i] = g.Event(tenants[i%spread], g.TimeIn(from, to))
		}
		out = append(out, batch)
		n -= k
	}
	return out
}

// parallelDo runs fn(i) for i in [0, n) from workers goroutines.
func parallelDo(b *testing.B, n, workers int, fn func(i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || failed.Load() != nil {
					return
				}
				if err := fn(i); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if p := failed.Load(); p != nil {
		b.Fatal(*p)
	}
}

// baseline is a raw table like the one "trail bench" loads with COPY: the
// same events with the fixed fields as columns, the body as jsonb, the
// primary key and four indexes.
type baseline struct {
	table pgx.Identifier
	conns chan *pgx.Conn
}

func newBaseline(b *testing.B, dsn string, workers int) *baseline {
	ctx := context.Background()
	bl := &baseline{table: pgx.Identifier{"baseline_events"}, conns: make(chan *pgx.Conn, workers)}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		`CREATE TABLE baseline_events (tenant text, seq bigint, id text, time timestamptz, action text,
			outcome text, actor_id text, ip inet, body jsonb, PRIMARY KEY (tenant, seq))`,
		`CREATE INDEX ON baseline_events (tenant, actor_id, seq DESC)`,
		`CREATE INDEX ON baseline_events (tenant, action, outcome, seq DESC)`,
		`CREATE INDEX ON baseline_events (tenant, ip, seq DESC)`,
		`CREATE INDEX ON baseline_events (tenant, time)`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	for range workers {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close(context.Background()) })
		bl.conns <- c
	}
	return bl
}

// rows encodes events as baseline rows (outside the timed part).
func baselineRows(batches [][]*trail.Event) [][][]any {
	seqs := map[string]int64{}
	out := make([][][]any, len(batches))
	for i, batch := range batches {
		for _, e := range batch {
			body, _ := json.Marshal(e)
			var ip any
			if e.Source != nil {
				if a, err := netip.ParseAddr(e.Source.IP); err == nil {
					ip = a
				}
			}
			id := fmt.Sprintf("%08x-0000-7000-8000-%012x", i, seqs[e.Tenant]) // as long as a UUID
			out[i] = append(out[i], []any{e.Tenant, seqs[e.Tenant], id, e.Time, e.Action, e.Outcome, e.Actor.ID, ip, json.RawMessage(body)})
			seqs[e.Tenant]++
		}
	}
	return out
}

func (bl *baseline) copyBatch(rows [][]any) error {
	c := <-bl.conns
	defer func() { bl.conns <- c }()
	_, err := c.CopyFrom(context.Background(), bl.table,
		[]string{"tenant", "seq", "id", "time", "action", "outcome", "actor_id", "ip", "body"}, pgx.CopyFromRows(rows))
	return err
}

// BenchmarkIngestVsCopy appends b.N events through pgstore (batches of
// 1000 for one Zipf-chosen tenant each, as trail bench sends them, from 4
// workers) and copies the same events into a raw
// table with COPY in the same run; the target is a ratio of at
// least 0.7.
func BenchmarkIngestVsCopy(b *testing.B) {
	_, dsn := pgtest.Schema(b)
	const workers, size = 4, 1000
	now := time.Now()
	batches := benchBatches(gen.New(uint64(b.N), benchTenants), b.N, size, 1, now.Add(-time.Hour), now)
	// Copies for the baseline: Append takes ownership of the events.
	rows := baselineRows(batches)
	signer, verifier := testKey(b)
	committers, _ := strconv.Atoi(os.Getenv("TRAIL_BENCH_COMMITTERS")) // 0: the default
	s, err := pgstore.Open(context.Background(), pgstore.Options{DSN: dsn, Signer: signer, Verifier: verifier, ServerName: "bench", Committers: committers})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	bl := newBaseline(b, dsn, workers)

	b.ResetTimer()
	t0 := time.Now()
	parallelDo(b, len(batches), workers, func(i int) error {
		_, err := s.Append(context.Background(), batches[i])
		return err
	})
	trailDur := time.Since(t0)

	t0 = time.Now()
	parallelDo(b, len(rows), workers, func(i int) error { return bl.copyBatch(rows[i]) })
	copyDur := time.Since(t0)
	b.StopTimer()
	tr, cp := float64(b.N)/trailDur.Seconds(), float64(b.N)/copyDur.Seconds()
	b.ReportMetric(tr, "events/s")
	b.ReportMetric(cp, "copy-events/s")
	b.ReportMetric(tr/cp, "ratio")
}

// BenchmarkScale loads TRAIL_BENCH_EVENTS events (default 1M) over 1000
// Zipf tenants, then times the query mix (target p99 ≤ 50 ms at 10M). Set
// TRAIL_BENCH_SCHEMA to load into (or reuse) a named schema that is kept.
func BenchmarkScale(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("TRAIL_BENCH_EVENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("TRAIL_BENCH_EVENTS=%q: want a positive number", v)
		}
	}
	var dsn string
	if schema := os.Getenv("TRAIL_BENCH_SCHEMA"); schema != "" {
		var err error
		if dsn, err = pgstore.WithSchema(pgtest.DSN(b), schema); err != nil {
			b.Fatal(err)
		}
	} else {
		_, dsn = pgtest.Schema(b)
	}
	ctx := context.Background()
	signer, verifier := testKey(b)
	s, err := pgstore.Open(ctx, pgstore.Options{DSN: dsn, Schema: os.Getenv("TRAIL_BENCH_SCHEMA"), Signer: signer, Verifier: verifier, ServerName: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	have := int64(0)
	if ts, err := s.Tenants(ctx); err == nil {
		for _, t := range ts {
			have += t.Size
		}
	}
	if missing := int64(n) - have; missing > 0 {
		now := time.Now()
		t0 := time.Now()
		const chunk = 200_000 // generate as we go: 10M events do not fit in memory at once
		for done := int64(0); done < missing; done += chunk {
			k := int(min(chunk, missing-done))
			batches := benchBatches(gen.New(uint64(have+done)+1, benchTenants), k, 1000, 4, now.Add(-30*24*time.Hour), now)
			parallelDo(b, len(batches), 4, func(i int) error {
				_, err := s.Append(ctx, batches[i])
				return err
			})
			fmt.Fprintf(os.Stderr, "loaded %d/%d events, %.0f events/s\n", have+done+int64(k), n, float64(done+int64(k))/time.Since(t0).Seconds())
		}
		b.Logf("load: %d events in %v (%.0f events/s)", missing, time.Since(t0).Round(time.Second), float64(missing)/time.Since(t0).Seconds())
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "ANALYZE"); err != nil {
			b.Fatal(err)
		}
		conn.Close(ctx)
	}

	tenants, err := s.Tenants(ctx)
	if err != nil {
		b.Fatal(err)
	}
	slices.SortFunc(tenants, func(x, y trail.Tenant) int { return int(y.Size - x.Size) })
	large, mid := tenants[0], tenants[min(len(tenants)-1, 31)]
	rng := rand.New(rand.NewPCG(42, 42))
	eventAt := func(tenant string, seq int64) *trail.Event {
		recs, err := s.Read(ctx, tenant, seq, 1)
		if err != nil || len(recs) != 1 || recs[0].Data == nil {
			b.Fatalf("read %s/%d: %v", tenant, seq, err)
		}
		e, err := trail.DecodeEvent(recs[0].Data)
		if err != nil {
			b.Fatal(err)
		}
		return e
	}
	b.ResetTimer()
	var report []string
	for _, qk := range []struct {
		name string
		t    trail.Tenant
		expr func(*trail.Event) *trail.Expr
	}{
		{"newest100-large", large, nil},
		{"newest100-mid", mid, nil},
		{"actor-large", large, func(e *trail.Event) *trail.Expr { return trail.Term(trail.FieldActor, e.Actor.ID) }},
		{"action+outcome-large", large, func(e *trail.Event) *trail.Expr {
			return trail.And(trail.Term(trail.FieldAction, e.Action), trail.Term(trail.FieldOutcome, e.Outcome))
		}},
		{"ip24-large", large, func(e *trail.Event) *trail.Expr {
			if e.Source == nil {
				return nil
			}
			a, err := netip.ParseAddr(e.Source.IP)
			if err != nil || !a.Is4() {
				return nil
			}
			p, _ := a.Prefix(24)
			return trail.Term(trail.FieldIP, p.String())
		}},
		{"word-large", large, func(e *trail.Event) *trail.Expr {
			ws := trail.Words(e.Reason)
			if len(ws) == 0 {
				return nil
			}
			return trail.Term(trail.FieldText, ws[rng.IntN(len(ws))])
		}},
		{"actor-mid", mid, func(e *trail.Event) *trail.Expr { return trail.Term(trail.FieldActor, e.Actor.ID) }},
		{"action+outcome-mid", mid, func(e *trail.Event) *trail.Expr {
			return trail.And(trail.Term(trail.FieldAction, e.Action), trail.Term(trail.FieldOutcome, e.Outcome))
		}},
	} {
		var qs []*trail.Query
		for tries := 0; len(qs) < 200 && tries < 5000; tries++ {
			q := &trail.Query{Tenant: qk.t.Name, Limit: 100}
			if qk.expr != nil {
				if q.Filter = qk.expr(eventAt(qk.t.Name, rng.Int64N(qk.t.Size))); q.Filter == nil {
					continue
				}
			}
			qs = append(qs, q)
		}
		lat := make([]time.Duration, 0, len(qs))
		hits := 0
		for pass := range 2 { // the first pass warms the cache
			for _, q := range qs {
				c := *q
				t0 := time.Now()
				p, err := s.Query(ctx, &c)
				if err != nil {
					b.Fatalf("%s: %v", qk.name, err)
				}
				if pass == 1 {
					lat = append(lat, time.Since(t0))
					hits += len(p.Events)
				}
			}
		}
		slices.Sort(lat)
		p50, p99 := lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)]
		report = append(report, fmt.Sprintf("%-22s p50 %7.2f ms  p99 %7.2f ms  (%d queries, %.0f hits/page)",
			qk.name, float64(p50.Microseconds())/1000, float64(p99.Microseconds())/1000, len(lat), float64(hits)/float64(len(lat))))
		b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms-"+qk.name)
	}
	b.Logf("%d events, %d tenants (large %s: %d, mid %s: %d)\n%s", n, len(tenants), large.Name, large.Size, mid.Name, mid.Size,
		strings.Join(report, "\n"))
}

// cpuMeter reads CPU time: of this process, and of every process of the
// PostgreSQL server (pgcpu: the backends of pgstore and of the baseline,
// the WAL writer and the other helpers). On a machine shared with other
// work, CPU per event is steadier than events per second.
type cpuMeter struct {
	pg *pgcpu.Meter // nil when the server is not on this host
}

// newCPUMeter finds the server of dsn on this host; when it cannot, the
// benchmark reports no PostgreSQL CPU.
func newCPUMeter(b *testing.B, dsn string) *cpuMeter {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	m, err := pgcpu.Open(ctx, conn)
	if err != nil {
		b.Logf("no PostgreSQL CPU figures: %v", err)
		return &cpuMeter{}
	}
	return &cpuMeter{pg: m}
}

// read returns the CPU time so far of this process and of the server (0
// without a server to measure).
func (m *cpuMeter) read(b *testing.B) (self, pg time.Duration) {
	self, err := cpuclock.Process()
	if err != nil {
		b.Fatal(err)
	}
	if m.pg != nil {
		if pg, err = m.pg.CPU(); err != nil {
			b.Fatal(err)
		}
	}
	return self, pg
}

// BenchmarkIngestVsCopyMixed is BenchmarkIngestVsCopy with the batches of
// "trail bench": b.N events over 1000 Zipf tenants, each tenant's events
// sent in batches of 1000 and its remainder as one partial batch, all
// shuffled, so that most commits hold a few events of a small tenant.
func BenchmarkIngestVsCopyMixed(b *testing.B) {
	_, dsn := pgtest.Schema(b)
	meter := newCPUMeter(b, dsn)
	const workers, size = 4, 1000
	now := time.Now()
	g := gen.New(uint64(b.N), benchTenants)
	var batches [][]*trail.Event
	pending := map[string][]*trail.Event{}
	for range b.N {
		t := g.Tenant()
		pending[t] = append(pending[t], g.Event(t, g.TimeIn(now.Add(-time.Hour), now)))
		if len(pending[t]) == size {
			batches = append(batches, pending[t])
			delete(pending, t)
		}
	}
	for _, t := range slices.Sorted(func(yield func(string) bool) {
		for t := range pending {
			if !yield(t) {
				return
			}
		}
	}) {
		batches = append(batches, pending[t])
	}
	rand.New(rand.NewPCG(uint64(b.N), 7)).Shuffle(len(batches), func(i, j int) { batches[i], batches[j] = batches[j], batches[i] })
	rows := baselineRows(batches)
	signer, verifier := testKey(b)
	s, err := pgstore.Open(context.Background(), pgstore.Options{DSN: dsn, Signer: signer, Verifier: verifier, ServerName: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	bl := newBaseline(b, dsn, workers)

	b.ResetTimer()
	self0, pg0 := meter.read(b)
	t0 := time.Now()
	parallelDo(b, len(batches), workers, func(i int) error {
		_, err := s.Append(context.Background(), batches[i])
		return err
	})
	trailDur := time.Since(t0)
	self1, pg1 := meter.read(b)

	t0 = time.Now()
	parallelDo(b, len(rows), workers, func(i int) error { return bl.copyBatch(rows[i]) })
	copyDur := time.Since(t0)
	b.StopTimer()
	self2, pg2 := meter.read(b)
	perEvent := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N) }
	b.ReportMetric(perEvent(self1-self0), "go-µs/ev")
	b.ReportMetric(perEvent(pg1-pg0), "pg-µs/ev")
	b.ReportMetric(perEvent(self2-self1), "copy-go-µs/ev")
	b.ReportMetric(perEvent(pg2-pg1), "copy-pg-µs/ev")
	tr, cp := float64(b.N)/trailDur.Seconds(), float64(b.N)/copyDur.Seconds()
	b.ReportMetric(float64(len(batches)), "batches")
	b.ReportMetric(tr, "events/s")
	b.ReportMetric(cp, "copy-events/s")
	b.ReportMetric(tr/cp, "ratio")
}
