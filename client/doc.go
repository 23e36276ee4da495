// Package client is the Go SDK of trail: it sends audit events to a trail
// server (POST /v1/events, DESIGN.md §6) without making the application
// wait for, or fail with, trail.
//
// Send validates an event, gives it an id (a UUIDv7, unless it has one)
// and queues it in memory; it never blocks longer than Config.SendTimeout.
// A background sender posts the queue in batches of Config.BatchSize, or
// after Config.FlushInterval, and retries failures (network errors, 5xx,
// 429, honouring Retry-After) with exponential backoff and jitter. Because
// the id is fixed before the first attempt and trail stores an id once per
// tenant (a repeat gets the original receipt, marked duplicate), delivery is
// at least once on the wire and exactly once in trail.
//
// With Config.SpoolDir, batches trail does not take go to an on-disk spool
// (append-only segment files of CRC-framed records, fsync'd, bounded by
// Config.SpoolMaxBytes) and are replayed in order when trail answers again,
// and by New after the application restarts. When the queue is full the
// Config.FailPolicy decides: block (up to SendTimeout), spool, or
// drop-and-count. An event trail refuses for good (a 4xx that names it) is
// counted, logged, handed to Config.OnReject and not retried; the rest of
// its batch is sent.
//
// docs/sdk-go.md is the user guide.
package client
