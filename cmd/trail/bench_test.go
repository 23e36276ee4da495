package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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
	checkPositive(t, out, "ratio ingest", 1)
	for _, l := range queryLabels {
		checkPositive(t, out, "ratio query "+l, 1)
	}
	checkPositive(t, out, "ratio export", 1)
	if n := strings.Count(out, "  ratio "); n != 2+len(queryLabels) {
		t.Errorf("%d ratio lines, want %d", n, 2+len(queryLabels))
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
		{"profile in a missing directory", []string{"--cpuprofile", filepath.Join(full, "no", "such", "dir")}, nil, "--cpuprofile"},
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
