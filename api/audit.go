package api

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/auth"
)

// auditor writes trail's own events about API use into the logs they
// concern. Reads are recorded asynchronously in batches (a bounded queue;
// when it is full the request waits up to auditWait, then the loss is
// logged and counted), changes synchronously before the response.
type auditor struct {
	store trail.Store
	log   *slog.Logger
	ch    chan *trail.Event
	done  chan struct{}
	once  sync.Once

	mu     sync.RWMutex // held for reading while queueing; close takes it
	closed bool
}

const (
	auditQueue = 4096
	auditWait  = time.Second
)

func newAuditor(store trail.Store, log *slog.Logger) *auditor {
	a := &auditor{store: store, log: log, ch: make(chan *trail.Event, auditQueue), done: make(chan struct{})}
	go a.loop()
	return a
}

// event builds a self-audit event.
func auditEvent(tenant string, r *http.Request, p *auth.Principal, action, outcome string, meta map[string]any) *trail.Event {
	e := &trail.Event{Tenant: tenant, Action: action, Outcome: outcome, Metadata: meta,
		Source:  &trail.Source{IP: clientIP(r), UserAgent: r.UserAgent(), Origin: "api"},
		Request: &trail.Request{Method: r.Method, Path: r.URL.Path}}
	if p != nil {
		e.Actor = trail.Actor{ID: p.KeyID, Name: p.Name, Type: p.ActorType()}
	} else {
		e.Actor = trail.Actor{ID: "anonymous", Type: trail.ActorAPIKey}
	}
	if len(e.Source.UserAgent) > 1024 {
		e.Source.UserAgent = e.Source.UserAgent[:1024]
	}
	if trail.CanonicalIP(e.Source.IP) == "" {
		e.Source.IP = ""
	}
	return e
}

// record queues a read event.
func (a *auditor) record(tenant string, r *http.Request, p *auth.Principal, action, outcome string, meta map[string]any) {
	e := auditEvent(tenant, r, p, action, outcome, meta)
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.closed {
		a.log.Error("self-audit after close; event not recorded", "tenant", tenant, "action", action)
		return
	}
	select {
	case a.ch <- e:
		return
	default:
	}
	t := time.NewTimer(auditWait)
	defer t.Stop()
	select {
	case a.ch <- e:
	case <-t.C:
		a.log.Error("self-audit queue full; event not recorded", "tenant", tenant, "action", action)
	}
}

// recordSync appends a change event before the caller responds.
func (a *auditor) recordSync(tenant string, r *http.Request, p *auth.Principal, action string, meta map[string]any) error {
	e := auditEvent(tenant, r, p, action, trail.OutcomeSuccess, meta)
	_, err := a.store.Append(context.WithoutCancel(r.Context()), []*trail.Event{e})
	if err != nil {
		a.log.Error("self-audit append failed", "tenant", tenant, "action", action, "err", err)
	}
	return err
}

func (a *auditor) loop() {
	defer close(a.done)
	for e := range a.ch {
		batch := []*trail.Event{e}
	more:
		for len(batch) < 1000 {
			select {
			case x, ok := <-a.ch:
				if !ok {
					break more
				}
				batch = append(batch, x)
			default:
				break more
			}
		}
		if _, err := a.store.Append(context.Background(), batch); err != nil {
			a.log.Error("self-audit append failed", "events", len(batch), "err", err)
		}
	}
}

// close flushes queued events and stops the loop.
func (a *auditor) close() {
	a.once.Do(func() {
		a.mu.Lock()
		a.closed = true
		close(a.ch)
		a.mu.Unlock()
	})
	<-a.done
}
