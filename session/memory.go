package session

import (
	"context"
	"sync"
	"time"

	trail "github.com/trail-audit/trail"
)

// MemoryStore keeps sessions in this process's memory: they end when it
// exits and are not seen by other nodes. The zero value is ready to use
// and safe for concurrent use.
type MemoryStore struct {
	mu sync.Mutex
	m  map[string]Session
}

var _ Store = (*MemoryStore)(nil)

// Create implements Store.
func (s *MemoryStore) Create(_ context.Context, sess Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]Session{}
	}
	if _, ok := s.m[sess.IDHash]; ok {
		return trail.Errorf(trail.ECONFLICT, "session exists")
	}
	s.m[sess.IDHash] = sess
	return nil
}

// Get implements Store.
func (s *MemoryStore) Get(_ context.Context, idHash string) (Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.m[idHash]
	if !ok {
		return Session{}, trail.Errorf(trail.ENOTFOUND, "no such session")
	}
	return sess, nil
}

// Touch implements Store.
func (s *MemoryStore) Touch(_ context.Context, idHash string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess, ok := s.m[idHash]; ok && at.After(sess.LastSeenAt) {
		sess.LastSeenAt = at
		s.m[idHash] = sess
	}
	return nil
}

// Delete implements Store.
func (s *MemoryStore) Delete(_ context.Context, idHash string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, idHash)
	return nil
}

// DeleteExpired implements Store.
func (s *MemoryStore) DeleteExpired(_ context.Context, idleBefore, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for h, sess := range s.m {
		if sess.LastSeenAt.Before(idleBefore) || !now.Before(sess.ExpiresAt) {
			delete(s.m, h)
			n++
		}
	}
	return n, nil
}

// Len returns how many sessions are stored.
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
