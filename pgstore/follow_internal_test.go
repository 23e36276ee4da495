package pgstore

import "testing"

// TestObserveWakesOnlyItsTenant: a size change wakes the waiters of its
// tenant and no others (with one follower per tenant, a store-wide signal
// woke every follower at every commit).
func TestObserveWakesOnlyItsTenant(t *testing.T) {
	s := &Store{sizes: map[string]int64{}, changed: map[string]chan struct{}{}}
	closed := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	_, ok, a, _ := s.sizeSignal("a")
	if ok {
		t.Fatal("size of a known before any observation")
	}
	_, _, b, _ := s.sizeSignal("b")
	s.observe(map[string]int64{"b": 5})
	if closed(a) {
		t.Error("a commit into b woke a waiter of a")
	}
	if !closed(b) {
		t.Error("a commit into b did not wake its waiter")
	}
	_, _, b, _ = s.sizeSignal("b")
	s.observe(map[string]int64{"b": 5, "a": 1}) // b unchanged
	if !closed(a) || closed(b) {
		t.Errorf("a woken %v (want true), b woken %v (want false)", closed(a), closed(b))
	}
	if n, ok := s.knownSize("a"); !ok || n != 1 {
		t.Errorf("knownSize(a) = %d, %v; want 1, true", n, ok)
	}
	if len(s.changed) != 1 { // b's second channel only
		t.Errorf("%d channels left, want 1", len(s.changed))
	}
}
