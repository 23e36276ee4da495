// Package export writes a tenant's events in the export formats of trail's
// GET /v1/export (DESIGN.md §6) and verifies the verifiable bundle offline.
//
// Every writer streams: it holds one event at a time, so memory does not grow
// with the number of events. Writers are not safe for concurrent use.
//
// # NDJSON
//
// [NDJSONWriter] writes one line per event: exactly the event's Merkle leaf,
// its RFC 8785 (JCS) canonical JSON ([trail.Event.AppendCanonical]), then
// "\n". So for every line, SHA-256(0x00 ‖ line without its newline) is the
// event's RFC 6962 leaf hash, and anyone can recompute a checkpoint's root
// from a complete export. An erased event (content removed by retention or
// erasure) has no leaf left to write; its line is a stub of its server fields
// that carries the leaf hash instead:
//
//	{"erased":true,"id":"…","leaf_hash":"<base64>","received_at":"…","seq":7,"tenant":"acme"}
//
// A stub can never be mistaken for a leaf: a leaf's first key is always
// "action".
//
// # CSV
//
// [CSVWriter] writes RFC 4180 CSV: a header row, then one row per event with
// the fixed columns of [CSVColumns]. Times are RFC 3339 in UTC, changes and
// metadata are canonical JSON, leaf_hash is standard base64. A cell that a
// spreadsheet would run as a formula (it starts with = + - @, TAB or CR, per
// the OWASP CSV injection advice) is prefixed with a single quote '.
//
// # Bundle
//
// [BundleWriter] writes a zip archive that proves its events are in a
// tenant's log without trusting the server that produced it:
//
//	checkpoint     the signed C2SP tlog-checkpoint note, byte for byte
//	key            the note verifier key of the checkpoint's signer
//	README.txt     how to verify the bundle
//	events.ndjson  the events, as NDJSON above, in increasing seq order
//	proofs.ndjson  line i is the RFC 6962 inclusion proof of line i's event
//	               in the checkpoint's tree:
//	               {"seq":5,"leaf_index":5,"tree_size":1042,"hashes":["<base64>",…]}
//	manifest.json  {"format":"trail-bundle/1","tenant":…,"origin":…,"tree_size":…,
//	               "events":…,"first_seq":…,"last_seq":…,"created_at":…,"filter":…}
//
// The zip entries are written one after the other, so the events are
// streamed straight into the archive while their proofs, asked from a
// [ProofSource] as each event is written, go to a temporary file that Close
// copies in and removes.
//
// [VerifyBundle] checks a bundle offline: the checkpoint signature, the
// manifest against the checkpoint, and every event line against its
// inclusion proof and the checkpoint root ([merkle.VerifyInclusion]). Any
// RFC 6962 verifier can do the same from these files alone.
//
// References: RFC 6962 §2.1 (Merkle tree, audit paths), RFC 8785 (JCS),
// C2SP tlog-checkpoint and signed-note (https://c2sp.org), RFC 4180 (CSV),
// OWASP "CSV Injection".
package export
