// Package pgcpu measures the CPU time used by a PostgreSQL server that runs
// on this host, so that a benchmark can say what each event cost the
// database, not only the client.
//
// On a machine where the client and PostgreSQL share the cores, events/s
// follows the sum of both sides' CPU; when trail runs as several nodes on
// one PostgreSQL, the database's own CPU per event is what bounds the
// cluster. A Meter gives that figure for any span of time.
//
// It reads Linux's /proc: the postmaster's own CPU and that of its reaped
// children (utime, stime, cutime, cstime of /proc/PID/stat), plus every
// live child's (backends, the WAL writer, the checkpointer, autovacuum
// workers). Every process of the server is counted, so work of other
// clients of the same server in the same span is counted too. A child that
// exits between two readings is counted once the postmaster has reaped it;
// one that exits during a reading may be missed by that reading alone.
package pgcpu

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ClockTick is the unit of the CPU times in /proc/PID/stat (USER_HZ, 100
// per second on every Linux platform Go supports).
const ClockTick = 10 * time.Millisecond

// ErrNotLocal means the server is not measurable from here: it does not run
// on this host, or /proc is missing or unreadable (not Linux, or another
// user's processes hidden).
var ErrNotLocal = errors.New("pgcpu: the PostgreSQL server's processes are not visible on this host")

// Querier runs a query that returns one row (a *pgx.Conn or *pgxpool.Pool).
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Meter reads the CPU time of one PostgreSQL server's processes.
type Meter struct {
	proc       string // the procfs root, "/proc" outside tests
	postmaster int
}

// startSlack is how far apart a backend's start in pg_stat_activity and the
// start of the local process with its pid may be for the two to be taken
// as one: the backend starts right after the fork; a process of another
// host's server that happens to have the same pid here would have to have
// started within this window too.
const startSlack = 2 * time.Second

// Open finds the server behind conn on this host: the process whose pid is
// conn's backend pid and that started when the backend did, and its parent,
// the postmaster. It returns an error wrapping ErrNotLocal when there is no
// such process.
func Open(ctx context.Context, conn Querier) (*Meter, error) {
	return open(ctx, conn, "/proc")
}

func open(ctx context.Context, conn Querier, proc string) (*Meter, error) {
	var pid int
	var started float64
	err := conn.QueryRow(ctx, `SELECT pid, extract(epoch FROM backend_start)::float8 FROM pg_stat_activity WHERE pid = pg_backend_pid()`).
		Scan(&pid, &started)
	if err != nil {
		return nil, fmt.Errorf("pgcpu: read the backend's pid: %w", err)
	}
	st, err := readStat(proc, pid)
	if err != nil {
		return nil, fmt.Errorf("%w (backend pid %d: %v)", ErrNotLocal, pid, err)
	}
	boot, err := bootTime(proc)
	if err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrNotLocal, err)
	}
	local := boot.Add(time.Duration(st.start) * ClockTick)
	backend := time.Unix(0, int64(started*1e9))
	if d := local.Sub(backend); d > startSlack || d < -startSlack {
		return nil, fmt.Errorf("%w (process %d here started at %s, the backend at %s)", ErrNotLocal, pid,
			local.UTC().Format(time.RFC3339), backend.UTC().Format(time.RFC3339))
	}
	if st.ppid <= 1 {
		return nil, fmt.Errorf("%w (backend pid %d has no postmaster parent)", ErrNotLocal, pid)
	}
	return &Meter{proc: proc, postmaster: st.ppid}, nil
}

// Postmaster returns the pid of the server's postmaster.
func (m *Meter) Postmaster() int { return m.postmaster }

// CPU returns the CPU time (user and system) the server's processes have
// used so far. Only differences between two readings mean anything.
func (m *Meter) CPU() (time.Duration, error) {
	pm, err := readStat(m.proc, m.postmaster)
	if err != nil {
		return 0, fmt.Errorf("pgcpu: the postmaster (pid %d): %w", m.postmaster, err)
	}
	ticks := pm.utime + pm.stime + pm.cutime + pm.cstime
	entries, err := os.ReadDir(m.proc)
	if err != nil {
		return 0, fmt.Errorf("pgcpu: %w", err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == m.postmaster {
			continue
		}
		st, err := readStat(m.proc, pid)
		if err != nil || st.ppid != m.postmaster {
			continue // exited since the listing, or not a child
		}
		ticks += st.utime + st.stime
	}
	return time.Duration(ticks) * ClockTick, nil
}

// stat holds the fields of /proc/PID/stat that Meter uses.
type stat struct {
	ppid                         int
	utime, stime, cutime, cstime int64
	start                        int64 // clock ticks after boot
}

func readStat(proc string, pid int) (stat, error) {
	data, err := os.ReadFile(filepath.Join(proc, strconv.Itoa(pid), "stat"))
	if err != nil {
		return stat{}, err
	}
	return parseStat(string(data))
}

// parseStat parses a /proc/PID/stat line. The command name (field 2) is in
// parentheses and may itself hold spaces and parentheses, so the fields are
// counted from the last ')'.
func parseStat(line string) (stat, error) {
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return stat{}, errors.New("stat: no command name")
	}
	f := strings.Fields(line[i+1:])
	// f[0] is field 3 (state): field n is f[n-3].
	if len(f) < 20 {
		return stat{}, fmt.Errorf("stat: %d fields after the command name, want at least 20", len(f))
	}
	num := func(n int) (int64, error) {
		v, err := strconv.ParseInt(f[n-3], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat: field %d: %w", n, err)
		}
		return v, nil
	}
	var s stat
	var ppid int64
	var err error
	for _, p := range []struct {
		n   int
		dst *int64
	}{{4, &ppid}, {14, &s.utime}, {15, &s.stime}, {16, &s.cutime}, {17, &s.cstime}, {22, &s.start}} {
		if *p.dst, err = num(p.n); err != nil {
			return stat{}, err
		}
	}
	if ppid < 0 || ppid > math.MaxInt32 {
		return stat{}, fmt.Errorf("stat: ppid %d out of range", ppid)
	}
	s.ppid = int(ppid)
	return s, nil
}

// bootTime reads the boot time ("btime") from /proc/stat.
func bootTime(proc string) (time.Time, error) {
	data, err := os.ReadFile(filepath.Join(proc, "stat"))
	if err != nil {
		return time.Time{}, err
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			secs, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("btime: %w", err)
			}
			return time.Unix(secs, 0), nil
		}
	}
	return time.Time{}, errors.New("/proc/stat: no btime line")
}
