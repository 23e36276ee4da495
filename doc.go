// Package trail holds the domain of the trail audit log service: the audit
// Event and its parts, tenants, queries, receipts, checkpoints and proofs, the
// Store interface that every storage engine implements, and the Error type
// with codes that every layer returns.
//
// The package imports only the standard library. Storage engines live in
// their own packages (logstore, pgstore) and are checked by the conformance
// suite in storetest; the HTTP layer (api) maps Error codes to statuses.
//
// # Model
//
// Each tenant owns an append-only log of events numbered seq = 0, 1, 2, …
// with no gaps. The Merkle leaf of an event is its RFC 8785 (JCS) canonical
// JSON encoding (see Event.AppendCanonical) with the server fields id, seq,
// tenant and received_at included and leaf_hash excluded; the leaf hash is
// SHA-256(0x00‖leaf) as in RFC 6962. After every durable commit the store
// signs a C2SP tlog-checkpoint for each tenant the commit touched, so an
// acknowledged event is always covered by a signed tree head.
package trail
