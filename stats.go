package trail

import (
	"sort"
	"time"
)

// Stats group-by fields.
var StatsGroupFields = []string{FieldAction, FieldActor, FieldOutcome, FieldIP, FieldResourceType, FieldSeverity}

// Stats limits.
const (
	MaxStatsBuckets = 10000 // time buckets per request
	MaxStatsValues  = 100   // group values returned, the most frequent first
)

// StatsQuery counts the events matching Query (Limit, Order and Cursor are
// ignored), grouped by the field GroupBy and/or by time buckets of Interval
// aligned to the Unix epoch on the event's Time. At least one of the two
// must be set.
type StatsQuery struct {
	Query    Query
	GroupBy  string
	Interval time.Duration
}

// Stats is the result of a StatsQuery: Buckets when Interval was set (the
// counts of each bucket keyed by group value, or by "*" without GroupBy),
// otherwise Counts, the most frequent values first.
type Stats struct {
	Buckets []StatsBucket `json:"buckets,omitempty"`
	Counts  []StatsCount  `json:"counts,omitempty"`
}

// StatsBucket is one time bucket.
type StatsBucket struct {
	Start  time.Time        `json:"start"`
	Counts map[string]int64 `json:"counts"`
}

// StatsCount is one group value and its count.
type StatsCount struct {
	Value string `json:"value"`
	Count int64  `json:"count"`
}

// Validate checks q (not q.Query, which the store normalises).
func (q *StatsQuery) Validate() error {
	if q.GroupBy == "" && q.Interval == 0 {
		return FieldError("group_by", "group_by or interval is required")
	}
	if q.GroupBy != "" {
		ok := false
		for _, f := range StatsGroupFields {
			ok = ok || f == q.GroupBy
		}
		if !ok {
			return FieldError("group_by", "must be one of action, actor, outcome, ip, resource_type, severity")
		}
	}
	if q.Interval < 0 || (q.Interval > 0 && q.Interval < time.Second) {
		return FieldError("interval", "must be at least 1s")
	}
	if q.Interval%time.Second != 0 {
		return FieldError("interval", "must be a whole number of seconds")
	}
	return nil
}

// StatsCounter accumulates a Stats result from matching events. Stores that
// cannot aggregate natively feed it every matching event.
type StatsCounter struct {
	q       *StatsQuery
	total   map[string]int64
	buckets map[int64]map[string]int64
}

// NewStatsCounter returns a counter for q.
func NewStatsCounter(q *StatsQuery) *StatsCounter {
	return &StatsCounter{q: q, total: map[string]int64{}, buckets: map[int64]map[string]int64{}}
}

// Add counts e. It returns an ETOOLARGE *Error when the buckets exceed
// MaxStatsBuckets.
func (c *StatsCounter) Add(e *Event) error {
	key := "*"
	if c.q.GroupBy != "" {
		key = FieldValue(e, c.q.GroupBy)
	}
	if c.q.Interval == 0 {
		c.total[key]++
		return nil
	}
	iv := int64(c.q.Interval / time.Second)
	sec := e.Time.Unix()
	start := sec / iv * iv
	if sec < 0 && sec%iv != 0 {
		start -= iv
	}
	b := c.buckets[start]
	if b == nil {
		if len(c.buckets) >= MaxStatsBuckets {
			return &Error{Code: ETOOLARGE, Field: "interval", Message: "more than 10000 buckets: use a larger interval or a shorter range"}
		}
		b = map[string]int64{}
		c.buckets[start] = b
	}
	b[key]++
	return nil
}

// Result returns the accumulated Stats: buckets sorted by start, counts by
// count descending then value, at most MaxStatsValues of them.
func (c *StatsCounter) Result() *Stats {
	if c.q.Interval != 0 {
		st := &Stats{Buckets: make([]StatsBucket, 0, len(c.buckets))}
		for start, m := range c.buckets {
			st.Buckets = append(st.Buckets, StatsBucket{Start: time.Unix(start, 0).UTC(), Counts: m})
		}
		sort.Slice(st.Buckets, func(i, j int) bool { return st.Buckets[i].Start.Before(st.Buckets[j].Start) })
		return st
	}
	st := &Stats{Counts: make([]StatsCount, 0, len(c.total))}
	for v, n := range c.total {
		st.Counts = append(st.Counts, StatsCount{Value: v, Count: n})
	}
	sort.Slice(st.Counts, func(i, j int) bool {
		a, b := st.Counts[i], st.Counts[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		return a.Value < b.Value
	})
	if len(st.Counts) > MaxStatsValues {
		st.Counts = st.Counts[:MaxStatsValues]
	}
	return st
}
