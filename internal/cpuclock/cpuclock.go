// Package cpuclock reads the CPU time this process has used: user and
// system time of every thread, the garbage collector's included. Benchmarks
// report it per operation because, on a machine shared with other work, it
// is steadier than wall time.
package cpuclock

import (
	"errors"
	"time"
)

// ErrUnsupported is returned where the system does not report the
// process's CPU time.
var ErrUnsupported = errors.New("cpuclock: this system does not report the process's CPU time")

// Process returns the user and system CPU time the process has used so
// far. Only differences between two readings mean anything.
func Process() (time.Duration, error) { return process() }
