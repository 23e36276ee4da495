package client

import (
	"context"
	"testing"
	"time"
)

// BenchmarkSendDelivered measures events per second from Send until trail
// (a child process on the same machine) acknowledged them all.
func BenchmarkSendDelivered(b *testing.B) {
	p := startTrail(b)
	key := p.writerKey("bench")
	for _, bs := range []int{100, 500} {
		b.Run("batch="+itoa(bs), func(b *testing.B) {
			c, err := New(Config{Server: p.URL, Key: key, BatchSize: bs, QueueSize: 100000, SendTimeout: time.Second})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close(context.Background())
			e := event(1)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if err := c.Send(context.Background(), e); err != nil {
					b.Fatal(err)
				}
			}
			if err := c.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
			if st := c.Stats(); st.Acknowledged != int64(b.N) {
				b.Fatalf("stats %+v, want %d acknowledged", st, b.N)
			}
		})
	}
}

// BenchmarkSendEnqueue measures Send alone: id, validation, encoding and
// queueing, with the sender stuck on a trail that never answers.
func BenchmarkSendEnqueue(b *testing.B) {
	c, err := New(Config{Server: hungServer(b), Key: "k", QueueSize: 1 << 30, RequestTimeout: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		c.Close(ctx)
	}()
	e := event(1)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := c.Send(context.Background(), e); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func itoa(n int) string {
	return string(rune('0'+n/100)) + string(rune('0'+n/10%10)) + string(rune('0'+n%10))
}

// BenchmarkSendSpooled measures Send under FailSpool with a full queue:
// each call appends one record to the spool and waits for its fsync, which
// concurrent callers share (group commit).
func BenchmarkSendSpooled(b *testing.B) {
	for _, perCPU := range []int{1, 16} {
		b.Run("goroutines-per-cpu="+itoa(perCPU), func(b *testing.B) {
			c, err := New(Config{Server: hungServer(b), Key: "k", QueueSize: 1, FailPolicy: FailSpool, SpoolDir: b.TempDir(), RequestTimeout: time.Hour})
			if err != nil {
				b.Fatal(err)
			}
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
				defer cancel()
				c.Close(ctx)
			}()
			e := event(1)
			b.ReportAllocs()
			b.SetParallelism(perCPU)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := c.Send(context.Background(), e); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
