package logstore

import (
	"context"
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
)

// TestWaitIsPerTenant: a commit wakes the Waits of the tenants it grew,
// not every follower of the store.
func TestWaitIsPerTenant(t *testing.T) {
	signer, verifier := internalKeys(t)
	s, err := Open(Options{Dir: t.TempDir(), Signer: signer, Verifier: verifier})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	add := func(tenant string) {
		t.Helper()
		if _, err := s.Append(ctx, []*trail.Event{{Tenant: tenant, Action: "doc.read", Actor: trail.Actor{ID: "u_1"}}}); err != nil {
			t.Fatal(err)
		}
	}
	closed := func(ch chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	add("a")
	add("b")
	a, err := s.tenantByName("a")
	if err != nil {
		t.Fatal(err)
	}
	a.mu.RLock()
	grown := a.grown
	a.mu.RUnlock()
	add("b")
	if closed(grown) {
		t.Fatal("a commit to tenant b woke the followers of tenant a")
	}
	add("a")
	if !closed(grown) {
		t.Fatal("a commit to tenant a did not wake its followers")
	}

	// A Wait for a tenant that does not exist yet ends with its first event.
	done := make(chan int64, 1)
	go func() {
		n, err := s.Wait(ctx, "c", 0)
		if err != nil {
			t.Error(err)
		}
		done <- n
	}()
	time.Sleep(20 * time.Millisecond)
	add("c")
	select {
	case n := <-done:
		if n != 1 {
			t.Errorf("Wait(c, 0) = %d, want 1", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait for a new tenant was not woken by its first event")
	}
}
