// Package sink delivers a tenant's committed audit events to outside
// systems: signed webhooks, syslog (RFC 5424 over TCP/TLS), Splunk HEC,
// OCSF over HTTP and NDJSON files (DESIGN.md §8).
//
// # Model
//
// A Sink is a configuration: one tenant, one destination, a filter in the
// query language (package query) and a batch size. A Runner delivers one
// Sink. It never gets a private copy of the event stream (DESIGN.md §3):
// it reads the durable log by seq with trail.Store.Read, starting at its
// cursor, and blocks in trail.Store.Wait when it has caught up. Records
// whose content was erased and events the filter rejects are skipped; the
// rest are delivered in seq order, in batches, to a Destination. Only when
// the destination acknowledged a batch is the cursor moved past it and
// saved in a CursorStore, so a crash or restart resumes where delivery
// stopped: delivery is at least once, and every event carries its id (and
// seq) for receivers to dedup on. A failing destination is retried with
// exponential backoff and jitter, forever; the sink stalls (state
// "retrying") rather than skip an event. Pause, Resume and Replay (move the
// cursor back to a seq) act on a running Runner.
//
// # Wiring
//
// One Runner per configured sink, all sharing the store and a cursor store:
//
//	cursors := &sink.FileCursors{Dir: filepath.Join(dataDir, "sinks")}
//	env := sink.Env{FileDir: filepath.Join(dataDir, "sink-files")}
//	dest, err := sink.Open(&cfg, env)           // cfg: a stored sink.Sink
//	r, err := sink.NewRunner(cfg, sink.Options{Store: store, Cursors: cursors, Destination: dest, Logger: log})
//	go r.Run(ctx)                                // until ctx is cancelled; then dest.Close()
//	r.Status(); r.Pause(); r.Resume(); r.Replay(ctx, seq)
//
// POST /v1/sinks decodes a Sink, sets ID and Tenant, makes a webhook secret
// with NewSecret when none is given, and calls Normalize (EINVALID errors
// name the field). Responses use Redacted, except that the creation of a
// webhook sink returns its secret once.
//
// # Destinations
//
// Each destination type documents its wire format: Webhook (Standard
// Webhooks, https://www.standardwebhooks.com), Syslog (RFC 5424, RFC 5425,
// RFC 6587 octet counting; CEF payloads per AppendCEF), HEC (Splunk HTTP
// Event Collector), OCSF (https://schema.ocsf.io; the class mapping is
// MapOCSF's) and File.
package sink
