// Package limit rate-limits callers with token buckets, one per key (an API
// key id, a client IP, a tenant).
//
// # Model
//
// Each key has a bucket that holds up to Burst tokens and refills
// continuously at Rate tokens per second; a new or long-idle bucket is full.
// A call costs n tokens (one request, or the events of a batch). It is
// allowed when the bucket holds at least min(n, Burst) tokens, and then n
// tokens are taken, so the bucket may go into debt: a batch larger than
// Burst is let through when the bucket is full, and later calls wait until
// the debt is paid. A key is therefore charged exactly what it sent: in any
// period t it gets through at most Rate·t + Burst tokens plus the excess of
// one oversized batch, and no batch is refused forever for being large
// (bounding batch size is the API's job).
//
// A refused call takes nothing and returns how long to wait until the same
// call would be allowed (for a Retry-After header), assuming no other calls
// on the key meanwhile. Refusals are counted (Limiter.Hits).
//
// Memory is bounded: the limiter keeps at most MaxKeys buckets in
// least-recently-used order. Buckets that have refilled are worth nothing
// (a fresh bucket is full too) and are dropped as new keys arrive; when the
// limit is reached the least recently used bucket is dropped even if it is
// not full, which forgives that key's debt. With the default of 100,000
// keys that takes a flood of distinct keys within one refill period.
//
// The clock is injected, so tests move time by hand.
package limit
