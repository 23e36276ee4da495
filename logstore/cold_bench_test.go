package logstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"syscall"
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
)

// BenchmarkColdActor measures "tenant + actor, newest 100" queries on the
// largest tenant of the store in TRAIL_BENCH_DIR (loaded and kept by
// BenchmarkScale) as a freshly started server answers them: each run is a
// new process that opens the store, so the chunk cache starts empty and
// the process's memory is fresh. A rare actor's newest 100 rows lie in up
// to 100 chunks, each decompressed for one row; BenchmarkScale's second,
// warm pass over the same queries hides that cost.
//
// Actors are drawn from random events of the tenant (seed 42), as trail
// bench draws them, so frequent actors come up often and rare ones now and
// then. Each run queries TRAIL_BENCH_COLD_QUERIES actors (default 300)
// once each while the cache fills from empty (pass 1), then as many other
// actors (pass 2, on the cache pass 1 left). The benchmark runs
// TRAIL_BENCH_COLD_RUNS fresh processes (default 3), one after the other,
// and prints for each pass its p50, p99, max, the process's CPU time (in
// all, and per query: queries run one at a time) and page faults; it
// reports the medians over the runs of pass 1's figures and of pass 2's
// p99. With TRAIL_BENCH_DROP_CACHES=1 it also drops the operating system's
// page cache before each run (root only), so blocks are read from the
// disk; without it they are usually in the page cache.
// TRAIL_BENCH_COLD_CPUPROFILE names a file for a CPU profile of the
// queries of each run (the last run's is kept).
// It runs once whatever b.N is: use -benchtime=1x.
func BenchmarkColdActor(b *testing.B) {
	dir := os.Getenv("TRAIL_BENCH_DIR")
	if dir == "" {
		b.Skip("TRAIL_BENCH_DIR must name a store loaded by BenchmarkScale")
	}
	if job := os.Getenv("TRAIL_BENCH_COLD_JOB"); job != "" {
		coldChild(b, dir, job)
		return
	}
	nq := envInt(b, "TRAIL_BENCH_COLD_QUERIES", 300)
	runs := envInt(b, "TRAIL_BENCH_COLD_RUNS", 3)
	drop := os.Getenv("TRAIL_BENCH_DROP_CACHES") == "1"

	s := openBench(b, dir)
	ctx := context.Background()
	tenants, err := s.Tenants(ctx)
	if err != nil {
		b.Fatal(err)
	}
	large := slices.MaxFunc(tenants, func(x, y trail.Tenant) int { return int(x.Size - y.Size) })
	rng := rand.New(rand.NewPCG(42, 42))
	job := coldJob{Tenant: large.Name}
	for range 2 * nq {
		job.Actors = append(job.Actors, eventAt(b, s, large.Name, rng.Int64N(large.Size)).Actor.ID)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	jobFile := filepath.Join(b.TempDir(), "job.json")
	writeJSON(b, jobFile, job)

	var p50s, p99s, cpu99s, second99s []float64
	for run := range runs {
		if drop {
			dropPageCache(b)
		}
		out := filepath.Join(b.TempDir(), "result.json")
		cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^BenchmarkColdActor$", "-test.benchtime=1x")
		cmd.Env = append(os.Environ(), "TRAIL_BENCH_COLD_JOB="+jobFile, "TRAIL_BENCH_COLD_RESULT="+out)
		cmd.Stderr = os.Stderr
		if msg, err := cmd.Output(); err != nil {
			b.Fatalf("cold run %d: %v\n%s", run, err, msg)
		}
		var res [2]coldResult
		readJSON(b, out, &res)
		for pass, r := range res {
			lat, cpu := r.Latencies, r.CPUs
			slices.Sort(lat)
			slices.Sort(cpu)
			pct := func(d []time.Duration, p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
			fmt.Printf("cold actor run %d pass %d (%s, %d queries, page cache %s): open %v, p50 %v, p99 %v, max %v, %.1f rows/query; cpu %v, per query p50 %v, p99 %v; %.0f faults/query\n",
				run+1, pass+1, large.Name, len(lat), map[bool]string{true: "dropped", false: "kept"}[drop],
				r.Open.Round(time.Millisecond), pct(lat, 0.5).Round(time.Microsecond), pct(lat, 0.99).Round(time.Microsecond),
				lat[len(lat)-1].Round(time.Microsecond), float64(r.Rows)/float64(len(lat)),
				r.CPU.Round(time.Millisecond), pct(cpu, 0.5).Round(time.Microsecond), pct(cpu, 0.99).Round(time.Microsecond),
				float64(r.Faults)/float64(len(lat)))
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			if pass == 0 {
				p50s, p99s, cpu99s = append(p50s, ms(pct(lat, 0.5))), append(p99s, ms(pct(lat, 0.99))), append(cpu99s, ms(pct(cpu, 0.99)))
			} else {
				second99s = append(second99s, ms(pct(lat, 0.99)))
			}
		}
	}
	b.ReportMetric(median(p50s), "p50-ms")
	b.ReportMetric(median(p99s), "p99-ms")
	b.ReportMetric(median(cpu99s), "cpu-p99-ms")
	b.ReportMetric(median(second99s), "pass2-p99-ms")
}

// coldJob is what BenchmarkColdActor's parent hands each fresh process.
type coldJob struct {
	Tenant string
	Actors []string
}

// coldResult is what a fresh process hands back.
type coldResult struct {
	Open      time.Duration
	Latencies []time.Duration
	CPUs      []time.Duration // of the process during each query
	Rows      int
	CPU       time.Duration
	Faults    int64
}

// coldChild opens the store in dir and runs the job's queries once each:
// the first half (pass 1, the chunk cache filling from empty), then the
// second half (pass 2, other actors on the cache pass 1 left).
func coldChild(b *testing.B, dir, jobFile string) {
	var job coldJob
	readJSON(b, jobFile, &job)
	t0 := time.Now()
	s := openBench(b, dir)
	defer s.Close()
	var res [2]coldResult
	res[0].Open = time.Since(t0)
	if path := os.Getenv("TRAIL_BENCH_COLD_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	ctx := context.Background()
	half := len(job.Actors) / 2
	for pass, actors := range [][]string{job.Actors[:half], job.Actors[half:]} {
		r := &res[pass]
		cpu0, faults0 := processCPU(b), pageFaults(b)
		for _, actor := range actors {
			q := &trail.Query{Tenant: job.Tenant, Limit: 100, Filter: trail.Term(trail.FieldActor, actor)}
			t0, c0 := time.Now(), processCPU(b)
			p, err := s.Query(ctx, q)
			r.Latencies = append(r.Latencies, time.Since(t0))
			r.CPUs = append(r.CPUs, processCPU(b)-c0)
			if err != nil {
				b.Fatalf("query actor %s: %v", actor, err)
			}
			r.Rows += len(p.Events)
		}
		r.CPU, r.Faults = processCPU(b)-cpu0, pageFaults(b)-faults0
	}
	writeJSON(b, os.Getenv("TRAIL_BENCH_COLD_RESULT"), res)
}

// dropPageCache writes back dirty pages and drops the page cache.
func dropPageCache(b *testing.B) {
	syscall.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("1"), 0); err != nil {
		b.Fatalf("drop page cache (TRAIL_BENCH_DROP_CACHES=1 needs root): %v", err)
	}
}

func median(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}

func writeJSON(b *testing.B, path string, v any) {
	data, err := json.Marshal(v)
	if err == nil {
		err = os.WriteFile(path, data, 0o600)
	}
	if err != nil {
		b.Fatalf("write %s: %v", path, err)
	}
}

func readJSON(b *testing.B, path string, v any) {
	data, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(data, v)
	}
	if err != nil {
		b.Fatalf("read %s: %v", path, err)
	}
}
