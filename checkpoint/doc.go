// Package checkpoint signs, verifies and parses checkpoints: the signed
// statements of a log's size and Merkle root.
//
// # Model
//
// A checkpoint is a C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint)
// carried in a C2SP signed note (https://c2sp.org/signed-note), as
// implemented by golang.org/x/mod/sumdb/note. Its body is three lines, the
// origin (in trail, "<server-name>/<tenant>"), the tree size in decimal and
// the RFC 6962 / RFC 9162 root hash in standard base64, then a blank line and
// one Ed25519 signature line per signer (testdata/checkpoint.golden):
//
//	trail.example.com/acme
//	1234
//	fkO00iomjMuosSlAEwXbHIShbj7WsZhq/YIigYfwqR4=
//
//	— trail.example.com GieIK1UHuXGrmllbR/T7mrK7UyDhL7vs2uk0EjqZvBlm7WOZWloIYpMyKIwLZLx+CBzP2AkZSaYCTGF9uX5dzNCOrgI=
//
// Extension lines after the root line are allowed by the spec; this package
// accepts and ignores them and never writes any.
//
// Signing keys are the note package's encoded keys ("PRIVATE+KEY+name+hash+…"
// and "name+hash+…"). [WriteKeyFile], [LoadKeyFile] and [LoadOrCreateKeyFile]
// keep the private key in a file readable by its owner only; they are the
// only functions here that do I/O.
package checkpoint
