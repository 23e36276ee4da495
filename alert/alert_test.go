package alert

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/checkpoint"
	"github.com/trail-audit/trail/logstore"
)

const tenant = "acme"

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is an injected clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func openStore(t testing.TB, dir string, now func() time.Time) *logstore.Store {
	t.Helper()
	skey, vkey, err := checkpoint.GenerateKey("trail.test", bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	s, err := logstore.Open(logstore.Options{Dir: dir, Signer: signer, Verifier: verifier, ServerName: "trail.test", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fixture is a real store, a clock, a state store and an engine.
type fixture struct {
	t     testing.TB
	ctx   context.Context
	clk   *clock
	store *logstore.Store
	state StateStore
	eng   *Engine
	notes []*Alert
	mu    sync.Mutex
}

func newFixture(t testing.TB, rules ...Rule) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: context.Background(), clk: newClock(), state: &MemoryState{}}
	f.store = openStore(t, t.TempDir(), f.clk.Now)
	t.Cleanup(func() { f.store.Close() })
	f.open()
	if rules != nil {
		for _, r := range f.eng.Rules() {
			if err := f.eng.DeleteRule(f.ctx, r.ID); err != nil {
				t.Fatal(err)
			}
		}
		for _, r := range rules {
			if _, err := f.eng.PutRule(f.ctx, r); err != nil {
				t.Fatalf("put rule %s: %v", r.ID, err)
			}
		}
	}
	return f
}

// open (re)opens the engine from the state store.
func (f *fixture) open() {
	f.t.Helper()
	eng, err := Open(f.ctx, Config{Tenant: tenant, Store: f.store, State: f.state, Now: f.clk.Now,
		Notifier: NotifierFunc(func(_ context.Context, a *Alert) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.notes = append(f.notes, a)
			return nil
		})})
	if err != nil {
		f.t.Fatal(err)
	}
	f.eng = eng
}

// add sets the clock to the latest event time, when later, then appends
// events and evaluates them all.
func (f *fixture) add(es ...*trail.Event) {
	f.t.Helper()
	for _, e := range es {
		if e.Time.After(f.clk.Now()) {
			f.clk.Set(e.Time)
		}
	}
	f.addRaw(es...)
}

// addRaw appends events at the clock's time and evaluates them all.
func (f *fixture) addRaw(es ...*trail.Event) {
	f.t.Helper()
	if _, err := f.store.Append(f.ctx, es); err != nil {
		f.t.Fatal(err)
	}
	f.step()
}

func (f *fixture) step() {
	f.t.Helper()
	for {
		n, err := f.eng.Step(f.ctx)
		if err != nil {
			f.t.Fatal(err)
		}
		if n < f.eng.cfg.BatchSize {
			return
		}
	}
}

// fired returns the trail.alert.fired events in the log.
func (f *fixture) fired() []*trail.Event {
	f.t.Helper()
	var out []*trail.Event
	for from := int64(0); ; {
		recs, err := f.store.Read(f.ctx, tenant, from, 1000)
		if err != nil && trail.ErrorCode(err) != trail.ENOTFOUND {
			f.t.Fatal(err)
		}
		if len(recs) == 0 {
			return out
		}
		for _, r := range recs {
			e, err := trail.DecodeEvent(r.Data)
			if err != nil {
				f.t.Fatal(err)
			}
			e.Seq = r.Seq
			if e.Action == ActionFired {
				out = append(out, e)
			}
		}
		from = recs[len(recs)-1].Seq + 1
	}
}

func event(action, outcome, ip, actor string, at time.Time) *trail.Event {
	e := &trail.Event{Tenant: tenant, Action: action, Outcome: outcome, Actor: trail.Actor{ID: actor}, Time: at}
	if ip != "" {
		e.Source = &trail.Source{IP: ip}
	}
	return e
}

func login(ip string, at time.Time) *trail.Event {
	return event("user.login", trail.OutcomeFailure, ip, "u_1", at)
}

func sec(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func TestThreshold(t *testing.T) {
	rule := Rule{ID: "r", Name: "logins", Kind: KindThreshold, Filter: "action:user.login outcome:failure",
		GroupBy: "source.ip", Window: Duration(time.Minute), Threshold: 3, Severity: trail.SeverityHigh}
	tests := []struct {
		name   string
		events []*trail.Event
		want   int
	}{
		{"three within the window", []*trail.Event{login("10.0.0.1", t0), login("10.0.0.1", t0.Add(sec(30))), login("10.0.0.1", t0.Add(time.Minute-1))}, 1},
		{"three spanning exactly the window", []*trail.Event{login("10.0.0.1", t0), login("10.0.0.1", t0.Add(sec(30))), login("10.0.0.1", t0.Add(time.Minute))}, 0},
		{"two", []*trail.Event{login("10.0.0.1", t0), login("10.0.0.1", t0.Add(sec(1)))}, 0},
		{"three from different ips", []*trail.Event{login("10.0.0.1", t0), login("10.0.0.2", t0), login("10.0.0.3", t0)}, 0},
		{"non-matching outcome", []*trail.Event{login("10.0.0.1", t0), login("10.0.0.1", t0), event("user.login", "success", "10.0.0.1", "u", t0)}, 0},
		{"no ip is not a group", []*trail.Event{login("", t0), login("", t0), login("", t0)}, 0},
		{"same time", []*trail.Event{login("10.0.0.1", t0), login("10.0.0.1", t0), login("10.0.0.1", t0)}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, rule)
			f.clk.Set(t0.Add(time.Minute))
			f.add(tc.events...)
			got := f.fired()
			if len(got) != tc.want {
				t.Fatalf("got %d alerts, want %d", len(got), tc.want)
			}
			if len(f.notes) != tc.want {
				t.Errorf("got %d notifications, want %d", len(f.notes), tc.want)
			}
		})
	}
}

func TestFiredEventIsWellFormed(t *testing.T) {
	f := newFixture(t, Rule{ID: "r", Name: "logins", Kind: KindThreshold, Filter: "outcome:failure",
		GroupBy: "ip", Window: Duration(time.Minute), Threshold: 3, Severity: trail.SeverityCritical, Sinks: []string{"s_1"}})
	f.clk.Set(t0.Add(time.Minute))
	f.add(login("10.0.0.9", t0), login("10.0.0.8", t0), login("10.0.0.9", t0.Add(sec(1))), login("10.0.0.9", t0.Add(sec(2))))
	got := f.fired()
	if len(got) != 1 {
		t.Fatalf("got %d alerts, want 1", len(got))
	}
	e := got[0]
	if e.Severity != trail.SeverityCritical || e.Actor.ID != "trail" || e.Actor.Type != trail.ActorSystem || e.Tenant != tenant {
		t.Errorf("got severity %q actor %+v tenant %q", e.Severity, e.Actor, e.Tenant)
	}
	want := map[string]any{"rule_id": "r", "rule_name": "logins", "kind": "threshold", "group": "10.0.0.9",
		"count": 3.0, "window": "1m0s", "first_seq": 0.0, "last_seq": 3.0}
	for k, v := range want {
		if e.Metadata[k] != v {
			t.Errorf("metadata.%s: got %v, want %v", k, e.Metadata[k], v)
		}
	}
	if e.Seq != 4 {
		t.Errorf("alert seq: got %d, want 4", e.Seq)
	}
	as := f.eng.Alerts("")
	if len(as) != 1 || as[0].ID != e.ID || as[0].Seq != e.Seq || as[0].Status != StatusOpen || len(as[0].Sinks) != 1 {
		t.Fatalf("alert list: got %+v", as)
	}
	if len(f.notes) != 1 || f.notes[0].ID != e.ID || f.notes[0].Sinks[0] != "s_1" {
		t.Errorf("notified %+v", f.notes)
	}
}

func TestAlertsDoNotTriggerRules(t *testing.T) {
	// A rule that matches everything, fires on every event.
	f := newFixture(t, Rule{ID: "all", Name: "all", Kind: KindThreshold, Threshold: 1, Window: Duration(time.Second), Cooldown: Duration(time.Nanosecond)})
	for i := range 5 {
		f.add(event("doc.read", "success", "", "u", t0.Add(time.Duration(i)*time.Second)))
	}
	f.step()
	f.step()
	if got := len(f.fired()); got != 5 {
		t.Fatalf("got %d alerts, want 5 (one per event, none for alerts)", got)
	}
}

func TestCooldownAndDedup(t *testing.T) {
	f := newFixture(t, Rule{ID: "r", Name: "r", Kind: KindThreshold, Filter: "outcome:failure", GroupBy: "ip",
		Window: Duration(time.Minute), Threshold: 2, Cooldown: Duration(10 * time.Minute)})
	var es []*trail.Event
	for i := range 10 {
		es = append(es, login("10.0.0.1", t0.Add(time.Duration(i)*time.Second)))
	}
	f.add(es...)
	if got := len(f.fired()); got != 1 {
		t.Fatalf("burst: got %d alerts, want 1", got)
	}
	// Another group is not in cooldown.
	f.add(login("10.0.0.2", t0.Add(sec(20))), login("10.0.0.2", t0.Add(sec(21))))
	if got := len(f.fired()); got != 2 {
		t.Fatalf("other group: got %d alerts, want 2", got)
	}
	// Just before the cooldown ends: nothing; at its end: one more.
	// The first firing was at the second event, t0+1s.
	f.add(login("10.0.0.1", t0.Add(10*time.Minute+time.Second-2)), login("10.0.0.1", t0.Add(10*time.Minute+time.Second-1)))
	if got := len(f.fired()); got != 2 {
		t.Fatalf("in cooldown: got %d alerts, want 2", got)
	}
	f.add(login("10.0.0.1", t0.Add(10*time.Minute+time.Second)))
	got := f.fired()
	if len(got) != 3 {
		t.Fatalf("after cooldown: got %d alerts, want 3", len(got))
	}
	if c := got[2].Metadata["count"]; c != 3.0 {
		t.Errorf("count after cooldown: got %v, want 3 (events consumed by the first firing do not count)", c)
	}
}

func TestSpike(t *testing.T) {
	rule := Rule{ID: "s", Name: "spike", Kind: KindSpike, Window: Duration(time.Minute), Baseline: Duration(5 * time.Minute),
		Factor: 3, Threshold: 5}
	// Two events a minute for five minutes: the baseline is 2 a minute.
	base := func() []*trail.Event {
		var es []*trail.Event
		for m := range 5 {
			for i := range 2 {
				es = append(es, event("x", "success", "", "u", t0.Add(time.Duration(m)*time.Minute+time.Duration(i)*time.Second)))
			}
		}
		return es
	}
	burst := func(n int) []*trail.Event {
		var es []*trail.Event
		for i := range n {
			es = append(es, event("x", "success", "", "u", t0.Add(5*time.Minute+time.Duration(i)*time.Second)))
		}
		return es
	}
	tests := []struct {
		name   string
		events []*trail.Event
		want   int
	}{
		{"factor reached", append(base(), burst(6)...), 1},
		{"just below factor", append(base(), burst(5)...), 0},
		{"no baseline yet", burst(50), 0},
		{"below the minimum count", append(base()[:2], burst(4)...), 0},
		{"burst continues in the same bucket", append(base(), burst(30)...), 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, rule)
			f.add(tc.events...)
			if got := len(f.fired()); got != tc.want {
				t.Fatalf("got %d alerts, want %d", got, tc.want)
			}
		})
	}
}

func TestNewValue(t *testing.T) {
	rule := Rule{ID: "n", Name: "new ip", Kind: KindNewValue, GroupBy: "actor", Field: "source.ip"}
	f := newFixture(t, rule)
	f.add(event("a", "", "10.0.0.1", "alice", t0))
	f.add(event("a", "", "10.0.0.1", "alice", t0.Add(sec(1))), event("a", "", "10.0.0.1", "bob", t0.Add(sec(2))))
	f.add(event("a", "", "10.0.0.2", "alice", t0.Add(sec(3))), event("a", "", "", "alice", t0.Add(sec(4))))
	got := f.fired()
	var vals []string
	for _, e := range got {
		vals = append(vals, fmt.Sprint(e.Metadata["group"], "=", e.Metadata["value"]))
	}
	want := "alice=10.0.0.1 bob=10.0.0.1 alice=10.0.0.2"
	if strings.Join(vals, " ") != want {
		t.Fatalf("got %q, want %q", strings.Join(vals, " "), want)
	}

	t.Run("learning period", func(t *testing.T) {
		rule := rule
		rule.Window = Duration(time.Hour)
		f := newFixture(t, rule)
		f.add(event("a", "", "10.0.0.1", "alice", t0), event("a", "", "10.0.0.2", "alice", t0.Add(time.Hour-1)))
		f.add(event("a", "", "10.0.0.2", "alice", t0.Add(time.Hour)), event("a", "", "10.0.0.3", "alice", t0.Add(time.Hour)))
		got := f.fired()
		if len(got) != 1 || got[0].Metadata["value"] != "10.0.0.3" {
			t.Fatalf("got %d alerts, want one for 10.0.0.3", len(got))
		}
	})

	t.Run("seen-set survives restart", func(t *testing.T) {
		f := newFixture(t, rule)
		f.add(event("a", "", "10.0.0.1", "alice", t0))
		f.eng.mu.Lock()
		f.eng.saveLocked(f.ctx)
		f.eng.mu.Unlock()
		f.open()
		f.add(event("a", "", "10.0.0.1", "alice", t0.Add(sec(5))))
		if got := len(f.fired()); got != 1 {
			t.Fatalf("got %d alerts, want 1", got)
		}
	})
}

func TestAbsence(t *testing.T) {
	f := newFixture(t, Rule{ID: "hb", Name: "heartbeat", Kind: KindAbsence, Filter: "action:heartbeat", Window: Duration(10 * time.Minute)})
	tick := func(at time.Time) int {
		t.Helper()
		f.clk.Set(at)
		f.step()
		if err := f.eng.Tick(f.ctx); err != nil {
			t.Fatal(err)
		}
		return len(f.fired())
	}
	if n := tick(t0.Add(time.Minute)); n != 0 {
		t.Fatalf("at start: got %d alerts", n)
	}
	f.add(event("heartbeat", "", "", "svc", t0.Add(5*time.Minute)))
	if n := tick(t0.Add(15*time.Minute - 1)); n != 0 {
		t.Fatalf("silent for just under the window: got %d alerts, want 0", n)
	}
	if n := tick(t0.Add(15 * time.Minute)); n != 1 {
		t.Fatalf("silent for the window: got %d alerts, want 1", n)
	}
	if n := tick(t0.Add(time.Hour)); n != 1 {
		t.Fatalf("still silent: got %d alerts, want 1 (one per silence)", n)
	}
	f.add(event("heartbeat", "", "", "svc", t0.Add(time.Hour)))
	if n := tick(t0.Add(time.Hour + 10*time.Minute)); n != 2 {
		t.Fatalf("silent again: got %d alerts, want 2", n)
	}
	if md := f.fired()[1].Metadata; md["last_seq"] != 2.0 || md["count"] != 0.0 {
		t.Errorf("metadata: got %v", md)
	}
}

func TestAbsenceWaitsForBacklog(t *testing.T) {
	f := newFixture(t, Rule{ID: "hb", Name: "heartbeat", Kind: KindAbsence, Window: Duration(time.Minute)})
	f.eng.cfg.BatchSize = 2
	f.clk.Set(t0.Add(time.Hour))
	if _, err := f.store.Append(f.ctx, []*trail.Event{event("a", "", "", "u", t0), event("a", "", "", "u", t0), event("a", "", "", "u", t0.Add(time.Hour))}); err != nil {
		t.Fatal(err)
	}
	f.clk.Set(t0.Add(time.Hour))
	if _, err := f.eng.Step(f.ctx); err != nil { // a full batch: not caught up
		t.Fatal(err)
	}
	if err := f.eng.Tick(f.ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(f.fired()); n != 0 {
		t.Fatalf("behind the log: got %d alerts, want 0", n)
	}
	f.step()
	if err := f.eng.Tick(f.ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(f.fired()); n != 0 {
		t.Fatalf("caught up, last event at the clock: got %d alerts, want 0", n)
	}
}

func TestOutOfOrder(t *testing.T) {
	rule := Rule{ID: "r", Name: "r", Kind: KindThreshold, GroupBy: "ip", Window: Duration(time.Minute), Threshold: 3}
	t.Run("within lateness", func(t *testing.T) {
		f := newFixture(t, rule)
		f.add(login("10.0.0.1", t0.Add(sec(50))), login("10.0.0.1", t0.Add(sec(-5))))
		f.add(login("10.0.0.1", t0.Add(sec(0))))
		got := f.fired()
		if len(got) != 1 {
			t.Fatalf("got %d alerts, want 1", len(got))
		}
		if md := got[0].Metadata; md["first_seq"] != 0.0 || md["last_seq"] != 2.0 || md["count"] != 2.0+1 {
			t.Errorf("metadata: got %v", md)
		}
	})
	t.Run("later than lateness", func(t *testing.T) {
		f := newFixture(t, rule)
		f.add(login("10.0.0.1", t0.Add(5*time.Minute)), login("10.0.0.1", t0), login("10.0.0.1", t0.Add(sec(1))), login("10.0.0.1", t0.Add(sec(2))))
		if got := len(f.fired()); got != 0 {
			t.Fatalf("got %d alerts, want 0", got)
		}
		if s := f.eng.Stats(); s.Late != 3 {
			t.Errorf("late: got %d, want 3", s.Late)
		}
	})
	t.Run("future time is clamped to received_at", func(t *testing.T) {
		f := newFixture(t, rule)
		f.clk.Set(t0)
		f.addRaw(login("10.0.0.9", t0.Add(24*time.Hour)))
		f.add(login("10.0.0.1", t0), login("10.0.0.1", t0), login("10.0.0.1", t0))
		if got := len(f.fired()); got != 1 {
			t.Fatalf("got %d alerts, want 1", got)
		}
	})
}

func TestRestartMidWindow(t *testing.T) {
	rule := Rule{ID: "r", Name: "r", Kind: KindThreshold, GroupBy: "ip", Window: Duration(time.Minute), Threshold: 5}
	t.Run("saved mid-window", func(t *testing.T) {
		dir, stateDir := t.TempDir(), t.TempDir()
		clk := newClock()
		store := openStore(t, dir, clk.Now)
		ctx := context.Background()
		cfg := Config{Tenant: tenant, Store: store, State: &FileState{Dir: stateDir}, Now: clk.Now}
		eng, err := Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := eng.PutRule(ctx, rule); err != nil {
			t.Fatal(err)
		}
		store.Append(ctx, []*trail.Event{login("10.0.0.1", t0), login("10.0.0.1", t0), login("10.0.0.1", t0)})
		ctx2, cancel := context.WithCancel(ctx)
		cancel()
		eng.Step(ctx)
		eng.Run(ctx2) // saves on the way out
		store.Close()

		store = openStore(t, dir, clk.Now)
		defer store.Close()
		cfg.Store = store
		eng, err = Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if c := eng.Cursor(); c != 3 {
			t.Fatalf("cursor after restart: got %d, want 3", c)
		}
		store.Append(ctx, []*trail.Event{login("10.0.0.1", t0.Add(sec(10))), login("10.0.0.1", t0.Add(sec(20)))})
		if _, err := eng.Step(ctx); err != nil {
			t.Fatal(err)
		}
		f := &fixture{t: t, ctx: ctx, store: store}
		if got := f.fired(); len(got) != 1 || got[0].Metadata["count"] != 5.0 {
			t.Fatalf("got %d alerts, want 1 of count 5", len(got))
		}
	})
	t.Run("crash between append and save", func(t *testing.T) {
		f := newFixture(t, rule)
		f.add(login("10.0.0.1", t0), login("10.0.0.1", t0), login("10.0.0.1", t0))
		f.eng.mu.Lock()
		f.eng.saveLocked(f.ctx)
		f.eng.mu.Unlock()
		saved, _ := f.state.Load(f.ctx, tenant)
		f.add(login("10.0.0.1", t0.Add(sec(1))), login("10.0.0.1", t0.Add(sec(2))))
		if got := len(f.fired()); got != 1 {
			t.Fatalf("got %d alerts, want 1", got)
		}
		// The process dies before the state with the new cursor is saved.
		f.state.Save(f.ctx, tenant, saved)
		f.open()
		f.step()
		f.step()
		if got := len(f.fired()); got != 1 {
			t.Fatalf("after replay: got %d alert events in the log, want 1", got)
		}
		if got := f.eng.Alerts(""); len(got) != 1 {
			t.Errorf("alert list: got %d, want 1", len(got))
		}
		if len(f.notes) != 2 || f.notes[0].ID != f.notes[1].ID {
			t.Errorf("notifications: got %d, want the same alert twice (at-least-once)", len(f.notes))
		}
	})
}

func TestDefaultsOnFailedLoginStorm(t *testing.T) {
	f := newFixture(t)
	if n := len(f.eng.Rules()); n != 3 {
		t.Fatalf("default rules: got %d, want 3", n)
	}
	var es []*trail.Event
	for i := range 9 {
		es = append(es, event("auth.password", trail.OutcomeFailure, "203.0.113.8", "u_2", t0.Add(time.Duration(i)*time.Second)))
	}
	for i := range 20 {
		es = append(es, event("doc.read", trail.OutcomeDenied, "198.51.100.1", "mallory", t0.Add(time.Duration(i)*time.Second)))
	}
	for i := range 5 {
		es = append(es, login("203.0.113.9", t0.Add(time.Duration(i)*time.Second))) // too few
	}
	for i := range 50 {
		es = append(es, login("203.0.113.7", t0.Add(time.Duration(i)*time.Second)))
	}
	f.add(es...)
	got := map[string]int{}
	for _, e := range f.fired() {
		got[fmt.Sprint(e.Metadata["rule_id"], " ", e.Metadata["group"])]++
	}
	want := map[string]int{RuleFailedAuth + " 203.0.113.7": 1, RuleDeniedAccess + " mallory": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestDefaultIngestSpike(t *testing.T) {
	f := newFixture(t)
	var es []*trail.Event
	// 20 events per 5m for an hour, then 100 in five minutes.
	for m := range 12 {
		for i := range 20 {
			es = append(es, event("doc.read", "success", "", "u", t0.Add(time.Duration(m)*5*time.Minute+time.Duration(i)*time.Second)))
		}
	}
	for i := range 100 {
		es = append(es, event("doc.read", "success", "", "u", t0.Add(time.Hour+time.Duration(i)*time.Second)))
	}
	f.add(es...)
	got := f.fired()
	if len(got) != 1 || got[0].Metadata["rule_id"] != RuleIngestSpike || got[0].Metadata["count"] != 100.0 {
		t.Fatalf("got %d alerts, want one ingest spike of 100", len(got))
	}
}

func TestBoundedKeys(t *testing.T) {
	f := newFixture(t, Rule{ID: "r", Name: "r", Kind: KindThreshold, GroupBy: "ip", Window: Duration(time.Minute), Threshold: 5})
	f.eng.cfg.MaxKeys = 100
	f.eng.build()
	var es []*trail.Event
	for i := range 1000 {
		es = append(es, login(fmt.Sprintf("10.0.%d.%d", i/256, i%256), t0))
	}
	f.add(es...)
	s := f.eng.Stats()
	if s.Keys["r"] != 100 || s.Capped["r"] != 900 {
		t.Fatalf("got %d keys and %d capped, want 100 and 900", s.Keys["r"], s.Capped["r"])
	}
	// Later events evict the idle keys.
	es = nil
	for i := range 1000 {
		es = append(es, login(fmt.Sprintf("10.1.%d.%d", i/256, i%256), t0.Add(time.Hour)))
	}
	f.add(es...)
	s = f.eng.Stats()
	if s.Keys["r"] != 100 || s.Capped["r"] != 900+900 {
		t.Fatalf("after an hour: got %d keys and %d capped", s.Keys["r"], s.Capped["r"])
	}
	data, _ := f.state.Load(f.ctx, tenant)
	if len(data) > 64<<10 {
		t.Errorf("state is %d bytes", len(data))
	}
}

func TestAcknowledgeResolve(t *testing.T) {
	f := newFixture(t, Rule{ID: "r", Name: "r", Kind: KindThreshold, Threshold: 1})
	f.add(login("10.0.0.1", t0))
	as := f.eng.Alerts(StatusOpen)
	if len(as) != 1 {
		t.Fatalf("got %d open alerts", len(as))
	}
	id := as[0].ID
	if _, err := f.eng.Acknowledge(f.ctx, id, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Acknowledge(f.ctx, "nope", "alice"); trail.ErrorCode(err) != trail.ENOTFOUND {
		t.Errorf("unknown id: got %v, want not_found", err)
	}
	f.open() // persisted
	if as := f.eng.Alerts(StatusAcknowledged); len(as) != 1 || as[0].AcknowledgedBy != "alice" {
		t.Fatalf("after reopen: got %+v", as)
	}
	if a, err := f.eng.Resolve(f.ctx, id, "bob"); err != nil || a.Status != StatusResolved {
		t.Fatalf("resolve: %v %+v", err, a)
	}
	if _, err := f.eng.Acknowledge(f.ctx, id, "alice"); trail.ErrorCode(err) != trail.ECONFLICT {
		t.Errorf("acknowledge resolved: got %v, want conflict", err)
	}
}

func TestRuleValidation(t *testing.T) {
	tests := []struct {
		json, field string
	}{
		{`{"name":"x","kind":"threshold","window":"5m","threshold":10}`, ""},
		{`{"kind":"threshold"}`, "name"},
		{`{"name":"x","kind":"bogus"}`, "kind"},
		{`{"name":"x","kind":"threshold","filter":"actr:x"}`, "filter"},
		{`{"name":"x","kind":"threshold","group_by":"text"}`, "group_by"},
		{`{"name":"x","kind":"threshold","window":"1ms"}`, "window"},
		{`{"name":"x","kind":"threshold","threshold":-1}`, "threshold"},
		{`{"name":"x","kind":"spike","factor":0.5}`, "factor"},
		{`{"name":"x","kind":"spike","window":"7m","baseline":"1h"}`, "baseline"},
		{`{"name":"x","kind":"new_value"}`, "field"},
		{`{"name":"x","kind":"threshold","field":"ip"}`, "field"},
		{`{"name":"x","kind":"threshold","severity":"huge"}`, "severity"},
		{`{"name":"x","kind":"threshold","cooldown":"-1s"}`, "cooldown"},
		{`{"name":"x","kind":"threshold","window":0.5}`, "window"},
		{`{"name":"x","kind":"threshold","threshold":"ten"}`, "threshold"},
		{`{"name":"x","kind":"threshold","sinks":[""]}`, "sinks[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.json, func(t *testing.T) {
			_, err := ParseRule([]byte(tc.json))
			if tc.field == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			e, ok := err.(*trail.Error)
			if !ok || e.Code != trail.EINVALID || e.Field != tc.field {
				t.Fatalf("got %v, want an invalid error on %q", err, tc.field)
			}
		})
	}
	r, err := ParseRule([]byte(`{"name":"x","kind":"threshold","group_by":"source.ip","window":"5m"}`))
	if err != nil || r.GroupBy != trail.FieldIP || r.Cooldown != Duration(5*time.Minute) || r.Severity != trail.SeverityMedium || r.Threshold != 1 {
		t.Fatalf("defaults: got %+v %v", r, err)
	}
}

func FuzzParseRule(f *testing.F) {
	f.Add([]byte(`{"name":"x","kind":"threshold","filter":"outcome:failure","group_by":"source.ip","window":"5m","threshold":10}`))
	f.Add([]byte(`{"name":"x","kind":"spike","factor":5,"baseline":"1h"}`))
	f.Add([]byte(`{"name":"x","kind":"new_value","group_by":"actor","field":"metadata.a.b"}`))
	f.Add([]byte(`{"name":"x","kind":"absence","window":3600}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRule(data)
		if err != nil {
			if trail.ErrorCode(err) != trail.EINVALID {
				t.Fatalf("got code %q for %v", trail.ErrorCode(err), err)
			}
			return
		}
		// A valid rule stays valid, compiles, and validating it again
		// changes nothing.
		c := *r
		if err := c.Validate(); err != nil {
			t.Fatalf("valid rule no longer valid: %v", err)
		}
		if fingerprint(&c) != fingerprint(r) || c.Cooldown != r.Cooldown || c.Severity != r.Severity {
			t.Fatalf("validate is not idempotent: %+v vs %+v", c, r)
		}
		if _, err := compile(r); err != nil {
			t.Fatalf("valid rule does not compile: %v", err)
		}
	})
}

func TestManagerRunsEveryTenant(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := openStore(t, t.TempDir(), time.Now)
	defer store.Close()
	now := time.Now().UTC()
	var es []*trail.Event
	for i := range 10 {
		e := login("192.0.2.1", now.Add(time.Duration(i)*time.Millisecond))
		e.Tenant = "other"
		es = append(es, e)
	}
	if _, err := store.Append(ctx, es); err != nil {
		t.Fatal(err)
	}
	m := NewManager(Config{Store: store, State: &FileState{Dir: t.TempDir()}, TickEvery: 10 * time.Millisecond}, 10*time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if _, err := store.Wait(wctx, "other", 10); err != nil {
		t.Fatalf("no alert appended: %v", err)
	}
	e, err := m.Engine(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	if as := e.Alerts(StatusOpen); len(as) != 1 || as[0].RuleID != RuleFailedAuth {
		t.Fatalf("got %+v", as)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("run: got %v", err)
	}
}

// countingState counts the saves that reach a StateStore.
type countingState struct {
	MemoryState
	saves atomic.Int64
}

func (s *countingState) Save(ctx context.Context, tenant string, data []byte) error {
	s.saves.Add(1)
	return s.MemoryState.Save(ctx, tenant, data)
}

// TestSaveOnlyWhatChanged: an engine saves its state at most every
// SaveEvery while events flow, and not at all while its tenant is idle.
func TestSaveOnlyWhatChanged(t *testing.T) {
	f := newFixture(t)
	st := &countingState{}
	f.state = st
	f.open() // a fresh state: not saved until it changes
	base := st.saves.Load()
	if base != 0 {
		t.Errorf("opening a tenant with no state saved it %d times, want 0", base)
	}
	for i := 0; i < 20; i++ { // 20 batches within one SaveEvery
		f.clk.Set(t0.Add(time.Duration(i) * time.Second))
		f.add(event("doc.read", trail.OutcomeSuccess, "10.0.0.1", "u_1", f.clk.Now()))
	}
	if n := st.saves.Load() - base; n > 1 {
		t.Errorf("20 quiet batches in 20s saved the state %d times, want at most once (SaveEvery 1m)", n)
	}
	f.clk.Set(t0.Add(2 * time.Minute))
	f.step()
	afterActive := st.saves.Load()
	if afterActive == base {
		t.Error("the cursor moved and a minute passed, but the state was never saved")
	}
	for i := 3; i < 30; i++ { // idle for half an hour
		f.clk.Set(t0.Add(time.Duration(i) * time.Minute))
		f.step()
		if err := f.eng.Tick(f.ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := st.saves.Load() - afterActive; n != 0 {
		t.Errorf("an idle tenant's unchanged state was saved %d times", n)
	}
}

// TestNewStateUnsavedSurvivesCrash: a new tenant's engine writes nothing
// at Open; if it is lost before its first save (a crash), a new engine
// rebuilds the same state from the log and fires the same alerts.
func TestNewStateUnsavedSurvivesCrash(t *testing.T) {
	f := newFixture(t)
	st := &countingState{}
	f.state = st
	f.open()
	var es []*trail.Event
	for i := range 12 {
		es = append(es, login("198.51.100.7", t0.Add(time.Duration(i)*time.Second)))
	}
	if _, err := f.store.Append(f.ctx, es); err != nil {
		t.Fatal(err)
	}
	if st.saves.Load() != 0 {
		t.Fatalf("state saved %d times before any evaluation", st.saves.Load())
	}
	f.open() // the first engine is gone without a save: "crash"
	f.clk.Set(t0.Add(12 * time.Second))
	f.step()
	fired := f.fired()
	if len(fired) != 1 || fired[0].Metadata["rule_id"] != RuleFailedAuth {
		t.Fatalf("after the crash, fired %v, want one %s alert", fired, RuleFailedAuth)
	}
	if st.saves.Load() == 0 {
		t.Error("a firing did not save the state")
	}
}

// countingReads counts the Store.Read calls of an engine.
type countingReads struct {
	trail.Store
	reads atomic.Int64
}

func (s *countingReads) Read(ctx context.Context, tenant string, from int64, limit int) ([]trail.Record, error) {
	s.reads.Add(1)
	return s.Store.Read(ctx, tenant, from, limit)
}

// TestRunGathersCommits: events committed one at a time while Run waits
// are read together after Config.Gather, not one Read per commit, and
// every one of them is evaluated as before (a rule that fires on each
// fires on each).
// TestRunIdleDoesNotRead: an engine whose log does not grow ticks every
// TickEvery without reading the log again (on PostgreSQL each read is a
// query, and a server runs an engine per tenant), and still reads what
// is appended afterwards.
func TestRunIdleDoesNotRead(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := openStore(t, t.TempDir(), time.Now)
	defer store.Close()
	if _, err := store.Append(ctx, []*trail.Event{{Tenant: tenant, Action: "seed", Actor: trail.Actor{ID: "u"}}}); err != nil {
		t.Fatal(err)
	}
	cs := &countingReads{Store: store}
	eng, err := Open(ctx, Config{Tenant: tenant, Store: cs, State: &MemoryState{}, TickEvery: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	for eng.Cursor() < 1 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // 40 TickEvery periods
	if reads := cs.reads.Load(); reads > 3 {
		t.Errorf("%d Reads while the log stood still for 40 tick periods, want at most 3", reads)
	}
	if _, err := store.Append(ctx, []*trail.Event{{Tenant: tenant, Action: "later", Actor: trail.Actor{ID: "u"}}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for eng.Cursor() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := eng.Cursor(); got != 2 {
		t.Errorf("cursor %d after an append to the idle log, want 2", got)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("run: got %v", err)
	}
}

func TestRunGathersCommits(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := openStore(t, t.TempDir(), time.Now)
	defer store.Close()
	cs := &countingReads{Store: store}
	eng, err := Open(ctx, Config{Tenant: tenant, Store: cs, State: &MemoryState{}, Gather: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.PutRule(ctx, Rule{ID: "each", Name: "each", Kind: KindThreshold, Filter: "action:probe", Threshold: 1,
		Window: Duration(time.Second), Cooldown: Duration(time.Nanosecond)}); err != nil {
		t.Fatal(err)
	}
	// A first event, so that the tenant exists and Run is caught up.
	if _, err := store.Append(ctx, []*trail.Event{{Tenant: tenant, Action: "seed", Actor: trail.Actor{ID: "u"}}}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	for eng.Cursor() < 1 {
		time.Sleep(time.Millisecond)
	}
	before := cs.reads.Load()
	const n = 20
	for range n {
		if _, err := store.Append(ctx, []*trail.Event{{Tenant: tenant, Action: "probe", Actor: trail.Actor{ID: "u"}}}); err != nil {
			t.Fatal(err)
		}
	}
	// The n probes and their n alerts.
	deadline := time.Now().Add(10 * time.Second)
	for eng.Stats().Fired < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := eng.Stats().Fired; got != n {
		t.Fatalf("fired %d alerts, want %d", got, n)
	}
	// Appending 20 events takes well under 300ms here (one fsync each);
	// without gathering it took a Read per probe.
	if reads := cs.reads.Load() - before; reads > n/4 {
		t.Errorf("%d Reads for %d single-event commits, want a few", reads, n)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("run: got %v", err)
	}
}
