package alert

import (
	"context"
	"sync"
	"time"
)

// Manager runs one Engine per tenant of a store: the piece cmd/trail
// starts next to the API. Its methods are safe for concurrent use.
type Manager struct {
	cfg       Config // template: Tenant is set per engine
	pollEvery time.Duration

	mu      sync.Mutex
	engines map[string]*Engine
	started map[string]bool
	run     func(*Engine) // set while Run runs
}

// NewManager returns a manager that opens engines with cfg (its Tenant is
// ignored) and looks for new tenants every pollEvery (default 5s).
func NewManager(cfg Config, pollEvery time.Duration) *Manager {
	if pollEvery <= 0 {
		pollEvery = 5 * time.Second
	}
	return &Manager{cfg: cfg, pollEvery: pollEvery, engines: map[string]*Engine{}, started: map[string]bool{}}
}

// Engine returns the tenant's engine, opening it (and, for a new tenant,
// installing DefaultRules) when needed; while Run runs the engine is
// started. Handlers of /v1/alert-rules and /v1/alerts call it with the
// caller's tenant.
func (m *Manager) Engine(ctx context.Context, tenant string) (*Engine, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.engines[tenant]; ok {
		return e, nil
	}
	cfg := m.cfg
	cfg.Tenant = tenant
	e, err := Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	m.engines[tenant] = e
	if m.run != nil && !m.started[tenant] {
		m.started[tenant] = true
		m.run(e)
	}
	return e, nil
}

// Run starts an engine for every tenant of the store, and for tenants that
// appear later, and returns when ctx is done and every engine has saved
// its state.
func (m *Manager) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	m.mu.Lock()
	m.run = func(e *Engine) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.Run(ctx)
		}()
	}
	for t, e := range m.engines {
		if !m.started[t] {
			m.started[t] = true
			m.run(e)
		}
	}
	m.mu.Unlock()
	t := time.NewTicker(m.pollEvery)
	defer t.Stop()
	for {
		ts, err := m.cfg.Store.Tenants(ctx)
		if err == nil {
			for _, tn := range ts {
				if _, err := m.Engine(ctx, tn.Name); err != nil && ctx.Err() == nil {
					m.cfg.logger().Error("alert: open engine", "tenant", tn.Name, "err", err)
				}
			}
		} else if ctx.Err() == nil {
			m.cfg.logger().Error("alert: list tenants", "err", err)
		}
		select {
		case <-ctx.Done():
			m.mu.Lock()
			m.run = nil
			m.mu.Unlock()
			wg.Wait()
			return ctx.Err()
		case <-t.C:
		}
	}
}
