// Package pgwatch keeps an in-memory copy in step with a PostgreSQL table
// that announces its changes with NOTIFY: it LISTENs on a dedicated
// connection and calls Reload after every notification and after every
// reconnection (a notification sent while not listening is lost).
package pgwatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Reloader is what Watch keeps up to date (e.g. *auth.Keys).
type Reloader interface {
	Reload(ctx context.Context) error
}

// WatchOptions configure Watch. The zero value is ready to use.
type Options struct {
	// Name names what is watched in log messages, e.g. "keys".
	Name string

	// Logger receives a warning when the listening connection is lost and
	// an error when a reload fails; nil discards them.
	Logger *slog.Logger

	// OnReload, when set, is called after every reload with its error (nil
	// on success), from one goroutine at a time: for metrics, and for tests
	// to learn that the watcher is listening (the first call comes after
	// LISTEN).
	OnReload func(err error)

	// ApplicationName is the application_name of the listening connection,
	// as pg_stat_activity shows it; default "trail-watch-" + Name.
	ApplicationName string

	// PingEvery is how long the connection may stay silent before Watch
	// pings it to find out whether it is still alive; default 30s.
	PingEvery time.Duration

	// Timeout bounds connecting and LISTENing, and the wait for the answer
	// to a ping; default 10s.
	Timeout time.Duration

	// MinBackoff and MaxBackoff bound the wait before reconnecting, which
	// doubles after every failed attempt, and before retrying a failed
	// reload; defaults 100ms and 5s.
	MinBackoff, MaxBackoff time.Duration
}

func (o *Options) setDefaults() {
	if o.Name == "" {
		o.Name = "table"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ApplicationName == "" {
		o.ApplicationName = "trail-watch-" + o.Name
	}
	if o.PingEvery <= 0 {
		o.PingEvery = 30 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(5*time.Second, o.MinBackoff)
	}
}

// Watch keeps r in step with the database until ctx is done, then
// returns ctx.Err(); it never gives up before. It opens a connection of its
// own (the pool's configuration, outside the pool), LISTENs on the schema's
// channel, and calls r.Reload once listening and again after every
// notification; notifications that arrive during a reload cause one more
// reload after it, not one each. A failed reload is retried with backoff.
//
// When the connection is lost, or stays silent for PingEvery and then fails
// a ping within Timeout, Watch reconnects with exponential backoff between MinBackoff and
// MaxBackoff and reloads once listening again, since a notification sent in
// between is lost. Until then r keeps what it had: changes made
// through other nodes in that time reach it only after the reconnection.
//
// Call it in a goroutine after loading r: changes made between the load
// and the first LISTEN are picked up by the first reload.
func Watch(ctx context.Context, pool *pgxpool.Pool, channelSQL string, r Reloader, opts Options) error {
	opts.setDefaults()
	w := &watcher{pool: pool, channelSQL: channelSQL, target: r, opts: opts, dirty: make(chan struct{}, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.reloadLoop(ctx)
	}()
	w.listenLoop(ctx)
	<-done
	return ctx.Err()
}

// watcher is one run of Watch: listenLoop marks the copy dirty on every
// notification and reconnection, reloadLoop reloads them.
type watcher struct {
	pool       *pgxpool.Pool
	channelSQL string   // SQL expression of the channel name
	target     Reloader // what is kept up to date
	opts       Options
	dirty      chan struct{} // capacity 1: a pending reload
}

// markDirty asks reloadLoop for a reload, unless one is already pending.
func (w *watcher) markDirty() {
	select {
	case w.dirty <- struct{}{}:
	default:
	}
}

// reloadLoop reloads the copy whenever they are marked dirty, and retries
// a failed reload with backoff.
func (w *watcher) reloadLoop(ctx context.Context) {
	backoff := w.opts.MinBackoff
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.dirty:
		case <-retry:
		}
		err := w.target.Reload(ctx)
		if ctx.Err() != nil {
			return
		}
		if w.opts.OnReload != nil {
			w.opts.OnReload(err)
		}
		if err == nil {
			retry, backoff = nil, w.opts.MinBackoff
			continue
		}
		w.opts.Logger.Error("pgwatch: reloading "+w.opts.Name+" failed; retrying", "err", err, "in", backoff)
		retry = time.After(backoff)
		backoff = min(2*backoff, w.opts.MaxBackoff)
	}
}

// listenLoop listens until ctx is done, reconnecting with backoff.
func (w *watcher) listenLoop(ctx context.Context) {
	backoff := w.opts.MinBackoff
	for {
		listened, err := w.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		if listened {
			backoff = w.opts.MinBackoff
		}
		w.opts.Logger.Warn("pgwatch: listening for changes of "+w.opts.Name+" failed; reconnecting", "err", err, "in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, w.opts.MaxBackoff)
	}
}

// listen connects, LISTENs, marks the copy dirty and then again on every
// notification, until the connection fails or ctx is done. It reports
// whether it got as far as listening.
func (w *watcher) listen(ctx context.Context) (bool, error) {
	cfg := w.pool.Config().ConnConfig // a copy
	cfg.RuntimeParams["application_name"] = w.opts.ApplicationName
	cctx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, cfg)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(ctx)
	}()
	var channel string
	if err := conn.QueryRow(cctx, `SELECT `+w.channelSQL).Scan(&channel); err != nil {
		return false, fmt.Errorf("channel: %w", err)
	}
	if _, err := conn.Exec(cctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	w.markDirty() // changes made while not listening were not announced to us
	for {
		wctx, cancel := context.WithTimeout(ctx, w.opts.PingEvery)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			w.markDirty()
		case ctx.Err() != nil:
			return true, ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			pctx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
			err := conn.Ping(pctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				return true, fmt.Errorf("ping: %w", err)
			}
		default:
			return true, fmt.Errorf("wait for notification: %w", err)
		}
	}
}
