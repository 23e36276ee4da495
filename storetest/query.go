package storetest

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trail-audit/trail"
)

// bruteForce returns the seqs of the events q selects, in q's order: the
// reference semantics, q.Filter.Compile() applied to every stored event
// whose Time is in [q.From, q.To). Erased events have no content and match
// no filter; without a filter they are listed when their ReceivedAt is in
// [q.From, q.To).
func bruteForce(events []stored, q *trail.Query) ([]int64, error) {
	m, err := q.Filter.Compile()
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, s := range events {
		if s.Event == nil {
			if q.Filter == nil && inRange(s.ReceivedAt, q.From, q.To) {
				out = append(out, s.Seq)
			}
			continue
		}
		if !inRange(s.Event.Time, q.From, q.To) || !m(s.Event) {
			continue
		}
		out = append(out, s.Seq)
	}
	if q.Order != trail.OrderAsc {
		slices.Reverse(out)
	}
	return out, nil
}

func inRange(t, from, to time.Time) bool {
	return (from.IsZero() || !t.Before(from)) && (to.IsZero() || t.Before(to))
}

// pageAll pages through q until the store returns no cursor and returns
// the seqs seen. It checks the limit, the tenant, the order within the
// results and each event's leaf hash against leaves (when not nil).
func (f *fixture) pageAll(q trail.Query, leaves []trail.Hash) []int64 {
	f.t.Helper()
	limit := q.Limit
	if limit == 0 {
		limit = trail.DefaultLimit
	}
	var seqs []int64
	maxPages := len(leaves)/limit + 20
	if leaves == nil {
		maxPages = 100000
	}
	for page := 0; ; page++ {
		if page > maxPages {
			f.t.Fatalf("Query(%v): more than %d pages for at most %d events", q.Filter, maxPages, len(leaves))
		}
		p, err := f.s.Query(f.ctx, &q)
		if err != nil {
			f.t.Fatalf("Query(%v, page %d): %v", q.Filter, page, err)
		}
		if len(p.Events) > limit {
			f.t.Fatalf("Query(%v, page %d): %d events, want at most limit %d", q.Filter, page, len(p.Events), limit)
		}
		for _, e := range p.Events {
			if e.Tenant != q.Tenant {
				f.t.Fatalf("Query(%s): returned event %s/%d of another tenant", q.Tenant, e.Tenant, e.Seq)
			}
			if n := len(seqs); n > 0 && (q.Order == trail.OrderAsc) != (e.Seq > seqs[n-1]) {
				f.t.Fatalf("Query(%v, order %s, limit %d): seq %d after %d", q.Filter, q.Order, q.Limit, e.Seq, seqs[n-1])
			}
			seqs = append(seqs, e.Seq)
			if e.LeafHash == nil {
				f.t.Fatalf("Query: event %d has no leaf hash", e.Seq)
			}
			if leaves != nil && (e.Seq < 0 || e.Seq >= int64(len(leaves)) || *e.LeafHash != leaves[e.Seq]) {
				f.t.Fatalf("Query: event %d has leaf hash %v, want the stored one", e.Seq, e.LeafHash)
			}
			if !e.Erased {
				if h := trail.Hash(leafHash(canonical(f.t, e))); h != *e.LeafHash {
					f.t.Fatalf("Query: event %d is not the stored event: SHA-256(0x00‖canonical) = %v, leaf hash %v", e.Seq, h, e.LeafHash)
				}
			}
		}
		if p.NextCursor == "" {
			return seqs
		}
		q.Cursor = p.NextCursor
	}
}

func diffSeqs(got, want []int64) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("got %d seqs, want %d; first difference at %d: got %d, want %d", len(got), len(want), i, got[i], want[i])
		}
	}
	return fmt.Sprintf("got %d seqs, want %d", len(got), len(want))
}

// loadDays appends n generated events for g's tenants over ten days of the
// injected clock, in batches of 100, each with an event time in the eight
// hours before its receipt (one in ten left to default to received_at).
func (f *fixture) loadDays(g *Gen, n int) {
	f.t.Helper()
	const batches = 30
	for b := range batches {
		now := f.clk.Now()
		batch := make([]*trail.Event, n/batches)
		for i := range batch {
			batch[i] = g.Event(g.Tenant(), g.TimeIn(now.Add(-8*time.Hour), now))
			if i%10 == 9 {
				batch[i].Time = time.Time{}
			}
		}
		f.append(batch...)
		_ = b
		f.clk.Advance(8*time.Hour + 17*time.Second)
	}
}

// pick returns the first non-empty value of fn over events, starting from
// the middle.
func pick(events []stored, fn func(*trail.Event) string) string {
	n := len(events)
	for i := range n {
		if e := events[(n/2+i)%n].Event; e != nil {
			if v := fn(e); v != "" {
				return v
			}
		}
	}
	return "none"
}

type queryCase struct {
	name     string
	filter   *trail.Expr
	from, to time.Time
}

// queryCases returns the filter table, with values picked from events.
func queryCases(events []stored) []queryCase {
	T, P := trail.Term, trail.PrefixTerm
	actor := pick(events, func(e *trail.Event) string { return e.Actor.ID })
	resID := pick(events, func(e *trail.Event) string { return trail.FieldValue(e, trail.FieldResourceID) })
	reqID := pick(events, func(e *trail.Event) string { return trail.FieldValue(e, trail.FieldRequestID) })
	ip4 := pick(events, func(e *trail.Event) string {
		if ip := trail.FieldValue(e, trail.FieldIP); strings.Contains(ip, ".") {
			return ip
		}
		return ""
	})
	ip6 := pick(events, func(e *trail.Event) string {
		if ip := trail.FieldValue(e, trail.FieldIP); strings.Contains(ip, ":") {
			return ip
		}
		return ""
	})
	net24 := "10.1.2.0/24"
	if a, err := netip.ParseAddr(ip4); err == nil {
		net24 = netip.PrefixFrom(a, 24).Masked().String()
	}
	count := pick(events, func(e *trail.Event) string {
		if v, ok := e.Metadata["count"]; ok {
			s, _ := trail.ScalarString(v)
			return s
		}
		return ""
	})
	day := func(d float64) time.Time { return epoch.Add(time.Duration(d * float64(24*time.Hour))) }
	return []queryCase{
		{name: "All"},
		{name: "Actor", filter: T(trail.FieldActor, actor)},
		{name: "Action", filter: T(trail.FieldAction, "user.login")},
		{name: "Outcome", filter: T(trail.FieldOutcome, trail.OutcomeFailure)},
		{name: "OutcomeDefault", filter: T(trail.FieldOutcome, trail.OutcomeUnknown)},
		{name: "Severity", filter: T(trail.FieldSeverity, trail.SeverityHigh)},
		{name: "SeverityDefault", filter: T(trail.FieldSeverity, trail.SeverityInfo)},
		{name: "ResourceType", filter: T(trail.FieldResourceType, "route")},
		{name: "ResourceID", filter: T(trail.FieldResourceID, resID)},
		{name: "IP", filter: T(trail.FieldIP, ip4)},
		{name: "IPv6", filter: T(trail.FieldIP, ip6)},
		{name: "RequestID", filter: T(trail.FieldRequestID, reqID)},
		{name: "ActionPrefix", filter: P(trail.FieldAction, "user.")},
		{name: "IPv4/16", filter: T(trail.FieldIP, "10.1.0.0/16")},
		{name: "IPv4/24", filter: T(trail.FieldIP, net24)},
		{name: "IPv6/48", filter: T(trail.FieldIP, "2001:db8:a::/48")},
		{name: "MetadataPlan", filter: T("metadata.plan", "pro")},
		{name: "MetadataNested", filter: T("metadata.client.os", "linux")},
		{name: "MetadataNumber", filter: T("metadata.count", count)},
		{name: "MetadataBool", filter: T("metadata.sso", "true")},
		{name: "MetadataArray", filter: T("metadata.flags", "enterprise")},
		{name: "MetadataPrefix", filter: P("metadata.region", "eu-")},
		{name: "TextWord", filter: T(trail.FieldText, "rotation")},
		{name: "TextWordCase", filter: T(trail.FieldText, "LOVELACE")},
		{name: "TextPhrase", filter: T(trail.FieldText, "security team")},
		{name: "TextPrefix", filter: P(trail.FieldText, "migrat")},
		{name: "TextPhrasePrefix", filter: P(trail.FieldText, "new reg")},
		{name: "Negation", filter: trail.Not(T(trail.FieldOutcome, trail.OutcomeSuccess))},
		{name: "Or", filter: trail.Or(T(trail.FieldAction, "user.login"), T(trail.FieldAction, "user.logout"))},
		{name: "AndOfThree", filter: trail.And(T(trail.FieldOutcome, trail.OutcomeSuccess), P(trail.FieldAction, "route."), T(trail.FieldIP, "10.0.0.0/8"))},
		// Conjunctions of exact terms of very different frequencies:
		// a store may look up the rarest and only filter by the others.
		{name: "ActionAndOutcome", filter: trail.And(T(trail.FieldAction, "user.login"), T(trail.FieldOutcome, trail.OutcomeFailure))},
		{name: "OutcomeActorSeverity", filter: trail.And(T(trail.FieldOutcome, trail.OutcomeSuccess), T(trail.FieldActor, actor), T(trail.FieldSeverity, trail.SeverityInfo))},
		{name: "TextOutcomeResourceType", filter: trail.And(T(trail.FieldText, "rotation"), T(trail.FieldOutcome, trail.OutcomeSuccess), T(trail.FieldResourceType, "route"))},
		{name: "EmptyOutcomeAndActor", filter: trail.And(T(trail.FieldOutcome, trail.OutcomeSuccess), T(trail.FieldActor, "nobody-at-all"))},
		{name: "NotInsideOr", filter: trail.Or(T(trail.FieldSeverity, trail.SeverityCritical), trail.Not(P(trail.FieldAction, "user.")))},
		{name: "TimeRange", from: day(2), to: day(5.5)},
		{name: "TimeFrom", from: day(8)},
		{name: "TimeTo", to: day(1)},
		{name: "TimeRangeAndFilter", filter: T(trail.FieldOutcome, trail.OutcomeFailure), from: day(3), to: day(7)},
		// Free text combined with other terms and time: chunk-level
		// postings (logstore) meet row postings and each other.
		{name: "TextOrText", filter: trail.Or(T(trail.FieldText, "rotation"), T(trail.FieldText, "migrated"))},
		{name: "TextOrActor", filter: trail.Or(T(trail.FieldText, "rotation"), T(trail.FieldActor, actor))},
		{name: "ActorOrText", filter: trail.Or(T(trail.FieldActor, actor), T(trail.FieldText, "security team"))},
		{name: "TextAndOutcome", filter: trail.And(T(trail.FieldText, "rotation"), T(trail.FieldOutcome, trail.OutcomeSuccess))},
		{name: "OutcomeAndTextOrAction", filter: trail.And(T(trail.FieldOutcome, trail.OutcomeFailure),
			trail.Or(P(trail.FieldText, "migrat"), P(trail.FieldAction, "user.")))},
		{name: "TextInTimeRange", filter: T(trail.FieldText, "rotation"), from: day(2), to: day(6)},
		{name: "NotActorAndText", filter: trail.Not(trail.And(T(trail.FieldActor, actor), T(trail.FieldText, "rotation")))},
		{name: "Empty", filter: T(trail.FieldActor, "nobody-at-all")},
		{name: "EmptyTimeRange", from: day(-30), to: day(-29)},
	}
}

// testQuery loads about 3000 events over five tenants and ten days and
// compares every page of a table of queries with brute force.
func testQuery(t *testing.T, h Harness) {
	f := newFixture(t, h)
	f.loadDays(NewGen(5, 5), 3000)
	sizes := f.sizes()
	biggest := ""
	for tenant, n := range sizes {
		if biggest == "" || n > sizes[biggest] || n == sizes[biggest] && tenant < biggest {
			biggest = tenant
		}
	}
	for _, tenant := range slices.Sorted(func(yield func(string) bool) {
		for k := range sizes {
			if !yield(k) {
				return
			}
		}
	}) {
		events := f.storedEvents(tenant)
		leaves := make([]trail.Hash, len(events))
		for i, s := range events {
			leaves[i] = s.LeafHash
		}
		var noResults []string
		for _, qc := range queryCases(events) {
			for _, order := range []trail.Order{trail.OrderDesc, trail.OrderAsc} {
				limits := []int{100}
				if tenant == biggest {
					limits = []int{7, 100}
				}
				for _, limit := range limits {
					name := fmt.Sprintf("%s/%s/%s/limit%d", tenant, qc.name, order, limit)
					t.Run(name, func(t *testing.T) {
						f := f.with(t)
						q := trail.Query{Tenant: tenant, Filter: qc.filter, From: qc.from, To: qc.to, Order: order, Limit: limit}
						want, err := bruteForce(events, &q)
						if err != nil {
							t.Fatalf("Compile(%v): %v", qc.filter, err)
						}
						if len(want) == 0 && order == trail.OrderAsc && limit == 100 && !strings.HasPrefix(qc.name, "Empty") {
							noResults = append(noResults, qc.name)
						}
						if got := f.pageAll(q, leaves); !slices.Equal(got, want) {
							t.Errorf("Query(%v from %v to %v): %s", qc.filter, qc.from, qc.to, diffSeqs(got, want))
						}
					})
				}
			}
		}
		if tenant == biggest && len(noResults) > 0 {
			t.Errorf("tenant %s: no event matches %v: the data set is too thin to test these filters", tenant, noResults)
		}
	}
}

// testQueryWhileAppending pages through a tenant while another goroutine
// appends to it.
func testQueryWhileAppending(t *testing.T, h Harness) {
	f := newFixture(t, h)
	g := NewGen(6, 1)
	const tenant, initial = "live", 300
	batch := make([]*trail.Event, initial)
	for i := range batch {
		batch[i] = g.Event(tenant, time.Time{})
	}
	f.append(batch...)
	var gmu sync.Mutex
	appendOne := func() error {
		gmu.Lock()
		e := g.Event(tenant, time.Time{})
		gmu.Unlock()
		_, err := f.s.Append(f.ctx, []*trail.Event{e})
		return err
	}

	t.Run("Desc", func(t *testing.T) {
		f := f.with(t)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		defer wg.Wait()
		defer close(stop)
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := appendOne(); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
		seqs := f.pageAll(trail.Query{Tenant: tenant, Order: trail.OrderDesc, Limit: 7}, nil)
		if len(seqs) == 0 || seqs[0] < initial-1 {
			t.Fatalf("desc pages start at %v, want the newest event (>= %d)", seqs[:min(1, len(seqs))], initial-1)
		}
		for i, s := range seqs {
			if want := seqs[0] - int64(i); s != want {
				t.Fatalf("desc pages: position %d holds seq %d, want %d (each seq from the first page's %d down to 0 exactly once)", i, s, want, seqs[0])
			}
		}
		if seqs[len(seqs)-1] != 0 {
			t.Errorf("desc pages end at %d, want 0", seqs[len(seqs)-1])
		}
	})

	t.Run("Asc", func(t *testing.T) {
		f := f.with(t)
		q := trail.Query{Tenant: tenant, Order: trail.OrderAsc, Limit: 7}
		var seqs []int64
		for page := 0; ; page++ {
			if page > 1000 {
				t.Fatal("asc paging does not end")
			}
			p, err := f.s.Query(f.ctx, &q)
			if err != nil {
				t.Fatalf("Query: %v", err)
			}
			for _, e := range p.Events {
				seqs = append(seqs, e.Seq)
			}
			if p.NextCursor == "" {
				break
			}
			q.Cursor = p.NextCursor
			var wg sync.WaitGroup // another goroutine appends one event per page
			wg.Go(func() {
				if err := appendOne(); err != nil {
					t.Errorf("Append: %v", err)
				}
			})
			wg.Wait()
		}
		size := f.sizes()[tenant]
		if int64(len(seqs)) != size {
			t.Errorf("asc pages: got %d events, want every one of the %d in the log, including those appended while paging", len(seqs), size)
		}
		for i, s := range seqs {
			if s != int64(i) {
				t.Fatalf("asc pages: position %d holds seq %d, want %d", i, s, i)
			}
		}
	})
}

// testBadQueries checks that invalid queries fail with EINVALID naming the
// field, and unknown tenants with ENOTFOUND.
func testBadQueries(t *testing.T, h Harness) {
	f := newFixture(t, h)
	g := NewGen(7, 1)
	const tenant = "bad"
	batch := make([]*trail.Event, 150)
	for i := range batch {
		batch[i] = g.Event(tenant, time.Time{})
	}
	f.append(batch...)

	p, err := f.s.Query(f.ctx, &trail.Query{Tenant: tenant})
	if err != nil {
		t.Fatalf("Query with limit 0: %v", err)
	}
	if len(p.Events) != trail.DefaultLimit || p.Events[0].Seq != 149 {
		t.Errorf("Query with limit 0 and no order: %d events from seq %d, want %d (the default limit) newest first from 149",
			len(p.Events), p.Events[0].Seq, trail.DefaultLimit)
	}
	asc, err := f.s.Query(f.ctx, &trail.Query{Tenant: tenant, Order: trail.OrderAsc, Limit: 10})
	if err != nil || asc.NextCursor == "" {
		t.Fatalf("Query asc limit 10: cursor %q, %v; want a next cursor", asc.NextCursor, err)
	}

	cases := []struct {
		name  string
		q     trail.Query
		code  string
		field string
	}{
		{"UnknownField", trail.Query{Tenant: tenant, Filter: trail.Term("colour", "red")}, trail.EINVALID, "q"},
		{"BadIPValue", trail.Query{Tenant: tenant, Filter: trail.Term(trail.FieldIP, "10.0.0.300")}, trail.EINVALID, "q"},
		{"BadOutcomeValue", trail.Query{Tenant: tenant, Filter: trail.Term(trail.FieldOutcome, "meh")}, trail.EINVALID, "q"},
		{"EmptyOr", trail.Query{Tenant: tenant, Filter: trail.Or()}, trail.EINVALID, "q"},
		{"BadCursor", trail.Query{Tenant: tenant, Cursor: "not-a-cursor"}, trail.EINVALID, "cursor"},
		{"CursorOfOtherOrder", trail.Query{Tenant: tenant, Cursor: asc.NextCursor, Order: trail.OrderDesc}, trail.EINVALID, "cursor"},
		{"Limit1001", trail.Query{Tenant: tenant, Limit: trail.MaxLimit + 1}, trail.EINVALID, "limit"},
		{"LimitNegative", trail.Query{Tenant: tenant, Limit: -1}, trail.EINVALID, "limit"},
		{"BadOrder", trail.Query{Tenant: tenant, Order: "sideways"}, trail.EINVALID, "order"},
		{"FromNotBeforeTo", trail.Query{Tenant: tenant, From: epoch, To: epoch}, trail.EINVALID, "from"},
		{"BadTenantName", trail.Query{Tenant: "No Such"}, trail.EINVALID, "tenant"},
		{"UnknownTenant", trail.Query{Tenant: "nosuchtenant"}, trail.ENOTFOUND, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := f.with(t)
			q := tc.q
			_, err := f.s.Query(f.ctx, &q)
			wantError(t, "Query", err, tc.code, tc.field)
		})
	}
	p, err = f.s.Query(f.ctx, &trail.Query{Tenant: tenant, Limit: trail.MaxLimit})
	if err != nil || len(p.Events) != 150 {
		t.Errorf("Query with limit %d: %d events, %v; want all 150", trail.MaxLimit, len(p.Events), err)
	}

	statsCases := []struct {
		name  string
		q     trail.StatsQuery
		code  string
		field string
	}{
		{"StatsNoGroupNoInterval", trail.StatsQuery{Query: trail.Query{Tenant: tenant}}, trail.EINVALID, "group_by"},
		{"StatsBadGroup", trail.StatsQuery{Query: trail.Query{Tenant: tenant}, GroupBy: "colour"}, trail.EINVALID, "group_by"},
		{"StatsBadInterval", trail.StatsQuery{Query: trail.Query{Tenant: tenant}, Interval: time.Millisecond}, trail.EINVALID, "interval"},
		{"StatsUnknownField", trail.StatsQuery{Query: trail.Query{Tenant: tenant, Filter: trail.Term("colour", "red")}, GroupBy: trail.FieldAction}, trail.EINVALID, "q"},
		{"StatsUnknownTenant", trail.StatsQuery{Query: trail.Query{Tenant: "nosuchtenant"}, GroupBy: trail.FieldAction}, trail.ENOTFOUND, ""},
	}
	for _, tc := range statsCases {
		t.Run(tc.name, func(t *testing.T) {
			f := f.with(t)
			q := tc.q
			_, err := f.s.Stats(f.ctx, &q)
			wantError(t, "Stats", err, tc.code, tc.field)
		})
	}
}
