package pgcpu_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/trail-audit/trail/internal/pgcpu"
	"github.com/trail-audit/trail/pgstore/pgtest"
)

// TestMeterSeesTheServerWork runs a query that keeps a backend busy and
// requires the meter to count about that much CPU. It needs the server of
// TRAIL_TEST_POSTGRES on this host (as in CI).
func TestMeterSeesTheServerWork(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("pgcpu reads Linux's /proc")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.DSN(t))
	if err != nil {
		t.Fatalf("%s is set but PostgreSQL is unreachable: %v", pgtest.EnvVar, err)
	}
	defer conn.Close(ctx)
	m, err := pgcpu.Open(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	cpu0, err := m.CPU()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var n int64
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM generate_series(1, 3000000) g WHERE md5(g::text) > '8'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	wall := time.Since(start)
	cpu1, err := m.CPU()
	if err != nil {
		t.Fatal(err)
	}
	used := cpu1 - cpu0
	t.Logf("server CPU %v over %v", used, wall)
	// Three million MD5s take a backend well over 300 ms of CPU on any
	// machine this runs on (about 1.3 s on the 2-core CI machine), however
	// loaded it is; and the server cannot have used more than every core
	// for the whole span (plus a tick of rounding per process).
	if used < 300*time.Millisecond {
		t.Fatalf("the meter counted %v of server CPU for a CPU-bound query of %v", used, wall)
	}
	if max := time.Duration(runtime.NumCPU())*wall + 50*pgcpu.ClockTick; used > max {
		t.Fatalf("the meter counted %v of server CPU in %v on %d cores", used, wall, runtime.NumCPU())
	}
}
