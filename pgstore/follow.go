package pgstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/trail-audit/trail"
)

// A commit notification's payload is "<size> <tenant>" per tenant, one per
// line; a payload is at most notifyMax bytes (PostgreSQL allows 8000).
const notifyMax = 7000

// notifyPayloads returns the payloads announcing sizes.
func notifyPayloads(sizes map[string]int64) []string {
	var out []string
	var b strings.Builder
	for tenant, size := range sizes {
		line := strconv.FormatInt(size, 10) + " " + tenant
		if b.Len() > 0 && b.Len()+1+len(line) > notifyMax {
			out = append(out, b.String())
			b.Reset()
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(line)
	}
	if b.Len() > 0 {
		out = append(out, b.String())
	}
	return out
}

// parsePayload calls fn for every tenant and size in a payload, skipping
// malformed lines.
func parsePayload(p string, fn func(tenant string, size int64)) {
	for line := range strings.SplitSeq(p, "\n") {
		n, tenant, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		size, err := strconv.ParseInt(n, 10, 64)
		if err != nil || size < 0 {
			continue
		}
		fn(tenant, size)
	}
}

// observe records that each tenant's log holds at least the given number
// of events and wakes the waiters of the tenants for which that is news,
// and only those: a commit into one tenant does not wake the followers of
// the others (one alert engine per tenant, sinks, live tails).
func (s *Store) observe(updates map[string]int64) {
	s.sizeMu.Lock()
	defer s.sizeMu.Unlock()
	for tenant, size := range updates {
		if size > s.sizes[tenant] || (size == 0 && !s.hasSizeLocked(tenant)) {
			s.sizes[tenant] = size
			s.heard++
			if ch, ok := s.changed[tenant]; ok {
				close(ch)
				delete(s.changed, tenant)
			}
		}
	}
}

func (s *Store) hasSizeLocked(tenant string) bool {
	_, ok := s.sizes[tenant]
	return ok
}

// knownSize returns the latest size this node knows of tenant, and
// whether it knows one.
func (s *Store) knownSize(tenant string) (int64, bool) {
	s.sizeMu.Lock()
	defer s.sizeMu.Unlock()
	size, ok := s.sizes[tenant]
	return size, ok
}

// sizeSignal is knownSize with a channel that is closed at the next change
// of tenant's size, and the count of changes heard so far for any tenant.
func (s *Store) sizeSignal(tenant string) (size int64, ok bool, changed <-chan struct{}, heard uint64) {
	s.sizeMu.Lock()
	defer s.sizeMu.Unlock()
	size, ok = s.sizes[tenant]
	ch := s.changed[tenant]
	if ch == nil {
		ch = make(chan struct{})
		s.changed[tenant] = ch
	}
	return size, ok, ch, s.heard
}

// beat records a heartbeat of the listener: its connection answered, so
// every commit before it was delivered.
func (s *Store) beat() {
	s.sizeMu.Lock()
	defer s.sizeMu.Unlock()
	s.heard++
}

// heardCount returns the count of the listener's signs of life so far:
// size changes of any tenant and heartbeats.
func (s *Store) heardCount() uint64 {
	s.sizeMu.Lock()
	defer s.sizeMu.Unlock()
	return s.heard
}

// reloadSizes reads every tenant's size from the database.
func (s *Store) reloadSizes(ctx context.Context) error {
	rows, err := s.pool.Query(ctx, `SELECT tenant, size FROM trail_tenants`)
	if err != nil {
		return err
	}
	m := map[string]int64{}
	for rows.Next() {
		var tenant string
		var size int64
		if err := rows.Scan(&tenant, &size); err != nil {
			rows.Close()
			return err
		}
		m[tenant] = size
	}
	if err := rows.Err(); err != nil {
		return err
	}
	s.observe(m)
	return nil
}

// listenerName is the application_name of the commit listener's
// connection for schema (at most 63 bytes, PostgreSQL's limit).
func listenerName(schema string) string {
	name := "trail-commit-listener " + schema
	if len(name) > 63 {
		name = name[:63]
	}
	return name
}

// listen keeps a dedicated connection LISTENing for commits of every node
// until Close. After a reconnect it reloads every size, since
// notifications sent meanwhile are lost. ready receives the outcome of the
// first connection.
func (s *Store) listen(cfg *pgx.ConnConfig, ready chan<- error) {
	defer s.wg.Done()
	backoff := 50 * time.Millisecond
	first := true
	for {
		err := s.listenOnce(cfg, func() {
			if first {
				first = false
				ready <- nil
			}
			backoff = 50 * time.Millisecond
		})
		if first {
			ready <- fmt.Errorf("pgstore: listen: %w", err)
			return
		}
		if s.ctx.Err() != nil {
			return
		}
		s.opts.Logger.Warn("pgstore: commit listener lost its connection; reconnecting", "err", err, "backoff", backoff)
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// listenOnce connects, LISTENs, reloads sizes, calls up, and then applies
// notifications until the connection fails or the store closes.
func (s *Store) listenOnce(cfg *pgx.ConnConfig, up func()) error {
	conn, err := pgx.ConnectConfig(s.ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(s.ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		return err
	}
	if err := s.reloadSizes(s.ctx); err != nil {
		return err
	}
	up()
	for {
		// Wait at most half a PollInterval for a notification, then prove
		// the connection alive with a ping (a heartbeat): waiters poll
		// the database only when the listener has shown no sign of life
		// for a whole PollInterval (see Wait). Without heartbeats every
		// idle follower polled once per interval: a thousand alert
		// engines made a thousand queries a second on a quiet server.
		wctx, cancel := context.WithTimeout(s.ctx, s.opts.PollInterval/2)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil && s.ctx.Err() == nil && pgconn.Timeout(err) {
			// A timed-out wait leaves the connection usable (nothing of
			// a message had been read). Notifications that arrive during
			// the ping are kept by pgx for the next wait. A slow ping only
			// delays the beat (waiters poll meanwhile), so its timeout is
			// generous: only a dead connection should end this one.
			pctx, cancel := context.WithTimeout(s.ctx, pollTimeout)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return err
			}
			s.beat()
			continue
		}
		if err != nil {
			return err
		}
		m := map[string]int64{}
		parsePayload(n.Payload, func(tenant string, size int64) { m[tenant] = size })
		s.observe(m)
	}
}

// pollTimeout bounds a poll of one tenant's size and a heartbeat ping of
// the listener.
const pollTimeout = 10 * time.Second

// Wait blocks until tenant's log holds more than size events.
func (s *Store) Wait(ctx context.Context, tenant string, size int64) (int64, error) {
	if err := trail.ValidateTenantName(tenant); err != nil {
		return 0, err
	}
	polled, first := false, true
	for {
		cur, ok, changed, heard := s.sizeSignal(tenant)
		if ok && cur > size {
			return cur, nil
		}
		if first && ok && cur == size {
			// The listener knows of exactly the caller's size, so it has
			// heard of all the caller saw: wait for its next change
			// without a query (a follower that waits after every read,
			// as each alert engine does, would otherwise query each
			// time).
			polled = true
		}
		first = false
		if !polled {
			// The listener may not have heard yet of a commit that the
			// caller already saw (e.g. one made through another node).
			if err := s.pollSize(ctx, tenant); err != nil {
				return 0, err
			}
			polled = true
			continue
		}
		if s.isClosed() {
			return 0, errClosed
		}
		t := time.NewTimer(s.opts.PollInterval)
		select {
		case <-changed:
		case <-t.C:
			// Poll when the listener showed no sign of life (a commit of
			// any tenant, or a heartbeat) for a whole interval: it may
			// be cut off. While it delivers other commits or answers its
			// pings, it would have delivered this one's too (and reloads
			// every size after a reconnect), so a thousand idle
			// followers do not poll a thousand times a second.
			polled = s.heardCount() != heard
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		case <-s.closed:
			t.Stop()
			return 0, errClosed
		}
		t.Stop()
	}
}

// pollSize reads tenant's size from the database. The query does not run
// under ctx but under a timeout of its own (ctx is checked before): pgx
// closes a connection whose query is cancelled, and a follower's wait
// typically ends by its deadline, so polls racing that deadline made the
// pool replace a connection every few polls (a new backend each, whose
// first statements are parsed and planned again).
func (s *Store) pollSize(ctx context.Context, tenant string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.polls.Add(1)
	qctx, cancel := context.WithTimeout(s.ctx, pollTimeout)
	defer cancel()
	var size int64
	err := s.pool.QueryRow(qctx, `SELECT size FROM trail_tenants WHERE tenant = $1`, tenant).Scan(&size)
	if err == pgx.ErrNoRows {
		return nil
	}
	if err != nil {
		return s.dbError("wait", err)
	}
	s.observe(map[string]int64{tenant: size})
	return nil
}
