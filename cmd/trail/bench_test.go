package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/checkpoint"
	"github.com/trail-audit/trail/logstore"
)

// smallBench are the flags of a bench run small enough for a test.
var smallBench = []string{"bench", "--events", "3000", "--single-events", "300", "--queries", "20"}

// runBenchCmd runs "trail bench" in-process with the variables vars and
// returns its exit code, stdout and stderr.
func runBenchCmd(t *testing.T, vars map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) string { return vars[k] }}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	code := run(ctx, args, e)
	return code, out.String(), errb.String()
}

// numbersAfter returns the numbers on the line of out that contains
// label, after the label (thousands separators and a trailing x removed).
func numbersAfter(t *testing.T, out, label string) []float64 {
	t.Helper()
	for line := range strings.SplitSeq(out, "\n") {
		_, rest, ok := strings.Cut(line, label)
		if !ok {
			continue
		}
		var nums []float64
		for _, f := range strings.Fields(rest) {
			f = strings.TrimSuffix(strings.ReplaceAll(f, ",", ""), "x")
			if n, err := strconv.ParseFloat(f, 64); err == nil {
				nums = append(nums, n)
			}
		}
		return nums
	}
	t.Errorf("output has no line with %q:\n%s", label, out)
	return nil
}

// checkPositive checks that the line with label has at least want
// numbers and that the first want of them are positive.
func checkPositive(t *testing.T, out, label string, want int) {
	t.Helper()
	nums := numbersAfter(t, out, label)
	if nums == nil {
		return
	}
	if len(nums) < want {
		t.Errorf("line %q: got %d numbers %v, want %d", label, len(nums), nums, want)
		return
	}
	for i, n := range nums[:want] {
		if n <= 0 {
			t.Errorf("line %q: number %d is %v, want > 0 (all: %v)", label, i+1, n, nums)
		}
	}
}

var queryLabels = []string{"newest 100, largest tenant", "newest 100, mid tenant", "tenant + actor",
	"tenant + action + outcome", "tenant + ip /24", "tenant + free-text word"}

// TestBench runs a small bench against the real server and checks that
// every section is there with positive figures, that --data keeps the
// directory it was given and that --cpuprofile writes a profile.
func TestBench(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	prof := filepath.Join(t.TempDir(), "cpu.prof")
	code, out, errOut := runBenchCmd(t, nil, append(smallBench, "--data", data, "--cpuprofile", prof)...)
	if code != exitOK {
		t.Fatalf("bench: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	t.Logf("\n%s", out)
	if !strings.Contains(out, "\nstore: embedded") {
		t.Errorf("output does not name the embedded store:\n%s", out)
	}
	for _, section := range []string{"INGEST", "QUERIES", "EXPORT", "VERIFY"} {
		if !strings.Contains(out, "\n"+section) {
			t.Errorf("output has no %s section", section)
		}
	}
	ingestFigures := 4 // events/s, MB/s, p50, p99
	if runtime.GOOS == "linux" {
		ingestFigures = 5 // and CPU µs per event
	}
	checkPositive(t, out, "batched HTTP (4 clients)", ingestFigures)
	checkPositive(t, out, "single-event HTTP (64 clients)", ingestFigures)
	checkPositive(t, out, "batched with ?receipt=proof (4 clients)", ingestFigures)
	for _, l := range queryLabels {
		checkPositive(t, out, "  "+l, 3) // p50, p99, rows
	}
	checkPositive(t, out, "NDJSON, largest tenant", 4) // events/s, MB/s, events, seconds
	checkPositive(t, out, "checkpoints", 4)            // events/s, events, seconds, open s
	if strings.Contains(out, "ratio ") {
		t.Error("ratios printed without a PostgreSQL baseline")
	}
	if !strings.Contains(errOut, "100.0%") {
		t.Errorf("stderr has no progress line:\n%s", errOut)
	}
	if _, err := os.Stat(filepath.Join(data, "signing.key")); err != nil {
		t.Errorf("--data directory was not kept: %v", err)
	}
	// A profile is gzip-compressed protocol buffers.
	if b, err := os.ReadFile(prof); err != nil || len(b) < 100 || b[0] != 0x1f || b[1] != 0x8b {
		t.Errorf("--cpuprofile %s: %d bytes, %v; want a gzip-compressed profile", prof, len(b), err)
	}
}

// TestBenchProfilePhase checks that --cpuprofile-phase writes a profile
// of one ingest phase, for each phase.
func TestBenchProfilePhase(t *testing.T) {
	for _, phase := range []string{phaseBatched, phaseSingle, phaseProof} {
		t.Run(phase, func(t *testing.T) {
			prof := filepath.Join(t.TempDir(), "cpu.prof")
			code, _, errOut := runBenchCmd(t, nil, "bench", "--events", "500", "--single-events", "100", "--queries", "2",
				"--verify=false", "--cpuprofile", prof, "--cpuprofile-phase", phase)
			if code != exitOK {
				t.Fatalf("bench: exit %d\nstderr:\n%s", code, errOut)
			}
			if b, err := os.ReadFile(prof); err != nil || len(b) < 100 || b[0] != 0x1f || b[1] != 0x8b {
				t.Errorf("--cpuprofile %s: %d bytes, %v; want a gzip-compressed profile", prof, len(b), err)
			}
		})
	}
}

// TestBenchJSON checks the --json report and that the default temporary
// data directory is removed.
func TestBenchJSON(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	code, out, errOut := runBenchCmd(t, nil, append(smallBench, "--json")...)
	if code != exitOK {
		t.Fatalf("bench --json: exit %d\nstderr:\n%s", code, errOut)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("bench --json printed invalid JSON: %v\n%s", err, out)
	}
	if rep.Store.Kind != "embedded" || rep.Config.Store != "embedded" {
		t.Errorf("store %q, config.store %q; want embedded (the default)", rep.Store.Kind, rep.Config.Store)
	}
	figures := map[string]float64{
		"ingest_batched.events_per_sec": rep.Ingest.EventsPerSec,
		"ingest_batched.p99_ms":         rep.Ingest.P99ms,
		"ingest_single.events_per_sec":  rep.Single.EventsPerSec,
		"ingest_proof.events_per_sec":   rep.Proof.EventsPerSec,
		"ingest_single.p50_ms":          rep.Single.P50ms,
		"export.events_per_sec":         rep.Export.EventsPerSec,
		"export.mb_per_sec":             rep.Export.MBPerSec,
		"verify.events_per_sec":         rep.Verify.EventsPerSec,
	}
	for name, v := range figures {
		if v <= 0 {
			t.Errorf("%s = %v, want > 0", name, v)
		}
	}
	// Every generated event is well over 100 bytes of JSON, so the bytes
	// each ingest phase counts must be too (the batched phase once
	// counted the bodies it had released: almost nothing).
	for name, r := range map[string]throughputResult{"ingest_batched": rep.Ingest, "ingest_single": rep.Single, "ingest_proof": rep.Proof} {
		if r.Bytes < 100*r.Events || r.MBPerSec <= 0 {
			t.Errorf("%s: %d bytes, %.3f MB/s for %d events; want at least 100 bytes per event", name, r.Bytes, r.MBPerSec, r.Events)
		}
		// The embedded store counts its background flushes: every phase
		// reports how many started in it (none in so small a run).
		if r.Flushes == nil || *r.Flushes != 0 {
			t.Errorf("%s: background flushes %v, want a count of 0 for %d events", name, r.Flushes, r.Events)
		}
		// Without --postgres no PostgreSQL CPU is measured.
		if r.PGCPUus != 0 {
			t.Errorf("%s: PostgreSQL CPU %.1f µs/event without --postgres", name, r.PGCPUus)
		}
		// Where the CPU clock is known, each phase waits at least two
		// quiet windows for its background work before the next.
		if r.CPUus > 0 && (r.SettleSeconds < 2*settleWindow.Seconds() || r.SettleCPUus <= 0) {
			t.Errorf("%s: settled in %.3f s with %.1f CPU µs/event; want at least %v and some CPU", name, r.SettleSeconds, r.SettleCPUus, 2*settleWindow)
		}
	}
	// The export is the median of exportRuns runs, each listed.
	if len(rep.Export.Runs) != exportRuns || !slices.Contains(rep.Export.Runs, rep.Export.EventsPerSec) {
		t.Errorf("export: %v events/s from runs %v; want the median of %d runs", rep.Export.EventsPerSec, rep.Export.Runs, exportRuns)
	}
	if got, want := len(rep.Queries), len(queryLabels); got != want {
		t.Errorf("%d query kinds, want %d", got, want)
	}
	for _, q := range rep.Queries {
		if q.P50ms <= 0 || q.P99ms < q.P50ms || q.Samples != 20 {
			t.Errorf("query %s: p50 %v, p99 %v, %d samples; want 0 < p50 <= p99 and 20 samples", q.Kind, q.P50ms, q.P99ms, q.Samples)
		}
	}
	if rep.Verify.Events < 3300 {
		t.Errorf("verified %d events, want at least 3300", rep.Verify.Events)
	}
	if rep.Postgres != nil || rep.Ratios != nil {
		t.Error("PostgreSQL figures without --postgres")
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("temporary data directory left behind: %v", ents)
	}
}

// TestBenchPostgres runs the bench with the PostgreSQL baseline and
// checks the ratio lines. It needs TRAIL_TEST_POSTGRES.
func TestBenchPostgres(t *testing.T) {
	dsn := os.Getenv("TRAIL_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("TRAIL_TEST_POSTGRES is not set: no PostgreSQL baseline (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	code, out, errOut := runBenchCmd(t, nil, append(smallBench, "--postgres", dsn)...)
	if code != exitOK {
		t.Fatalf("bench --postgres: exit %d (is PostgreSQL at TRAIL_TEST_POSTGRES reachable?)\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	t.Logf("\n%s", out)
	if !strings.Contains(out, "\nPOSTGRESQL") || !strings.Contains(out, "\nRATIOS") {
		t.Errorf("output has no POSTGRESQL or RATIOS section:\n%s", out)
	}
	checkPositive(t, out, "COPY FROM (events/s, MB/s, p50, p99)", 4)
	// The server runs on this host in CI, so its CPU is measured for the
	// COPY; trail's phases ran on the embedded store, so theirs is not
	// (PG µs/ev "-", and no ratio of PostgreSQL CPU).
	checkPositive(t, out, "COPY FROM, PostgreSQL CPU µs/ev", 1)
	if !regexp.MustCompile(`(?m)^  batched HTTP \(4 clients\) .* - +\d+$`).MatchString(out) {
		t.Errorf("the batched line of the embedded store does not show - for PostgreSQL's CPU:\n%s", out)
	}
	checkPositive(t, out, "ratio ingest", 1)
	for _, l := range queryLabels {
		checkPositive(t, out, "ratio query "+l, 1)
	}
	checkPositive(t, out, "ratio export", 1)
	if n := strings.Count(out, "  ratio "); n != 2+len(queryLabels) {
		t.Errorf("%d ratio lines, want %d", n, 2+len(queryLabels))
	}
	// Trail's own figures reach stderr before the baseline starts, so a
	// run stopped during a long baseline keeps them.
	if !strings.Contains(errOut, "trail's figures, before the PostgreSQL baseline") ||
		!strings.Contains(errOut, "PostgreSQL baseline: running now") {
		t.Errorf("stderr has no early report of trail's figures:\n%s", errOut)
	}
	checkPositive(t, errOut, "batched HTTP (4 clients)", 4)
	checkPositive(t, errOut, "NDJSON, largest tenant", 4)
	if strings.Contains(errOut, "\nRATIOS") {
		t.Errorf("the early report has ratios before the baseline ran:\n%s", errOut)
	}
}

// TestBenchStorePostgres runs the bench with the server on the PostgreSQL
// store: every section is there, the report names the store, the offline
// verification covers every event, the raw baseline and its ratios are
// there too, and the store's schema is gone afterwards. It needs
// TRAIL_TEST_POSTGRES.
func TestBenchStorePostgres(t *testing.T) {
	dsn := os.Getenv("TRAIL_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("TRAIL_TEST_POSTGRES is not set: no PostgreSQL to store events in (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	vars := map[string]string{"TRAIL_TEST_POSTGRES": dsn} // the DSN from the environment, not --postgres
	code, out, errOut := runBenchCmd(t, vars, append(smallBench, "--store", "postgres")...)
	if code != exitOK {
		t.Fatalf("bench --store postgres: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	t.Logf("\n%s", out)
	m := regexp.MustCompile(`\nstore: postgres \(PostgreSQL .*, schema (trail_bench_[0-9a-f]+), dropped after\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("output does not name the postgres store and its schema:\n%s", out)
	}
	checkPositive(t, out, "batched HTTP (4 clients)", 4)
	checkPositive(t, out, "single-event HTTP (64 clients)", 4)
	checkPositive(t, out, "batched with ?receipt=proof (4 clients)", 4)
	for _, l := range queryLabels {
		checkPositive(t, out, "  "+l, 3)
	}
	checkPositive(t, out, "NDJSON, largest tenant", 4)
	if nums := numbersAfter(t, out, "checkpoints"); len(nums) < 2 || nums[1] < 3300 {
		t.Errorf("verify line %v: want at least 3300 events verified", nums)
	}
	checkPositive(t, out, "COPY FROM (events/s, MB/s, p50, p99)", 4)
	if !strings.Contains(out, "RATIOS (trail on the postgres store") {
		t.Errorf("ratios do not name the postgres store:\n%s", out)
	}
	checkPositive(t, out, "ratio ingest", 1)
	// The server runs on this host in CI: PostgreSQL's CPU per event is
	// measured for every phase on the PostgreSQL store and for the COPY,
	// and their ratio is reported.
	if !strings.Contains(out, "every process of the server (postmaster pid") {
		t.Fatalf("the report does not say whose CPU PG µs/ev counts:\n%s", out)
	}
	for _, l := range []string{"batched HTTP (4 clients)", "single-event HTTP (64 clients)", "batched with ?receipt=proof (4 clients)"} {
		if nums := numbersAfter(t, out, l); len(nums) < 8 || nums[7] <= 0 {
			t.Errorf("%s: figures %v, want a positive PG µs/ev as the eighth", l, nums)
		}
	}
	checkPositive(t, out, "COPY FROM, PostgreSQL CPU µs/ev", 1)
	checkPositive(t, out, "ratio ingest, PostgreSQL CPU per event", 1)
	// The PostgreSQL store has no background flushes to count.
	if !regexp.MustCompile(`(?m)^  batched HTTP \(4 clients\) .* -$`).MatchString(out) {
		t.Errorf("the batched line does not end with - for the flush count:\n%s", out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var left bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", m[1]).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left {
		t.Errorf("schema %s is left behind", m[1])
	}
}

// TestBenchUsage checks that bad flags exit with 2 and name the flag.
func TestBenchUsage(t *testing.T) {
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		vars map[string]string
		want string
	}{
		{"no events", []string{"--events", "0"}, nil, "--events"},
		{"too many tenants", []string{"--tenants", "10001"}, nil, "--tenants"},
		{"batch over the server limit", []string{"--batch", "10001"}, nil, "--batch"},
		{"no concurrency", []string{"--concurrency", "0"}, nil, "--concurrency"},
		{"no single events", []string{"--single-events", "0"}, nil, "--single-events"},
		{"no single concurrency", []string{"--single-concurrency", "0"}, nil, "--single-concurrency"},
		{"no queries", []string{"--queries", "0"}, nil, "--queries"},
		{"unknown store", []string{"--store", "sqlite"}, nil, "--store"},
		{"postgres store without a DSN", []string{"--store", "postgres"}, nil, "--store postgres: needs a PostgreSQL server: pass --postgres"},
		{"bad DSN", []string{"--postgres", "postgres://x:y@:badport/db"}, nil, "--postgres"},
		{"bad DSN from the environment", nil, map[string]string{"TRAIL_POSTGRES": "postgres://x:y@:badport/db"}, "--postgres"},
		{"data not empty", []string{"--data", full}, nil, "--data"},
		{"not a number", []string{"--events", "many"}, nil, "-events"},
		{"environment twin", nil, map[string]string{"TRAIL_EVENTS": "-5"}, "--events"},
		{"stray argument", []string{"now"}, nil, "unexpected argument"},
		{"reuse without a data directory", []string{"--reuse"}, nil, "--reuse: needs --data"},
		{"reuse of a missing directory", []string{"--reuse", "--data", filepath.Join(full, "none")}, nil, "--reuse: --data " + filepath.Join(full, "none") + " does not exist"},
		{"reuse of a directory no bench loaded", []string{"--reuse", "--data", full}, nil, "--reuse: --data " + full + " holds no store loaded to the end by trail bench"},
		{"reuse on postgres without a schema", []string{"--reuse", "--data", full, "--store", "postgres", "--postgres", "postgres://x:y@:badport/db"}, nil, "--reuse: with --store postgres needs --schema"},
		{"schema on the embedded store", []string{"--schema", "s1", "--data", full}, nil, "--schema: only with --store postgres"},
		{"schema not an identifier", []string{"--store", "postgres", "--postgres", "postgres://x:y@:badport/db", "--schema", "Bad-Name", "--data", full}, nil, "--schema"},
		{"schema without a data directory", []string{"--store", "postgres", "--postgres", "postgres://x:y@:badport/db", "--schema", "s1"}, nil, "--schema: needs --data"},
		{"no proofs", []string{"--proof-fraction", "0"}, nil, "--proof-fraction"},
		{"more proofs than batches", []string{"--proof-fraction", "1.5"}, nil, "--proof-fraction"},
		{"profile in a missing directory", []string{"--cpuprofile", filepath.Join(full, "no", "such", "dir")}, nil, "--cpuprofile"},
		{"unknown profile phase", []string{"--cpuprofile", filepath.Join(full, "p"), "--cpuprofile-phase", "queries"}, nil, "--cpuprofile-phase: \"queries\""},
		{"profile phase without a profile", []string{"--cpuprofile-phase", "proof"}, nil, "--cpuprofile-phase: needs --cpuprofile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runBenchCmd(t, tt.vars, append([]string{"bench"}, tt.args...)...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d (stderr %q)", code, exitUsage, errOut)
			}
			if !strings.Contains(errOut, tt.want) {
				t.Errorf("stderr %q does not name %s", errOut, tt.want)
			}
		})
	}
}

// TestPercentile checks the nearest-rank percentiles.
func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, tt := range []struct {
		p    float64
		want float64
	}{{50, 50}, {99, 99}, {100, 100}, {1, 1}} {
		if got := percentile(d, tt.p); got != tt.want {
			t.Errorf("percentile(1..100 ms, %v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile(nil) = %v, want 0", got)
	}
	if got := commas(1234567.4); got != "1,234,567" {
		t.Errorf("commas(1234567.4) = %q", got)
	}
}

// openBenchStore opens the embedded store in a stopped bench's data
// directory offline, with its tenants.
func openBenchStore(t *testing.T, data string) (*logstore.Store, []trail.Tenant) {
	t.Helper()
	signer, verifier, err := checkpoint.LoadKeyFile(filepath.Join(data, "signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := logstore.Open(logstore.Options{Dir: filepath.Join(data, "store"), Signer: signer, Verifier: verifier, ServerName: signer.Name()})
	if err != nil {
		t.Fatal(err)
	}
	ts, err := s.Tenants(context.Background())
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	return s, ts
}

// storedSizes opens the embedded store in the stopped bench's data
// directory offline and returns the size of every tenant's log, the
// system tenant left out, and their sum.
func storedSizes(t *testing.T, data string) (map[string]int64, int64) {
	t.Helper()
	s, ts := openBenchStore(t, data)
	defer s.Close()
	sizes := map[string]int64{}
	var total int64
	for _, tn := range ts {
		if tn.Name != trail.SystemTenant {
			sizes[tn.Name] = tn.Size
			total += tn.Size
		}
	}
	return sizes, total
}

// appendedSince returns the actions of the events appended to the
// embedded store in data after the logs had the sizes before.
func appendedSince(t *testing.T, data string, before map[string]int64) []string {
	t.Helper()
	s, ts := openBenchStore(t, data)
	defer s.Close()
	var actions []string
	for _, tn := range ts {
		if tn.Name == trail.SystemTenant {
			continue
		}
		recs, err := s.Read(context.Background(), tn.Name, before[tn.Name], 100000)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			e, err := trail.DecodeEvent(r.Data)
			if err != nil {
				t.Fatalf("tenant %s seq %d: %v", tn.Name, r.Seq, err)
			}
			actions = append(actions, e.Action)
		}
	}
	return actions
}

// TestBenchReuse loads a small store into --data, then measures it again
// with --reuse: the reuse run ingests nothing, queries over exactly the
// events the store holds, picks its tenants from them, verifies them all,
// and the only events it leaves behind are trail's own records of its
// reads (and alerts on them).
func TestBenchReuse(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	code, out, errOut := runBenchCmd(t, nil, append(smallBench, "--data", data, "--json")...)
	if code != exitOK {
		t.Fatalf("bench --data: exit %d\nstderr:\n%s", code, errOut)
	}
	var load benchReport
	if err := json.Unmarshal([]byte(out), &load); err != nil {
		t.Fatalf("bench --json: %v\n%s", err, out)
	}
	if load.Reused || load.Ingest.Events != 3000 || load.Single.Events != 300 {
		t.Errorf("load run: reused %v, ingested %d batched and %d single; want false, 3000, 300", load.Reused, load.Ingest.Events, load.Single.Events)
	}
	if load.StoredEvents < 3300 {
		t.Errorf("load run queried over %d stored events, want at least 3300", load.StoredEvents)
	}
	for _, f := range []string{benchMarkerFile, benchOperatorFile} {
		if _, err := os.Stat(filepath.Join(data, f)); err != nil {
			t.Errorf("--data keeps no %s: %v", f, err)
		}
	}
	before, stored := storedSizes(t, data)

	code, out, errOut = runBenchCmd(t, nil, "bench", "--queries", "20", "--data", data, "--reuse", "--json")
	if code != exitOK {
		t.Fatalf("bench --reuse: exit %d\nstderr:\n%s", code, errOut)
	}
	var reuse benchReport
	if err := json.Unmarshal([]byte(out), &reuse); err != nil {
		t.Fatalf("bench --reuse --json: %v\n%s", err, out)
	}
	if !reuse.Reused || reuse.Ingest.Events != 0 || reuse.Single.Events != 0 || reuse.Proof.Events != 0 {
		t.Errorf("reuse run: reused %v, ingested %d batched, %d single, %d with proofs; want true and none",
			reuse.Reused, reuse.Ingest.Events, reuse.Single.Events, reuse.Proof.Events)
	}
	if strings.Contains(errOut, "ingest,") {
		t.Errorf("reuse run shows ingest progress:\n%s", errOut)
	}
	// Alert engines that had not caught up when the loading run stopped
	// resume at the reuse run's start and may append trail.alert.*
	// events before the bench counts the store: allow for those.
	added := appendedSince(t, data, before)
	alerts := int64(0)
	for _, a := range added {
		if strings.HasPrefix(a, "trail.alert.") {
			alerts++
		}
	}
	if reuse.StoredEvents < stored || reuse.StoredEvents > stored+alerts {
		t.Errorf("reuse run queried over %d stored events, want %d (the store's tenants after the load) plus at most %d alert events; appended: %v", reuse.StoredEvents, stored, alerts, added)
	}
	var largest string
	for name, n := range before {
		if largest == "" || n > before[largest] || (n == before[largest] && name < largest) {
			largest = name
		}
	}
	if got := int64(reuse.Largest.Events); reuse.Largest.Name != largest || got < before[largest] || got > before[largest]+alerts {
		t.Errorf("reuse run's largest tenant %s (%d events), want %s (%d events, plus at most %d alerts) from the store", reuse.Largest.Name, reuse.Largest.Events, largest, before[largest], alerts)
	}
	if reuse.Tenants != len(before) {
		t.Errorf("reuse run saw %d tenants, the store has %d", reuse.Tenants, len(before))
	}
	if got, want := len(reuse.Queries), len(queryLabels); got != want {
		t.Errorf("%d query kinds, want %d", got, want)
	}
	for _, q := range reuse.Queries {
		if q.Samples != 20 || q.P50ms <= 0 || q.P99ms < q.P50ms {
			t.Errorf("query %s: %d samples, p50 %v, p99 %v; want 20 and 0 < p50 <= p99", q.Kind, q.Samples, q.P50ms, q.P99ms)
		}
		if q.Kind != "actor" && q.Kind != "ip_cidr" && q.Rows == 0 {
			t.Errorf("query %s found no rows: its samples do not come from the stored events", q.Kind)
		}
	}
	if reuse.Export.Events < int64(before[reuse.Largest.Name]) {
		t.Errorf("reuse run exported %d events of %s, want at least %d", reuse.Export.Events, reuse.Largest.Name, before[reuse.Largest.Name])
	}
	if reuse.Verify.Events < stored {
		t.Errorf("reuse run verified %d events, want at least %d", reuse.Verify.Events, stored)
	}
	if reuse.Postgres != nil {
		t.Error("reuse run has a PostgreSQL baseline")
	}
	for _, a := range added {
		if !strings.HasPrefix(a, "trail.") { // trail.events.query…, and alerts on them
			t.Errorf("reuse run appended a %q event; want only trail's own records", a)
			break
		}
	}
	if len(added) == 0 {
		t.Error("reuse run left no record of its reads: was the store it measured the one in --data?")
	}

	code, out, errOut = runBenchCmd(t, nil, "bench", "--queries", "5", "--data", data, "--reuse", "--verify=false")
	if code != exitOK {
		t.Fatalf("bench --reuse --verify=false: exit %d\nstderr:\n%s", code, errOut)
	}
	if strings.Contains(errOut, "verify (offline)") {
		t.Errorf("--verify=false verified:\n%s", errOut)
	}
	for _, want := range []string{"trail bench --reuse: ", "INGEST: skipped (--reuse)", "VERIFY: skipped (--verify=false)", "no PostgreSQL baseline with --reuse"} {
		if !strings.Contains(out, want) {
			t.Errorf("reuse output lacks %q:\n%s", want, out)
		}
	}
	for _, l := range queryLabels {
		checkPositive(t, out, "  "+l, 2)
	}
}

// TestBenchStorePostgresReuse loads a small PostgreSQL store into a named
// schema with --schema and --data, checks that both are kept, measures
// them again with --reuse, and checks that the combinations that cannot
// work fail naming the flag. It needs TRAIL_TEST_POSTGRES.
func TestBenchStorePostgresReuse(t *testing.T) {
	dsn := os.Getenv("TRAIL_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("TRAIL_TEST_POSTGRES is not set: no PostgreSQL to store events in (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	schema := "trail_bench_test_" + randomHex(4)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Error(err)
		}
	})
	data := filepath.Join(t.TempDir(), "pgdata")
	pgFlags := []string{"--store", "postgres", "--postgres", dsn, "--schema", schema, "--data", data}
	code, out, errOut := runBenchCmd(t, nil, append(append(smallBench, pgFlags...), "--baseline=false", "--json")...)
	if code != exitOK {
		t.Fatalf("bench --schema: exit %d\nstderr:\n%s", code, errOut)
	}
	var load benchReport
	if err := json.Unmarshal([]byte(out), &load); err != nil {
		t.Fatalf("bench --json: %v\n%s", err, out)
	}
	if load.Store.Schema != schema || !load.Store.Kept || load.Postgres != nil {
		t.Errorf("load run: schema %q kept %v baseline %v; want %s kept, no baseline (--baseline=false)", load.Store.Schema, load.Store.Kept, load.Postgres != nil, schema)
	}
	var kept bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&kept); err != nil {
		t.Fatal(err)
	}
	if !kept {
		t.Fatalf("--schema %s was dropped", schema)
	}
	var stored int64
	if err := conn.QueryRow(ctx, "SELECT coalesce(sum(size), 0) FROM "+schema+".trail_tenants WHERE tenant <> $1", trail.SystemTenant).Scan(&stored); err != nil {
		t.Fatal(err)
	}

	code, out, errOut = runBenchCmd(t, nil, append([]string{"bench", "--queries", "20", "--reuse", "--json"}, pgFlags...)...)
	if code != exitOK {
		t.Fatalf("bench --reuse --schema: exit %d\nstderr:\n%s", code, errOut)
	}
	var reuse benchReport
	if err := json.Unmarshal([]byte(out), &reuse); err != nil {
		t.Fatalf("bench --json: %v\n%s", err, out)
	}
	if !reuse.Reused || reuse.Ingest.Events != 0 || reuse.Single.Events != 0 || reuse.Proof.Events != 0 {
		t.Errorf("reuse run: reused %v, ingested %d, %d, %d; want true and none", reuse.Reused, reuse.Ingest.Events, reuse.Single.Events, reuse.Proof.Events)
	}
	if reuse.StoredEvents != stored || load.StoredEvents+load.Proof.Events > stored {
		t.Errorf("reuse run queried over %d stored events, want %d (trail_tenants; the load run stored at least %d)", reuse.StoredEvents, stored, load.StoredEvents+load.Proof.Events)
	}
	if reuse.Store.Schema != schema || reuse.Verify.Events < stored || len(reuse.Queries) != len(queryLabels) {
		t.Errorf("reuse run: schema %s, verified %d events, %d query kinds; want %s, at least %d, %d", reuse.Store.Schema, reuse.Verify.Events, len(reuse.Queries), schema, stored, len(queryLabels))
	}

	embedded := filepath.Join(t.TempDir(), "embedded")
	if code, _, errOut := runBenchCmd(t, nil, append(smallBench, "--data", embedded)...); code != exitOK {
		t.Fatalf("bench --data: exit %d\nstderr:\n%s", code, errOut)
	}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"a schema that exists already", []string{"--store", "postgres", "--postgres", dsn, "--schema", schema, "--data", filepath.Join(t.TempDir(), "fresh")}, "--schema: " + schema + " exists already"},
		{"a schema that does not exist", []string{"--reuse", "--store", "postgres", "--postgres", dsn, "--schema", schema + "_none", "--data", data}, "--reuse: --data " + data + " belongs to schema " + schema},
		{"the postgres node's directory on the embedded store", []string{"--reuse", "--data", data}, "--reuse: --data " + data + " belongs to a postgres store"},
		{"an embedded store's directory on postgres", []string{"--reuse", "--store", "postgres", "--postgres", dsn, "--schema", schema, "--data", embedded}, "--reuse: --data " + embedded + " holds an embedded store"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runBenchCmd(t, nil, append([]string{"bench"}, tt.args...)...)
			if code != exitUsage && code != exitFailure {
				t.Errorf("exit %d, want a failure (stderr %q)", code, errOut)
			}
			if !strings.Contains(errOut, tt.want) {
				t.Errorf("stderr %q does not say %q", errOut, tt.want)
			}
		})
	}
}

// TestRatioText: ratios print with two decimals, and small ones with two
// significant digits instead of as 0.00 (which the report's readers, and
// TestBenchPostgres, take for zero).
func TestRatioText(t *testing.T) {
	for _, tc := range []struct {
		r    float64
		want string
	}{{0, "0.00"}, {0.0025, "0.0025"}, {0.0937, "0.094"}, {0.1, "0.10"}, {0.444, "0.44"}, {2.5, "2.50"}, {14.0, "14.00"}} {
		if got := ratioText(tc.r); got != tc.want {
			t.Errorf("ratioText(%v) = %q, want %q", tc.r, got, tc.want)
		}
	}
}

// TestMedianRun checks that a repeated figure (the exports) is the median
// run's, that every run's rate is kept in the order the runs ran, and that
// an error stops the runs.
func TestMedianRun(t *testing.T) {
	rates := []float64{500, 100, 900}
	i := 0
	got, err := medianRun(3, func() (throughputResult, error) {
		r := throughputResult{Events: int64(i + 1), EventsPerSec: rates[i]}
		i++
		return r, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.EventsPerSec != 500 || got.Events != 1 {
		t.Errorf("median run: got %v events/s from run %d, want 500 from run 1", got.EventsPerSec, got.Events)
	}
	if !slices.Equal(got.Runs, rates) {
		t.Errorf("runs: got %v, want %v in the order they ran", got.Runs, rates)
	}

	boom := errors.New("export failed")
	calls := 0
	_, err = medianRun(3, func() (throughputResult, error) {
		calls++
		if calls == 2 {
			return throughputResult{}, boom
		}
		return throughputResult{EventsPerSec: 1}, nil
	})
	if !errors.Is(err, boom) || calls != 2 {
		t.Errorf("got %v after %d runs, want the second run's error and no third run", err, calls)
	}
}

// TestCountFlushes: a phase's flush count is the store's count at its end
// less the one at its start, and nil for a store without one.
func TestCountFlushes(t *testing.T) {
	n := int64(5)
	b := &bench{bgFlushes: func() int64 { return n }}
	done := b.countFlushes()
	n += 2
	if got := done(); got == nil || *got != 2 {
		t.Errorf("count after 2 more flushes: %v, want 2", got)
	}
	if got := (&bench{}).countFlushes()(); got != nil {
		t.Errorf("count without a store count: %d, want nil", *got)
	}
}

// TestRatiosPostgresCPU: the ratio of PostgreSQL's CPU per event is the
// COPY's over trail's, present only when both were measured.
func TestRatiosPostgresCPU(t *testing.T) {
	r := &benchReport{
		Ingest:   throughputResult{EventsPerSec: 10, PGCPUus: 80},
		Postgres: &postgresResult{Ingest: throughputResult{EventsPerSec: 40, PGCPUus: 40}},
	}
	r.ratios()
	if got := r.Ratios[ratioIngestPGCPU]; got != 0.5 {
		t.Errorf("PostgreSQL CPU ratio %v, want 0.5 (40 / 80 µs per event)", got)
	}
	if got := r.Ratios["ingest"]; got != 0.25 {
		t.Errorf("events/s ratio %v, want 0.25", got)
	}
	r.Ingest.PGCPUus = 0 // not measured (the embedded store, or a remote server)
	r.ratios()
	if _, ok := r.Ratios[ratioIngestPGCPU]; ok {
		t.Errorf("a PostgreSQL CPU ratio without trail's figure: %v", r.Ratios)
	}
}
