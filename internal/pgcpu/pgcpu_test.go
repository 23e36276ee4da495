package pgcpu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// statLine returns a /proc/PID/stat line with the given fields; the
// command name holds spaces and parentheses, as a process may set.
func statLine(pid, ppid int, utime, stime, cutime, cstime, start int64) string {
	return fmt.Sprintf("%d (postgres: a (b) c) S %d 1 1 0 -1 4194560 100 0 0 0 %d %d %d %d 20 0 1 0 %d 1000 10 18446744073709551615\n",
		pid, ppid, utime, stime, cutime, cstime, start)
}

func TestParseStat(t *testing.T) {
	s, err := parseStat(statLine(42, 7, 11, 12, 13, 14, 15))
	if err != nil {
		t.Fatal(err)
	}
	if want := (stat{ppid: 7, utime: 11, stime: 12, cutime: 13, cstime: 14, start: 15}); s != want {
		t.Fatalf("parseStat = %+v, want %+v", s, want)
	}
	for _, bad := range []string{
		"",
		"42 postgres S 7",
		"42 (postgres) S 7 1 1",
		strings.Replace(statLine(42, 7, 11, 12, 13, 14, 15), " 11 12 ", " x 12 ", 1),
		strings.Replace(statLine(42, 7, 11, 12, 13, 14, 15), ") S 7 ", ") S -7 ", 1),
	} {
		if _, err := parseStat(bad); err == nil {
			t.Errorf("parseStat(%q) succeeded", bad)
		}
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add(statLine(42, 7, 11, 12, 13, 14, 15))
	f.Add("1 (a)) S 0 0 0 0 0 0 0 0 0 0 1 2 3 4 0 0 0 0 5")
	f.Add(")")
	f.Fuzz(func(t *testing.T, line string) {
		s, err := parseStat(line)
		if err == nil && s.ppid < 0 {
			t.Fatalf("negative ppid %d from %q", s.ppid, line)
		}
	})
}

// fakeProc is a procfs tree in a temporary directory.
type fakeProc struct {
	t    *testing.T
	root string
}

func newFakeProc(t *testing.T, boot time.Time) *fakeProc {
	p := &fakeProc{t: t, root: t.TempDir()}
	p.write("stat", fmt.Sprintf("cpu  1 2 3 4\nbtime %d\nprocesses 9\n", boot.Unix()))
	if err := os.Mkdir(filepath.Join(p.root, "self"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *fakeProc) write(name, content string) {
	p.t.Helper()
	path := filepath.Join(p.root, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		p.t.Fatal(err)
	}
}

func (p *fakeProc) process(pid, ppid int, utime, stime, cutime, cstime, start int64) {
	p.write(fmt.Sprintf("%d/stat", pid), statLine(pid, ppid, utime, stime, cutime, cstime, start))
}

func TestCPUCountsPostmasterReapedAndLiveChildren(t *testing.T) {
	p := newFakeProc(t, time.Unix(1_700_000_000, 0))
	p.process(100, 1, 5, 5, 40, 10, 0)   // postmaster: 10 own + 50 reaped
	p.process(101, 100, 7, 3, 0, 0, 50)  // a backend: 10
	p.process(102, 100, 20, 0, 9, 9, 60) // another: 20 (its own children's time is not its parent's)
	p.process(200, 1, 1000, 0, 0, 0, 0)  // not the server's
	m := &Meter{proc: p.root, postmaster: 100}
	got, err := m.CPU()
	if err != nil {
		t.Fatal(err)
	}
	if want := 90 * ClockTick; got != want {
		t.Fatalf("CPU = %v, want %v", got, want)
	}
	// Backend 102 exits after 5 more ticks and is reaped: its time moves
	// to the postmaster's cutime, and the total grows by those 5 ticks.
	if err := os.RemoveAll(filepath.Join(p.root, "102")); err != nil {
		t.Fatal(err)
	}
	p.process(100, 1, 5, 5, 65, 10, 0)
	if got, err = m.CPU(); err != nil {
		t.Fatal(err)
	}
	if want := 95 * ClockTick; got != want {
		t.Fatalf("CPU after an exit = %v, want %v", got, want)
	}
	// A postmaster that is gone is an error, not a zero.
	if err := os.RemoveAll(filepath.Join(p.root, "100")); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CPU(); err == nil {
		t.Fatal("CPU succeeded without the postmaster")
	}
}

// backendRow answers the query of open with a fixed pid and start.
type backendRow struct {
	pid     int
	started time.Time
	err     error
}

func (b backendRow) QueryRow(context.Context, string, ...any) pgx.Row { return b }

func (b backendRow) Scan(dest ...any) error {
	if b.err != nil {
		return b.err
	}
	*dest[0].(*int) = b.pid
	*dest[1].(*float64) = float64(b.started.UnixNano()) / 1e9
	return nil
}

func TestOpenChecksTheProcessIsTheBackend(t *testing.T) {
	boot := time.Unix(1_700_000_000, 0)
	p := newFakeProc(t, boot)
	p.process(100, 1, 0, 0, 0, 0, 0)
	p.process(101, 100, 0, 0, 0, 0, 12_345) // started 123.45 s after boot
	started := boot.Add(123450 * time.Millisecond)
	ctx := context.Background()

	m, err := open(ctx, backendRow{pid: 101, started: started.Add(300 * time.Millisecond)}, p.root)
	if err != nil {
		t.Fatal(err)
	}
	if m.Postmaster() != 100 {
		t.Fatalf("postmaster %d, want 100", m.Postmaster())
	}
	for name, q := range map[string]backendRow{
		"a process here with the pid but another start (a remote server)": {pid: 101, started: started.Add(time.Hour)},
		"no process with the pid here":                                    {pid: 999, started: started},
	} {
		if _, err := open(ctx, q, p.root); !errors.Is(err, ErrNotLocal) {
			t.Errorf("%s: err = %v, want ErrNotLocal", name, err)
		}
	}
	if _, err := open(ctx, backendRow{err: errors.New("connection refused")}, p.root); err == nil || errors.Is(err, ErrNotLocal) {
		t.Errorf("a failed query: err = %v, want the query's error", err)
	}
	if _, err := open(ctx, backendRow{pid: 101, started: started}, t.TempDir()); !errors.Is(err, ErrNotLocal) {
		t.Errorf("an empty /proc: err = %v, want ErrNotLocal", err)
	}
}
