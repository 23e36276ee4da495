package storetest

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/trail-audit/trail"
)

// bruteStats feeds every event that q.Query selects to trail.StatsCounter,
// the reference aggregation.
func bruteStats(events []stored, q *trail.StatsQuery) (*trail.Stats, error) {
	m, err := q.Query.Filter.Compile()
	if err != nil {
		return nil, err
	}
	c := trail.NewStatsCounter(q)
	for _, s := range events {
		if s.Event == nil || !inRange(s.Event.Time, q.Query.From, q.Query.To) || !m(s.Event) {
			continue
		}
		if err := c.Add(s.Event); err != nil {
			return nil, err
		}
	}
	return c.Result(), nil
}

// diffStats describes the first difference between two Stats, or "".
func diffStats(got, want *trail.Stats) string {
	if len(got.Counts) != len(want.Counts) {
		return fmt.Sprintf("got %d counts %v, want %d %v", len(got.Counts), got.Counts, len(want.Counts), want.Counts)
	}
	for i := range got.Counts {
		if got.Counts[i] != want.Counts[i] {
			return fmt.Sprintf("counts[%d]: got %+v, want %+v (most frequent first, then by value)", i, got.Counts[i], want.Counts[i])
		}
	}
	if len(got.Buckets) != len(want.Buckets) {
		return fmt.Sprintf("got %d buckets, want %d", len(got.Buckets), len(want.Buckets))
	}
	for i := range got.Buckets {
		g, w := got.Buckets[i], want.Buckets[i]
		if !g.Start.Equal(w.Start) {
			return fmt.Sprintf("buckets[%d]: start %v, want %v", i, g.Start, w.Start)
		}
		if !maps.Equal(g.Counts, w.Counts) {
			return fmt.Sprintf("buckets[%d] (%v): counts %v, want %v", i, w.Start, g.Counts, w.Counts)
		}
	}
	return ""
}

// testStats compares Stats grouped by each field, with and without time
// buckets, with brute-force trail.StatsCounter over the same events.
func testStats(t *testing.T, h Harness) {
	f := newFixture(t, h)
	f.loadDays(NewGen(8, 2), 1500)
	day := func(d int) time.Time { return epoch.Add(time.Duration(d) * 24 * time.Hour) }
	filters := []struct {
		name     string
		filter   *trail.Expr
		from, to time.Time
	}{
		{name: "All"},
		{name: "Failures", filter: trail.Term(trail.FieldOutcome, trail.OutcomeFailure)},
		{name: "UserActionsDays2to6", filter: trail.PrefixTerm(trail.FieldAction, "user."), from: day(2), to: day(6)},
	}
	groups := append([]string{""}, trail.StatsGroupFields...)
	for _, tenant := range slices.Sorted(maps.Keys(f.sizes())) {
		events := f.storedEvents(tenant)
		for _, fc := range filters {
			for _, group := range groups {
				for _, interval := range []time.Duration{0, time.Hour, 24 * time.Hour} {
					if group == "" && interval == 0 {
						continue
					}
					name := fmt.Sprintf("%s/%s/group=%s/interval=%v", tenant, fc.name, group, interval)
					t.Run(name, func(t *testing.T) {
						f := f.with(t)
						q := &trail.StatsQuery{
							Query:    trail.Query{Tenant: tenant, Filter: fc.filter, From: fc.from, To: fc.to},
							GroupBy:  group,
							Interval: interval,
						}
						want, err := bruteStats(events, q)
						if err != nil {
							t.Fatalf("brute force: %v", err)
						}
						got, err := f.s.Stats(f.ctx, q)
						if err != nil {
							t.Fatalf("Stats: %v", err)
						}
						if d := diffStats(got, want); d != "" {
							t.Errorf("Stats: %s", d)
						}
					})
				}
			}
		}
	}
}
