package sink

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"

	trail "github.com/trail-audit/trail"
)

// Manager runs the Runners of many sinks over one store: the piece that
// serve and the /v1/sinks API hold. Sink configurations themselves are
// persisted by the caller; the Manager keeps only what runs.
//
// Wiring, in serve:
//
//	m := sink.NewManager(sink.ManagerOptions{Store: store, Cursors: &sink.FileCursors{Dir: dir}, Env: env, Logger: log})
//	for _, s := range storedSinks { m.Start(s) }   // errors: log them, keep serving
//	defer m.Close()
//
// and in the API:
//
//	POST   /v1/sinks               Normalize, persist, m.Start(s) → 201 with s.Redacted() (and the secret once)
//	GET    /v1/sinks/{id}          m.Runner(id).Status() beside the stored config
//	PATCH  /v1/sinks/{id}          persist, m.Start(s) (restarts it from its cursor)
//	POST   /v1/sinks/{id}/pause    m.Runner(id).Pause(), persist Paused; resume likewise
//	POST   /v1/sinks/{id}/replay   m.Runner(id).Replay(ctx, seq)
//	DELETE /v1/sinks/{id}          m.Remove(ctx, id), then delete the config
//
// All methods are safe for concurrent use.
type Manager struct {
	o       ManagerOptions
	mu      sync.Mutex
	runners map[string]*managed
	closed  bool
}

// ManagerOptions configure a Manager. Store and Cursors are required.
type ManagerOptions struct {
	Store   trail.Store
	Cursors CursorStore
	Env     Env
	// Runner holds the retry, clock and randomness options given to every
	// Runner; its Store, Cursors and Destination are set by the Manager.
	Runner Options
	Logger *slog.Logger // nil: discard
}

type managed struct {
	r      *Runner
	dest   Destination
	cancel context.CancelFunc
	done   chan struct{}
}

// NewManager returns a Manager with no sinks.
func NewManager(o ManagerOptions) *Manager {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{o: o, runners: map[string]*managed{}}
}

// Start opens s's destination and runs its Runner in a goroutine,
// replacing (stopping first) a running sink of the same id, which then
// resumes from its durable cursor. Configuration errors are EINVALID
// *trail.Error naming the field; nothing is started then.
func (m *Manager) Start(s Sink) error {
	if err := s.Normalize(); err != nil {
		return err
	}
	dest, err := Open(&s, m.o.Env)
	if err != nil {
		return err
	}
	o := m.o.Runner
	o.Store, o.Cursors, o.Destination = m.o.Store, m.o.Cursors, dest
	if o.Logger == nil {
		o.Logger = m.o.Logger
	}
	r, err := NewRunner(s, o)
	if err != nil {
		dest.Close()
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		dest.Close()
		return errors.New("sink: manager closed")
	}
	if old := m.runners[s.ID]; old != nil {
		old.stop()
	}
	ctx, cancel := context.WithCancel(context.Background())
	mr := &managed{r: r, dest: dest, cancel: cancel, done: make(chan struct{})}
	m.runners[s.ID] = mr
	go func() {
		defer close(mr.done)
		if err := r.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			m.o.Logger.Error("sink stopped", "sink", s.ID, "tenant", s.Tenant, "err", err)
		}
	}()
	return nil
}

func (mr *managed) stop() {
	mr.cancel()
	<-mr.done
	mr.dest.Close()
}

// Runner returns the Runner of sink id.
func (m *Manager) Runner(id string) (*Runner, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mr, ok := m.runners[id]
	if !ok {
		return nil, false
	}
	return mr.r, true
}

// IDs lists the ids of the running sinks, sorted.
func (m *Manager) IDs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := make([]string, 0, len(m.runners))
	for id := range m.runners {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Stop stops sink id and closes its destination, keeping its cursor. It
// returns an ENOTFOUND *trail.Error when no such sink runs.
func (m *Manager) Stop(id string) error {
	m.mu.Lock()
	mr, ok := m.runners[id]
	delete(m.runners, id)
	m.mu.Unlock()
	if !ok {
		return trail.Errorf(trail.ENOTFOUND, "sink %s is not running", id)
	}
	mr.stop()
	return nil
}

// Remove stops sink id, if it runs, and deletes its cursor.
func (m *Manager) Remove(ctx context.Context, id string) error {
	if err := m.Stop(id); err != nil && trail.ErrorCode(err) != trail.ENOTFOUND {
		return err
	}
	return m.o.Cursors.Delete(ctx, id)
}

// Close stops every sink. Start fails afterwards.
func (m *Manager) Close() error {
	m.mu.Lock()
	m.closed = true
	rs := m.runners
	m.runners = map[string]*managed{}
	m.mu.Unlock()
	for _, mr := range rs {
		mr.stop()
	}
	return nil
}
