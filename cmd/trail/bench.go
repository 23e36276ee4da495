package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/checkpoint"
	"github.com/trail-audit/trail/gen"
	"github.com/trail-audit/trail/internal/cpuclock"
	"github.com/trail-audit/trail/internal/pgcpu"
	"github.com/trail-audit/trail/logstore"
	"github.com/trail-audit/trail/pgstore"
)

// The stores "trail bench --store" can measure.
const (
	benchStoreEmbedded = "embedded" // logstore in the data directory
	benchStorePostgres = "postgres" // pgstore in a fresh schema on the --postgres server
)

// benchConfig is the configuration of "trail bench". Validate names the
// offending flag.
type benchConfig struct {
	Store             string  `json:"store"`
	Events            int     `json:"events"`
	Tenants           int     `json:"tenants"`
	Batch             int     `json:"batch"`
	Concurrency       int     `json:"concurrency"`
	SingleEvents      int     `json:"single_events"`
	SingleConcurrency int     `json:"single_concurrency"`
	Queries           int     `json:"queries"`
	Seed              uint64  `json:"seed"`
	ProofFraction     float64 `json:"proof_fraction"`
	Reuse             bool    `json:"reuse,omitempty"`
	Schema            string  `json:"schema,omitempty"`
	Baseline          bool    `json:"-"`
	Verify            bool    `json:"verify"`
	Postgres          string  `json:"-"`
	Data              string  `json:"-"`
	JSON              bool    `json:"-"`
	CPUProfile        string  `json:"-"`
	ProfilePhase      string  `json:"-"`
}

// Phases --cpuprofile-phase can limit the profile to.
const (
	phaseAll     = "all"
	phaseBatched = "batched"
	phaseSingle  = "single"
	phaseProof   = "proof"
)

// Validate checks the configuration.
func (c *benchConfig) Validate() error {
	switch {
	case c.Store != benchStoreEmbedded && c.Store != benchStorePostgres:
		return fmt.Errorf("--store: %q is neither %s nor %s", c.Store, benchStoreEmbedded, benchStorePostgres)
	case c.Store == benchStorePostgres && c.Postgres == "":
		return errors.New("--store postgres: needs a PostgreSQL server: pass --postgres DSN (or set TRAIL_TEST_POSTGRES)")
	case c.Events < 1:
		return errors.New("--events: must be at least 1")
	case c.Tenants < 1 || c.Tenants > 10000:
		return errors.New("--tenants: must be between 1 and 10000")
	case c.Batch < 1 || c.Batch > trail.DefaultLimits.MaxBatchEvents:
		return fmt.Errorf("--batch: must be between 1 and %d (the server's batch limit)", trail.DefaultLimits.MaxBatchEvents)
	case c.Concurrency < 1 || c.Concurrency > 1024:
		return errors.New("--concurrency: must be between 1 and 1024")
	case c.SingleEvents < 1:
		return errors.New("--single-events: must be at least 1")
	case c.SingleConcurrency < 1 || c.SingleConcurrency > 1024:
		return errors.New("--single-concurrency: must be between 1 and 1024")
	case c.Queries < 1:
		return errors.New("--queries: must be at least 1")
	case !(c.ProofFraction > 0 && c.ProofFraction <= 1):
		return errors.New("--proof-fraction: must be above 0 and at most 1")
	case c.Schema != "" && c.Store != benchStorePostgres:
		return errors.New("--schema: only with --store postgres")
	case c.Schema != "" && !benchSchemaName.MatchString(c.Schema):
		return fmt.Errorf("--schema: %q is not a lower-case PostgreSQL identifier ([a-z_][a-z0-9_]*, at most 63 characters)", c.Schema)
	case c.Schema != "" && c.Data == "":
		return errors.New("--schema: needs --data DIR, which keeps the signing key of the schema's checkpoints and the operator key a later --reuse signs in with")
	case c.ProfilePhase != phaseAll && c.ProfilePhase != phaseBatched && c.ProfilePhase != phaseSingle && c.ProfilePhase != phaseProof:
		return fmt.Errorf("--cpuprofile-phase: %q is none of %s, %s, %s, %s", c.ProfilePhase, phaseAll, phaseBatched, phaseSingle, phaseProof)
	case c.ProfilePhase != phaseAll && c.CPUProfile == "":
		return errors.New("--cpuprofile-phase: needs --cpuprofile FILE")
	case c.Reuse && c.Data == "":
		return errors.New("--reuse: needs --data DIR, the directory an earlier run loaded")
	case c.Reuse && c.Store == benchStorePostgres && c.Schema == "":
		return errors.New("--reuse: with --store postgres needs --schema NAME, the schema an earlier run loaded and kept")
	}
	return nil
}

// runBench measures, in one run, trail's batched and single-event HTTP
// ingest, a query mix, NDJSON export and offline verification on a fresh
// store (with --store embedded, the default, the embedded store in a fresh
// data directory; with --store postgres, the PostgreSQL store in a fresh
// schema on the --postgres server, dropped at the end unless --schema
// names it), and with --postgres the same events and queries on a raw
// PostgreSQL table, printing trail's figures as ratios of that baseline.
//
// A store loaded once can be measured many times: a run with --data DIR
// (and, with --store postgres, --schema NAME) keeps it, and a later run
// with the same flags and --reuse opens it, skips every ingest phase,
// picks the query mix's tenants and samples from the stored events, and
// measures the queries, the export and the verification.
func runBench(ctx context.Context, args []string, e env) int {
	fs := newFlags("bench", e)
	var cfg benchConfig
	fs.StringVar(&cfg.Store, "store", benchStoreEmbedded, "store of the server under test: embedded, or postgres (a fresh schema on the --postgres server)")
	fs.IntVar(&cfg.Events, "events", 200000, "events to ingest in batches")
	fs.IntVar(&cfg.Tenants, "tenants", 1000, "tenants the events spread over (Zipf)")
	fs.IntVar(&cfg.Batch, "batch", 1000, "events per batched request (and per PostgreSQL COPY)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 4, "concurrent batched clients (and PostgreSQL connections)")
	fs.IntVar(&cfg.SingleEvents, "single-events", 20000, "events to ingest one per request")
	fs.IntVar(&cfg.SingleConcurrency, "single-concurrency", 64, "concurrent single-event clients")
	fs.IntVar(&cfg.Queries, "queries", 500, "samples per query kind")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the event generator")
	fs.StringVar(&cfg.Postgres, "postgres", "", "PostgreSQL DSN for the baseline and --store postgres (or TRAIL_TEST_POSTGRES)")
	fs.StringVar(&cfg.Data, "data", "", "fresh data directory to use and keep (default: a temporary one, removed after); with --reuse, the directory an earlier run loaded")
	fs.StringVar(&cfg.Schema, "schema", "", "with --store postgres: the schema to create and keep after the run (needs --data to keep its signing key), or with --reuse the kept schema to measure (default: a fresh random schema, dropped after)")
	fs.BoolVar(&cfg.Reuse, "reuse", false, "measure the store an earlier run loaded into --data (and --schema with --store postgres) again: skip the ingest phases and the PostgreSQL baseline, run the query mix, export and verify")
	fs.Float64Var(&cfg.ProofFraction, "proof-fraction", 0.25, "share of the batches sent again with ?receipt=proof after the queries (above 0, at most 1)")
	fs.BoolVar(&cfg.Verify, "verify", true, "verify the store offline after the run (false skips it, e.g. to repeat the query mix on a large --reuse store)")
	fs.BoolVar(&cfg.Baseline, "baseline", true, "with --postgres, also load the events into a raw PostgreSQL table and print ratios (false to skip; never with --reuse)")
	fs.BoolVar(&cfg.JSON, "json", false, "print the results as JSON")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the whole run (client and in-process server) to this file")
	fs.StringVar(&cfg.ProfilePhase, "cpuprofile-phase", phaseAll, "with --cpuprofile, profile only this timed ingest phase: batched, single or proof (default all: the whole run)")
	if err := parseFlags(fs, args, e); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "trail bench: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if cfg.Postgres == "" {
		cfg.Postgres = e.getenv("TRAIL_TEST_POSTGRES")
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(e.stderr, "trail bench:", err)
		return exitUsage
	}
	if cfg.Postgres != "" {
		pcfg, err := pgx.ParseConfig(cfg.Postgres)
		if err != nil {
			fmt.Fprintln(e.stderr, "trail bench: --postgres:", err)
			return exitUsage
		}
		// Fail now, not after the trail phases, when PostgreSQL is unreachable.
		conn, err := pgx.ConnectConfig(ctx, pcfg)
		if err != nil {
			fmt.Fprintln(e.stderr, "trail bench: --postgres:", err)
			return exitFailure
		}
		conn.Close(ctx)
	}
	var (
		dataDir, operator string
		cleanup           = func() {}
		err               error
	)
	if cfg.Reuse {
		dataDir = cfg.Data
		operator, err = checkReuseDir(cfg.Data, cfg)
	} else {
		dataDir, cleanup, err = benchDataDir(cfg.Data)
	}
	if err != nil {
		fmt.Fprintln(e.stderr, "trail bench:", err)
		return exitUsage
	}
	defer cleanup()

	b := &bench{cfg: cfg, e: e, data: dataDir, operator: operator}
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			fmt.Fprintln(e.stderr, "trail bench: --cpuprofile:", err)
			return exitUsage
		}
		defer func() {
			if err := f.Close(); err != nil {
				fmt.Fprintln(e.stderr, "trail bench: --cpuprofile:", err)
			}
		}()
		b.profile = f
		if cfg.ProfilePhase == phaseAll {
			if err := pprof.StartCPUProfile(f); err != nil {
				fmt.Fprintln(e.stderr, "trail bench: --cpuprofile:", err)
				return exitFailure
			}
			defer pprof.StopCPUProfile()
		}
	}
	rep, err := b.run(ctx)
	if err != nil {
		fmt.Fprintln(e.stderr, "trail bench:", err)
		return exitFailure
	}
	if cfg.JSON {
		return printJSON(e, rep)
	}
	rep.print(e.stdout)
	return exitOK
}

// benchDataDir returns the data directory to use: dir when given (it
// must be empty or absent, and is kept), else a temporary one that
// cleanup removes.
func benchDataDir(dir string) (string, func(), error) {
	if dir == "" {
		tmp, err := os.MkdirTemp("", "trail-bench-")
		if err != nil {
			return "", nil, fmt.Errorf("--data: %w", err)
		}
		return tmp, func() { os.RemoveAll(tmp) }, nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", nil, fmt.Errorf("--data: %w", err)
	}
	if len(ents) > 0 {
		return "", nil, fmt.Errorf("--data: %s is not empty; bench needs a fresh directory", dir)
	}
	return dir, func() {}, nil
}

// benchRow is one generated event: its wire JSON and the columns the
// PostgreSQL baseline stores. id and seq come from trail's receipt.
type benchRow struct {
	tenant, action, outcome, actor, ip, reason string
	time                                       time.Time
	body                                       []byte // the event as sent (JSON)
	id                                         string
	seq                                        int64
}

// benchBatch is one batched request: events of one tenant.
type benchBatch struct {
	tenant string
	n      int         // events
	rows   []*benchRow // the events, kept only for the PostgreSQL baseline
	body   []byte      // {"events":[…]}; nil once sent when nothing needs it again
	resend bool        // sent again with ?receipt=proof
}

func newBenchRow(ev *trail.Event) (*benchRow, error) {
	body, err := ev.ClientJSON() // generated events have no id: the server assigns them
	if err != nil {
		return nil, err
	}
	r := &benchRow{tenant: ev.Tenant, action: ev.Action, outcome: ev.Outcome, actor: ev.Actor.ID,
		reason: ev.Reason, time: ev.Time, body: body}
	if r.outcome == "" {
		r.outcome = trail.OutcomeUnknown
	}
	if ev.Source != nil {
		r.ip = ev.Source.IP
	}
	return r, nil
}

func newBenchBatch(tenant string, rows []*benchRow) *benchBatch {
	n := 12
	for _, r := range rows {
		n += len(r.body) + 1
	}
	body := make([]byte, 0, n)
	body = append(body, `{"events":[`...)
	for i, r := range rows {
		if i > 0 {
			body = append(body, ',')
		}
		start := len(body)
		body = append(body, r.body...)
		r.body = body[start:len(body):len(body)] // share the request's bytes
	}
	body = append(body, "]}"...)
	return &benchBatch{tenant: tenant, n: len(rows), rows: rows, body: body}
}

// bench is one run of "trail bench".
type bench struct {
	cfg      benchConfig
	e        env
	data     string
	operator string       // with --reuse, the operator key the loading run kept
	schema   *benchSchema // the server's store with --store postgres, else nil
	load     *loadPool    // the ingest phases' connections (see loadPool)

	batches []*benchBatch
	singles []*benchRow
	counts  map[string]int // events per tenant
	samples []querySample
	kinds   []queryKind
	largest string
	mid     string
	c       *client
	profile io.Writer // --cpuprofile's file, when --cpuprofile-phase names one phase
	// busy reports whether the server's store runs background work that
	// settle waits for (a flush of the embedded store).
	busy func() bool
	// bgFlushes counts the background flushes the embedded store has
	// started; nil for a store without them.
	bgFlushes func() int64
	// pgMeter reads the CPU time of the PostgreSQL server of --postgres
	// when it runs on this host (nil otherwise, the reason in
	// report.PostgresCPU).
	pgMeter *pgcpu.Meter
}

// profilePhase starts the CPU profile when --cpuprofile-phase names
// phase, and returns the function that stops it (a no-op otherwise).
func (b *bench) profilePhase(phase string) (stop func(), err error) {
	if b.profile == nil || b.cfg.ProfilePhase != phase {
		return func() {}, nil
	}
	if err := pprof.StartCPUProfile(b.profile); err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return pprof.StopCPUProfile, nil
}

// Report types: every figure "trail bench" prints.
type (
	benchReport struct {
		Config  benchConfig `json:"config"`
		Store   storeInfo   `json:"store"` // the store of the server measured
		Go      string      `json:"go"`
		OS      string      `json:"os"`
		CPUs    int         `json:"cpus"`
		LoadAvg string      `json:"load_average,omitempty"` // at the start (Linux), to judge noise
		Reused  bool        `json:"reused,omitempty"`       // --reuse: no ingest, the store an earlier run loaded
		// PostgresCPU says whose CPU the PostgreSQL CPU figures
		// (PGCPUus) count, or why there are none (the server is not on
		// this host); empty without --postgres.
		PostgresCPU string  `json:"postgres_cpu,omitempty"`
		OpenSeconds float64 `json:"server_open_seconds"` // OpenServer: the store opened, keys loaded
		// StoredEvents is the number of events in the store's tenants
		// (the system tenant left out) when the queries run.
		StoredEvents int64 `json:"stored_events"`
		// RSSMB and PeakRSSMB are the process's resident set size after
		// the queries and its peak so far (Linux): client and in-process
		// server, and without --reuse the generated events too.
		RSSMB       float64            `json:"rss_mb,omitempty"`
		PeakRSSMB   float64            `json:"peak_rss_mb,omitempty"`
		Tenants     int                `json:"tenants_with_events"`
		Largest     tenantSize         `json:"largest_tenant"`
		Mid         tenantSize         `json:"mid_tenant"`
		Ingest      throughputResult   `json:"ingest_batched"`
		Single      throughputResult   `json:"ingest_single"`
		Proof       throughputResult   `json:"ingest_proof"`
		Queries     []queryResult      `json:"queries"`
		Export      throughputResult   `json:"export"`
		Verify      verifyResult       `json:"verify"`
		Postgres    *postgresResult    `json:"postgres,omitempty"`
		Ratios      map[string]float64 `json:"ratios,omitempty"`
		ratioDetail map[string]string
		// baselinePending: printed before the PostgreSQL baseline ran.
		baselinePending bool
	}
	storeInfo struct {
		Kind     string `json:"kind"`               // "embedded" or "postgres"
		Postgres string `json:"postgres,omitempty"` // server version, with --store postgres
		Sync     string `json:"synchronous_commit,omitempty"`
		Schema   string `json:"schema,omitempty"` // the schema it lived in
		Kept     bool   `json:"kept,omitempty"`   // the schema is kept after the run (--schema), else dropped
	}
	tenantSize struct {
		Name   string `json:"name"`
		Events int    `json:"events"`
	}
	throughputResult struct {
		Events       int64   `json:"events"`
		Bytes        int64   `json:"bytes"`
		Seconds      float64 `json:"seconds"`
		EventsPerSec float64 `json:"events_per_sec"`
		MBPerSec     float64 `json:"mb_per_sec"`
		P50ms        float64 `json:"p50_ms,omitempty"`
		P99ms        float64 `json:"p99_ms,omitempty"`
		// CPUus is the process's CPU time (client and in-process server,
		// user and system) per event in microseconds, where measured: a
		// figure that noise from other processes on the machine
		// disturbs much less than events/s.
		CPUus float64 `json:"cpu_us_per_event,omitempty"`
		// SettleSeconds is how long the server's background work for the
		// phase (flush, compaction, alert evaluation) went on after its
		// last acknowledgement, and SettleCPUus that work's CPU per event
		// of the phase; see settle.
		SettleSeconds float64 `json:"settle_seconds,omitempty"`
		SettleCPUus   float64 `json:"settle_cpu_us_per_event,omitempty"`
		// PGCPUus is the CPU time of every process of the PostgreSQL
		// server per event, in microseconds, over the phase and its
		// settling (0 when not measured: see benchReport.PostgresCPU).
		// With trail's nodes on other machines, this is what each event
		// costs the database they share.
		PGCPUus float64 `json:"postgres_cpu_us_per_event,omitempty"`
		// Flushes is how many background flushes the embedded store
		// started during the timed phase (nil for a store without them).
		// A flush writes every tenant's head, most of it events of earlier
		// phases when it falls in a short one: the phase's figures are
		// read with it (docs/design/trail-bench.md, stop 23).
		Flushes *int64 `json:"background_flushes,omitempty"`
		// Runs, for a figure taken as the median of several runs (the
		// exports, see exportRuns), is every run's events/s in the order
		// they ran; the other fields are the median run's.
		Runs []float64 `json:"runs_events_per_sec,omitempty"`
	}
	queryResult struct {
		Kind    string  `json:"kind"`
		Label   string  `json:"label"`
		Samples int     `json:"samples"`
		P50ms   float64 `json:"p50_ms"`
		P99ms   float64 `json:"p99_ms"`
		Rows    float64 `json:"avg_rows"`
	}
	verifyResult struct {
		Events       int64   `json:"events"`
		Tenants      int     `json:"tenants"`
		Checkpoints  int     `json:"checkpoints"`
		OpenSeconds  float64 `json:"open_seconds"`
		Seconds      float64 `json:"seconds"`
		EventsPerSec float64 `json:"events_per_sec"`
	}
	postgresResult struct {
		Version string           `json:"version"`
		Ingest  throughputResult `json:"ingest_copy"`
		Queries []queryResult    `json:"queries"`
		Export  throughputResult `json:"export"`
	}
)

func (b *bench) run(ctx context.Context) (*benchReport, error) {
	rep := &benchReport{Config: b.cfg, Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, CPUs: runtime.NumCPU(), LoadAvg: loadAverage(), Reused: b.cfg.Reuse}
	if !b.cfg.Reuse {
		if err := b.generate(); err != nil {
			return nil, err
		}
	}

	// 1. A real server on a fresh data directory, or with --store
	// postgres on a fresh schema (dropped on every way out unless --schema
	// names it: the deferred drop runs after the deferred stop of the
	// server); with --reuse on the store an earlier run loaded.
	rep.Store.Kind = b.cfg.Store
	scfg := ServeConfig{Addr: "127.0.0.1:0", Data: b.data, ServerName: "bench.trail", AutoTenants: true}
	if b.cfg.Store == benchStorePostgres {
		sch, err := openBenchSchema(ctx, b.cfg.Postgres, b.cfg.Schema, b.cfg.Reuse)
		if err != nil {
			return nil, err
		}
		defer func() {
			if err := sch.drop(); err != nil {
				fmt.Fprintf(b.e.stderr, "trail bench: %v\n", err)
			}
		}()
		b.schema = sch
		scfg.Postgres = sch.dsn
		rep.Store.Postgres, rep.Store.Sync, rep.Store.Schema, rep.Store.Kept = sch.version, sch.sync, sch.name, sch.keep
	}
	if b.cfg.Postgres != "" && !b.cfg.Reuse {
		rep.PostgresCPU = b.openPGMeter(ctx)
	}
	bootstrap := b.operator
	if !b.cfg.Reuse {
		bootstrap = "bench-bootstrap-" + randomHex(16)
		if b.cfg.Data != "" {
			// Kept for a later --reuse run, which signs in with it.
			if err := os.MkdirAll(b.data, 0o700); err != nil {
				return nil, fmt.Errorf("--data: %w", err)
			}
			if err := os.WriteFile(filepath.Join(b.data, benchOperatorFile), []byte(bootstrap+"\n"), 0o600); err != nil {
				return nil, fmt.Errorf("--data: %w", err)
			}
		}
	}
	scfg.BootstrapKey = bootstrap
	if b.cfg.Reuse {
		fmt.Fprintf(b.e.stderr, "open the %s store loaded into %s\n", b.cfg.Store, b.data)
	}
	opening := time.Now()
	srv, err := OpenServer(scfg, io.Discard)
	if err != nil {
		return nil, fmt.Errorf("open server: %w", err)
	}
	rep.OpenSeconds = time.Since(opening).Seconds()
	b.busy = func() bool { return false }
	if f, ok := srv.store.(interface{ Flushing() bool }); ok {
		b.busy = f.Flushing
	}
	if f, ok := srv.store.(interface{ BackgroundFlushes() int64 }); ok {
		b.bgFlushes = f.BackgroundFlushes
	}
	srvCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(srvCtx) }()
	stopServer := func() error {
		if stop == nil {
			return nil
		}
		stop()
		stop = nil
		return <-done
	}
	defer stopServer()

	conns := max(b.cfg.Concurrency, b.cfg.SingleConcurrency) + 4
	hc := &http.Client{Transport: &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute}}
	b.c = &client{base: srv.URL(), key: bootstrap, hc: hc}
	if !b.cfg.Reuse {
		var created struct {
			Key string `json:"key"`
		}
		if err := b.c.sendJSON(ctx, http.MethodPost, "/v1/keys", map[string]string{"name": "bench", "role": "operator", "tenant": "*"}, &created); err != nil {
			return nil, fmt.Errorf("create operator key: %w", err)
		}
		b.c.key = created.Key
		if b.load, err = newLoadPool(srv.URL(), b.c.key, conns); err != nil {
			return nil, err
		}
		defer b.load.Close()

		// 2–3. Ingest.
		if rep.Ingest, err = b.ingestBatched(ctx); err != nil {
			return nil, fmt.Errorf("batched ingest: %w", err)
		}
		if rep.Single, err = b.ingestSingle(ctx); err != nil {
			return nil, fmt.Errorf("single-event ingest: %w", err)
		}
		if b.cfg.Data != "" {
			if err := writeBenchMarker(b.data, b.cfg); err != nil {
				return nil, err
			}
		}
	}

	// The query mix's tenants and samples come from the store, the same
	// way whether this run loaded it or an earlier one did.
	var stored map[string]int
	if stored, rep.StoredEvents, err = b.storedTenants(ctx); err != nil {
		return nil, err
	}
	rep.Tenants = len(stored)
	if b.cfg.Reuse {
		b.counts = stored
	}
	b.largest, b.mid = pickTenants(stored)
	rows, err := b.sampleStoredRows(ctx, b.largest, stored[b.largest])
	if err != nil {
		return nil, fmt.Errorf("sample %s: %w", b.largest, err)
	}
	b.pickQueries(rows)
	rep.Largest = tenantSize{b.largest, stored[b.largest]}
	rep.Mid = tenantSize{b.mid, stored[b.mid]}

	// 4. Query mix.
	if rep.Queries, err = b.measureQueries(ctx, "trail queries", b.trailQuery); err != nil {
		return nil, fmt.Errorf("queries: %w", err)
	}
	rep.RSSMB, rep.PeakRSSMB = processMemory()

	// 5. Export.
	if rep.Export, err = b.exportTrail(ctx); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}

	// 5b. Ingest with inclusion proofs in the receipts: a share of the
	// batches sent again as new events (after the queries and the
	// export, so their figures are unaffected).
	if !b.cfg.Reuse {
		if rep.Proof, err = b.ingestProof(ctx); err != nil {
			return nil, fmt.Errorf("ingest with proofs: %w", err)
		}
	}

	// 6. Offline verification of the stopped server's store.
	if err := stopServer(); err != nil {
		return nil, fmt.Errorf("stop server: %w", err)
	}
	hc.CloseIdleConnections()
	if b.cfg.Verify {
		want := rep.StoredEvents + rep.Proof.Events
		if rep.Verify, err = b.verify(ctx, want); err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
	}
	// The store's schema goes before the baseline, so that PostgreSQL does
	// not write its pages back while the baseline is timed.
	if b.schema != nil {
		if err := b.schema.drop(); err != nil {
			return nil, err
		}
	}

	// 7. The PostgreSQL baseline, of the events generated in this run.
	if b.baseline() {
		// The baseline can take long (its free-text queries scan every
		// row): trail's own figures go to stderr first, so that a run
		// stopped during the baseline has not lost them.
		rep.baselinePending = true
		fmt.Fprintln(b.e.stderr, "trail bench: trail's figures, before the PostgreSQL baseline:")
		rep.print(b.e.stderr)
		fmt.Fprintln(b.e.stderr)
		rep.baselinePending = false
		if rep.Postgres, err = b.postgres(ctx); err != nil {
			return nil, fmt.Errorf("postgres baseline: %w", err)
		}
		rep.ratios()
	}
	return rep, nil
}

// generate makes the events: a Zipf spread over tenants, grouped into
// per-tenant batches as each tenant's client would send them, with times
// close to now and increasing.
func (b *bench) generate() error {
	g := gen.New(b.cfg.Seed, b.cfg.Tenants)
	total := b.cfg.Events + b.cfg.SingleEvents
	now := time.Now().UTC().Truncate(time.Millisecond)
	from := now.Add(-24 * time.Hour)
	step := 24 * time.Hour / time.Duration(total)
	at := func(i int) time.Time {
		t := from.Add(time.Duration(i) * step)
		return g.TimeIn(t, t.Add(2*time.Second))
	}
	b.counts = map[string]int{}
	pending := map[string][]*benchRow{}
	for i := range b.cfg.Events {
		t := g.Tenant()
		r, err := newBenchRow(g.Event(t, at(i)))
		if err != nil {
			return err
		}
		b.counts[t]++
		pending[t] = append(pending[t], r)
		if len(pending[t]) == b.cfg.Batch {
			b.batches = append(b.batches, b.newBatch(t, pending[t]))
			delete(pending, t)
		}
	}
	for _, t := range slices.Sorted(maps.Keys(pending)) {
		b.batches = append(b.batches, b.newBatch(t, pending[t]))
	}
	// Interleave the tenants' partial batches with the full ones.
	rng := mrand.New(mrand.NewPCG(b.cfg.Seed, 7))
	rng.Shuffle(len(b.batches), func(i, j int) { b.batches[i], b.batches[j] = b.batches[j], b.batches[i] })

	b.singles = make([]*benchRow, b.cfg.SingleEvents)
	for i := range b.singles {
		t := g.Tenant()
		r, err := newBenchRow(g.Event(t, at(b.cfg.Events+i)))
		if err != nil {
			return err
		}
		b.counts[t]++
		b.singles[i] = r
	}
	return nil
}

// newBatch makes a batch of rows; only the baseline needs the rows
// afterwards (at 10M events they are 3 GB).
func (b *bench) newBatch(tenant string, rows []*benchRow) *benchBatch {
	bt := newBenchBatch(tenant, rows)
	if !b.baseline() {
		bt.rows = nil
	}
	return bt
}

// loadAverage returns the 1, 5 and 15 minute load averages where the
// system publishes them (Linux), else "".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return ""
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// parallel runs work(i) for i in [0, n) from workers goroutines; it stops
// at the first error, which it returns. It reports each completed item's
// events to prog.
func parallel(ctx context.Context, n, workers int, work func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for range min(workers, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := work(ctx, i); err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

// syncProgress is a progress line shared by goroutines.
type syncProgress struct {
	mu sync.Mutex
	p  progress
}

func newProgress(w io.Writer, label string, total int64) *syncProgress {
	return &syncProgress{p: progress{w: w, label: label, total: total}}
}

func (s *syncProgress) add(n int64) {
	s.mu.Lock()
	s.p.add(n)
	s.mu.Unlock()
}

func (s *syncProgress) done() {
	s.mu.Lock()
	s.p.done()
	s.mu.Unlock()
}

// latencies collects request durations from several goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// percentile returns the nearest-rank p-th percentile in milliseconds.
func percentile(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.999999) - 1
	i = max(0, min(i, len(s)-1))
	return float64(s[i]) / float64(time.Millisecond)
}

func throughput(events, bytes int64, elapsed time.Duration, lat []time.Duration) throughputResult {
	sec := elapsed.Seconds()
	return throughputResult{Events: events, Bytes: bytes, Seconds: sec,
		EventsPerSec: float64(events) / sec, MBPerSec: float64(bytes) / 1e6 / sec,
		P50ms: percentile(lat, 50), P99ms: percentile(lat, 99)}
}

// cpuPerEvent returns cpu per event in microseconds, or 0 when the
// process CPU time is not known (cpu is 0).
func cpuPerEvent(cpu time.Duration, events int) float64 {
	if cpu <= 0 || events == 0 {
		return 0
	}
	return float64(cpu) / float64(time.Microsecond) / float64(events)
}

// postEvents sends one ingest request and returns its receipts.
func (b *bench) postEvents(ctx context.Context, q url.Values, body []byte, want int) ([]trail.Receipt, error) {
	path := "/v1/events"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	data, err := b.load.post(ctx, path, body, "application/json")
	if err != nil {
		return nil, err
	}
	rs, err := decodeReceipts(data)
	if err != nil {
		return nil, fmt.Errorf("decode receipts: %w", err)
	}
	if len(rs) != want {
		return nil, fmt.Errorf("%d receipts for %d events", len(rs), want)
	}
	return rs, nil
}

func (b *bench) ingestBatched(ctx context.Context) (throughputResult, error) {
	for _, bt := range b.proofBatches() {
		bt.resend = true
	}
	// Without the baseline a batch sent once is not needed again: its
	// bytes go (5.5 GB at 10M events).
	release := !b.baseline()
	return b.postBatches(ctx, phaseBatched, "ingest, batched   ", b.batches, nil, func(bt *benchBatch, rs []trail.Receipt) error {
		for j, r := range rs {
			if bt.rows != nil {
				bt.rows[j].id, bt.rows[j].seq = r.ID, r.Seq
			}
		}
		if release && !bt.resend {
			bt.body = nil
		}
		return nil
	})
}

// baseline reports whether this run loads its events into the raw
// PostgreSQL baseline after trail's phases.
func (b *bench) baseline() bool {
	return b.cfg.Postgres != "" && b.cfg.Baseline && !b.cfg.Reuse
}

// proofBatches returns the batches ingestProof sends again: the first
// --proof-fraction of them.
func (b *bench) proofBatches() []*benchBatch {
	return b.batches[:max(int(float64(len(b.batches))*b.cfg.ProofFraction), 1)]
}

// ingestProof sends the first --proof-fraction of the batches again with
// ?receipt=proof and checks that every receipt carries its proof.
func (b *bench) ingestProof(ctx context.Context) (throughputResult, error) {
	batches := b.proofBatches()
	return b.postBatches(ctx, phaseProof, "ingest, proofs    ", batches, url.Values{"receipt": {"proof"}}, func(_ *benchBatch, rs []trail.Receipt) error {
		for _, r := range rs {
			if r.Inclusion == nil || r.Inclusion.LeafIndex != r.Seq {
				return fmt.Errorf("receipt for seq %d has no inclusion proof", r.Seq)
			}
		}
		return nil
	})
}

// openPGMeter finds the PostgreSQL server of --postgres on this host for
// the PostgreSQL CPU figures, and returns what the report says about them:
// which server was measured, or why nothing was.
func (b *bench) openPGMeter(ctx context.Context) string {
	conn, err := pgx.Connect(ctx, b.cfg.Postgres)
	if err != nil {
		return "not measured: " + err.Error()
	}
	defer conn.Close(context.Background())
	if b.pgMeter, err = pgcpu.Open(ctx, conn); err != nil {
		return "not measured: " + err.Error()
	}
	return fmt.Sprintf("every process of the server (postmaster pid %d)", b.pgMeter.Postmaster())
}

// pgCPUSince notes the PostgreSQL server's CPU time and returns the
// function that reports its CPU per event since, in microseconds. It
// reports 0 when the server is not measured, or when measure is false: a
// phase whose work PostgreSQL does not do (trail's phases on the embedded
// store).
func (b *bench) pgCPUSince(measure bool) func(events int) float64 {
	none := func(int) float64 { return 0 }
	if b.pgMeter == nil || !measure {
		return none
	}
	cpu0, err := b.pgMeter.CPU()
	if err != nil {
		fmt.Fprintf(b.e.stderr, "trail bench: PostgreSQL CPU: %v\n", err)
		return none
	}
	return func(events int) float64 {
		cpu, err := b.pgMeter.CPU()
		if err != nil {
			fmt.Fprintf(b.e.stderr, "trail bench: PostgreSQL CPU: %v\n", err)
			return 0
		}
		return cpuPerEvent(cpu-cpu0, events)
	}
}

// benchCPU returns the CPU time (user and system) the process has used
// so far, or 0 where the system does not say.
func benchCPU() time.Duration {
	d, _ := cpuclock.Process()
	return d
}

// countFlushes notes the store's count of background flushes and returns
// the function that reports how many started since (nil without a count).
func (b *bench) countFlushes() func() *int64 {
	if b.bgFlushes == nil {
		return func() *int64 { return nil }
	}
	n0 := b.bgFlushes()
	return func() *int64 {
		n := b.bgFlushes() - n0
		return &n
	}
}

// postBatches sends batches from cfg.Concurrency clients, passing each
// one's receipts to check, and measures the throughput of phase.
func (b *bench) postBatches(ctx context.Context, phase, label string, batches []*benchBatch, q url.Values, check func(*benchBatch, []trail.Receipt) error) (throughputResult, error) {
	total := 0
	for _, bt := range batches {
		total += bt.n
	}
	prog := newProgress(b.e.stderr, label, int64(total))
	var lat latencies
	var sent atomic.Int64
	stopProfile, err := b.profilePhase(phase)
	if err != nil {
		return throughputResult{}, err
	}
	flushes, pgCPU := b.countFlushes(), b.pgCPUSince(b.schema != nil)
	cpu0, start := benchCPU(), time.Now()
	err = parallel(ctx, len(batches), b.cfg.Concurrency, func(ctx context.Context, i int) error {
		bt := batches[i]
		size := int64(len(bt.body)) // check may release the body
		t0 := time.Now()
		rs, err := b.postEvents(ctx, q, bt.body, bt.n)
		if err != nil {
			return err
		}
		lat.add(time.Since(t0))
		if err := check(bt, rs); err != nil {
			return err
		}
		sent.Add(size)
		prog.add(int64(bt.n))
		return nil
	})
	elapsed, cpu := time.Since(start), benchCPU()-cpu0
	stopProfile()
	prog.done()
	if err != nil {
		return throughputResult{}, err
	}
	res := throughput(int64(total), sent.Load(), elapsed, lat.d)
	res.CPUus = cpuPerEvent(cpu, total)
	res.Flushes = flushes()
	res.settle(ctx, total, b.busy)
	res.PGCPUus = pgCPU(total)
	return res, nil
}

func (b *bench) ingestSingle(ctx context.Context) (throughputResult, error) {
	prog := newProgress(b.e.stderr, "ingest, one by one", int64(len(b.singles)))
	var lat latencies
	var sent atomic.Int64
	stopProfile, err := b.profilePhase(phaseSingle)
	if err != nil {
		return throughputResult{}, err
	}
	flushes, pgCPU := b.countFlushes(), b.pgCPUSince(b.schema != nil)
	cpu0, start := benchCPU(), time.Now()
	err = parallel(ctx, len(b.singles), b.cfg.SingleConcurrency, func(ctx context.Context, i int) error {
		r := b.singles[i]
		t0 := time.Now()
		rs, err := b.postEvents(ctx, nil, r.body, 1)
		if err != nil {
			return err
		}
		lat.add(time.Since(t0))
		r.id, r.seq = rs[0].ID, rs[0].Seq
		sent.Add(int64(len(r.body)))
		prog.add(1)
		return nil
	})
	elapsed, cpu := time.Since(start), benchCPU()-cpu0
	stopProfile()
	prog.done()
	if err != nil {
		return throughputResult{}, err
	}
	res := throughput(int64(len(b.singles)), sent.Load(), elapsed, lat.d)
	res.CPUus = cpuPerEvent(cpu, len(b.singles))
	res.Flushes = flushes()
	res.settle(ctx, len(b.singles), b.busy)
	res.PGCPUus = pgCPU(len(b.singles))
	return res, nil
}

// Settling: the server acknowledges events before all the work they cause
// is done (a flush writes blocks in the background, each tenant's alert
// engine reads and evaluates new events after they commit). Left running,
// that work would be charged to the next timed phase, and the faster a
// phase ingests, the more it leaves. So after each ingest phase the bench
// waits until the process has used less than a tenth of a CPU for two
// windows of settleWindow in a row, and the store runs no background
// flush (at most settleMax), and reports the wait and the CPU it saw
// beside the phase's own figures. The CPU alone does not tell: a flush
// that waits for its syncfs uses no CPU for tens of milliseconds, and
// what it did after that ran into the next phase.
const (
	settleWindow = 100 * time.Millisecond
	settleMax    = time.Minute
)

// settle waits for the background work of a phase of events events and
// records it in r. Without a CPU clock (CPUus 0) it does nothing.
func (r *throughputResult) settle(ctx context.Context, events int, busy func() bool) {
	cpu0 := benchCPU()
	if cpu0 <= 0 || r.CPUus == 0 {
		return
	}
	start, prev, quiet := time.Now(), cpu0, 0
	for quiet < 2 && time.Since(start) < settleMax {
		select {
		case <-ctx.Done():
			return
		case <-time.After(settleWindow):
		}
		now := benchCPU()
		if now-prev < settleWindow/10 && !busy() {
			quiet++
		} else {
			quiet = 0
		}
		prev = now
	}
	r.SettleSeconds = time.Since(start).Seconds()
	r.SettleCPUus = cpuPerEvent(benchCPU()-cpu0, events)
}

// querySample holds the parameters of one sample of every query kind,
// drawn from the largest tenant's events, so that trail and PostgreSQL run
// exactly the same queries.
type querySample struct {
	actor, action, outcome string
	cidr                   netip.Prefix
	word                   string
}

// queryKind is one query of the mix, as URL parameters for trail and as
// SQL for the baseline.
type queryKind struct {
	kind, label string
	params      func(s querySample) url.Values
	sql         string
	args        func(s querySample) []any
}

// pickQueries chooses the samples of the query mix from rows, events of
// the largest tenant, and builds the kinds for b.largest and b.mid.
func (b *bench) pickQueries(rows []*benchRow) {
	rng := mrand.New(mrand.NewPCG(b.cfg.Seed, 11))
	pick := func(ok func(r *benchRow) bool) *benchRow {
		for range 1000 {
			if r := rows[rng.IntN(len(rows))]; ok(r) {
				return r
			}
		}
		return rows[0]
	}
	b.samples = make([]querySample, b.cfg.Queries)
	for i := range b.samples {
		s := &b.samples[i]
		s.actor = pick(func(*benchRow) bool { return true }).actor
		r := pick(func(*benchRow) bool { return true })
		s.action, s.outcome = r.action, r.outcome
		s.cidr = netip.MustParsePrefix("10.1.0.0/24")
		if r := pick(func(r *benchRow) bool { return strings.Count(r.ip, ".") == 3 }); r.ip != "" {
			if a, err := netip.ParseAddr(r.ip); err == nil && a.Is4() {
				s.cidr, _ = a.Prefix(24)
			}
		}
		s.word = "rotation"
		if ws := textWords(pick(func(r *benchRow) bool { return len(textWords(r.reason)) > 0 }).reason); len(ws) > 0 {
			s.word = ws[rng.IntN(len(ws))]
		}
	}
	tenantOnly := func(t string) func(querySample) url.Values {
		return func(querySample) url.Values { return url.Values{"tenant": {t}} }
	}
	L := b.largest
	b.kinds = []queryKind{
		{"newest_largest", "newest 100, largest tenant", tenantOnly(L),
			`WHERE tenant = $1 ORDER BY seq DESC LIMIT 100`,
			func(querySample) []any { return []any{L} }},
		{"newest_mid", "newest 100, mid tenant", tenantOnly(b.mid),
			`WHERE tenant = $1 ORDER BY seq DESC LIMIT 100`,
			func(querySample) []any { return []any{b.mid} }},
		{"actor", "tenant + actor", func(s querySample) url.Values { return url.Values{"tenant": {L}, "actor": {s.actor}} },
			`WHERE tenant = $1 AND actor_id = $2 ORDER BY seq DESC LIMIT 100`,
			func(s querySample) []any { return []any{L, s.actor} }},
		{"action_outcome", "tenant + action + outcome", func(s querySample) url.Values {
			return url.Values{"tenant": {L}, "action": {s.action}, "outcome": {s.outcome}}
		},
			`WHERE tenant = $1 AND action = $2 AND outcome = $3 ORDER BY seq DESC LIMIT 100`,
			func(s querySample) []any { return []any{L, s.action, s.outcome} }},
		{"ip_cidr", "tenant + ip /24", func(s querySample) url.Values { return url.Values{"tenant": {L}, "ip": {s.cidr.String()}} },
			`WHERE tenant = $1 AND ip << $2 ORDER BY seq DESC LIMIT 100`,
			func(s querySample) []any { return []any{L, s.cidr} }},
		{"text", "tenant + free-text word", func(s querySample) url.Values { return url.Values{"tenant": {L}, "q": {s.word}} },
			`WHERE tenant = $1 AND body::text ~* $2 ORDER BY seq DESC LIMIT 100`,
			func(s querySample) []any { return []any{L, `\m` + regexp.QuoteMeta(s.word) + `\M`} }},
	}
}

// textWords returns the lower-case words of s that are worth searching
// for: letters only, four or more of them.
func textWords(s string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) }) {
		if len(w) >= 4 {
			out = append(out, w)
		}
	}
	return out
}

// measureQueries runs a warm-up pass, then cfg.Queries samples of each
// kind one after another, and returns p50/p99 per kind.
func (b *bench) measureQueries(ctx context.Context, label string, do func(ctx context.Context, k queryKind, s querySample) (int, error)) ([]queryResult, error) {
	warm := min(b.cfg.Queries, 20)
	prog := newProgress(b.e.stderr, fmt.Sprintf("%-18s", label), int64(len(b.kinds)*(b.cfg.Queries+warm)))
	defer prog.done()
	out := make([]queryResult, 0, len(b.kinds))
	for _, k := range b.kinds {
		for i := range warm {
			if _, err := do(ctx, k, b.samples[i]); err != nil {
				return nil, fmt.Errorf("%s: %w", k.label, err)
			}
			prog.add(1)
		}
		lat := make([]time.Duration, len(b.samples))
		rows := 0
		for i, s := range b.samples {
			t0 := time.Now()
			n, err := do(ctx, k, s)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k.label, err)
			}
			lat[i] = time.Since(t0)
			rows += n
			prog.add(1)
		}
		out = append(out, queryResult{Kind: k.kind, Label: k.label, Samples: len(lat),
			P50ms: percentile(lat, 50), P99ms: percentile(lat, 99), Rows: float64(rows) / float64(len(lat))})
	}
	return out, nil
}

// trailQuery runs one query over HTTP and returns the number of events.
func (b *bench) trailQuery(ctx context.Context, k queryKind, s querySample) (int, error) {
	q := k.params(s)
	q.Set("limit", "100")
	var page struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := b.c.getJSON(ctx, "/v1/events", q, &page); err != nil {
		return 0, err
	}
	return len(page.Events), nil
}

// countingWriter counts bytes and lines.
type countingWriter struct{ bytes, lines int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.bytes += int64(len(p))
	w.lines += int64(bytes.Count(p, []byte{'\n'}))
	return len(p), nil
}

func (b *bench) exportTrail(ctx context.Context) (throughputResult, error) {
	fmt.Fprintf(b.e.stderr, "export %s (%d events, %d times)\n", b.largest, b.counts[b.largest], exportRuns)
	return medianRun(exportRuns, func() (throughputResult, error) {
		start := time.Now()
		resp, err := b.c.do(ctx, http.MethodGet, "/v1/export", url.Values{"tenant": {b.largest}, "format": {"ndjson"}}, nil, "")
		if err != nil {
			return throughputResult{}, err
		}
		defer resp.Body.Close()
		var cw countingWriter
		if _, err := io.Copy(&cw, resp.Body); err != nil {
			return throughputResult{}, err
		}
		elapsed := time.Since(start)
		if cw.lines < int64(b.counts[b.largest]) {
			return throughputResult{}, fmt.Errorf("exported %d events of %s, want at least %d", cw.lines, b.largest, b.counts[b.largest])
		}
		return throughput(cw.lines, cw.bytes, elapsed, nil), nil
	})
}

// exportRuns is how many times the bench exports the largest tenant, from
// trail and from the PostgreSQL baseline; it reports the median run. One
// export of a default run's largest tenant (about 40k events) takes about
// 50 ms, so a single one can catch a garbage collection or the end of a
// compaction: in stop 22 one run of seven measured 136k events/s where
// the others measured 626k–931k (docs/design/trail-bench.md). The first
// run reads chunks the block cache does not hold yet and is usually the
// slowest; every run's rate is reported beside the median.
const exportRuns = 3

// medianRun calls run n (odd, at least 1) times and returns the result of
// the run with the median events/s, its Runs set to every run's events/s
// in the order they ran. The first error stops it.
func medianRun(n int, run func() (throughputResult, error)) (throughputResult, error) {
	results := make([]throughputResult, 0, n)
	rates := make([]float64, 0, n)
	for range n {
		r, err := run()
		if err != nil {
			return throughputResult{}, err
		}
		results = append(results, r)
		rates = append(rates, r.EventsPerSec)
	}
	slices.SortStableFunc(results, func(a, b throughputResult) int { return cmp.Compare(a.EventsPerSec, b.EventsPerSec) })
	med := results[len(results)/2]
	med.Runs = rates
	return med, nil
}

// verify opens the stopped server's store offline, as "trail verify
// --data" (or, with --store postgres, "trail verify --postgres" with the
// bench's own verifier key) does, and checks every tenant's log.
func (b *bench) verify(ctx context.Context, want int64) (verifyResult, error) {
	fmt.Fprintln(b.e.stderr, "verify (offline)")
	signer, verifier, err := checkpoint.LoadKeyFile(filepath.Join(b.data, "signing.key"))
	if err != nil {
		return verifyResult{}, err
	}
	start := time.Now()
	var s trail.Store
	if b.schema != nil {
		s, err = pgstore.Open(ctx, pgstore.Options{DSN: b.schema.dsn, Verifier: verifier, ServerName: verifier.Name()})
	} else {
		s, err = logstore.Open(logstore.Options{Dir: filepath.Join(b.data, "store"), Signer: signer, Verifier: verifier, ServerName: signer.Name()})
	}
	if err != nil {
		return verifyResult{}, err
	}
	defer s.Close()
	opened := time.Since(start)
	start = time.Now()
	rep, err := s.Verify(ctx)
	if err != nil {
		return verifyResult{}, err
	}
	elapsed := time.Since(start)
	if rep.Events < want {
		return verifyResult{}, fmt.Errorf("verified %d events, want at least %d", rep.Events, want)
	}
	return verifyResult{Events: rep.Events, Tenants: rep.Tenants, Checkpoints: rep.Checkpoints,
		OpenSeconds: opened.Seconds(), Seconds: elapsed.Seconds(), EventsPerSec: float64(rep.Events) / elapsed.Seconds()}, nil
}

// benchSchema is the PostgreSQL schema that holds the server's store with
// --store postgres: created fresh, and dropped with everything in it
// unless --schema named it.
type benchSchema struct {
	base    string // the --postgres DSN
	name    string
	dsn     string // base with its search_path set to name
	version string // PostgreSQL's server_version
	sync    string // and its synchronous_commit
	keep    bool   // named by --schema: drop leaves it in place
	dropped bool
}

// openBenchSchema returns the schema of the server's store on the server
// at dsn: with name "" a fresh one named trail_bench_<random>, dropped
// after the run; else the schema name, kept after the run, which must not
// exist yet unless reuse is set, and must exist then.
func openBenchSchema(ctx context.Context, dsn, name string, reuse bool) (*benchSchema, error) {
	s := &benchSchema{base: dsn, name: name, keep: name != ""}
	if name == "" {
		s.name = "trail_bench_" + randomHex(6)
	}
	var err error
	if s.dsn, err = pgstore.WithSchema(dsn, s.name); err != nil {
		return nil, fmt.Errorf("--postgres: %w", err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("--postgres: connect: %w", err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version'), current_setting('synchronous_commit'), EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", s.name).Scan(&s.version, &s.sync, &exists); err != nil {
		return nil, fmt.Errorf("--postgres: %w", err)
	}
	switch {
	case reuse && !exists:
		return nil, fmt.Errorf("--reuse: --schema %s does not exist on the --postgres server; load it first with --schema %s (without --reuse)", s.name, s.name)
	case reuse:
		return s, nil
	case exists:
		return nil, fmt.Errorf("--schema: %s exists already; pass --reuse to measure it again, or drop it", s.name)
	}
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{s.name}.Sanitize()); err != nil {
		return nil, fmt.Errorf("--store postgres: create schema %s: %w", s.name, err)
	}
	return s, nil
}

// drop drops the schema and everything in it, unless it is kept; after
// the first call it does nothing. It runs even when the run's context has
// ended.
func (s *benchSchema) drop() error {
	if s.dropped || s.keep {
		return nil
	}
	s.dropped = true
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.base)
	if err != nil {
		return fmt.Errorf("drop schema %s: %w", s.name, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{s.name}.Sanitize()+" CASCADE"); err != nil {
		return fmt.Errorf("drop schema %s: %w", s.name, err)
	}
	return nil
}

// postgres loads the same events into a table of a schema of its own
// with pgx CopyFrom, runs the same query mix and export in SQL, and drops
// the schema.
func (b *bench) postgres(ctx context.Context) (*postgresResult, error) {
	pcfg, err := pgx.ParseConfig(b.cfg.Postgres)
	if err != nil {
		return nil, fmt.Errorf("--postgres: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("--postgres: connect: %w", err)
	}
	defer conn.Close(context.Background())
	res := &postgresResult{}
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version')").Scan(&res.Version); err != nil {
		return nil, err
	}
	schema := "trail_bench_" + randomHex(6)
	table := pgx.Identifier{schema, "events"}.Sanitize()
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := conn.Exec(dctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			fmt.Fprintf(b.e.stderr, "trail bench: drop schema %s: %v\n", schema, err)
		}
	}()
	ddl := []string{
		"CREATE SCHEMA " + pgx.Identifier{schema}.Sanitize(),
		"CREATE TABLE " + table + ` (tenant text, seq bigint, id text, time timestamptz, action text,
			outcome text, actor_id text, ip inet, body jsonb, PRIMARY KEY (tenant, seq))`,
		"CREATE INDEX ON " + table + " (tenant, actor_id, seq DESC)",
		"CREATE INDEX ON " + table + " (tenant, action, outcome, seq DESC)",
		"CREATE INDEX ON " + table + " (tenant, ip, seq DESC)",
		"CREATE INDEX ON " + table + " (tenant, time)",
	}
	for _, q := range ddl {
		if _, err := conn.Exec(ctx, q); err != nil {
			return nil, fmt.Errorf("%s: %w", strings.Fields(q)[0]+" "+strings.Fields(q)[1], err)
		}
	}
	columns := []string{"tenant", "seq", "id", "time", "action", "outcome", "actor_id", "ip", "body"}
	copyRows := func(ctx context.Context, c *pgx.Conn, rows []*benchRow) error {
		n, err := c.CopyFrom(ctx, pgx.Identifier{schema, "events"}, columns, pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			r := rows[i]
			var ip any
			if r.ip != "" {
				a, err := netip.ParseAddr(r.ip)
				if err != nil {
					return nil, err
				}
				ip = a
			}
			return []any{r.tenant, r.seq, r.id, r.time, r.action, r.outcome, r.actor, ip, json.RawMessage(r.body)}, nil
		}))
		if err == nil && n != int64(len(rows)) {
			err = fmt.Errorf("copied %d rows of %d", n, len(rows))
		}
		return err
	}

	// Load: one connection per client, opened before timing.
	workers := make(chan *pgx.Conn, b.cfg.Concurrency)
	for range b.cfg.Concurrency {
		c, err := pgx.ConnectConfig(ctx, pcfg)
		if err != nil {
			return nil, fmt.Errorf("--postgres: connect: %w", err)
		}
		defer c.Close(context.Background())
		workers <- c
	}
	prog := newProgress(b.e.stderr, "postgres COPY     ", int64(b.cfg.Events))
	var lat latencies
	var sent atomic.Int64
	pgCPU := b.pgCPUSince(true)
	start := time.Now()
	err = parallel(ctx, len(b.batches), b.cfg.Concurrency, func(ctx context.Context, i int) error {
		c := <-workers
		defer func() { workers <- c }()
		bt := b.batches[i]
		t0 := time.Now()
		if err := copyRows(ctx, c, bt.rows); err != nil {
			return err
		}
		lat.add(time.Since(t0))
		sent.Add(int64(len(bt.body)))
		prog.add(int64(len(bt.rows)))
		return nil
	})
	elapsed := time.Since(start)
	prog.done()
	if err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	res.Ingest = throughput(int64(b.cfg.Events), sent.Load(), elapsed, lat.d)
	res.Ingest.PGCPUus = pgCPU(b.cfg.Events)
	// The single events too (untimed), so that both hold the same data;
	// then fresh planner statistics, as autovacuum would gather.
	if err := copyRows(ctx, conn, b.singles); err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	if _, err := conn.Exec(ctx, "ANALYZE "+table); err != nil {
		return nil, fmt.Errorf("analyze: %w", err)
	}

	pgQuery := func(ctx context.Context, k queryKind, s querySample) (int, error) {
		rows, err := conn.Query(ctx, "SELECT body FROM "+table+" "+k.sql, k.args(s)...)
		if err != nil {
			return 0, err
		}
		n := 0
		for rows.Next() {
			var body []byte
			if err := rows.Scan(&body); err != nil {
				rows.Close()
				return 0, err
			}
			n++
		}
		rows.Close()
		return n, rows.Err()
	}
	if res.Queries, err = b.measureQueries(ctx, "postgres queries", pgQuery); err != nil {
		return nil, fmt.Errorf("queries: %w", err)
	}

	fmt.Fprintf(b.e.stderr, "postgres export %s (%d times)\n", b.largest, exportRuns)
	sql := "COPY (SELECT body FROM " + table + " WHERE tenant = '" + b.largest + "' ORDER BY seq) TO STDOUT"
	res.Export, err = medianRun(exportRuns, func() (throughputResult, error) {
		var cw countingWriter
		start := time.Now()
		if _, err := conn.PgConn().CopyTo(ctx, &cw, sql); err != nil {
			return throughputResult{}, err
		}
		return throughput(cw.lines, cw.bytes, time.Since(start), nil), nil
	})
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return res, nil
}

// ratios expresses trail's figures as multiples of the PostgreSQL
// baseline; above 1 trail is faster.
func (r *benchReport) ratios() {
	pg := r.Postgres
	r.Ratios = map[string]float64{}
	r.ratioDetail = map[string]string{}
	r.Ratios["ingest"] = r.Ingest.EventsPerSec / pg.Ingest.EventsPerSec
	r.ratioDetail["ingest"] = fmt.Sprintf("trail/pg events/s: %s / %s", commas(r.Ingest.EventsPerSec), commas(pg.Ingest.EventsPerSec))
	if r.Ingest.PGCPUus > 0 && pg.Ingest.PGCPUus > 0 {
		r.Ratios[ratioIngestPGCPU] = pg.Ingest.PGCPUus / r.Ingest.PGCPUus
		r.ratioDetail[ratioIngestPGCPU] = fmt.Sprintf("pg/trail PostgreSQL CPU µs/ev: %.1f / %.1f", pg.Ingest.PGCPUus, r.Ingest.PGCPUus)
	}
	for i, q := range r.Queries {
		p := pg.Queries[i]
		key := "query_" + q.Kind
		r.Ratios[key] = p.P99ms / q.P99ms
		r.ratioDetail[key] = fmt.Sprintf("pg p99 / trail p99: %.2f / %.2f ms", p.P99ms, q.P99ms)
	}
	r.Ratios["export"] = r.Export.EventsPerSec / pg.Export.EventsPerSec
	r.ratioDetail["export"] = fmt.Sprintf("trail/pg events/s: %s / %s", commas(r.Export.EventsPerSec), commas(pg.Export.EventsPerSec))
}

// print writes the report as a table.
func (r *benchReport) print(w io.Writer) {
	c := r.Config
	if r.Reused {
		fmt.Fprintf(w, "trail bench --reuse: %s events stored over %s tenants, loaded by an earlier run into %s\n",
			commas(float64(r.StoredEvents)), commas(float64(r.Tenants)), c.Data)
	} else {
		fmt.Fprintf(w, "trail bench: %s events over %s tenants (%s with events), batches of %s, seed %d\n",
			commas(float64(c.Events)), commas(float64(c.Tenants)), commas(float64(r.Tenants)), commas(float64(c.Batch)), c.Seed)
	}
	load := ""
	if r.LoadAvg != "" {
		load = ", load average " + r.LoadAvg
	}
	fmt.Fprintf(w, "%s %s, %d CPUs%s; real HTTP on 127.0.0.1, real fsync\n", r.Go, r.OS, r.CPUs, load)
	if s := r.Store; s.Kind == benchStorePostgres {
		fate := "dropped after"
		if s.Kept {
			fate = "kept"
		}
		fmt.Fprintf(w, "store: postgres (PostgreSQL %s, synchronous_commit %s, schema %s, %s)\n", s.Postgres, s.Sync, s.Schema, fate)
	} else {
		fmt.Fprintf(w, "store: %s (logstore in the data directory)\n", s.Kind)
	}
	fmt.Fprintf(w, "server opened in %.3f s\n\n", r.OpenSeconds)

	if r.Reused {
		fmt.Fprintln(w, "INGEST: skipped (--reuse)")
	} else {
		r.printIngest(w)
	}
	fmt.Fprintln(w)

	fmt.Fprintf(w, "%-44s %12s %9s %9s\n", fmt.Sprintf("QUERIES (HTTP, warm, %d samples each)", c.Queries), "p50 ms", "p99 ms", "rows")
	fmt.Fprintf(w, "  over %s stored events; largest tenant %s (%s events), mid tenant %s (%s events)\n",
		commas(float64(r.StoredEvents)), r.Largest.Name, commas(float64(r.Largest.Events)), r.Mid.Name, commas(float64(r.Mid.Events)))
	for _, q := range r.Queries {
		fmt.Fprintf(w, "  %-42s %12.2f %9.2f %9.1f\n", q.Label, q.P50ms, q.P99ms, q.Rows)
	}
	if r.RSSMB > 0 {
		fmt.Fprintf(w, "  process RSS after the queries %s MB, peak %s MB (client and server in one process)\n", commas(r.RSSMB), commas(r.PeakRSSMB))
	}
	fmt.Fprintln(w)
	r.printRest(w)
}

// printIngest writes the INGEST section.
func (r *benchReport) printIngest(w io.Writer) {
	c := r.Config
	fmt.Fprintf(w, "%-44s %12s %9s %9s %9s %10s %9s %10s %9s %8s\n", "INGEST", "events/s", "MB/s", "p50 ms", "p99 ms", "CPU µs/ev",
		"settle s", "+CPU µs/ev", "PG µs/ev", "flushes")
	ingest := func(label string, t throughputResult) {
		flushes := "-"
		if t.Flushes != nil {
			flushes = strconv.FormatInt(*t.Flushes, 10)
		}
		fmt.Fprintf(w, "  %-42s %12s %9.2f %9.2f %9.2f %10.1f %9.2f %10.1f %9s %8s\n", label, commas(t.EventsPerSec), t.MBPerSec, t.P50ms, t.P99ms, t.CPUus,
			t.SettleSeconds, t.SettleCPUus, pgCPUText(t.PGCPUus), flushes)
	}
	ingest(fmt.Sprintf("batched HTTP (%d clients)", c.Concurrency), r.Ingest)
	ingest(fmt.Sprintf("single-event HTTP (%d clients)", c.SingleConcurrency), r.Single)
	ingest(fmt.Sprintf("batched with ?receipt=proof (%d clients)", c.Concurrency), r.Proof)
	if r.Store.Kind == benchStorePostgres && r.PostgresCPU != "" {
		fmt.Fprintf(w, "  PG µs/ev: PostgreSQL's CPU per event over the phase and its settling, %s\n", r.PostgresCPU)
	}
}

// pgCPUText formats a PostgreSQL CPU figure, "-" when not measured.
func pgCPUText(us float64) string {
	if us <= 0 {
		return "-"
	}
	return strconv.FormatFloat(us, 'f', 1, 64)
}

// ratioIngestPGCPU is the key of the ratio of PostgreSQL's CPU per event
// under the raw COPY to its CPU per event under trail's batched ingest.
const ratioIngestPGCPU = "ingest_postgres_cpu"

// printRest writes the EXPORT, VERIFY and baseline sections.
func (r *benchReport) printRest(w io.Writer) {
	c := r.Config

	fmt.Fprintf(w, "%-44s %12s %9s %9s %9s\n", "EXPORT", "events/s", "MB/s", "events", "seconds")
	fmt.Fprintf(w, "  %-42s %12s %9.2f %9d %9.3f\n", "NDJSON, largest tenant "+r.Largest.Name,
		commas(r.Export.EventsPerSec), r.Export.MBPerSec, r.Export.Events, r.Export.Seconds)
	if len(r.Export.Runs) > 1 {
		fmt.Fprintf(w, "  (the median of %d exports: %s events/s)\n", len(r.Export.Runs), joinRates(r.Export.Runs))
	}
	fmt.Fprintln(w)

	if c.Verify {
		fmt.Fprintf(w, "%-44s %12s %9s %9s %9s\n", "VERIFY", "events/s", "events", "seconds", "open s")
		fmt.Fprintf(w, "  %-42s %12s %9d %9.3f %9.3f\n", fmt.Sprintf("offline, %d tenants, %d checkpoints", r.Verify.Tenants, r.Verify.Checkpoints),
			commas(r.Verify.EventsPerSec), r.Verify.Events, r.Verify.Seconds, r.Verify.OpenSeconds)
	} else {
		fmt.Fprintln(w, "VERIFY: skipped (--verify=false)")
	}

	pg := r.Postgres
	if pg == nil {
		switch {
		case r.baselinePending:
			fmt.Fprintln(w, "\n(PostgreSQL baseline: running now; the ratios follow in the final report)")
		case r.Reused:
			fmt.Fprintln(w, "\n(no PostgreSQL baseline with --reuse: no events were generated in this run)")
		case c.Postgres != "" && !c.Baseline:
			fmt.Fprintln(w, "\n(no PostgreSQL baseline: --baseline=false)")
		default:
			fmt.Fprintln(w, "\n(no PostgreSQL baseline: pass --postgres DSN)")
		}
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "POSTGRESQL %s BASELINE (same events; COPY in batches of %s from %d connections)\n", pg.Version, commas(float64(c.Batch)), c.Concurrency)
	fmt.Fprintf(w, "  %-42s %12s %9.2f %9.2f %9.2f\n", "COPY FROM (events/s, MB/s, p50, p99)",
		commas(pg.Ingest.EventsPerSec), pg.Ingest.MBPerSec, pg.Ingest.P50ms, pg.Ingest.P99ms)
	if pg.Ingest.PGCPUus > 0 {
		fmt.Fprintf(w, "  %-42s %12.1f\n", "COPY FROM, PostgreSQL CPU µs/ev", pg.Ingest.PGCPUus)
	}
	for _, q := range pg.Queries {
		fmt.Fprintf(w, "  %-42s %12.2f %9.2f %9.1f\n", q.Label+" (p50, p99, rows)", q.P50ms, q.P99ms, q.Rows)
	}
	fmt.Fprintf(w, "  %-42s %12s %9.2f %9d %9.3f\n", "COPY TO, largest tenant (events/s, MB/s)",
		commas(pg.Export.EventsPerSec), pg.Export.MBPerSec, pg.Export.Events, pg.Export.Seconds)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "RATIOS (trail on the %s store as a multiple of raw PostgreSQL; >1 means trail is faster)\n", r.Store.Kind)
	line := func(key, label string) {
		fmt.Fprintf(w, "  ratio %-36s %8sx   (%s)\n", label, ratioText(r.Ratios[key]), r.ratioDetail[key])
	}
	line("ingest", "ingest")
	if _, ok := r.Ratios[ratioIngestPGCPU]; ok {
		line(ratioIngestPGCPU, "ingest, PostgreSQL CPU per event")
	}
	for _, q := range r.Queries {
		line("query_"+q.Kind, "query "+q.Label)
	}
	line("export", "export")
}

// commas formats n rounded to an integer with thousands separators.
func commas(n float64) string {
	s := strconv.FormatInt(int64(n+0.5), 10)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// ratioText formats a ratio with two decimals, or two significant digits
// below 0.1, so that a small ratio does not print as 0.00.
func ratioText(r float64) string {
	if r != 0 && math.Abs(r) < 0.1 {
		return strconv.FormatFloat(r, 'g', 2, 64)
	}
	return strconv.FormatFloat(r, 'f', 2, 64)
}

// joinRates formats events/s figures for a report line: "612,345; 701,234".
func joinRates(rates []float64) string {
	parts := make([]string, len(rates))
	for i, r := range rates {
		parts[i] = commas(r)
	}
	return strings.Join(parts, "; ")
}
