// Package merkle maintains a per-tenant append-only Merkle tree and produces
// and checks its proofs.
//
// # Model
//
// The tree is the Merkle Tree Hash of RFC 6962 §2.1 (unchanged in RFC 9162
// §2.1.1): a leaf hashes as SHA-256(0x00 ‖ data), an interior node as
// SHA-256(0x01 ‖ left ‖ right), and the empty tree as SHA-256(""). Leaf i is
// the event with seq i. Inclusion proofs (audit paths, RFC 6962 §2.1.1) and
// consistency proofs (RFC 6962 §2.1.2) are exactly those any RFC 6962
// verifier accepts; the tests check them against
// github.com/transparency-dev/merkle.
//
// Hashes are stored in tiles as specified by C2SP tlog-tiles
// (https://c2sp.org/tlog-tiles) with height [TileHeight] = 8: the tile at
// tile level L and index N holds up to 256 consecutive hashes of tree level
// 8·L, starting at hash N·256; a tile with fewer than 256 hashes is a partial
// tile on the right edge of the tree. The hashes of the tree levels between
// two tile levels are not stored; they are recomputed from the tile below.
// Tile coordinates, paths and the hash arithmetic come from
// golang.org/x/mod/sumdb/tlog ([tlog.Tile], [tlog.NewTiles], [tlog.ProveRecord],
// [tlog.ProveTree]).
//
// # Persistence
//
// The package does no I/O. A [Tree] keeps the hashes that are not yet in a
// persisted full tile in memory and reads older ones through a [TileReader]
// the storage engine implements. The engine's writer loop is:
//
//	tree.Append(leafHashes...)       // integrate; tree.Root() is the new root
//	for _, td := range tree.Tiles() { // full and partial tiles that changed
//		write td.Tile.Path() ← td.Data durably
//	}
//	tree.Persisted(tree.Size())      // in-memory hashes under full tiles are dropped
//
// After a restart, [Open] rebuilds the tree from the persisted tiles.
//
// [Builder] computes a root from a stream of leaf hashes in O(log n) memory,
// for deep verification of a stored log against a signed checkpoint.
package merkle
