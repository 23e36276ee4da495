package pgstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/trail-audit/trail"
	"github.com/trail-audit/trail/gen"
	"github.com/trail-audit/trail/pgstore"
	"github.com/trail-audit/trail/pgstore/pgtest"
)

// TestIdleFollowersDoNotPoll runs followers as alert engines do (Wait
// with a deadline of one PollInterval, again and again) on a quiet store.
// The listener's heartbeats show that no notification was lost, so they
// must not poll the database each interval; and no query may race a
// follower's deadline, which made the pool replace its connections.
func TestIdleFollowersDoNotPoll(t *testing.T) {
	_, dsn := pgtest.Schema(t)
	signer, verifier := testKey(t)
	const interval = 300 * time.Millisecond
	s, err := pgstore.Open(t.Context(), pgstore.Options{DSN: dsn, Signer: signer, Verifier: verifier,
		ServerName: "trail.test", PollInterval: interval})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const followers = 20
	g := gen.New(1, 1)
	var evs []*trail.Event
	for i := range followers {
		evs = append(evs, g.Event(fmt.Sprintf("t%02d", i), time.Now()))
	}
	if _, err := s.Append(t.Context(), evs); err != nil {
		t.Fatal(err)
	}
	time.Sleep(interval) // the listener hears of the commit
	// Fill the pool first, so that a new connection below means one was
	// closed and replaced, not that the pool grew under a burst of polls.
	var held []*pgxpool.Conn
	for range s.Pool().Config().MaxConns {
		c, err := s.Pool().Acquire(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	for _, c := range held {
		c.Release()
	}
	polls0, conns0 := s.Polls(), s.Pool().Stat().NewConnsCount()

	ctx, stop := context.WithTimeout(t.Context(), 8*interval)
	defer stop()
	var wg sync.WaitGroup
	waits := make(chan int, followers)
	for i := range followers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for ctx.Err() == nil {
				wctx, cancel := context.WithTimeout(ctx, interval)
				size, err := s.Wait(wctx, fmt.Sprintf("t%02d", i), 1)
				cancel()
				if err == nil {
					t.Errorf("t%02d: Wait returned size %d on a quiet store", i, size)
					return
				}
				n++
			}
			waits <- n
		}()
	}
	wg.Wait()
	close(waits)
	total := 0
	for n := range waits {
		total += n
	}
	polls, conns := s.Polls()-polls0, s.Pool().Stat().NewConnsCount()-conns0
	t.Logf("%d waits of %d followers over %v: %d polls, %d new connections", total, followers, 8*interval, polls, conns)
	if total < followers*4 {
		t.Fatalf("only %d waits: the test did not run long enough to judge", total)
	}
	// The old code polled at most waits (every wait that timed out); a
	// live listener's heartbeats leave none, unless the machine stalls
	// the listener for a whole interval.
	if polls > int64(total/4) {
		t.Errorf("%d polls in %d waits on a quiet store with a live listener: want (almost) none", polls, total)
	}
	if conns > 1 {
		t.Errorf("the pool opened %d connections while followers waited: polls are cancelled by their deadlines", conns)
	}

	// A commit still wakes a follower at once.
	woke := make(chan error, 1)
	go func() {
		wctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		_, err := s.Wait(wctx, "t00", 1)
		woke <- err
	}()
	time.Sleep(interval / 2)
	if _, err := s.Append(t.Context(), []*trail.Event{g.Event("t00", time.Now())}); err != nil {
		t.Fatal(err)
	}
	if err := <-woke; err != nil {
		t.Errorf("a follower of t00 was not woken by a commit: %v", err)
	}
}

// TestFollowerSurvivesListenerLoss kills the commit listener's backend of
// one node while a follower waits on it, then commits through another
// node: the follower must still see the commit within a few intervals
// (its heartbeats stop, so it polls; the listener reconnects and reloads
// every size).
func TestFollowerSurvivesListenerLoss(t *testing.T) {
	schema, dsn := pgtest.Schema(t)
	signer, verifier := testKey(t)
	const interval = 200 * time.Millisecond
	openNode := func() *pgstore.Store {
		s, err := pgstore.Open(t.Context(), pgstore.Options{DSN: dsn, Signer: signer, Verifier: verifier,
			ServerName: "trail.test", PollInterval: interval})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := openNode(), openNode()
	g := gen.New(2, 1)
	if _, err := b.Append(t.Context(), []*trail.Event{g.Event("acme", time.Now())}); err != nil {
		t.Fatal(err)
	}
	// Both listeners are up; kill them all (a's among them) and commit
	// at once, before they come back.
	woke := make(chan int64, 1)
	go func() {
		size := int64(1)
		for size < 2 {
			wctx, cancel := context.WithTimeout(t.Context(), interval)
			n, err := a.Wait(wctx, "acme", size)
			cancel()
			if err == nil {
				size = n
			}
			if t.Context().Err() != nil {
				return
			}
		}
		woke <- size
	}()
	time.Sleep(2 * interval)
	tag := exec(t, dsn, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = left('trail-commit-listener ' || $1, 63)`, schema)
	if tag.RowsAffected() < 2 {
		t.Fatalf("terminated %d listener backends, want 2", tag.RowsAffected())
	}
	if _, err := b.Append(t.Context(), []*trail.Event{g.Event("acme", time.Now())}); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-woke:
		if n != 2 {
			t.Errorf("follower saw size %d, want 2", n)
		}
	case <-time.After(10 * interval):
		t.Fatal("the follower on node a did not see the commit made through node b after its listener was killed")
	}
}
