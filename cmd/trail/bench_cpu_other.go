//go:build !unix

package main

import "time"

// benchCPU returns 0: this system's process CPU time is not read.
func benchCPU() time.Duration { return 0 }
