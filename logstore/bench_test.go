package logstore_test

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unicode"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/keyring"
	"github.com/trail-audit/trail/logstore"
	"github.com/trail-audit/trail/storetest"
)

// The benchmarks below measure logstore against the targets of
// docs/design/logstore-bench.md, which also records the commands, the
// machine and the figures. Events come from storetest.Gen: ~580-byte
// canonical leaves over 1000 tenants with a Zipf spread.

const benchTenants = 1000

// openBench opens a store in dir with production defaults (64 MiB head,
// so flushes run in the background as they do in production).
func openBench(tb testing.TB, dir string) *logstore.Store {
	return openBenchWith(tb, dir, nil)
}

// openBenchWith is openBench encrypting at rest with ring, if not nil.
// TRAIL_BENCH_CHUNK_ROWS, when set, is the store's Options.ChunkRows.
func openBenchWith(tb testing.TB, dir string, ring *keyring.Ring) *logstore.Store {
	tb.Helper()
	signer, verifier := testKey(tb)
	chunkRows := envInt(tb, "TRAIL_BENCH_CHUNK_ROWS", 0)
	s, err := logstore.Open(logstore.Options{Dir: dir, Signer: signer, Verifier: verifier, ServerName: "trail.test", Encryption: ring, ChunkRows: chunkRows})
	if err != nil {
		tb.Fatalf("open %s: %v", dir, err)
	}
	return s
}

// benchBatches returns n events as batches of at most size events, each
// batch for one Zipf-chosen tenant, as one client of one tenant sends it.
func benchBatches(g *storetest.Gen, n, size int, from, to time.Time) [][]*trail.Event {
	var out [][]*trail.Event
	for n > 0 {
		k := min(n, size)
		tenant := g.Tenant()
		batch := make([]*trail.Event, k)
		for i := range batch {
			batch[i] = g.Event(tenant, g.TimeIn(from, to))
		}
		out = append(out, batch)
		n -= k
	}
	return out
}

// appendAll appends the batches from workers goroutines, each taking the
// next batch not yet taken, and fails b on the first error. It sets each
// appended batch to nil.
func appendAll(b *testing.B, s *logstore.Store, batches [][]*trail.Event, workers int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(batches) || failed.Load() != nil {
					return
				}
				if _, err := s.Append(ctx, batches[i]); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
				// A client does not keep what it sent: drop the batch, so
				// that the garbage collector does not mark events the
				// store no longer holds (after a flush) for the rest of
				// the run, as it would not in production.
				batches[i] = nil
			}
		}()
	}
	wg.Wait()
	if p := failed.Load(); p != nil {
		b.Fatalf("append: %v", *p)
	}
}

// BenchmarkAppendBatch appends b.N events as durable batches of 1000 from
// 4 goroutines (target ≥ 250k events/s on 2 cores).
func BenchmarkAppendBatch(b *testing.B) {
	benchAppend(b, 1000, 4, nil)
}

// BenchmarkAppendBatchEncrypted is BenchmarkAppendBatch with encryption at
// rest: WAL records, blocks and id tables sealed with AES-256-GCM.
func BenchmarkAppendBatchEncrypted(b *testing.B) {
	benchAppend(b, 1000, 4, testRing(b, 0, "k1"))
}

// BenchmarkAppendSingle appends b.N events one per Append call from 64
// goroutines (target ≥ 20k events/s on 2 cores).
func BenchmarkAppendSingle(b *testing.B) {
	benchAppend(b, 1, 64, nil)
}

func benchAppend(b *testing.B, size, workers int, ring *keyring.Ring) {
	now := time.Now()
	batches := benchBatches(storetest.NewGen(uint64(b.N), benchTenants), b.N, size, now.Add(-time.Hour), now)
	s := openBenchWith(b, b.TempDir(), ring)
	defer s.Close()
	runtime.GC()
	b.ReportAllocs()
	cpu0, faults0 := processCPU(b), pageFaults(b)
	b.ResetTimer()
	appendAll(b, s, batches, workers)
	b.StopTimer()
	// Page faults are first touches of memory the process had not used
	// before; on the virtual machines measured here each costs about
	// 11 µs of system time (docs/design/logstore-bench.md), so they are
	// reported beside the CPU time they are part of.
	b.ReportMetric(float64(pageFaults(b)-faults0)/float64(b.N), "faults/event")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	// CPU per event (every goroutine, the background flush included) is
	// the figure to compare on a shared machine: wall-clock events/s
	// swing with the load, CPU time much less.
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/event")
	// The figures above leave out the flush of what the last HeadBytes of
	// events left in the heads: a run of about one HeadBytes (100k of
	// these events) holds almost no flush, one of 300k two or three. So
	// that a run's figure does not depend on where it ends between two
	// flushes, the heads are then flushed and the rate and CPU are also
	// reported with that flush counted: every event appended, made
	// durable and written to blocks once (docs/design/logstore-bench.md,
	// stop 19).
	start := time.Now()
	if err := s.Flush(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/(b.Elapsed()+time.Since(start)).Seconds(), "events/s+flush")
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/event+flush")
}

// processCPU returns the user and system CPU time of the process so far.
var processCPU = logstore.ProcessCPU

// pageFaults returns the minor and major page faults of the process so far.
func pageFaults(tb testing.TB) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatalf("getrusage: %v", err)
	}
	return ru.Minflt + ru.Majflt
}

// scaleEvents is the size of BenchmarkScale's store: TRAIL_BENCH_EVENTS,
// default one million.
func scaleEvents(b *testing.B) int {
	return envInt(b, "TRAIL_BENCH_EVENTS", 1_000_000)
}

// envInt returns the positive integer in the environment variable name
// ("_" may group digits: 10_000_000), or def when it is unset.
func envInt(tb testing.TB, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(strings.ReplaceAll(v, "_", ""))
	if err != nil || n <= 0 {
		tb.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// BenchmarkScale loads TRAIL_BENCH_EVENTS events (default 1M) over 1000
// tenants with the write path of BenchmarkAppendBatch, flushes, then
// measures warm query latencies, Read and Verify throughput, bytes on disk
// per event and resident memory, prints a table and reports the key
// figures. It runs once whatever b.N is: use -benchtime=1x.
//
// The store lives in a fresh directory under os.TempDir(), removed at the
// end, unless TRAIL_BENCH_DIR names a directory: that one is kept, and a
// store already holding at least the wanted number of events is reused
// without loading (handy to profile the read side alone).
// TRAIL_BENCH_HEAPPROFILE names a file for a heap profile of the loaded,
// flushed store.
func BenchmarkScale(b *testing.B) {
	n := scaleEvents(b)
	dir := os.Getenv("TRAIL_BENCH_DIR")
	if dir == "" {
		d, err := os.MkdirTemp("", "trail-bench-")
		if err != nil {
			b.Fatal(err)
		}
		dir = d
		defer os.RemoveAll(dir)
	}
	ctx := context.Background()
	var rep scaleReport
	rep.events = n

	t0 := time.Now()
	s := openBench(b, dir)
	rep.open = time.Since(t0)
	defer func() { s.Close() }()
	if have := storedEvents(b, s); have < int64(n) {
		if have > 0 {
			b.Fatalf("%s holds %d events, fewer than %d: remove it first", dir, have, n)
		}
		rep.ingest = loadScale(b, s, n)
		t0 = time.Now()
		if err := s.Flush(); err != nil {
			b.Fatalf("flush: %v", err)
		}
		rep.flush = time.Since(t0)
	} else {
		rep.events = int(have)
	}

	rep.diskBytes, rep.walBytes = dirBytes(b, dir)
	rep.rss, rep.heap = residentMemory()
	if path := os.Getenv("TRAIL_BENCH_HEAPPROFILE"); path != "" {
		writeHeapProfile(b, path)
	}

	tenants, err := s.Tenants(ctx)
	if err != nil {
		b.Fatal(err)
	}
	slices.SortFunc(tenants, func(x, y trail.Tenant) int { return int(y.Size - x.Size) })
	rep.tenants = len(tenants)
	large := tenants[0]
	mid := tenants[min(len(tenants)-1, 31)] // rank 32: ~1% of the events
	small := tenants[len(tenants)/2]        // the median tenant
	rep.large, rep.mid, rep.small = large, mid, small

	rng := rand.New(rand.NewPCG(42, 42))
	const samples = 250
	var kinds []queryKind
	for _, qk := range []struct {
		name string
		t    trail.Tenant
		expr func(*trail.Event) *trail.Expr // nil: no filter
	}{
		{"newest 100, large tenant", large, nil},
		{"newest 100, mid tenant", mid, nil},
		{"newest 100, median tenant", small, nil},
		{"actor, large tenant", large, actorExpr},
		{"action+outcome, large tenant", large, actionOutcomeExpr},
		{"ip, large tenant", large, ipExpr},
		{"actor, mid tenant", mid, actorExpr},
		{"action+outcome, mid tenant", mid, actionOutcomeExpr},
		{"ip, mid tenant", mid, ipExpr},
		{"word, large tenant", large, wordExpr},
		{"word, mid tenant", mid, wordExpr},
	} {
		qs := make([]*trail.Query, 0, samples)
		for len(qs) < samples {
			q := &trail.Query{Tenant: qk.t.Name, Limit: 100}
			if qk.expr != nil {
				// Values from random events of the tenant's whole history,
				// so frequent and rare values both appear.
				ev := eventAt(b, s, qk.t.Name, rng.Int64N(qk.t.Size))
				if q.Filter = qk.expr(ev); q.Filter == nil {
					continue
				}
			}
			qs = append(qs, q)
		}
		kinds = append(kinds, queryKind{qk.name, qs})
	}
	rep.queries = runQueryKinds(b, s, kinds)

	rep.readEvents, rep.read = readTenant(b, s, large)
	runtime.GC()
	t0 = time.Now()
	vr, err := s.Verify(ctx)
	rep.verify = time.Since(t0)
	if err != nil {
		b.Fatalf("verify: %v", err)
	}
	rep.verified = vr.Events
	rep.rssAfter, rep.heapAfter = residentMemory()

	rep.print(b)
	b.ReportMetric(float64(rep.events)/rep.ingest.Seconds(), "ingest-events/s")
	b.ReportMetric(float64(rep.diskBytes)/float64(rep.events), "disk-B/event")
	b.ReportMetric(float64(rep.readEvents)/rep.read.Seconds(), "read-events/s")
	b.ReportMetric(float64(rep.verified)/rep.verify.Seconds(), "verify-events/s")
	b.ReportMetric(float64(rep.rss)/(1<<20), "rss-MiB")
	b.ReportMetric(float64(rep.heap)/(1<<20), "heap-MiB")
	for _, q := range rep.queries {
		unit := strings.NewReplacer(" ", "", ",", "-", "+", "-").Replace(q.name)
		b.ReportMetric(float64(q.p99.Microseconds())/1000, "p99-ms-"+unit)
	}
}

func actorExpr(ev *trail.Event) *trail.Expr { return trail.Term(trail.FieldActor, ev.Actor.ID) }

func actionOutcomeExpr(ev *trail.Event) *trail.Expr {
	return trail.And(trail.Term(trail.FieldAction, ev.Action), trail.Term(trail.FieldOutcome, ev.Outcome))
}

func ipExpr(ev *trail.Event) *trail.Expr {
	if ev.Source == nil || ev.Source.IP == "" {
		return nil
	}
	return trail.Term(trail.FieldIP, ev.Source.IP)
}

// wordExpr is a free-text query for one word of the event's reason (four
// or more letters), as trail bench picks them; nil when it has none.
func wordExpr(ev *trail.Event) *trail.Expr {
	var words []string
	for _, w := range strings.FieldsFunc(strings.ToLower(ev.Reason), func(r rune) bool { return !unicode.IsLetter(r) }) {
		if len(w) >= 4 {
			words = append(words, w)
		}
	}
	if len(words) == 0 {
		return nil
	}
	return trail.Term(trail.FieldText, words[int(ev.Seq)%len(words)])
}

// storedEvents is the number of events in s.
func storedEvents(b *testing.B, s *logstore.Store) int64 {
	ts, err := s.Tenants(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	for _, t := range ts {
		n += t.Size
	}
	return n
}

// loadScale appends n events as batches of 1000 from 4 goroutines, each
// generating its own events on the fly so that memory stays flat. Unlike
// BenchmarkAppendBatch, every event of a batch picks its own tenant, so
// the store holds a per-event Zipf spread over all 1000 tenants (with one
// tenant per batch, 10M events would be only 10 000 draws and the tail
// tenants would be missing or hold exactly 1000 events).
// scaleTenantsPerBatch is how many tenants share one loader batch.
const scaleTenantsPerBatch = 8

func loadScale(b *testing.B, s *logstore.Store, n int) time.Duration {
	const workers, size = 4, 1000
	now := time.Now()
	from := now.Add(-30 * 24 * time.Hour)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, workers)
	t0 := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := storetest.NewGen(uint64(w+1), benchTenants)
			for {
				k := min(size, n-int(next.Add(size))+size)
				if k <= 0 {
					return
				}
				// Each batch spreads over a few Zipf-chosen tenants, as a
				// gateway forwarding several customers' events does: every
				// tenant of the spread gets events over a large load, and
				// a commit signs tens of checkpoints, not hundreds.
				var tenants [scaleTenantsPerBatch]string
				for i := range tenants {
					tenants[i] = g.Tenant()
				}
				batch := make([]*trail.Event, k)
				for i := range batch {
					batch[i] = g.Event(tenants[i%len(tenants)], g.TimeIn(from, now))
				}
				if _, err := s.Append(context.Background(), batch); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			b.Fatalf("load: %v", err)
		}
	}
	return time.Since(t0)
}

// eventAt returns the event at seq in tenant.
func eventAt(b *testing.B, s *logstore.Store, tenant string, seq int64) *trail.Event {
	recs, err := s.Read(context.Background(), tenant, seq, 1)
	if err != nil || len(recs) != 1 {
		b.Fatalf("read %s/%d: %d records, %v", tenant, seq, len(recs), err)
	}
	ev, err := trail.DecodeEvent(recs[0].Data)
	if err != nil {
		b.Fatal(err)
	}
	return ev
}

type queryStats struct {
	name          string
	n             int
	p50, p99, max time.Duration
	firstP99      time.Duration // p99 of the first pass after opening (see runQueryKinds)
	hits          float64       // mean events per page
}

// queryKind is one line of the query table: its name and its samples.
type queryKind struct {
	name string
	qs   []*trail.Query
}

// runQueryKinds times every kind's queries twice: first in the process as
// it is after opening the store (the first pass: each kind's queries once
// to fill the block cache, then timed, which is all that BenchmarkScale did
// before stop 18), then warm, after passes over every kind that bring the
// process to the state of a server that has been serving queries for a
// while: the block cache holds what it can of them, and the Go heap has
// grown to its working size and been collected at it.
//
// Why the second: on this VM the first write to each 4 KiB page the heap
// grows into costs about 11 µs (a page fault; logstore-bench.md, stop 16).
// A process that has just opened a 10M store has a heap of 700 MiB whose
// next garbage collection is 700 MiB of fresh pages away, and the block
// cache (256 MiB) then grows the heap further; until the heap stops
// growing, a query that allocates 250 KB pays about 0.7 ms in faults (the
// median tenant's newest 100: 0.87 ms p50 against 0.29 ms once the heap
// has cycled). The warm-up passes stop after a pass in which a garbage
// collection completed and the heap's resident size grew by under 2 %
// (at most ten passes). Each kind's queries are then run once more right
// before they are timed, as in the first pass, so that the other kinds'
// chunks have not evicted theirs from the cache.
func runQueryKinds(b *testing.B, s *logstore.Store, kinds []queryKind) []queryStats {
	out := make([]queryStats, len(kinds))
	for i, k := range kinds {
		timeQueries(b, s, k.name, k.qs) // the block cache's warm-up
		out[i].firstP99 = timeQueries(b, s, k.name, k.qs).p99
	}
	var ms runtime.MemStats
	for pass := 0; pass < 10; pass++ {
		runtime.ReadMemStats(&ms)
		gc, heap := ms.NumGC, ms.HeapSys-ms.HeapReleased
		for _, k := range kinds {
			timeQueries(b, s, k.name, k.qs)
		}
		runtime.ReadMemStats(&ms)
		if grown := ms.HeapSys - ms.HeapReleased; ms.NumGC > gc && float64(grown) < 1.02*float64(heap) {
			break
		}
	}
	for i, k := range kinds {
		first := out[i].firstP99
		timeQueries(b, s, k.name, k.qs)
		out[i] = timeQueries(b, s, k.name, k.qs)
		out[i].firstP99 = first
	}
	return out
}

// timeQueries runs each query once, timing each.
func timeQueries(b *testing.B, s *logstore.Store, name string, qs []*trail.Query) queryStats {
	ctx := context.Background()
	lat := make([]time.Duration, len(qs))
	hits := 0
	for i, q := range qs {
		c := *q
		t0 := time.Now()
		p, err := s.Query(ctx, &c)
		lat[i] = time.Since(t0)
		if err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		hits += len(p.Events)
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	return queryStats{name: name, n: len(qs), p50: pct(0.50), p99: pct(0.99), max: lat[len(lat)-1], hits: float64(hits) / float64(len(qs))}
}

// readTenant reads the whole tenant in order with pages of 1000 records.
func readTenant(b *testing.B, s *logstore.Store, t trail.Tenant) (int64, time.Duration) {
	ctx := context.Background()
	t0 := time.Now()
	var n int64
	for n < t.Size {
		recs, err := s.Read(ctx, t.Name, n, 1000)
		if err != nil {
			b.Fatalf("read %s/%d: %v", t.Name, n, err)
		}
		if len(recs) == 0 {
			b.Fatalf("read %s/%d: no records", t.Name, n)
		}
		n += int64(len(recs))
	}
	return n, time.Since(t0)
}

// dirBytes returns the bytes of the files under dir outside wal/, and of
// those inside.
func dirBytes(b *testing.B, dir string) (data, wal int64) {
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if rel, _ := filepath.Rel(dir, path); strings.HasPrefix(rel, "wal"+string(filepath.Separator)) {
			wal += fi.Size()
		} else {
			data += fi.Size()
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return data, wal
}

// residentMemory returns VmRSS from /proc/self/status and the in-use heap
// after a garbage collection.
func residentMemory() (rss, heap uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if f, err := os.Open("/proc/self/status"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
				kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				rss = kb << 10
			}
		}
		f.Close()
	}
	return rss, ms.HeapInuse
}

// writeHeapProfile writes the live heap (the store as loaded) to path.
func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
	}
}

type scaleReport struct {
	events, tenants     int
	large, mid, small   trail.Tenant
	open, ingest, flush time.Duration
	diskBytes, walBytes int64
	rss, heap           uint64
	rssAfter, heapAfter uint64
	queries             []queryStats
	readEvents          int64
	read                time.Duration
	verified            int64
	verify              time.Duration
}

func (r *scaleReport) print(b *testing.B) {
	var sb strings.Builder
	mib := func(v uint64) string { return fmt.Sprintf("%.0f MiB", float64(v)/(1<<20)) }
	fmt.Fprintf(&sb, "\nlogstore at %d events over %d tenants (large %s: %d, mid %s: %d, median %s: %d)\n",
		r.events, r.tenants, r.large.Name, r.large.Size, r.mid.Name, r.mid.Size, r.small.Name, r.small.Size)
	fmt.Fprintf(&sb, "  open %v", r.open.Round(time.Millisecond))
	if r.ingest > 0 {
		fmt.Fprintf(&sb, ", ingest %v (%.0f events/s), final flush %v", r.ingest.Round(time.Millisecond), float64(r.events)/r.ingest.Seconds(), r.flush.Round(time.Millisecond))
	}
	fmt.Fprintf(&sb, "\n  disk %.1f MiB without WAL = %.1f B/event; WAL %.1f MiB\n", float64(r.diskBytes)/(1<<20), float64(r.diskBytes)/float64(r.events), float64(r.walBytes)/(1<<20))
	fmt.Fprintf(&sb, "  memory after flush: RSS %s, HeapInuse %s; after queries+verify: RSS %s, HeapInuse %s\n", mib(r.rss), mib(r.heap), mib(r.rssAfter), mib(r.heapAfter))
	fmt.Fprintf(&sb, "  read %s: %d events in %v = %.0f events/s\n", r.large.Name, r.readEvents, r.read.Round(time.Millisecond), float64(r.readEvents)/r.read.Seconds())
	fmt.Fprintf(&sb, "  verify: %d events in %v = %.0f events/s\n", r.verified, r.verify.Round(time.Millisecond), float64(r.verified)/r.verify.Seconds())
	fmt.Fprintf(&sb, "  %-32s %5s %10s %10s %10s %8s %10s\n", "query (newest first, limit 100)", "n", "p50", "p99", "max", "hits", "1st p99")
	for _, q := range r.queries {
		fmt.Fprintf(&sb, "  %-32s %5d %10v %10v %10v %8.1f %10v\n", q.name, q.n, q.p50.Round(time.Microsecond), q.p99.Round(time.Microsecond), q.max.Round(time.Microsecond), q.hits, q.firstP99.Round(time.Microsecond))
	}
	fmt.Print(sb.String()) // b.Log truncates benchmark output to ten lines
}

// BenchmarkQueryHead queries the newest 100 events of a tenant whose 20 000
// events are all in the head (not yet flushed), unfiltered, by actor, by
// the rarest word of their reasons (free text is not indexed in the head:
// each entry's term signature is checked, see termSig) and by a request id.
// Heads keep leaves, not decoded events, so each returned row is decoded
// as a block row is (see headEntry); this measures what that costs.
func BenchmarkQueryHead(b *testing.B) {
	s := openBench(b, b.TempDir())
	defer s.Close()
	g := storetest.NewGen(7, 1)
	tenant := g.Tenant()
	now := time.Now()
	ctx := context.Background()
	var actor, request string
	words := map[string]int{} // of the reasons: how many events hold each
	for range 20 {
		batch := make([]*trail.Event, 1000)
		for i := range batch {
			batch[i] = g.Event(tenant, g.TimeIn(now.Add(-time.Hour), now))
			for _, w := range slices.Compact(slices.Sorted(slices.Values(trail.Words(batch[i].Reason)))) {
				words[w]++
			}
		}
		actor = batch[0].Actor.ID
		if r := batch[500].Request; r != nil && r.ID != "" {
			request = r.ID
		}
		if _, err := s.Append(ctx, batch); err != nil {
			b.Fatalf("append: %v", err)
		}
	}
	if request == "" {
		b.Fatal("no batch's middle event has a request id")
	}
	// The rarest word of four letters or more: the query must look at
	// every entry of the head for its few matches, as trail bench's p99
	// free-text queries do.
	rare := ""
	for w, n := range words {
		if len(w) >= 4 && (rare == "" || n < words[rare] || n == words[rare] && w < rare) {
			rare = w
		}
	}
	for _, bc := range []struct {
		name   string
		filter *trail.Expr
	}{
		{"newest 100", nil},
		{"actor", trail.Term(trail.FieldActor, actor)},
		{"rare word", trail.Term(trail.FieldText, rare)},
		{"request id", trail.Term(trail.FieldRequestID, request)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			rows := 0
			for b.Loop() {
				p, err := s.Query(ctx, &trail.Query{Tenant: tenant, Limit: 100, Filter: bc.filter})
				if err != nil {
					b.Fatalf("query: %v", err)
				}
				rows += len(p.Events)
			}
			if rows == 0 {
				b.Fatal("no rows returned")
			}
		})
	}
}
