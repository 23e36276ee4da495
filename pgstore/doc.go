// Package pgstore is the PostgreSQL implementation of trail.Store
// (DESIGN.md §5): several stateless trail nodes share one database.
//
// Events live in trail_events, range-partitioned by received_at; a
// partition is created ahead of need. An Append is one transaction: it
// locks the row of every tenant it touches in trail_tenants (which
// sequences each tenant, so seqs stay gapless however many nodes ingest
// into it), copies the events and their ids with COPY, widens the tenant's
// Merkle tiles in trail_tiles, stores a signed checkpoint in
// trail_checkpoints and notifies every node (LISTEN/NOTIFY), whose live
// readers then see the commit.
//
// The leaf of an event is its canonical JSON, stored verbatim in
// trail_events.data; the other columns are derived from it for indexing
// and are checked against it by Verify, so a row altered with SQL behind
// trail's back is found and named.
//
// Retention deletes the content of a tenant's old events, keeps their
// ids and leaf hashes (trail_erased, trail_tiles) so every proof stays
// valid, and drops partitions left empty.
package pgstore
