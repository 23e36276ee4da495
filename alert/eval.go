package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strconv"
	"strings"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/internal/leafmatch"
	"github.com/trail-audit/trail/query"
)

// ruleState is the persisted evaluation state of one rule.
type ruleState struct {
	Fingerprint string               `json:"fp"`
	Keys        map[string]*keyState `json:"keys,omitempty"`
	FirstTime   int64                `json:"first,omitempty"` // new_value: event time of the first event (learning)
	Since       int64                `json:"since,omitempty"` // absence: clock time the rule started watching
	Capped      int64                `json:"capped,omitempty"`
}

// keyState is the persisted state of one (rule, group key). Times are Unix
// nanoseconds.
type keyState struct {
	Times []int64 `json:"t,omitempty"` // threshold: event times, sorted
	Seqs  []int64 `json:"s,omitempty"` // threshold: the seqs of Times

	Buckets     []int64 `json:"b,omitempty"`  // spike: counts per window bucket, a ring
	Bucket      int64   `json:"bi,omitempty"` // spike: newest bucket index
	FirstBucket int64   `json:"bf,omitempty"` // spike: first bucket seen
	BucketSeq   int64   `json:"bs,omitempty"` // spike: first seq in the newest bucket
	FiredBucket int64   `json:"bx,omitempty"` // spike: bucket of the last firing + 1

	Values map[string]int64 `json:"v,omitempty"` // new_value: value → last event time

	Last    int64 `json:"l,omitempty"`  // latest event time seen
	LastSeq int64 `json:"ls,omitempty"` // seq of that event
	FiredAt int64 `json:"f,omitempty"`  // time of the last firing, 0 for never
	Alerted bool  `json:"a,omitempty"`  // absence: fired for the current silence
}

// compiled is a rule ready to evaluate.
type compiled struct {
	rule  *Rule
	match trail.Matcher
	leaf  *leafmatch.Filter // what the leaf of an event match accepts holds
	// timeOnly: the rule matches every event and groups nothing, so an
	// event's time and seq are all it needs (the ingest spike default).
	timeOnly  bool
	window    int64
	cooldown  int64
	nbuckets  int64 // spike: baseline / window
	st        *ruleState
	cappedLog bool // the cap was reported since the last sweep
}

func compile(r *Rule) (*compiled, error) {
	x, err := query.Parse(r.Filter)
	if err != nil {
		return nil, err
	}
	m, err := x.Compile()
	if err != nil {
		return nil, err
	}
	c := &compiled{rule: r, match: m, leaf: leafmatch.New(x), window: int64(r.Window), cooldown: int64(r.Cooldown),
		timeOnly: x == nil && r.GroupBy == "" && r.Kind != KindNewValue}
	if r.Kind == KindSpike {
		c.nbuckets = int64(r.Baseline / r.Window)
	}
	return c, nil
}

// fingerprint identifies the evaluation semantics of r: state kept for one
// fingerprint is discarded when the rule changes to another.
func fingerprint(r *Rule) string {
	return strings.Join([]string{string(r.Kind), r.Filter, r.GroupBy, r.Field,
		strconv.FormatInt(int64(r.Window), 10), strconv.Itoa(r.Threshold),
		strconv.FormatFloat(r.Factor, 'g', -1, 64), strconv.FormatInt(int64(r.Baseline), 10)}, "\x00")
}

// firing is an alert decided by evaluation, before it is appended.
type firing struct {
	rule     *Rule
	group    string
	count    int
	value    string
	firstSeq int64
	lastSeq  int64
	at       int64 // event time (clock time for absence) of the firing
	idKey    string
}

// alertID derives the id of the trail.alert.fired event of a firing from
// what decided it, so that evaluating the same events again after a crash
// gives the same id and Store.Append stores it once.
func alertID(tenant string, f *firing) string {
	h := sha256.New()
	for _, s := range []string{tenant, f.rule.ID, f.group, f.idKey} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return "alrt_" + hex.EncodeToString(h.Sum(nil)[:16])
}

// evaluator holds the evaluation state of one tenant. It is not safe for
// concurrent use.
type evaluator struct {
	rules     []*compiled
	watermark int64 // latest (clamped) event time seen
	lateness  int64
	maxKeys   int
	maxValues int
	late      int64 // events too late for windowed rules
	capped    func(r *Rule, n int64)
	pre       *leafmatch.Filter // see setFilter
	content   bool              // an enabled rule needs events' content
}

// eventTime returns the time evaluation uses for an event of time tm
// received at received: tm, or received when tm is more than the
// lateness ahead of it (a client clock in the future must not freeze the
// windows of everyone else).
func (ev *evaluator) eventTime(tm, received time.Time) int64 {
	t := tm.UnixNano()
	if tm.IsZero() {
		t = received.UnixNano()
	}
	if !received.IsZero() {
		if r := received.UnixNano(); t > r+ev.lateness {
			t = r
		}
	}
	return t
}

// observe moves the watermark to an event's time and reports that time
// and whether it is late for windowed rules.
func (ev *evaluator) observe(tm, received time.Time) (t int64, late bool) {
	t = ev.eventTime(tm, received)
	late = t < ev.watermark-ev.lateness
	if late {
		ev.late++
	}
	if t > ev.watermark {
		ev.watermark = t
	}
	return t, late
}

// setFilter records the condition on leaf bytes of the events that some
// enabled rule needing their content may match (see mayMatch). Call it
// whenever rules change.
func (ev *evaluator) setFilter() {
	var fs []*leafmatch.Filter
	for _, c := range ev.rules {
		if !c.rule.Disabled && !c.timeOnly {
			fs = append(fs, c.leaf)
		}
	}
	ev.content = len(fs) > 0
	ev.pre = leafmatch.Or(fs...)
}

// mayMatch reports whether an event whose stored leaf is data may match
// an enabled rule that needs its content. When false,
// evaluateSummary(SummarizeEvent(data)) has the effect evaluate would
// have had, without decoding the event.
func (ev *evaluator) mayMatch(data []byte) bool {
	return ev.content && ev.pre.May(data)
}

// isAlertAction reports whether an action is the engine's own, which no
// rule evaluates.
func isAlertAction(a string) bool { return strings.HasPrefix(a, "trail.alert.") }

// evaluate runs every rule on e (whose Seq is set) and appends firings.
func (ev *evaluator) evaluate(e *trail.Event, out []*firing) []*firing {
	if isAlertAction(e.Action) {
		return out
	}
	t, late := ev.observe(e.Time, e.ReceivedAt)
	for _, c := range ev.rules {
		if c.rule.Disabled || !c.match(e) {
			continue
		}
		key, value := "", ""
		if c.rule.GroupBy != "" {
			if key = groupValue(e, c.rule.GroupBy); key == "" {
				continue
			}
		}
		if c.rule.Kind == KindNewValue {
			if value = groupValue(e, c.rule.Field); value == "" {
				continue
			}
		}
		out = ev.apply(c, key, value, t, late, e.Seq, out)
	}
	return out
}

// evaluateSummary is evaluate for an event that no enabled rule needing
// its content may match (see mayMatch), from its summary: the watermark
// moves and the rules that need only its time (timeOnly) count it.
func (ev *evaluator) evaluateSummary(s trail.EventSummary, seq int64, out []*firing) []*firing {
	if isAlertAction(s.Action) {
		return out
	}
	t, late := ev.observe(s.Time, s.ReceivedAt)
	for _, c := range ev.rules {
		if !c.rule.Disabled && c.timeOnly {
			out = ev.apply(c, "", "", t, late, seq, out)
		}
	}
	return out
}

// apply evaluates rule c on a matching event of group key (value: the
// new_value field's) at time t.
func (ev *evaluator) apply(c *compiled, key, value string, t int64, late bool, seq int64, out []*firing) []*firing {
	switch c.rule.Kind {
	case KindThreshold:
		if !late {
			if f := ev.threshold(c, key, t, seq); f != nil {
				out = append(out, f)
			}
		}
	case KindSpike:
		if !late {
			if f := ev.spike(c, key, t, seq); f != nil {
				out = append(out, f)
			}
		}
	case KindNewValue:
		if f := ev.newValue(c, key, value, t, seq); f != nil {
			out = append(out, f)
		}
	case KindAbsence:
		ks := ev.key(c, key)
		if ks == nil {
			return out
		}
		if t >= ks.Last {
			ks.Last, ks.LastSeq = t, seq
		}
		ks.Alerted = false
	}
	return out
}

// key returns the state of a group key, creating it; nil when the rule
// holds MaxKeys keys and none can be evicted.
func (ev *evaluator) key(c *compiled, key string) *keyState {
	if ks, ok := c.st.Keys[key]; ok {
		return ks
	}
	if c.st.Keys == nil {
		c.st.Keys = map[string]*keyState{}
	}
	if len(c.st.Keys) >= ev.maxKeys {
		ev.sweepRule(c)
		if len(c.st.Keys) >= ev.maxKeys && c.rule.Kind == KindNewValue {
			ev.evictOldest(c)
		}
		if len(c.st.Keys) >= ev.maxKeys {
			c.st.Capped++
			if !c.cappedLog && ev.capped != nil {
				ev.capped(c.rule, c.st.Capped)
			}
			c.cappedLog = true
			return nil
		}
	}
	ks := &keyState{}
	c.st.Keys[strings.Clone(key)] = ks
	return ks
}

func (ev *evaluator) cooled(c *compiled, ks *keyState, at int64) bool {
	return ks.FiredAt == 0 || at >= ks.FiredAt+c.cooldown
}

// threshold counts events per key in sliding windows (x-window, x] of
// event time. An event counted in a firing is consumed: it never counts
// towards another firing of the rule.
func (ev *evaluator) threshold(c *compiled, key string, t, seq int64) *firing {
	ks := ev.key(c, key)
	if ks == nil {
		return nil
	}
	i := sort.Search(len(ks.Times), func(i int) bool { return ks.Times[i] > t })
	ks.Times = append(ks.Times, 0)
	ks.Seqs = append(ks.Seqs, 0)
	copy(ks.Times[i+1:], ks.Times[i:])
	copy(ks.Seqs[i+1:], ks.Seqs[i:])
	ks.Times[i], ks.Seqs[i] = t, seq
	if t > ks.Last {
		ks.Last, ks.LastSeq = t, seq
	}
	// Drop what no window can hold any more, and bound the slice.
	horizon := ev.watermark - c.window - ev.lateness
	drop := sort.Search(len(ks.Times), func(i int) bool { return ks.Times[i] > horizon })
	if limit := 2*c.rule.Threshold + 64; len(ks.Times)-drop > limit {
		drop = len(ks.Times) - limit
	}
	if drop > 0 {
		ks.Times = append(ks.Times[:0], ks.Times[drop:]...)
		ks.Seqs = append(ks.Seqs[:0], ks.Seqs[drop:]...)
		i -= drop
		if i < 0 {
			return nil
		}
	}
	// The windows that gained an event end at t or at a later event less
	// than a window after t.
	for j := i; j < len(ks.Times) && ks.Times[j] < t+c.window; j++ {
		x := ks.Times[j]
		lo := sort.Search(j, func(k int) bool { return ks.Times[k] > x-c.window })
		n := j + 1 - lo
		// Later events at the same time belong to the same window end.
		hi := j + 1
		for hi < len(ks.Times) && ks.Times[hi] == x {
			hi++
			n++
		}
		if n < c.rule.Threshold || !ev.cooled(c, ks, x) {
			continue
		}
		f := &firing{rule: c.rule, group: key, count: n, at: x, firstSeq: ks.Seqs[lo], lastSeq: ks.Seqs[lo]}
		for _, s := range ks.Seqs[lo:hi] {
			f.firstSeq = min(f.firstSeq, s)
			f.lastSeq = max(f.lastSeq, s)
		}
		f.idKey = "threshold:" + strconv.FormatInt(f.lastSeq, 10) + ":" + strconv.FormatInt(seq, 10)
		ks.FiredAt = x
		ks.Times = append(ks.Times[:lo], ks.Times[hi:]...)
		ks.Seqs = append(ks.Seqs[:lo], ks.Seqs[hi:]...)
		return f
	}
	return nil
}

// spike counts events per key in buckets of one window aligned on the Unix
// epoch, keeping the baseline's buckets before the newest.
func (ev *evaluator) spike(c *compiled, key string, t, seq int64) *firing {
	ks := ev.key(c, key)
	if ks == nil {
		return nil
	}
	n := c.nbuckets + 1
	b := floorDiv(t, c.window)
	if ks.Buckets == nil {
		ks.Buckets = make([]int64, n)
		ks.Bucket, ks.FirstBucket, ks.BucketSeq = b, b, seq
	}
	switch {
	case b > ks.Bucket:
		for k := ks.Bucket + 1; k <= b && k <= ks.Bucket+n; k++ {
			ks.Buckets[mod(k, n)] = 0
		}
		ks.Bucket, ks.BucketSeq = b, seq
	case b <= ks.Bucket-n:
		return nil // older than the baseline
	}
	ks.Buckets[mod(b, n)]++
	if t > ks.Last {
		ks.Last, ks.LastSeq = t, seq
	}
	if b != ks.Bucket || b-ks.FirstBucket < c.nbuckets || ks.FiredBucket == b+1 {
		return nil
	}
	cur := ks.Buckets[mod(b, n)]
	if cur < int64(c.rule.Threshold) {
		return nil
	}
	var sum int64
	for k := b - c.nbuckets; k < b; k++ {
		sum += ks.Buckets[mod(k, n)]
	}
	avg := float64(sum) / float64(c.nbuckets)
	if float64(cur) < c.rule.Factor*avg || !ev.cooled(c, ks, t) {
		return nil
	}
	ks.FiredAt, ks.FiredBucket = t, b+1
	return &firing{rule: c.rule, group: key, count: int(cur), at: t, firstSeq: min(ks.BucketSeq, seq), lastSeq: seq,
		idKey: "spike:" + strconv.FormatInt(b, 10)}
}

// newValue fires on the first appearance of v for key after the learning
// period.
func (ev *evaluator) newValue(c *compiled, key, v string, t, seq int64) *firing {
	if c.st.FirstTime == 0 {
		c.st.FirstTime = t
	}
	ks := ev.key(c, key)
	if ks == nil {
		return nil
	}
	if t > ks.Last {
		ks.Last, ks.LastSeq = t, seq
	}
	if old, ok := ks.Values[v]; ok {
		if t > old {
			ks.Values[v] = t
		}
		return nil
	}
	if ks.Values == nil {
		ks.Values = map[string]int64{}
	}
	if len(ks.Values) >= ev.maxValues {
		oldest, at := "", int64(0)
		for k, lt := range ks.Values {
			if oldest == "" || lt < at || lt == at && k < oldest {
				oldest, at = k, lt
			}
		}
		delete(ks.Values, oldest)
	}
	ks.Values[strings.Clone(v)] = t
	if c.window > 0 && t < c.st.FirstTime+c.window {
		return nil // learning
	}
	if !ev.cooled(c, ks, t) {
		return nil
	}
	ks.FiredAt = t
	return &firing{rule: c.rule, group: key, value: v, count: 1, at: t, firstSeq: seq, lastSeq: seq,
		idKey: "new_value:" + v + ":" + strconv.FormatInt(seq, 10)}
}

// absence checks every key of absence rules against the clock now.
func (ev *evaluator) absence(now int64, out []*firing) []*firing {
	for _, c := range ev.rules {
		if c.rule.Kind != KindAbsence || c.rule.Disabled {
			continue
		}
		if c.st.Since == 0 {
			c.st.Since = now
		}
		if c.rule.GroupBy == "" && len(c.st.Keys) == 0 {
			// Nothing seen yet: silence counts from when the rule started.
			if ks := ev.key(c, ""); ks != nil {
				ks.Last, ks.LastSeq = c.st.Since, -1
			}
		}
		var forget []string
		for key, ks := range c.st.Keys {
			silent := now - ks.Last
			if ks.Alerted {
				if c.rule.GroupBy != "" && silent >= 10*c.window {
					forget = append(forget, key)
				}
				continue
			}
			if silent < c.window || !ev.cooled(c, ks, now) {
				continue
			}
			ks.Alerted, ks.FiredAt = true, now
			out = append(out, &firing{rule: c.rule, group: key, count: 0, at: now, firstSeq: ks.LastSeq, lastSeq: ks.LastSeq,
				idKey: "absence:" + strconv.FormatInt(ks.LastSeq, 10) + ":" + strconv.FormatInt(ks.Last, 10)})
		}
		for _, k := range forget {
			delete(c.st.Keys, k)
		}
	}
	return out
}

// sweep evicts idle keys of every rule.
func (ev *evaluator) sweep() {
	for _, c := range ev.rules {
		ev.sweepRule(c)
		c.cappedLog = false
	}
}

// sweepRule evicts the keys of c that no future event can make fire
// differently from a fresh key: threshold keys whose events are all out of
// every window and out of cooldown, spike keys idle for longer than the
// baseline. new_value and absence keys are not idle by time.
func (ev *evaluator) sweepRule(c *compiled) {
	var horizon int64
	switch c.rule.Kind {
	case KindThreshold:
		horizon = ev.watermark - c.window - ev.lateness
	case KindSpike:
		horizon = ev.watermark - (c.nbuckets+1)*c.window - ev.lateness
	default:
		return
	}
	for k, ks := range c.st.Keys {
		if ks.Last <= horizon && (ks.FiredAt == 0 || ks.FiredAt+c.cooldown <= ev.watermark-ev.lateness) {
			delete(c.st.Keys, k)
		}
	}
}

// evictOldest removes the least recently seen key of c.
func (ev *evaluator) evictOldest(c *compiled) {
	oldest, at, found := "", int64(0), false
	for k, ks := range c.st.Keys {
		if !found || ks.Last < at || ks.Last == at && k < oldest {
			oldest, at, found = k, ks.Last, true
		}
	}
	if found {
		delete(c.st.Keys, oldest)
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

func mod(a, n int64) int64 {
	m := a % n
	if m < 0 {
		m += n
	}
	return m
}
