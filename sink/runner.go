package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	trail "github.com/trail-audit/trail"
)

// Item is one committed event handed to a Destination: its seq, its
// canonical JSON leaf (exactly the stored bytes, holding id, seq and tenant)
// and the decoded event.
type Item struct {
	Seq   int64
	Leaf  []byte
	Event *trail.Event
}

// Batch is what a Runner hands a Destination: one or more events of one
// tenant, in seq order.
type Batch struct {
	Tenant string
	Items  []Item
	// ID names the delivery for receivers that dedup whole messages (the
	// webhook-id): "<sink id>_<first seq>-<last seq>", the same on every
	// retry, with "_r<n>" appended after the n-th Replay of this Runner so
	// that replayed events are not dropped as duplicates.
	ID string
}

// Destination delivers batches of one tenant's events. Deliver returns nil
// only when the destination acknowledged every item of the batch; on error
// the Runner delivers the same items again later, so a destination may see
// a batch more than once (at least once). A Runner calls Deliver from one
// goroutine at a time; ctx is cancelled when the sink is paused, replayed
// or stopped.
type Destination interface {
	Deliver(ctx context.Context, b *Batch) error
	Close() error
}

// State is what a Runner is doing.
type State string

// Runner states.
const (
	StateStopped  State = "stopped"  // Run is not running
	StateRunning  State = "running"  // following the log, delivering
	StateRetrying State = "retrying" // the last delivery failed; waiting to retry
	StatePaused   State = "paused"
)

// Status is a snapshot of a Runner. LastDeliveredSeq is -1 until a batch
// was acknowledged since the Runner was made. Lag is the tenant's log size
// as last seen minus Cursor. Its JSON form is the status of GET /v1/sinks/{id}.
type Status struct {
	State            State     `json:"state"`
	Cursor           int64     `json:"cursor"`
	LastDeliveredSeq int64     `json:"last_delivered_seq"`
	LastDeliveredAt  time.Time `json:"last_delivered_at,omitzero"`
	Lag              int64     `json:"lag"`
	LastError        string    `json:"last_error,omitempty"`
	LastErrorAt      time.Time `json:"last_error_at,omitzero"`
	Failures         int       `json:"failures"` // consecutive failed attempts of the current batch
}

// Options are what a Runner needs besides its Sink. Store, Cursors and
// Destination are required.
type Options struct {
	Store       trail.Store
	Cursors     CursorStore
	Destination Destination // see Open

	MinBackoff time.Duration // first retry delay; default 1s
	MaxBackoff time.Duration // cap of the retry delay; default 5m

	// Include, when set, names events a sink delivers although its filter
	// does not match them: trail serve uses it for the alerts of the rules
	// that name the sink.
	Include func(sinkID string, e *trail.Event) bool

	Now    func() time.Time                                 // default time.Now
	Rand   func() float64                                   // jitter in [0,1); default math/rand/v2.Float64
	Sleep  func(ctx context.Context, d time.Duration) error // default a timer; returns ctx.Err() when ctx ends first
	Logger *slog.Logger                                     // nil: discard
}

// Runner delivers one sink: it follows the sink's tenant log from the
// durable cursor (Store.Read and Store.Wait), keeps the events that match
// the filter (skipping erased ones), delivers them in seq order in batches
// of at most BatchSize, and saves the cursor past a batch only after the
// destination acknowledged it. A failed delivery is retried with
// exponential backoff and jitter, forever, without skipping: the sink
// stalls and reports StateRetrying instead. Delivery is at least once;
// receivers dedup on the event id.
//
// A sink without a saved cursor starts at seq 0, the whole retained log;
// to start at the end instead, Save the log size as its cursor first.
//
// All methods are safe for concurrent use.
type Runner struct {
	sink  Sink
	match trail.Matcher
	o     Options

	commitMu sync.Mutex // serialises cursor saves

	mu        sync.Mutex
	running   bool
	loaded    bool
	paused    bool
	gen       uint64 // bumped by Replay: an in-flight batch must not commit
	interrupt context.CancelFunc
	wake      chan struct{}
	st        Status
	size      int64
}

// NewRunner returns a Runner for s, which it normalises (see
// Sink.Normalize; errors are EINVALID *trail.Error). It starts paused when
// s.Paused is set. Call Run to deliver.
func NewRunner(s Sink, o Options) (*Runner, error) {
	if err := s.Normalize(); err != nil {
		return nil, err
	}
	if o.Store == nil || o.Cursors == nil || o.Destination == nil {
		return nil, errors.New("sink: NewRunner needs Store, Cursors and Destination")
	}
	m, err := s.Matcher()
	if err != nil {
		return nil, err
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Runner{sink: s, match: m, o: o, paused: s.Paused, wake: make(chan struct{})}
	r.st = Status{State: StateStopped, LastDeliveredSeq: -1}
	return r, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Sink returns the Runner's normalised sink configuration.
func (r *Runner) Sink() Sink { return r.sink }

// Status returns a snapshot of the Runner's state.
func (r *Runner) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.st
	st.Lag = max(0, r.size-st.Cursor)
	switch {
	case !r.running:
		st.State = StateStopped
	case r.paused:
		st.State = StatePaused
	}
	return st
}

// Pause stops delivering after the batch in flight is abandoned (it will be
// delivered again on Resume). It does not change the saved configuration:
// the caller persists Sink.Paused.
func (r *Runner) Pause() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.paused = true
	r.signal()
}

// Resume undoes Pause; a pending retry is attempted at once.
func (r *Runner) Resume() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.paused = false
	r.signal()
}

// Replay moves the cursor back to seq, durably, so that the events from seq
// on are delivered again (those matching the filter and not erased). A
// batch in flight is abandoned. seq must be between 0 and the current
// cursor; otherwise Replay returns an EINVALID *trail.Error on "seq". It
// may be called whether or not Run is running.
func (r *Runner) Replay(ctx context.Context, seq int64) error {
	r.commitMu.Lock()
	defer r.commitMu.Unlock()
	if err := r.load(ctx); err != nil {
		return err
	}
	r.mu.Lock()
	cur := r.st.Cursor
	r.mu.Unlock()
	if seq < 0 || seq > cur {
		return trail.FieldError("seq", "must be between 0 and the cursor %d", cur)
	}
	if err := r.o.Cursors.Save(ctx, r.sink.ID, seq); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.st.Cursor = seq
	r.gen++
	r.st.Failures = 0
	r.signal()
	return nil
}

// signal interrupts the current wait, delivery or backoff. r.mu is held.
func (r *Runner) signal() {
	if r.interrupt != nil {
		r.interrupt()
	}
	close(r.wake)
	r.wake = make(chan struct{})
}

// load reads the durable cursor once. r.commitMu is held.
func (r *Runner) load(ctx context.Context) error {
	r.mu.Lock()
	loaded := r.loaded
	r.mu.Unlock()
	if loaded {
		return nil
	}
	seq, _, err := r.o.Cursors.Load(ctx, r.sink.ID)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.st.Cursor, r.loaded = seq, true
	r.mu.Unlock()
	return nil
}

// Run delivers until ctx is done, then returns ctx's error. It returns
// another error only when the cursor cannot be loaded. Run must not be
// called twice at once on one Runner; the destination is not closed.
func (r *Runner) Run(ctx context.Context) error {
	r.commitMu.Lock()
	err := r.load(ctx)
	r.commitMu.Unlock()
	if err != nil {
		return err
	}
	r.mu.Lock()
	if r.running {
		r.mu.Unlock()
		return errors.New("sink: Run called twice")
	}
	r.running = true
	r.st.State = StateRunning
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.running = false
		r.interrupt = nil
		r.mu.Unlock()
	}()
	for ctx.Err() == nil {
		r.mu.Lock()
		ictx, cancel := context.WithCancel(ctx)
		r.interrupt = cancel
		paused, cursor, gen, wake := r.paused, r.st.Cursor, r.gen, r.wake
		r.mu.Unlock()
		if paused {
			r.idle(ictx, wake)
		} else {
			r.step(ictx, cursor, gen)
		}
		cancel()
	}
	return ctx.Err()
}

// idle waits while paused, keeping the log size (and so Lag) fresh. ctx is
// cancelled by Resume, Replay and the end of Run.
func (r *Runner) idle(ctx context.Context, wake <-chan struct{}) {
	r.mu.Lock()
	size := r.size
	r.mu.Unlock()
	for {
		n, err := r.o.Store.Wait(ctx, r.sink.Tenant, size)
		if err != nil {
			if ctx.Err() == nil {
				// The store failed or closed: do not spin.
				select {
				case <-wake:
				case <-ctx.Done():
				}
			}
			return
		}
		r.mu.Lock()
		r.size, size = n, n
		r.mu.Unlock()
	}
}

// step waits for events past cursor, delivers one batch of them (retrying
// until acknowledged or interrupted) and commits the cursor.
func (r *Runner) step(ctx context.Context, cursor int64, gen uint64) {
	size, err := r.o.Store.Wait(ctx, r.sink.Tenant, cursor)
	if err != nil {
		if ctx.Err() == nil {
			r.fail(ctx, fmt.Errorf("wait: %w", err))
		}
		return
	}
	r.mu.Lock()
	r.size = size
	r.mu.Unlock()
	n := int(min(int64(r.sink.BatchSize), size-cursor))
	var items []Item
	var next int64
	for {
		items, next, err = r.read(ctx, cursor, n)
		if err == nil {
			break
		}
		if ctx.Err() != nil || r.fail(ctx, err) != nil {
			return
		}
	}
	var b *Batch
	if len(items) > 0 {
		id := r.sink.ID + "_" + strconv.FormatInt(items[0].Seq, 10) + "-" + strconv.FormatInt(items[len(items)-1].Seq, 10)
		if gen > 0 {
			id += "_r" + strconv.FormatUint(gen, 10)
		}
		b = &Batch{Tenant: r.sink.Tenant, Items: items, ID: id}
	}
	for b != nil {
		err := r.o.Destination.Deliver(ctx, b)
		if err == nil {
			break
		}
		if ctx.Err() != nil || r.fail(ctx, fmt.Errorf("deliver: %w", err)) != nil {
			return
		}
	}
	r.commit(ctx, gen, next, items)
}

// read returns the matching, unerased events of at most n records from
// cursor, and the cursor past those records.
func (r *Runner) read(ctx context.Context, cursor int64, n int) ([]Item, int64, error) {
	recs, err := r.o.Store.Read(ctx, r.sink.Tenant, cursor, n)
	if err != nil {
		return nil, 0, fmt.Errorf("read: %w", err)
	}
	if len(recs) == 0 {
		return nil, 0, fmt.Errorf("read: no records at seq %d of a log of more", cursor)
	}
	items := make([]Item, 0, len(recs))
	for _, rec := range recs {
		if rec.Data == nil {
			continue
		}
		e, err := trail.DecodeEvent(rec.Data)
		if err != nil {
			return nil, 0, fmt.Errorf("seq %d: %w", rec.Seq, err)
		}
		e.Seq = rec.Seq
		if r.match(e) || (r.o.Include != nil && r.o.Include(r.sink.ID, e)) {
			items = append(items, Item{Seq: rec.Seq, Leaf: rec.Data, Event: e})
		}
	}
	return items, recs[len(recs)-1].Seq + 1, nil
}

// fail records err and sleeps the backoff of the next attempt. It returns
// ctx's error when interrupted.
func (r *Runner) fail(ctx context.Context, err error) error {
	r.mu.Lock()
	r.st.Failures++
	n := r.st.Failures
	r.st.State = StateRetrying
	r.st.LastError = err.Error()
	r.st.LastErrorAt = r.o.Now()
	r.mu.Unlock()
	d := r.backoff(n)
	r.o.Logger.Warn("sink delivery failed", "sink", r.sink.ID, "tenant", r.sink.Tenant, "failures", n, "retry_in", d, "err", err)
	return r.o.Sleep(ctx, d)
}

// backoff returns the delay after the n-th consecutive failure (n >= 1):
// MinBackoff·2^(n-1) capped at MaxBackoff, then "equal jitter": a uniform
// value in [d/2, d).
func (r *Runner) backoff(n int) time.Duration {
	d := r.o.MinBackoff
	for i := 1; i < n && d < r.o.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, r.o.MaxBackoff)
	return d/2 + time.Duration(r.o.Rand()*float64(d/2))
}

// commit saves next as the cursor unless Replay moved it meanwhile.
func (r *Runner) commit(ctx context.Context, gen uint64, next int64, items []Item) {
	r.commitMu.Lock()
	defer r.commitMu.Unlock()
	r.mu.Lock()
	stale := r.gen != gen
	r.mu.Unlock()
	if stale {
		return
	}
	for {
		err := r.o.Cursors.Save(context.WithoutCancel(ctx), r.sink.ID, next)
		if err == nil {
			break
		}
		// The batch was acknowledged; failing to save only means it may be
		// delivered again after a restart. Keep trying so the cursor is durable.
		r.commitMu.Unlock()
		ferr := r.fail(ctx, fmt.Errorf("save cursor: %w", err))
		r.commitMu.Lock()
		if ferr != nil {
			return
		}
		r.mu.Lock()
		stale := r.gen != gen
		r.mu.Unlock()
		if stale {
			return
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.st.Cursor = next
	r.st.Failures = 0
	r.st.State = StateRunning
	if len(items) > 0 {
		r.st.LastDeliveredSeq = items[len(items)-1].Seq
		r.st.LastDeliveredAt = r.o.Now()
	}
}
