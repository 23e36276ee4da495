package cpuclock

import (
	"errors"
	"runtime"
	"testing"
	"time"
)

// TestProcessCountsBusyWork spins on this goroutine until the clock has
// counted 50 ms of CPU, which it must do within a generous deadline however
// loaded the machine is, and checks that it never counts more than every
// core could have run.
func TestProcessCountsBusyWork(t *testing.T) {
	before, err := Process()
	if errors.Is(err, ErrUnsupported) {
		t.Skip("no process CPU clock on " + runtime.GOOS)
	}
	if err != nil {
		t.Fatal(err)
	}
	const want, deadline = 50 * time.Millisecond, 10 * time.Second
	start := time.Now()
	var used time.Duration
	for used < want {
		if time.Since(start) > deadline {
			t.Fatalf("after %v of spinning the clock counted %v, want %v", deadline, used, want)
		}
		for i := 0; i < 1_000_000; i++ {
			runtime.KeepAlive(i)
		}
		now, err := Process()
		if err != nil {
			t.Fatal(err)
		}
		if now < before+used {
			t.Fatalf("the clock went back: %v after %v", now, before+used)
		}
		used = now - before
	}
	wall := time.Since(start)
	if max := time.Duration(runtime.NumCPU())*wall + 20*time.Millisecond; used > max {
		t.Fatalf("the clock counted %v in %v on %d cores", used, wall, runtime.NumCPU())
	}
}
