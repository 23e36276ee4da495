package limit_test

import (
	"fmt"
	"time"

	"github.com/trail-audit/trail/limit"
)

func ExampleLimiter_Allow() {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	l := limit.New(limit.Config{Rate: 2, Burst: 3}, func() time.Time { return now })

	for range 4 {
		ok, retry := l.Allow("key_1", 1)
		fmt.Println(ok, retry)
	}
	now = now.Add(500 * time.Millisecond)
	fmt.Println(l.Allow("key_1", 1))
	fmt.Println("hits:", l.Hits())
	// Output:
	// true 0s
	// true 0s
	// true 0s
	// false 500ms
	// true 0s
	// hits: 1
}
