// Package keyring holds the AES-256 keys that encrypt trail's data at rest
// (DESIGN.md §7), each under a short id so that keys can rotate without
// rewriting what older keys encrypted: the ring's current key encrypts,
// any key in the ring decrypts.
//
// # Key files
//
// A ring is parsed from text, one key per line, as read from a key file
// (ReadFile refuses a file whose mode is wider than 0600) or taken from an
// environment variable (Parse):
//
//	# trail encryption keys: never reuse an id for other key bytes
//	k1 3q2+7w8AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
//	k2 Ez4R0wSZ0nxe9ZgYq2wR8w6bC7X9fJm0eV8k5kq1n2s=
//	current k2
//
// A key line is an id (1 to 64 characters of A-Z a-z 0-9 . _ -, not the
// word "current") and the standard base64 of 32 random bytes. The last key
// line is the current key unless a "current <id>" line names another.
// Everything from '#' to the end of a line is a comment; blank lines are
// ignored. Generate makes a new key line.
//
// # Sealed units
//
// A Sealer encrypts one unit (a WAL record, a block chunk…) with AES-256-GCM
// under the current key and the caller's additional data (AAD), which names
// the unit's place so that a unit moved elsewhere no longer decrypts:
//
//	+------+-------+----+-----------+------------+----------+
//	| 0xEC | idLen | id | nonce     | ciphertext | GCM tag  |
//	| 1 B  | 1 B   |    | 12 bytes  | len(plain) | 16 bytes |
//	+------+-------+----+-----------+------------+----------+
//
// The key id travels in the clear, so a reader knows which key to use and
// can say which one it lacks. Nonces are never reused with a key: each
// Sealer draws a random 96-bit starting nonce and counts up from it, one
// per unit, so its own units never share a nonce, whatever happens to the
// files (a truncated and rewritten WAL tail gets fresh nonces); two Sealers
// of one key (two runs of the process) collide only if their ranges
// overlap, with a probability below S²·N/2⁹⁶ for S Sealers of N units each
// (2⁻³² for 65 536 process starts of 2³² units each). Rotate keys well
// before that: a new key resets the count.
//
// Open and Ring.Open report a unit sealed with a key the ring lacks as an
// *UnknownKeyError and one that fails authentication as a *DecryptError;
// both name the key id and never the key. CheckValue and VerifyCheck let a
// store record, per key id, a value that tells a wrong key from damaged
// data (a *WrongKeyError).
package keyring
