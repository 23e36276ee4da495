package alert

import (
	"encoding/json"
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/gen"
)

// TestLeafPrefilterAgrees runs the engine, which judges from the stored
// leaf alone the events no enabled rule can match, beside an evaluator
// fed every event decoded, over generated traffic with failed-login
// storms, late events and the engine's own alert events: both must end
// with the same state (watermark, late count, every rule's keys) and the
// same firings, and the engine must actually have skipped decoding.
func TestLeafPrefilterAgrees(t *testing.T) {
	rules := []Rule{
		{ID: "fails", Name: "failed logins", Kind: KindThreshold, Filter: "(text:login OR action:auth*) outcome:failure", GroupBy: "ip", Threshold: 5, Window: Duration(time.Minute)},
		{ID: "denied", Name: "denied", Kind: KindThreshold, Filter: "outcome:denied", GroupBy: "actor", Threshold: 3, Window: Duration(time.Minute)},
		{ID: "newip", Name: "new ip", Kind: KindNewValue, Filter: "action:user.login", GroupBy: "actor", Field: "ip"},
		{ID: "quiet", Name: "quiet", Kind: KindAbsence, Filter: "action:billing.charge", Window: Duration(10 * time.Minute)},
		{ID: "off", Name: "disabled", Kind: KindThreshold, Filter: "", Threshold: 1, Disabled: true},
		// Rules that need only events' times (evaluated from the summary).
		{ID: "spike", Name: "spike", Kind: KindSpike, Window: Duration(time.Minute), Threshold: 20, Factor: 2, Baseline: Duration(10 * time.Minute)},
		{ID: "many", Name: "many", Kind: KindThreshold, Window: Duration(time.Minute), Threshold: 60},
	}
	f := newFixture(t, rules...)

	// The reference: an evaluator over the same rules, fed decoded events.
	ref := &evaluator{lateness: int64(f.eng.cfg.Lateness), maxKeys: f.eng.cfg.MaxKeys, maxValues: f.eng.cfg.MaxValues}
	for _, r := range f.eng.Rules() {
		c, err := compile(r)
		if err != nil {
			t.Fatal(err)
		}
		c.st = &ruleState{}
		ref.rules = append(ref.rules, c)
	}

	g := gen.New(11, 1)
	at := t0
	for batch := range 40 {
		var es []*trail.Event
		n := 50
		if batch == 30 {
			n = 400 // a burst for the spike rule
		}
		for i := range n {
			step := 700 * time.Millisecond
			if n > 50 {
				step = 10 * time.Millisecond
			}
			at = at.Add(step)
			e := g.Event(tenant, at)
			e.Tenant = tenant
			switch {
			case batch%5 == 1 && i < 10: // a storm from one address
				e = login("203.0.113.9", at)
			case i == 7:
				e.Time = at.Add(-10 * time.Minute) // late
			case i == 9:
				e.Action = "billing.charge"
			case i >= 20 && i < 26 && batch%2 == 0:
				e = event("doc.read", trail.OutcomeDenied, "", "u_9", at)
			}
			es = append(es, e)
		}
		f.add(es...)
	}
	f.step() // the alerts the last step appended
	var processed int64
	for from := int64(0); ; {
		recs, err := f.store.Read(f.ctx, tenant, from, 1000)
		if err != nil || len(recs) == 0 {
			break
		}
		for _, r := range recs {
			e, err := trail.DecodeEvent(r.Data)
			if err != nil {
				t.Fatal(err)
			}
			e.Seq = r.Seq
			ref.evaluate(e, nil)
			processed++
		}
		from = recs[len(recs)-1].Seq + 1
	}

	f.eng.mu.Lock()
	defer f.eng.mu.Unlock()
	if f.eng.processed != processed {
		t.Fatalf("engine processed %d events, reference %d", f.eng.processed, processed)
	}
	if f.eng.skipped == 0 || f.eng.skipped == processed {
		t.Fatalf("engine judged %d of %d events from the leaf: the prefilter did not work as intended", f.eng.skipped, processed)
	}
	t.Logf("judged %d of %d events from the leaf alone; %d alerts fired", f.eng.skipped, processed, len(f.fired()))
	kinds := map[string]bool{}
	for _, a := range f.fired() {
		kinds[a.Metadata["rule_id"].(string)] = true
	}
	for _, id := range []string{"fails", "denied", "newip", "spike", "many"} {
		if !kinds[id] {
			t.Errorf("rule %s never fired: the comparison is weak (fired: %v)", id, kinds)
		}
	}
	if ref.watermark != f.eng.ev.watermark || ref.late != f.eng.ev.late {
		t.Fatalf("watermark/late: engine %d/%d, reference %d/%d", f.eng.ev.watermark, f.eng.ev.late, ref.watermark, ref.late)
	}
	if ref.late == 0 {
		t.Fatal("no late event: the comparison is vacuous")
	}
	for i, c := range ref.rules {
		got, _ := json.Marshal(f.eng.ev.rules[i].st.Keys)
		want, _ := json.Marshal(c.st.Keys)
		if string(got) != string(want) {
			t.Errorf("rule %s: engine state %s, reference %s", c.rule.ID, got, want)
		}
	}
}
