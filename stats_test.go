package trail

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

func TestStatsQueryValidate(t *testing.T) {
	tests := []struct {
		name  string
		q     StatsQuery
		field string
	}{
		{"group", StatsQuery{GroupBy: FieldAction}, ""},
		{"interval", StatsQuery{Interval: time.Minute}, ""},
		{"both", StatsQuery{GroupBy: FieldIP, Interval: time.Hour}, ""},
		{"neither", StatsQuery{}, "group_by"},
		{"bad group", StatsQuery{GroupBy: "metadata.plan"}, "group_by"},
		{"interval too small", StatsQuery{Interval: time.Millisecond}, "interval"},
		{"negative interval", StatsQuery{GroupBy: FieldAction, Interval: -time.Minute}, "interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.q.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if e, ok := err.(*Error); !ok || e.Code != EINVALID || e.Field != tt.field {
				t.Fatalf("Validate = %v, want EINVALID on %s", err, tt.field)
			}
		})
	}
}

func statsEvent(at time.Time, action, ip string) *Event {
	e := &Event{Time: at, Action: action}
	if ip != "" {
		e.Source = &Source{IP: ip}
	}
	return e
}

func TestStatsCounterBuckets(t *testing.T) {
	day := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	q := &StatsQuery{GroupBy: FieldAction, Interval: time.Hour}
	c := NewStatsCounter(q)
	for _, e := range []*Event{
		statsEvent(day.Add(10*time.Minute), "a", ""),
		statsEvent(day.Add(59*time.Minute+59*time.Second), "a", ""),
		statsEvent(day.Add(30*time.Minute), "b", ""),
		statsEvent(day.Add(3*time.Hour), "a", ""),
		statsEvent(day.Add(-time.Nanosecond), "b", ""),
		statsEvent(day.Add(time.Hour), "b", ""),
	} {
		if err := c.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	want := &Stats{Buckets: []StatsBucket{
		{Start: day.Add(-time.Hour), Counts: map[string]int64{"b": 1}},
		{Start: day, Counts: map[string]int64{"a": 2, "b": 1}},
		{Start: day.Add(time.Hour), Counts: map[string]int64{"b": 1}},
		{Start: day.Add(3 * time.Hour), Counts: map[string]int64{"a": 1}},
	}}
	if got := c.Result(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Result = %+v\nwant %+v", got, want)
	}
}

func TestStatsCounterBucketsWithoutGroup(t *testing.T) {
	c := NewStatsCounter(&StatsQuery{Interval: 24 * time.Hour})
	day := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 5; i++ {
		if err := c.Add(statsEvent(day.Add(time.Duration(i)*5*time.Hour), "a", "")); err != nil {
			t.Fatal(err)
		}
	}
	want := []StatsBucket{
		{Start: day, Counts: map[string]int64{"*": 5}},
	}
	if got := c.Result().Buckets; !reflect.DeepEqual(got, want) {
		t.Fatalf("Buckets = %+v, want %+v", got, want)
	}
}

// TestStatsCounterBeforeEpoch checks that buckets align down (floor) for
// times before 1970 too.
func TestStatsCounterBeforeEpoch(t *testing.T) {
	c := NewStatsCounter(&StatsQuery{Interval: time.Minute})
	if err := c.Add(statsEvent(time.Unix(-1, 0), "a", "")); err != nil {
		t.Fatal(err)
	}
	if got := c.Result().Buckets[0].Start; !got.Equal(time.Unix(-60, 0)) {
		t.Fatalf("bucket of 1969-12-31T23:59:59Z starts at %v, want 23:59:00", got)
	}
}

// TestStatsCounterFarFuture checks buckets for event times that Validate
// accepts (up to year 9999) but time.Time.UnixNano cannot represent (after
// 2262).
func TestStatsCounterFarFuture(t *testing.T) {
	for _, at := range []time.Time{
		time.Date(2300, 1, 1, 12, 30, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 0, 0, 0, time.UTC),
	} {
		c := NewStatsCounter(&StatsQuery{Interval: time.Hour})
		if err := c.Add(statsEvent(at, "a", "")); err != nil {
			t.Fatal(err)
		}
		want := at.Truncate(time.Hour)
		if got := c.Result().Buckets[0].Start; !got.Equal(want) {
			t.Errorf("bucket of %v starts at %v, want %v", at, got, want)
		}
	}
}

func TestStatsCounterCounts(t *testing.T) {
	c := NewStatsCounter(&StatsQuery{GroupBy: FieldIP})
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, ip := range []string{"10.0.0.1", "::ffff:10.0.0.1", "10.0.0.2", "", "10.0.0.3", "10.0.0.3"} {
		if err := c.Add(statsEvent(at, "a", ip)); err != nil {
			t.Fatal(err)
		}
	}
	want := &Stats{Counts: []StatsCount{{"10.0.0.1", 2}, {"10.0.0.3", 2}, {"", 1}, {"10.0.0.2", 1}}}
	if got := c.Result(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Result = %+v, want %+v", got, want)
	}
}

func TestStatsCounterTopValues(t *testing.T) {
	c := NewStatsCounter(&StatsQuery{GroupBy: FieldAction})
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < MaxStatsValues+20; i++ {
		for j := 0; j <= i%3; j++ {
			if err := c.Add(statsEvent(at, fmt.Sprintf("a%03d", i), "")); err != nil {
				t.Fatal(err)
			}
		}
	}
	counts := c.Result().Counts
	if len(counts) != MaxStatsValues {
		t.Fatalf("%d counts, want %d", len(counts), MaxStatsValues)
	}
	for i := 1; i < len(counts); i++ {
		a, b := counts[i-1], counts[i]
		if a.Count < b.Count || a.Count == b.Count && a.Value >= b.Value {
			t.Fatalf("counts not sorted by count then value at %d: %+v %+v", i, a, b)
		}
	}
	if counts[0] != (StatsCount{"a002", 3}) {
		t.Fatalf("first = %+v, want a002 with 3", counts[0])
	}
}

func TestStatsCounterTooManyBuckets(t *testing.T) {
	c := NewStatsCounter(&StatsQuery{Interval: time.Second})
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < MaxStatsBuckets; i++ {
		if err := c.Add(statsEvent(at.Add(time.Duration(i)*time.Second), "a", "")); err != nil {
			t.Fatalf("bucket %d: %v", i, err)
		}
	}
	if err := c.Add(statsEvent(at, "a", "")); err != nil {
		t.Fatalf("existing bucket: %v", err)
	}
	err := c.Add(statsEvent(at.Add(-time.Second), "a", ""))
	if e, ok := err.(*Error); !ok || e.Code != ETOOLARGE || e.Field != "interval" {
		t.Fatalf("bucket %d: %v, want ETOOLARGE on interval", MaxStatsBuckets+1, err)
	}
}
