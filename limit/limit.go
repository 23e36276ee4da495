package limit

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxKeys is the number of buckets a Limiter keeps when
// Config.MaxKeys is 0.
const DefaultMaxKeys = 100_000

// Config sets the limit of every key of a Limiter.
type Config struct {
	Rate    float64 // tokens added per second (one token per 1/Rate, rounded to the nanosecond); 0 (or negative, NaN, +Inf) means unlimited
	Burst   int     // bucket size; less than 1 means 1
	MaxKeys int     // buckets kept at most; 0 means DefaultMaxKeys
}

// Limiter holds one token bucket per key. It is safe for concurrent use.
//
// Buckets are kept in the generic cell rate form: a bucket stores the time
// at which it will be full again (full), and holds Burst − (full − now)/T
// tokens, T being the time one token takes to refill (1/Rate, rounded to the
// nanosecond). All arithmetic is in integer nanoseconds, so waiting exactly
// the returned retryAfter always suffices.
type Limiter struct {
	interval int64 // T: nanoseconds per token; 0 = unlimited
	burst    int64
	max      int
	now      func() time.Time

	hits atomic.Int64

	mu      sync.Mutex
	buckets map[string]*bucket
	lru     bucket // sentinel: lru.next is the most recently used bucket, lru.prev the least
}

// bucket is one key's token bucket and its place in the LRU list.
type bucket struct {
	key        string
	full       int64 // unix ns when the bucket is full again; beyond seen+Burst·T while in debt
	seen       int64 // latest clock reading, so a clock going backwards earns nothing
	prev, next *bucket
}

// evictScan bounds how many refilled buckets one new key may drop.
const evictScan = 8

// maxCost caps the charge of one call, in nanoseconds, against overflow.
const maxCost = int64(1) << 62

// New returns a Limiter with cfg for every key; now is its clock (nil means
// time.Now).
func New(cfg Config, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	l := &Limiter{now: now, burst: int64(max(cfg.Burst, 1)), max: cfg.MaxKeys, buckets: map[string]*bucket{}}
	if cfg.Rate > 0 && !math.IsInf(cfg.Rate, 1) {
		l.interval = max(int64(math.Round(float64(time.Second)/cfg.Rate)), 1)
	}
	if l.max <= 0 {
		l.max = DefaultMaxKeys
	}
	l.lru.next, l.lru.prev = &l.lru, &l.lru
	return l
}

// Allow charges n tokens (n < 1 counts as 1) to key's bucket. It reports
// whether the call may proceed and, when it may not, how long until the
// same call would be allowed. A call is allowed when the bucket holds at
// least min(n, Burst) tokens; it then takes all n, leaving the bucket in
// debt when n exceeds what it held. A refused call takes nothing and counts
// as a hit. An unlimited Limiter allows everything and keeps no buckets.
func (l *Limiter) Allow(key string, n int) (ok bool, retryAfter time.Duration) {
	if l.interval == 0 {
		return true, 0
	}
	cnt := int64(max(n, 1))
	cost := maxCost
	if cnt <= maxCost/l.interval {
		cost = cnt * l.interval
	}
	need := min(cnt, l.burst) * l.interval
	capacity := l.burst * l.interval
	now := l.now().UnixNano()

	l.mu.Lock()
	b := l.buckets[key]
	if b == nil {
		b = l.insertLocked(key, now)
	} else {
		l.unlink(b)
		l.pushFront(b)
	}
	now = max(now, b.seen)
	b.seen = now
	full := max(b.full, now)
	// The bucket holds capacity − (full − now) worth of tokens.
	if wait := (full - now) - (capacity - need); wait > 0 {
		l.mu.Unlock()
		l.hits.Add(1)
		return false, time.Duration(wait)
	}
	b.full = min(full+cost, now+maxCost)
	l.mu.Unlock()
	return true, 0
}

// Hits returns the number of calls refused so far.
func (l *Limiter) Hits() int64 { return l.hits.Load() }

// Len returns the number of buckets held.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// insertLocked adds a full bucket for key, first dropping refilled buckets
// from the cold end of the LRU list and, at the size limit, the least
// recently used one. l.mu must be held.
func (l *Limiter) insertLocked(key string, now int64) *bucket {
	for range evictScan {
		old := l.lru.prev
		if old == &l.lru || old.full > now {
			break
		}
		l.remove(old)
	}
	for len(l.buckets) >= l.max {
		l.remove(l.lru.prev)
	}
	b := &bucket{key: key, full: now, seen: now}
	l.buckets[key] = b
	l.pushFront(b)
	return b
}

func (l *Limiter) remove(b *bucket) {
	l.unlink(b)
	delete(l.buckets, b.key)
}

func (l *Limiter) unlink(b *bucket) {
	b.prev.next, b.next.prev = b.next, b.prev
	b.prev, b.next = nil, nil
}

func (l *Limiter) pushFront(b *bucket) {
	b.prev, b.next = &l.lru, l.lru.next
	l.lru.next.prev = b
	l.lru.next = b
}
