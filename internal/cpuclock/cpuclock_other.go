//go:build !unix

package cpuclock

import "time"

func process() (time.Duration, error) { return 0, ErrUnsupported }
