package client

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	trail "github.com/trail-audit/trail"
)

// Errors of Send. All are *trail.Error with code EUNAVAILABLE; compare with
// errors.Is.
var (
	// ErrQueueFull: under FailBlock the queue stayed full for SendTimeout.
	// The event was not accepted.
	ErrQueueFull = &trail.Error{Code: trail.EUNAVAILABLE, Field: "QueueSize", Message: "the queue stayed full for SendTimeout"}
	// ErrDropped: under FailDrop the queue was full; the event was dropped
	// and counted.
	ErrDropped = &trail.Error{Code: trail.EUNAVAILABLE, Field: "QueueSize", Message: "the queue is full: event dropped and counted"}
	// ErrClosed: the client is closed (or closing).
	ErrClosed = trail.Errorf(trail.EUNAVAILABLE, "the trail client is closed")
)

// item is an event in the in-memory queue.
type item struct {
	n    uint64    // position in the order of Send, from 1
	at   time.Time // when it was queued (wall clock with monotonic reading)
	data []byte    // client JSON
}

// Client sends events to trail in the background. Create it with New,
// send with Send, and Close it before the program exits. All methods are
// safe for concurrent use.
type Client struct {
	cfg     Config
	log     *slog.Logger
	url     string
	sp      *spool // nil without a spool
	n       counters
	latency *prometheus.HistogramVec

	randMu sync.Mutex

	mu       sync.Mutex
	queue    []item
	closed   bool
	accepted uint64        // n of the last queued item
	settled  uint64        // every queued item up to this n was delivered, spooled, rejected or dropped
	flushTo  uint64        // items up to this n are sent without waiting for FlushInterval
	room     chan struct{} // closed (and replaced) when the queue gives up items
	progress chan struct{} // closed (and replaced) when settled advances
	wake     chan struct{} // wakes the pump; capacity 1

	ctx        context.Context // cancelled when Close gives up: requests stop
	cancel     context.CancelFunc
	stop       chan struct{} // closed when Close starts: the pump drains the queue
	replayStop chan struct{} // closed once the pump is done: the replayer drains and exits
	pumpDone   chan struct{}
	replayDone chan struct{}
	closeOnce  sync.Once
	closeErr   error
	recovered  int
}

// New validates cfg (EINVALID errors name the field), opens the spool when
// there is one (replaying what an earlier run left, in order, in the
// background) and starts the sender.
func New(cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		cfg: cfg, log: log, url: strings.TrimRight(cfg.Server, "/") + "/v1/events",
		room: make(chan struct{}), progress: make(chan struct{}), wake: make(chan struct{}, 1),
		stop: make(chan struct{}), replayStop: make(chan struct{}), pumpDone: make(chan struct{}), replayDone: make(chan struct{}),
	}
	if cfg.SpoolDir != "" {
		if c.sp, err = openSpool(cfg.SpoolDir, cfg.SpoolMaxBytes, log); err != nil {
			return nil, err
		}
		c.recovered = c.sp.recovered
		if c.recovered > 0 {
			log.Info("trail client: replaying spooled events of an earlier run", "events", c.recovered, "dir", cfg.SpoolDir)
		}
	}
	if c.latency, err = c.registerMetrics(cfg.Registerer); err != nil {
		if c.sp != nil {
			c.sp.close()
		}
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	go c.pump()
	if c.sp != nil {
		go c.replay()
	} else {
		close(c.replayDone)
	}
	return c, nil
}

// Send queues e for delivery and returns without waiting for trail. It
// assigns e.ID (a UUIDv7) when empty, sets e.Tenant to Config.Tenant when
// empty and e.Time to now when zero, so that every retry and replay carries
// the same id and trail stores the event once. An event that breaks the
// rules of DESIGN.md §2 is refused at once with an EINVALID error naming
// the field. When the queue is full the FailPolicy applies; Send never
// blocks longer than SendTimeout (FailSpool: plus one fsync). Send returns
// nil exactly when the event was accepted (queued or spooled).
func (c *Client) Send(ctx context.Context, e trail.Event) error {
	_, err := c.SendID(ctx, e)
	return err
}

// SendID is Send that also returns the event's id (the one it had or the
// one Send assigned), also when the event was not accepted.
func (c *Client) SendID(ctx context.Context, e trail.Event) (string, error) {
	now := c.cfg.Now()
	if e.ID == "" {
		c.randMu.Lock()
		id, err := trail.NewUUIDv7(now, c.cfg.Rand)
		c.randMu.Unlock()
		if err != nil {
			return "", fmt.Errorf("event id: %w", err)
		}
		e.ID = id
	}
	if e.Tenant == "" {
		e.Tenant = c.cfg.Tenant
	}
	if e.Time.IsZero() {
		e.Time = now
	}
	v := e
	v.Normalize(now, nil)
	if err := v.Validate(trail.Limits{}); err != nil {
		return e.ID, err
	}
	data, err := encodeEvent(&e)
	if err != nil {
		return e.ID, trail.FieldError("metadata", "cannot be encoded as JSON: %v", err)
	}
	if len(data) > trail.DefaultLimits.MaxEventBytes {
		return e.ID, &trail.Error{Code: trail.ETOOLARGE, Message: fmt.Sprintf("event is %d bytes of JSON, the limit is %d", len(data), trail.DefaultLimits.MaxEventBytes)}
	}
	return e.ID, c.enqueue(ctx, data)
}

// enqueue applies the queue bound and the fail policy.
func (c *Client) enqueue(ctx context.Context, data []byte) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if len(c.queue) < c.cfg.QueueSize {
		c.pushLocked(data)
		return nil
	}
	switch c.cfg.FailPolicy {
	case FailDrop:
		c.mu.Unlock()
		c.n.dropped.Add(1)
		return ErrDropped
	case FailSpool:
		c.mu.Unlock()
		if err := c.sp.append([][]byte{data}); err != nil {
			return fmt.Errorf("queue full and spool refused the event: %w", err)
		}
		c.n.sent.Add(1)
		c.n.spooled.Add(1)
		return nil
	}
	timer := time.NewTimer(c.cfg.SendTimeout)
	defer timer.Stop()
	for len(c.queue) >= c.cfg.QueueSize {
		room := c.room
		c.mu.Unlock()
		select {
		case <-room:
		case <-timer.C:
			return ErrQueueFull
		case <-ctx.Done():
			return ctx.Err()
		}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return ErrClosed
		}
	}
	c.pushLocked(data)
	return nil
}

// pushLocked queues data and unlocks c.mu.
func (c *Client) pushLocked(data []byte) {
	c.accepted++
	c.queue = append(c.queue, item{n: c.accepted, at: time.Now(), data: data})
	full := len(c.queue) == c.batchFull() || len(c.queue) == 1
	c.mu.Unlock()
	c.n.sent.Add(1)
	if full {
		c.poke()
	}
}

// batchFull is the queue length at which a batch goes without waiting
// for FlushInterval: BatchSize, or QueueSize when that is smaller.
func (c *Client) batchFull() int { return min(c.cfg.BatchSize, c.cfg.QueueSize) }

func (c *Client) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Flush sends what is queued without waiting for FlushInterval and waits
// until every event Send accepted before the call is acknowledged,
// rejected, dropped or spooled, or ctx is done (its error is returned).
func (c *Client) Flush(ctx context.Context) error {
	c.mu.Lock()
	target := c.accepted
	c.flushTo = max(c.flushTo, target)
	c.mu.Unlock()
	c.poke()
	for {
		c.mu.Lock()
		if c.settled >= target {
			c.mu.Unlock()
			return nil
		}
		ch := c.progress
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close stops accepting events (Send returns ErrClosed), delivers what is
// queued and what the spool holds while trail answers, and spools what it
// cannot deliver. With a spool it returns as soon as trail fails to take a
// batch, leaving the rest spooled for the next New on the same SpoolDir.
// Without a spool it retries until everything is delivered or ctx is done;
// events still undelivered then are dropped, counted, and reported in the
// error. Close waits for the background goroutines and releases the spool;
// calling it again returns the first result.
func (c *Client) Close(ctx context.Context) error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		close(c.room)
		c.room = make(chan struct{})
		c.mu.Unlock()
		before := c.n.dropped.Load()
		close(c.stop)
		done := make(chan struct{})
		go func() {
			<-c.pumpDone
			close(c.replayStop)
			<-c.replayDone
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			c.cancel()
			<-done
		}
		c.cancel()
		var errs []error
		if lost := c.n.dropped.Load() - before; lost > 0 {
			errs = append(errs, fmt.Errorf("close: %d events could not be delivered or spooled and were dropped", lost))
		}
		if c.sp != nil {
			if !c.sp.empty() {
				c.log.Info("trail client: closed with events left in the spool; the next New on it replays them", "dir", c.cfg.SpoolDir, "bytes", c.sp.bytes())
			}
			if err := c.sp.close(); err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) > 0 && ctx.Err() != nil {
			errs = append(errs, ctx.Err())
		}
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}

// Stats returns the client's counts now.
func (c *Client) Stats() Stats {
	return Stats{
		Sent: c.n.sent.Load(), Acknowledged: c.n.acked.Load(), Duplicates: c.n.dups.Load(), Retried: c.n.retried.Load(),
		Spooled: c.n.spooled.Load(), Replayed: c.n.replayed.Load(), Rejected: c.n.rejected.Load(), Dropped: c.n.dropped.Load(),
		Queued: c.queueLen(), SpoolBytes: c.spoolBytes(), Recovered: c.recovered,
	}
}

func (c *Client) queueLen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

func (c *Client) spoolBytes() int64 {
	if c.sp == nil {
		return 0
	}
	return c.sp.bytes()
}

// pump forms batches from the queue (BatchSize events, or what waited
// FlushInterval, or everything on Flush and Close) and delivers them one
// at a time.
func (c *Client) pump() {
	defer close(c.pumpDone)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		c.mu.Lock()
		stopping := c.closed
		if len(c.queue) == 0 {
			c.mu.Unlock()
			if stopping {
				return
			}
			select {
			case <-c.wake:
			case <-c.stop:
			}
			continue
		}
		if len(c.queue) < c.batchFull() && !stopping && c.flushTo < c.queue[0].n {
			if wait := c.cfg.FlushInterval - time.Since(c.queue[0].at); wait > 0 {
				c.mu.Unlock()
				timer.Reset(wait)
				select {
				case <-c.wake:
				case <-c.stop:
				case <-timer.C:
				}
				timer.Stop()
				continue
			}
		}
		k := min(len(c.queue), c.cfg.BatchSize)
		batch := make([][]byte, k)
		for i := range batch {
			batch[i] = c.queue[i].data
		}
		last := c.queue[k-1].n
		clear(c.queue[:k])
		c.queue = c.queue[k:]
		close(c.room)
		c.room = make(chan struct{})
		c.mu.Unlock()

		c.deliverLive(batch)

		c.mu.Lock()
		c.settled = last
		close(c.progress)
		c.progress = make(chan struct{})
		c.mu.Unlock()
	}
}

// deliverLive delivers a batch from the queue. While the spool holds a
// backlog the batch joins it, so that a trail that is down is not asked
// twice and events arrive roughly in order. A failure that may pass
// spools the batch when there is a spool with room, and otherwise retries
// with backoff until Close gives up, when what is left is dropped.
func (c *Client) deliverLive(batch [][]byte) {
	if c.sp != nil && !c.sp.empty() && c.spill(batch) == nil {
		return
	}
	c.deliver(batch, false, func(rest [][]byte, attempt int, after time.Duration) bool {
		if c.sp != nil {
			if err := c.spill(rest); err == nil {
				return true
			} else if attempt == 1 {
				c.log.Warn("trail client: cannot spool; retrying from memory", "err", err)
			}
		}
		if c.sleep(c.backoff(attempt, after), c.ctx.Done()) {
			return false
		}
		c.n.dropped.Add(int64(len(rest)))
		c.log.Error("trail client: events dropped at close: trail did not take them and there is no room in a spool", "events", len(rest))
		return true
	})
}

// spill writes events to the spool.
func (c *Client) spill(batch [][]byte) error {
	if err := c.sp.append(batch); err != nil {
		return err
	}
	c.n.spooled.Add(int64(len(batch)))
	return nil
}

// replay delivers the spool's segments, oldest first, deleting each once
// all its events are acknowledged or rejected. It retries with backoff
// until Close; from then on the first failure leaves the rest spooled.
func (c *Client) replay() {
	defer close(c.replayDone)
	attempt := 0
	for {
		seg, recs, ok, err := c.sp.next()
		if err != nil {
			attempt++
			c.log.Error("trail client: read spool", "err", err)
			if isClosed(c.replayStop) || !c.sleep(c.backoff(attempt, 0), c.replayStop) {
				return
			}
			continue
		}
		attempt = 0
		if !ok {
			if isClosed(c.replayStop) {
				return
			}
			select {
			case <-c.sp.notifyData:
			case <-c.replayStop:
			}
			continue
		}
		for i := 0; i < len(recs); i += c.cfg.BatchSize {
			rest := c.deliver(recs[i:min(i+c.cfg.BatchSize, len(recs))], true, func(_ [][]byte, attempt int, after time.Duration) bool {
				if isClosed(c.replayStop) || isClosed(c.ctx.Done()) {
					return true
				}
				c.sleep(c.backoff(attempt, after), c.replayStop) // woken by Close: one more try
				return isClosed(c.ctx.Done())
			})
			if rest != nil {
				return // Close: the segment stays for the next run
			}
		}
		if err := c.sp.remove(seg); err != nil {
			c.log.Error("trail client: remove delivered spool segment", "err", err)
		}
	}
}

func isClosed[T any](ch <-chan T) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// sleep waits d; it returns false when interrupt fires first.
func (c *Client) sleep(d time.Duration, interrupt <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-interrupt:
		return false
	}
}

// backoff returns the delay before retry number attempt (from 1):
// MinBackoff doubled per attempt up to MaxBackoff, jittered to between
// half and all of it, and never shorter than a Retry-After of after.
func (c *Client) backoff(attempt int, after time.Duration) time.Duration {
	d := c.cfg.MaxBackoff
	if attempt < 40 {
		d = min(c.cfg.MinBackoff<<(attempt-1), c.cfg.MaxBackoff)
	}
	var b [8]byte
	c.randMu.Lock()
	_, err := c.cfg.Rand.Read(b[:])
	c.randMu.Unlock()
	if half := d / 2; half > 0 && err == nil {
		d = half + time.Duration(binary.LittleEndian.Uint64(b[:])%uint64(half+1))
	}
	return max(d, after)
}
