package alert

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	trail "github.com/trail-audit/trail"
)

// Notifier delivers a fired alert to the rule's sinks (Alert.Sinks). It is
// called after the alert's trail.alert.fired event is durable, from the
// engine's goroutine, so it must return quickly (enqueue, do not deliver
// inline). After a crash an alert may be notified again with the same ID.
type Notifier interface {
	Notify(ctx context.Context, a *Alert) error
}

// NotifierFunc adapts a function to Notifier.
type NotifierFunc func(ctx context.Context, a *Alert) error

// Notify calls f.
func (f NotifierFunc) Notify(ctx context.Context, a *Alert) error { return f(ctx, a) }

// Config configures the Engine of one tenant. Store and State are
// required; zero values elsewhere take the defaults shown.
type Config struct {
	Tenant   string
	Store    trail.Store
	State    StateStore
	Notifier Notifier         // nil: none
	Now      func() time.Time // clock for absence, cooldown of absence, saves; default time.Now
	Logger   *slog.Logger     // nil: discard

	Lateness  time.Duration // how far behind the latest event time an event still counts; default 1m
	MaxKeys   int           // group keys per rule; default 10000
	MaxValues int           // new_value: values kept per group key; default 1000
	MaxAlerts int           // alerts kept in the list; default 1000
	BatchSize int           // records per Store.Read; default 1000
	SaveEvery time.Duration // save the cursor at least this often when nothing fires; default 1m
	TickEvery time.Duration // absence timer period in Run; default 1s
	// Gather is how long Run lets new commits gather after the log grows
	// by fewer than 64 events before it reads them: a tenant whose events
	// come one commit at a time is then read and evaluated in one Step per
	// Gather instead of one per commit. Default 25ms; negative: none.
	Gather time.Duration
}

func (c *Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

func (c *Config) setDefaults() {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Lateness == 0 {
		c.Lateness = time.Minute
	}
	if c.MaxKeys == 0 {
		c.MaxKeys = 10000
	}
	if c.MaxValues == 0 {
		c.MaxValues = 1000
	}
	if c.MaxAlerts == 0 {
		c.MaxAlerts = 1000
	}
	if c.BatchSize == 0 {
		c.BatchSize = 1000
	}
	if c.SaveEvery == 0 {
		// A restart re-evaluates the events after the saved cursor (see
		// doc.go), so this only bounds that work; with one engine per
		// tenant, 5s meant 200 file replacements a second at 1000 busy
		// tenants, a fifth of a busy server's CPU.
		c.SaveEvery = time.Minute
	}
	if c.TickEvery == 0 {
		c.TickEvery = time.Second
	}
	if c.Gather == 0 {
		// Each Step costs a Store.Read snapshot, a Tick and a Wait
		// (a timeout context) whatever it reads: with single-event
		// requests over many tenants that was half the engines'
		// CPU, one Step per event (docs/design/trail-bench.md).
		c.Gather = 25 * time.Millisecond
	}
}

// state is what a StateStore holds for a tenant, as JSON.
type state struct {
	Version   int                   `json:"version"`
	Cursor    int64                 `json:"cursor"` // next seq to evaluate
	Watermark int64                 `json:"watermark,omitempty"`
	Late      int64                 `json:"late,omitempty"`
	Rules     []*Rule               `json:"rules"`
	Eval      map[string]*ruleState `json:"eval,omitempty"` // by rule id
	Alerts    []*Alert              `json:"alerts,omitempty"`
}

// Engine evaluates the rules of one tenant on its committed log. Its
// methods are safe for concurrent use; Run must be called once.
type Engine struct {
	cfg Config

	mu        sync.Mutex
	st        *state
	ev        *evaluator
	caughtUp  bool
	lastSave  time.Time
	savedSum  [sha256.Size]byte // of the blob last saved
	saved     bool              // savedSum is set
	processed int64
	skipped   int64 // of processed: judged from the leaf alone (see evaluator.mayMatch)
	fired     int64
}

// Open loads the tenant's state from cfg.State, or starts a new state at
// seq 0 with DefaultRules when there is none (saved by the engine's first
// save, see the package doc). It does not start following the log: call
// Run.
func Open(ctx context.Context, cfg Config) (*Engine, error) {
	cfg.setDefaults()
	if err := trail.ValidateTenantName(cfg.Tenant); err != nil {
		return nil, err
	}
	if cfg.Store == nil || cfg.State == nil {
		return nil, errors.New("alert: Config.Store and Config.State are required")
	}
	e := &Engine{cfg: cfg}
	data, err := cfg.State.Load(ctx, cfg.Tenant)
	if err != nil {
		return nil, fmt.Errorf("alert: load state: %w", err)
	}
	if data == nil {
		// Not saved yet: until its first save (SaveEvery from now, or a
		// firing, a rule change, Run's end) a crash loses nothing a new
		// Open would not rebuild, since the state is the defaults at seq
		// 0. Saving here cost one file write and fsync per new tenant,
		// in a burst when a thousand tenants start at once, beside the
		// store's own fsyncs.
		e.st = &state{Version: 1, Rules: DefaultRules(cfg.Tenant)}
		if err := e.build(); err != nil {
			return nil, err
		}
		e.lastSave = cfg.Now()
		return e, nil
	}
	if err := e.load(data); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Engine) load(data []byte) error {
	st := new(state)
	if err := json.Unmarshal(data, st); err != nil {
		return fmt.Errorf("alert: decode state of %s: %w", e.cfg.Tenant, err)
	}
	e.st = st
	return e.build()
}

// build compiles the rules and attaches their evaluation state, dropping
// state of rules that no longer exist or changed meaning.
func (e *Engine) build() error {
	ev := &evaluator{watermark: e.st.Watermark, late: e.st.Late, lateness: int64(e.cfg.Lateness),
		maxKeys: e.cfg.MaxKeys, maxValues: e.cfg.MaxValues,
		capped: func(r *Rule, n int64) {
			e.cfg.Logger.Warn("alert: rule holds the maximum of group keys; new keys are not evaluated",
				"tenant", e.cfg.Tenant, "rule", r.ID, "max_keys", e.cfg.MaxKeys, "dropped", n)
		}}
	eval := map[string]*ruleState{}
	for _, r := range e.st.Rules {
		c, err := compile(r)
		if err != nil {
			return fmt.Errorf("alert: rule %s: %w", r.ID, err)
		}
		fp := fingerprint(r)
		rs := e.st.Eval[r.ID]
		if rs == nil || rs.Fingerprint != fp {
			rs = &ruleState{Fingerprint: fp}
		}
		eval[r.ID] = rs
		c.st = rs
		ev.rules = append(ev.rules, c)
	}
	e.st.Eval = eval
	ev.setFilter()
	e.ev = ev
	return nil
}

func (e *Engine) saveLocked(ctx context.Context) error {
	e.st.Watermark, e.st.Late = e.ev.watermark, e.ev.late
	data, err := json.Marshal(e.st)
	if err != nil {
		return fmt.Errorf("alert: encode state: %w", err)
	}
	// An idle tenant's state does not change: it is durable already.
	if sum := sha256.Sum256(data); !e.saved || sum != e.savedSum {
		if err := e.cfg.State.Save(ctx, e.cfg.Tenant, data); err != nil {
			return fmt.Errorf("alert: save state: %w", err)
		}
		e.savedSum, e.saved = sum, true
	}
	e.lastSave = e.cfg.Now()
	return nil
}

// reloadLocked returns the engine to its last saved state.
func (e *Engine) reloadLocked(ctx context.Context) error {
	data, err := e.cfg.State.Load(ctx, e.cfg.Tenant)
	if err != nil {
		return err
	}
	if data == nil {
		return errors.New("alert: saved state vanished")
	}
	return e.load(data)
}

// Run follows the tenant's log from the saved cursor until ctx is done,
// evaluating every committed event and, every TickEvery, the absence
// rules. It returns ctx's error; store and state errors are logged and
// retried with backoff.
func (e *Engine) Run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	var gather *time.Timer
	if e.cfg.Gather > 0 {
		gather = time.NewTimer(e.cfg.Gather)
		defer gather.Stop()
	}
	idle := false // the last Wait saw the log not grow for a whole TickEvery
	for ctx.Err() == nil {
		var n int
		var err error
		if !idle {
			// (An idle engine has read everything: it only ticks. With a
			// thousand quiet tenants a read each per TickEvery is a
			// thousand database queries a second on PostgreSQL.)
			n, err = e.Step(ctx)
		}
		if err == nil {
			err = e.Tick(ctx)
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			e.cfg.Logger.Error("alert: evaluation failed; retrying", "tenant", e.cfg.Tenant, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		if n == e.cfg.BatchSize {
			continue
		}
		cursor := e.Cursor()
		wctx, cancel := context.WithTimeout(ctx, e.cfg.TickEvery)
		size, err := e.cfg.Store.Wait(wctx, e.cfg.Tenant, cursor)
		cancel()
		idle = errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil
		if err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
			e.cfg.Logger.Error("alert: wait", "tenant", e.cfg.Tenant, "err", err)
		}
		if err == nil && gather != nil && size-cursor < gatherBelow {
			// The log grew by a trickle: let the commits that follow
			// join it. (A batch is read at once: the longer a reader
			// lags, the likelier its events were flushed to a block
			// meanwhile, which costs a chunk's decompression to read.)
			// A Tick is not due before the next Step has read them, so
			// nothing waiting here is mistaken for silence.
			gather.Reset(e.cfg.Gather)
			select {
			case <-ctx.Done():
			case <-gather.C:
			}
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.saveLocked(context.WithoutCancel(ctx)); err != nil {
		e.cfg.Logger.Error("alert: final save", "tenant", e.cfg.Tenant, "err", err)
	}
	return ctx.Err()
}

// gatherBelow is the growth of the log below which Run waits
// Config.Gather before it reads.
const gatherBelow = 64

// Step reads at most BatchSize records from the cursor, evaluates them,
// appends and notifies the alerts they fire, and advances the cursor. It
// does not wait; it returns how many records it read. On an error the
// engine is back at its last saved state and the batch is evaluated again
// by the next Step.
func (e *Engine) Step(ctx context.Context) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	recs, err := e.cfg.Store.Read(ctx, e.cfg.Tenant, e.st.Cursor, e.cfg.BatchSize)
	if err != nil && trail.ErrorCode(err) != trail.ENOTFOUND {
		return 0, fmt.Errorf("alert: read: %w", err)
	}
	e.caughtUp = len(recs) < e.cfg.BatchSize
	if len(recs) == 0 {
		return 0, e.maybeSaveLocked(ctx, false)
	}
	var fired []*firing
	for _, rec := range recs {
		if rec.Data == nil {
			continue // erased
		}
		if !e.ev.mayMatch(rec.Data) {
			// No enabled rule that needs the event's content can match
			// it: its time is all that is decoded.
			if s, ok := trail.SummarizeEvent(rec.Data); ok {
				fired = e.ev.evaluateSummary(s, rec.Seq, fired)
				e.skipped++
				e.count()
				continue
			}
		}
		ev, err := trail.DecodeEvent(rec.Data)
		if err != nil {
			e.cfg.Logger.Error("alert: decode", "tenant", e.cfg.Tenant, "seq", rec.Seq, "err", err)
			continue
		}
		ev.Seq = rec.Seq
		fired = e.ev.evaluate(ev, fired)
		e.count()
	}
	e.st.Cursor = recs[len(recs)-1].Seq + 1
	if err := e.fireLocked(ctx, fired); err != nil {
		return 0, err
	}
	return len(recs), e.maybeSaveLocked(ctx, len(fired) > 0)
}

// Tick evaluates the absence rules at the clock's time. It does nothing
// while the engine has not caught up with the log, so a backlog is not
// mistaken for silence.
func (e *Engine) Tick(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.caughtUp {
		return nil
	}
	fired := e.ev.absence(e.cfg.Now().UnixNano(), nil)
	if err := e.fireLocked(ctx, fired); err != nil {
		return err
	}
	return e.maybeSaveLocked(ctx, len(fired) > 0)
}

// count counts an evaluated event, sweeping expired state every 8192.
func (e *Engine) count() {
	e.processed++
	if e.processed%8192 == 0 {
		e.ev.sweep()
	}
}

func (e *Engine) maybeSaveLocked(ctx context.Context, force bool) error {
	if !force && e.cfg.Now().Sub(e.lastSave) < e.cfg.SaveEvery {
		return nil
	}
	return e.saveLocked(ctx)
}

// fireLocked appends the trail.alert.fired events of fired in one batch,
// records the alerts and notifies them. When the append fails the engine
// returns to its last saved state.
func (e *Engine) fireLocked(ctx context.Context, fired []*firing) error {
	if len(fired) == 0 {
		return nil
	}
	now := e.cfg.Now().UTC()
	alerts := make([]*Alert, len(fired))
	events := make([]*trail.Event, len(fired))
	for i, f := range fired {
		a := newAlert(e.cfg.Tenant, f, now)
		alerts[i], events[i] = a, a.Event()
	}
	res, err := e.cfg.Store.Append(ctx, events)
	if err != nil {
		if rerr := e.reloadLocked(context.WithoutCancel(ctx)); rerr != nil {
			return errors.Join(fmt.Errorf("alert: append: %w", err), rerr)
		}
		return fmt.Errorf("alert: append: %w", err)
	}
	for i, a := range alerts {
		if i < len(res.Receipts) {
			a.Seq = res.Receipts[i].Seq
		}
		e.addAlertLocked(a)
		e.fired++
		if e.cfg.Notifier != nil {
			if err := e.cfg.Notifier.Notify(ctx, a); err != nil {
				e.cfg.Logger.Error("alert: notify", "tenant", e.cfg.Tenant, "alert", a.ID, "err", err)
			}
		}
	}
	return nil
}

// Cursor returns the next seq the engine evaluates.
func (e *Engine) Cursor() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.st.Cursor
}

// Stats describes an engine's progress.
type Stats struct {
	Tenant    string           `json:"tenant"`
	Cursor    int64            `json:"cursor"`
	Processed int64            `json:"processed"` // events evaluated since Open
	Fired     int64            `json:"fired"`     // alerts fired since Open
	Late      int64            `json:"late"`      // events too late for windowed rules, ever
	Keys      map[string]int   `json:"keys"`      // group keys held per rule id
	Capped    map[string]int64 `json:"capped"`    // events not evaluated per rule id because of MaxKeys
}

// Stats returns the engine's progress and memory figures.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := Stats{Tenant: e.cfg.Tenant, Cursor: e.st.Cursor, Processed: e.processed, Fired: e.fired, Late: e.ev.late,
		Keys: map[string]int{}, Capped: map[string]int64{}}
	for _, c := range e.ev.rules {
		s.Keys[c.rule.ID] = len(c.st.Keys)
		if c.st.Capped > 0 {
			s.Capped[c.rule.ID] = c.st.Capped
		}
	}
	return s
}

// Rules returns copies of the tenant's rules in the order they were added.
func (e *Engine) Rules() []*Rule {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]*Rule, len(e.st.Rules))
	for i, r := range e.st.Rules {
		c := *r
		c.Sinks = append([]string(nil), r.Sinks...)
		out[i] = &c
	}
	return out
}

// Rule returns a copy of one rule, or an ENOTFOUND *trail.Error.
func (e *Engine) Rule(id string) (*Rule, error) {
	for _, r := range e.Rules() {
		if r.ID == id {
			return r, nil
		}
	}
	return nil, trail.Errorf(trail.ENOTFOUND, "alert rule %s not found", id)
}

// PutRule validates r and adds it, or replaces the rule with its ID, and
// saves. An empty ID is assigned ("r_" and 16 hex digits). A rule
// evaluates events from the cursor on, not the past; replacing a rule with
// one that counts differently (kind, filter, group_by, field, window,
// threshold, factor, baseline) starts its state afresh. It returns the
// stored rule, or an EINVALID *trail.Error naming the field.
func (e *Engine) PutRule(ctx context.Context, r Rule) (*Rule, error) {
	if r.Tenant == "" {
		r.Tenant = e.cfg.Tenant
	}
	if r.Tenant != e.cfg.Tenant {
		return nil, trail.FieldError("tenant", "must be %s", e.cfg.Tenant)
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	r.Sinks = append([]string(nil), r.Sinks...)
	e.mu.Lock()
	defer e.mu.Unlock()
	if r.ID == "" {
		h := sha256.Sum256([]byte(e.cfg.Tenant + "\x00" + r.Name + "\x00" + strconv.FormatInt(e.cfg.Now().UnixNano(), 10) + "\x00" + strconv.Itoa(len(e.st.Rules))))
		r.ID = "r_" + hex.EncodeToString(h[:8])
	}
	old := e.st.Rules
	rules := make([]*Rule, 0, len(old)+1)
	replaced := false
	for _, x := range old {
		if x.ID == r.ID {
			rules, replaced = append(rules, &r), true
		} else {
			rules = append(rules, x)
		}
	}
	if !replaced {
		if len(rules) >= maxRules {
			return nil, trail.Errorf(trail.ETOOLARGE, "at most %d alert rules per tenant", maxRules)
		}
		rules = append(rules, &r)
	}
	e.st.Rules = rules
	if err := e.build(); err != nil {
		e.st.Rules = old
		e.build()
		return nil, err
	}
	if err := e.saveLocked(ctx); err != nil {
		return nil, err
	}
	c := r
	return &c, nil
}

// maxRules is the number of rules a tenant may have.
const maxRules = 200

// DeleteRule removes a rule and its state, and saves. It returns an
// ENOTFOUND *trail.Error when there is no such rule. Alerts it fired stay.
func (e *Engine) DeleteRule(ctx context.Context, id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	rules := make([]*Rule, 0, len(e.st.Rules))
	for _, r := range e.st.Rules {
		if r.ID != id {
			rules = append(rules, r)
		}
	}
	if len(rules) == len(e.st.Rules) {
		return trail.Errorf(trail.ENOTFOUND, "alert rule %s not found", id)
	}
	e.st.Rules = rules
	if err := e.build(); err != nil {
		return err
	}
	return e.saveLocked(ctx)
}
