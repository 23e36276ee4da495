// Package logstore is trail's embedded event store: a single-node,
// log-structured engine in one data directory, modelled on Prometheus TSDB
// and Kafka (see DESIGN.md §4 and docs/design/logstore.md).
//
// # Layout
//
//	<dir>/LOCK                               flock held while open
//	<dir>/wal/00000001.wal …                 write-ahead log shared by all tenants
//	<dir>/tenants/<tenant>/blocks/*.blk      immutable compressed blocks (package block),
//	                                         each followed by its id → row table
//	<dir>/tenants/<tenant>/tiles/L<n>        Merkle tiles, height 8 (C2SP tlog-tiles)
//	<dir>/tenants/<tenant>/checkpoints.log   every checkpoint signed at a block boundary
//	<dir>/ENCRYPTION                         when encrypted at rest: key ids and check values
//
// # Write path
//
// Append prepares events in the caller's goroutine (normalise, validate,
// canonical JSON, index terms). One writer goroutine takes every waiting
// batch, assigns seqs, hashes leaves, integrates them into each tenant's
// tree, writes the whole commit as ONE WAL record and calls fdatasync once
// (group commit), signing a checkpoint per touched tenant while the sync
// runs; only then does it publish the events to readers and acknowledge
// every batch. A commit's signed checkpoints are logged in the next
// commit's record.
//
// # Read path
//
// Recent events live in memory (the head) with an inverted index; older ones
// in blocks with per-block dictionaries and postings. Queries plan candidate
// rows from the indexes, then decode and match exactly with the reference
// matcher of trail.Expr.
//
// # Encryption at rest
//
// With Options.Encryption (a keyring.Ring), every WAL record, block chunk,
// block index and id table is sealed with AES-256-GCM under the ring's
// current key, with additional data naming the unit's file and place, so
// units cannot be moved undetected; any key of the ring opens them, so
// keys rotate without rewriting anything. Tiles and checkpoints.log hold
// only hashes and signed tree heads and stay plaintext. Open fails with an
// error naming the key id and the file when the ring lacks a key the data
// needs or holds other bytes under its id, and when an encrypted store is
// opened without a ring. See encryption.go and docs/design/logstore.md.
//
// # Recovery
//
// Open loads blocks and tiles, replays the WAL after the blocks, truncating a
// torn tail, and checks every tenant's rebuilt root against its last signed
// checkpoint. A tenant that fails is quarantined: its operations return an
// EUNAVAILABLE error wrapping a *trail.TamperError.
package logstore
