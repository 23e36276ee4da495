//go:build race

package mask

// raceEnabled reports whether the race detector is on: its memory
// instrumentation makes timings of large scans grow faster than the work.
const raceEnabled = true
