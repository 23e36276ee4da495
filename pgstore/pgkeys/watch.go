package pgkeys

import (
	"context"

	"github.com/trail-audit/trail/pgstore/pgwatch"
)

// Reloader is what Watch keeps up to date: *auth.Keys.
type Reloader = pgwatch.Reloader

// WatchOptions configure Watch (see pgwatch.Options). The zero value is
// ready to use; ApplicationName defaults to "trail-keys-watch".
type WatchOptions = pgwatch.Options

// Watch keeps keys in step with the database until ctx is done, then
// returns ctx.Err(); it never gives up before. It opens a connection of its
// own (the pool's configuration, outside the pool), LISTENs on the schema's
// key channel, and calls keys.Reload once listening and again after every
// notification; notifications that arrive during a reload cause one more
// reload after it, not one each. A failed reload is retried with backoff.
//
// When the connection is lost, or stays silent for PingEvery and then fails
// a ping within Timeout, Watch reconnects with exponential backoff between MinBackoff and
// MaxBackoff and reloads once listening again, since a notification sent in
// between is lost. Until then the node keeps the keys it had: changes made
// through other nodes in that time reach it only after the reconnection.
//
// Call it once per Keys, in a goroutine, after auth.NewKeys: changes made
// between NewKeys and the first LISTEN are picked up by the first reload.
func (s *Store) Watch(ctx context.Context, keys Reloader, opts WatchOptions) error {
	opts.Name = "keys"
	if opts.ApplicationName == "" {
		opts.ApplicationName = "trail-keys-watch"
	}
	return pgwatch.Watch(ctx, s.pool, channelSQL, keys, opts)
}
