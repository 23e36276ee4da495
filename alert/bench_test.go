package alert

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/gen"
)

// benchRules returns 20 rules of every kind, grouped by several fields.
func benchRules() []*Rule {
	var rs []*Rule
	rs = append(rs, DefaultRules(tenant)...)
	for i := range 17 {
		var r Rule
		switch i % 4 {
		case 0:
			r = Rule{Kind: KindThreshold, Filter: fmt.Sprintf("action:doc.%d* outcome:failure", i), GroupBy: "actor", Threshold: 50}
		case 1:
			r = Rule{Kind: KindThreshold, Filter: "outcome:denied OR severity:high", GroupBy: "ip", Threshold: 100}
		case 2:
			r = Rule{Kind: KindNewValue, Filter: "action:user.*", GroupBy: "actor", Field: "ip"}
		case 3:
			r = Rule{Kind: KindSpike, Filter: fmt.Sprintf("resource_type:t%d", i%5), GroupBy: "resource_type", Threshold: 1000}
		}
		r.ID, r.Name = fmt.Sprintf("r%d", i), fmt.Sprintf("rule %d", i)
		if err := r.Validate(); err != nil {
			panic(err)
		}
		rs = append(rs, &r)
	}
	return rs
}

// benchEvents returns n events spread over 1000 actors, 5000 addresses
// and a few actions, one millisecond apart.
func benchEvents(n int) []*trail.Event {
	actions := []string{"user.login", "doc.1.read", "doc.4.write", "user.update", "api.call"}
	outcomes := []string{"success", "success", "failure", "denied"}
	es := make([]*trail.Event, n)
	for i := range es {
		es[i] = &trail.Event{Seq: int64(i), Tenant: tenant, Action: actions[i%len(actions)], Outcome: outcomes[i%len(outcomes)],
			Severity: "info", Actor: trail.Actor{ID: fmt.Sprintf("u_%d", i%1000)},
			Source:   &trail.Source{IP: fmt.Sprintf("10.%d.%d.%d", i%5000/65536, i%5000/256%256, i%256)},
			Resource: &trail.Resource{Type: fmt.Sprintf("t%d", i%7), ID: "r"},
			Time:     t0.Add(time.Duration(i) * time.Millisecond), ReceivedAt: t0.Add(time.Duration(i) * time.Millisecond)}
	}
	return es
}

func newBenchEvaluator(rules []*Rule) *evaluator {
	ev := &evaluator{lateness: int64(time.Minute), maxKeys: 10000, maxValues: 1000}
	for _, r := range rules {
		c, err := compile(r)
		if err != nil {
			panic(err)
		}
		c.st = &ruleState{}
		ev.rules = append(ev.rules, c)
	}
	return ev
}

// BenchmarkEvaluate measures evaluating 20 rules on each event, the events
// already decoded (the engine's hot loop without Store.Read and decoding).
// Run with -cpu 1; events/s is reported.
func BenchmarkEvaluate(b *testing.B) {
	es := benchEvents(1 << 16)
	ev := newBenchEvaluator(benchRules())
	var fired []*firing
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e := es[i%len(es)]
		e.Seq = int64(i)
		fired = ev.evaluate(e, fired[:0])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkEvaluateDecoded is BenchmarkEvaluate with each event decoded
// from its stored leaf (canonical JSON) first, as Step does.
func BenchmarkEvaluateDecoded(b *testing.B) {
	es := benchEvents(1 << 14)
	leaves := make([][]byte, len(es))
	for i, e := range es {
		l, err := e.AppendCanonical(nil)
		if err != nil {
			b.Fatal(err)
		}
		leaves[i] = l
	}
	ev := newBenchEvaluator(benchRules())
	var fired []*firing
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e, err := trail.DecodeEvent(leaves[i%len(leaves)])
		if err != nil {
			b.Fatal(err)
		}
		e.Seq = int64(i)
		fired = ev.evaluate(e, fired[:0])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkCommitToAlert measures the time from Store.Append returning to
// the trail.alert.fired event being in the log, with Run following the log
// of a real store (FileState, default rules plus a rule that fires on
// every event). It reports p50 and p99.
func BenchmarkCommitToAlert(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := openStore(b, b.TempDir(), time.Now)
	defer store.Close()
	eng, err := Open(ctx, Config{Tenant: tenant, Store: store, State: &FileState{Dir: b.TempDir()}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := eng.PutRule(ctx, Rule{ID: "each", Name: "each", Kind: KindThreshold, Filter: "action:probe", Threshold: 1,
		Window: Duration(time.Second), Cooldown: Duration(time.Nanosecond)}); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := store.Append(ctx, []*trail.Event{{Tenant: tenant, Action: "probe", Actor: trail.Actor{ID: "u"}}})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		// The alert is the next event after the probe.
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = store.Wait(wctx, tenant, res.Receipts[0].Seq+1)
		wcancel()
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	cancel()
	<-done
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkDefaultRulesPerEvent measures what the engine's loop pays per
// stored event of generated traffic under the default rules: "prefilter"
// is the engine's path (events no rule can match are judged from the leaf
// and only their times decoded), "decode-all" decodes every event.
func BenchmarkDefaultRulesPerEvent(b *testing.B) {
	g := gen.New(5, 1)
	leaves := make([][]byte, 1<<13)
	for i := range leaves {
		e := g.Event(tenant, t0.Add(time.Duration(i)*time.Millisecond))
		e.Tenant = tenant
		e.Normalize(t0, func() string { return fmt.Sprintf("id%d", i) })
		l, err := e.AppendCanonical(nil)
		if err != nil {
			b.Fatal(err)
		}
		leaves[i] = l
	}
	for _, prefilter := range []bool{true, false} {
		name := "decode-all"
		if prefilter {
			name = "prefilter"
		}
		b.Run(name, func(b *testing.B) {
			ev := newBenchEvaluator(DefaultRules(tenant))
			ev.setFilter()
			var fired []*firing
			decoded := 0
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				leaf := leaves[i%len(leaves)]
				if prefilter && !ev.mayMatch(leaf) {
					if s, ok := trail.SummarizeEvent(leaf); ok {
						fired = ev.evaluateSummary(s, int64(i), fired[:0])
						continue
					}
				}
				e, err := trail.DecodeEvent(leaf)
				if err != nil {
					b.Fatal(err)
				}
				decoded++
				e.Seq = int64(i)
				fired = ev.evaluate(e, fired[:0])
			}
			b.ReportMetric(float64(decoded)/float64(b.N), "decoded/event")
		})
	}
}
