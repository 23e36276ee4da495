package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/trail-audit/trail"
)

// testReadWait checks how followers read the log: Read from any seq, and
// Wait for it to grow.
func testReadWait(t *testing.T, h Harness) {
	f := newFixture(t, h)
	g := NewGen(10, 1)
	const tenant = "follow"
	batch := make([]*trail.Event, 50)
	for i := range batch {
		batch[i] = g.Event(tenant, time.Time{})
	}
	res := f.append(batch...)

	t.Run("Read", func(t *testing.T) {
		f := f.with(t)
		for _, tc := range []struct {
			from      int64
			limit     int
			wantFirst int64
			wantN     int
		}{
			{20, 10, 20, 10},
			{0, 1, 0, 1},
			{45, 100, 45, 5},
			{49, 1, 49, 1},
			{50, 10, 0, 0},
			{1000, 10, 0, 0},
		} {
			recs, err := f.s.Read(f.ctx, tenant, tc.from, tc.limit)
			if err != nil {
				t.Errorf("Read(%d, %d): %v", tc.from, tc.limit, err)
				continue
			}
			if len(recs) != tc.wantN {
				t.Errorf("Read(%d, %d): %d records, want %d", tc.from, tc.limit, len(recs), tc.wantN)
				continue
			}
			for i, r := range recs {
				seq := tc.wantFirst + int64(i)
				if r.Tenant != tenant || r.Seq != seq {
					t.Errorf("Read(%d, %d)[%d]: record %s/%d, want %s/%d", tc.from, tc.limit, i, r.Tenant, r.Seq, tenant, seq)
					continue
				}
				if r.LeafHash != res.Receipts[seq].LeafHash || r.Data == nil || trail.Hash(leafHash(r.Data)) != r.LeafHash {
					t.Errorf("Read(%d, %d)[%d]: leaf hash %v and data do not match the receipt's %v", tc.from, tc.limit, i, r.LeafHash, res.Receipts[seq].LeafHash)
				}
			}
		}
		_, err := f.s.Read(f.ctx, "nosuchtenant", 0, 10)
		wantError(t, "Read(unknown tenant)", err, trail.ENOTFOUND, "")
	})

	t.Run("WaitLarger", func(t *testing.T) {
		f := f.with(t)
		ctx, cancel := context.WithTimeout(f.ctx, 5*time.Second)
		defer cancel()
		for _, size := range []int64{0, 10, 49} {
			n, err := f.s.Wait(ctx, tenant, size)
			if err != nil || n != 50 {
				t.Errorf("Wait(%d) on a log of 50: got %d, %v; want 50 at once", size, n, err)
			}
		}
	})

	t.Run("WaitBlocks", func(t *testing.T) {
		f := f.with(t)
		ctx, cancel := context.WithTimeout(f.ctx, 10*time.Second)
		defer cancel()
		type result struct {
			n   int64
			err error
		}
		done := make(chan result, 1)
		go func() {
			n, err := f.s.Wait(ctx, tenant, 50)
			done <- result{n, err}
		}()
		select {
		case r := <-done:
			t.Fatalf("Wait(50) on a log of 50 returned %d, %v before any append", r.n, r.err)
		case <-time.After(100 * time.Millisecond):
		}
		f.append(g.Event(tenant, time.Time{}), g.Event(tenant, time.Time{}))
		select {
		case r := <-done:
			if r.err != nil || r.n < 51 || r.n > 52 {
				t.Errorf("Wait(50) after appending 2: got %d, %v; want 51 or 52", r.n, r.err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Wait(50) did not return 5s after an append")
		}
	})

	t.Run("WaitCancel", func(t *testing.T) {
		f := f.with(t)
		ctx, cancel := context.WithTimeout(f.ctx, 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		n, err := f.s.Wait(ctx, tenant, 52)
		if err == nil {
			t.Errorf("Wait with a context that expires: got %d, nil; want an error", n)
		}
		if d := time.Since(start); d < 90*time.Millisecond || d > 5*time.Second {
			t.Errorf("Wait with a 100ms context returned after %v", d)
		}
		ctx, cancel = context.WithCancel(f.ctx)
		cancel()
		if n, err := f.s.Wait(ctx, tenant, 52); err == nil {
			t.Errorf("Wait with a cancelled context: got %d, nil; want an error", n)
		}
	})

	t.Run("WaitNewTenant", func(t *testing.T) {
		f := f.with(t)
		ctx, cancel := context.WithTimeout(f.ctx, 10*time.Second)
		defer cancel()
		type result struct {
			n   int64
			err error
		}
		done := make(chan result, 1)
		go func() {
			n, err := f.s.Wait(ctx, "later", 0)
			done <- result{n, err}
		}()
		time.Sleep(50 * time.Millisecond)
		f.append(g.Event("later", time.Time{}))
		select {
		case r := <-done:
			if r.err != nil || r.n != 1 {
				t.Errorf("Wait(later, 0) for a tenant created later: got %d, %v; want 1", r.n, r.err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Wait for a tenant that did not exist yet did not return after its first append")
		}
	})
}
