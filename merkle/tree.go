package merkle

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/bits"
	"sync"

	"golang.org/x/mod/sumdb/tlog"
)

// TileHeight is the height of every tile: a full tile holds 2^8 = 256 hashes
// (C2SP tlog-tiles).
const TileHeight = 8

// tileWidth is the number of hashes in a full tile.
const tileWidth = 1 << TileHeight

// maxLevel bounds the tree levels: a tree of fewer than 2^63 leaves has
// levels 0 to 62.
const maxLevel = 64

// Hash is a SHA-256 hash of a leaf or a node of the tree.
type Hash = tlog.Hash

// ErrProofFailed is returned, wrapped, by [VerifyInclusion] and
// [VerifyConsistency] when a proof does not prove what it claims to.
// Test for it with errors.Is.
var ErrProofFailed = errors.New("proof failed")

// LeafHash returns the RFC 6962 hash of a leaf with the given data:
// SHA-256(0x00 ‖ data). It equals [tlog.RecordHash].
func LeafHash(data []byte) Hash {
	return tlog.RecordHash(data)
}

// NodeHash returns the RFC 6962 hash of an interior node:
// SHA-256(0x01 ‖ left ‖ right). It equals [tlog.NodeHash].
func NodeHash(left, right Hash) Hash {
	return tlog.NodeHash(left, right)
}

// EmptyRoot returns the root of the empty tree, SHA-256 of the empty string
// (RFC 6962 §2.1).
func EmptyRoot() Hash {
	return sha256.Sum256(nil)
}

// A TileReader reads persisted tiles. The storage engine implements it.
type TileReader interface {
	// ReadTile returns the data of tile t: t.W hashes of 32 bytes each,
	// concatenated (the C2SP tlog-tiles encoding). Data longer than
	// t.W*32 bytes, as from a wider version of the same tile, is accepted
	// and its prefix used. A tile that was never written should give an
	// error that matches fs.ErrNotExist.
	//
	// ReadTile is called concurrently from every goroutine that asks a
	// [Tree] for proofs or old roots, and never with a Tree lock held.
	ReadTile(t tlog.Tile) ([]byte, error)
}

// TileData is a tile and its data, as returned by [Tree.Tiles].
type TileData struct {
	Tile tlog.Tile // Tile.H is always TileHeight; Tile.W < 256 for a partial tile
	Data []byte    // Tile.W hashes of 32 bytes each
}

// Tree is an append-only RFC 6962 Merkle tree. The hashes already in
// persisted full tiles are read on demand through a [TileReader]; the hashes
// of the right edge that are not yet in a persisted full tile are kept in
// memory (at most about 2×256 hashes per tile level once [Tree.Persisted]
// is called after each batch).
//
// A Tree is safe for concurrent use. It is meant to have one writer goroutine
// calling [Tree.Append], [Tree.Tiles] and [Tree.Persisted], while any number
// of readers call the other methods. Readers never wait for tile I/O of other
// readers, and the writer never waits for a reader's tile I/O: tiles are read
// with no lock held. [Tree.Size], [Tree.Root] and proofs about recent leaves
// cost no I/O.
type Tree struct {
	r TileReader

	mu        sync.RWMutex
	size      int64
	persisted int64 // size at the last call to Persisted (or Open)
	root      Hash  // root of the tree of size `size`
	// hashes[l] holds the hashes of tree level l with node indexes
	// lo[l] ≤ i < size>>l. The hashes with lower indexes are in
	// persisted full tiles. lo[l] is always even.
	hashes [maxLevel][]Hash
	lo     [maxLevel]int64

	// persistedCache holds hashes ReadHashes derived from full
	// persisted tiles, by stored hash index. Those tiles never change,
	// so entries never go stale; the map is dropped whole when it holds
	// maxPersistedCache. Proofs of neighbouring leaves (a batch's
	// receipts) share their upper siblings, each of which costs a tile
	// read and up to 255 hashes to derive.
	cacheMu        sync.Mutex
	persistedCache map[int64]Hash
	// recentTiles are the last full tiles ReadHashes read (copies), so
	// that proofs of consecutive leaves, whose level-0 siblings differ,
	// read their tile once.
	recentTiles [recentTileCount]tileData
	nextRecent  int
}

// tileData is a full persisted tile's bytes.
type tileData struct {
	tile tlog.Tile
	data []byte
}

// recentTileCount is the number of full tiles a Tree keeps for proofs
// (8 KiB each).
const recentTileCount = 4

// maxPersistedCache bounds Tree.persistedCache (about 40 bytes an entry).
const maxPersistedCache = 1024

// Open returns a tree of size leaves whose tiles are readable from r.
//
// Open reads the partial tile at the right edge of every tile level
// (tile.W = (size>>(8·L)) mod 256, when not zero). If r reports a partial tile
// of level L ≥ 1 as missing (fs.ErrNotExist), Open rebuilds it from the full
// tiles of level L−1, so an engine that persists only full tiles can open a
// tree at any multiple of 256 leaves and Append the rest from its own log.
// Full tiles are read later, on demand.
//
// Open does not check the tiles against a signed root: callers compare
// [Tree.Root] with their last checkpoint. r may be nil when size is 0: the
// tree then keeps every hash in memory, and [Tree.Persisted] only resets what
// [Tree.Tiles] reports.
func Open(size int64, r TileReader) (*Tree, error) {
	if size < 0 {
		return nil, fmt.Errorf("open tree: size %d: must not be negative", size)
	}
	if size > 0 && r == nil {
		return nil, fmt.Errorf("open tree: size %d: nil tile reader", size)
	}
	t := &Tree{r: r, size: size, persisted: size}
	for L := 0; L*TileHeight < maxLevel && size>>(L*TileHeight) > 0; L++ {
		nL := size >> (L * TileHeight)
		full := nL >> TileHeight
		for k := range TileHeight {
			t.lo[L*TileHeight+k] = full << (TileHeight - k)
		}
		w := int(nL % tileWidth)
		if w == 0 {
			continue
		}
		tile := tlog.Tile{H: TileHeight, L: L, N: full, W: w}
		level, err := t.readPartialTile(tile)
		if err != nil {
			return nil, fmt.Errorf("open tree: %w", err)
		}
		t.hashes[L*TileHeight] = level
		for k := 1; k < TileHeight; k++ {
			below := t.hashes[L*TileHeight+k-1]
			cur := make([]Hash, len(below)/2)
			for j := range cur {
				cur[j] = tlog.NodeHash(below[2*j], below[2*j+1])
			}
			t.hashes[L*TileHeight+k] = cur
		}
	}
	t.root = t.memRoot()
	return t, nil
}

// readPartialTile returns the hashes of the partial tile t, rebuilding it from
// the full tiles below when it is missing.
func (t *Tree) readPartialTile(tile tlog.Tile) ([]Hash, error) {
	data, err := t.readTile(tile)
	if err == nil {
		return splitHashes(data), nil
	}
	if tile.L == 0 || !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	hashes := make([]Hash, tile.W)
	for j := range hashes {
		below := tlog.Tile{H: TileHeight, L: tile.L - 1, N: tile.N<<TileHeight + int64(j), W: tileWidth}
		data, err := t.readTile(below)
		if err != nil {
			return nil, fmt.Errorf("rebuild tile %s: %w", tile.Path(), err)
		}
		hashes[j] = subtreeHash(data)
	}
	return hashes, nil
}

// readTile reads tile and checks the length of its data.
func (t *Tree) readTile(tile tlog.Tile) ([]byte, error) {
	data, err := t.r.ReadTile(tile)
	if err != nil {
		return nil, fmt.Errorf("read tile %s: %w", tile.Path(), err)
	}
	if len(data) < tile.W*tlog.HashSize {
		return nil, fmt.Errorf("read tile %s: got %d bytes, want %d", tile.Path(), len(data), tile.W*tlog.HashSize)
	}
	return data[:tile.W*tlog.HashSize], nil
}

func splitHashes(data []byte) []Hash {
	hashes := make([]Hash, len(data)/tlog.HashSize)
	for i := range hashes {
		copy(hashes[i][:], data[i*tlog.HashSize:])
	}
	return hashes
}

// subtreeHash returns the root of the complete subtree whose bottom hashes are
// data (a power of two number of hashes).
func subtreeHash(data []byte) Hash {
	if len(data) == tlog.HashSize {
		return Hash(data)
	}
	n := len(data) / 2
	return tlog.NodeHash(subtreeHash(data[:n]), subtreeHash(data[n:]))
}

// Append integrates the leaf hashes, in order, as leaves Size(), Size()+1, …
// and updates the root. It costs about one node hash per leaf and no I/O.
// The only error is a tree that would exceed 2^63−1 leaves.
func (t *Tree) Append(leaves ...Hash) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.size
	if int64(len(leaves)) > math.MaxInt64-n {
		return fmt.Errorf("append: %d leaves to a tree of size %d: too many", len(leaves), n)
	}
	for l, k := 0, int64(len(leaves)); l < maxLevel; l++ {
		add := (n+k)>>l - n>>l
		if add == 0 {
			break
		}
		t.reserve(l, int(add))
	}
	for _, h := range leaves {
		t.hashes[0] = append(t.hashes[0], h)
		// Node n>>l of level l completes a pair when it is odd.
		for l := 0; (n>>l)&1 == 1; l++ {
			hs := t.hashes[l]
			m := len(hs)
			h = tlog.NodeHash(hs[m-2], hs[m-1])
			t.hashes[l+1] = append(t.hashes[l+1], h)
		}
		n++
	}
	t.size = n
	t.root = t.memRoot()
	return nil
}

// reserve makes room for k more hashes at level l without a
// reallocation, doubling the level's backing array when it must grow.
// append alone grows a large slice by a quarter at a time; for the
// megabytes of level 0 between two flushes, that copying and the page
// faults of each new array cost more than the hashing.
func (t *Tree) reserve(l, k int) {
	hs := t.hashes[l]
	if cap(hs)-len(hs) >= k {
		return
	}
	grown := make([]Hash, len(hs), max(2*cap(hs), len(hs)+k, 2*tileWidth))
	copy(grown, hs)
	t.hashes[l] = grown
}

// memRoot computes the root of the current tree. The roots of the complete
// subtrees on the right edge are all in partial tiles, so in memory.
func (t *Tree) memRoot() Hash {
	n := t.size
	if n == 0 {
		return EmptyRoot()
	}
	var root Hash
	first := true
	for l := 0; n>>l > 0; l++ {
		if (n>>l)&1 == 0 {
			continue
		}
		h := t.hashes[l][(n>>l)-1-t.lo[l]]
		if first {
			root, first = h, false
		} else {
			root = tlog.NodeHash(h, root)
		}
	}
	return root
}

// Size returns the number of leaves in the tree.
func (t *Tree) Size() int64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.size
}

// Root returns the root hash of the tree of the current size: SHA-256 of the
// empty string for an empty tree. It is cached and costs no hashing.
func (t *Tree) Root() Hash {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.root
}

// SizeRoot returns the size and root of the tree as one consistent snapshot.
func (t *Tree) SizeRoot() (int64, Hash) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.size, t.root
}

// RootAt returns the root hash of the tree when it had size leaves,
// 0 ≤ size ≤ Size(). It may read tiles.
func (t *Tree) RootAt(size int64) (Hash, error) {
	cur, root := t.SizeRoot()
	if size < 0 || size > cur {
		return Hash{}, fmt.Errorf("root at: size %d out of range [0, %d]", size, cur)
	}
	if size == cur {
		return root, nil
	}
	h, err := tlog.TreeHash(size, hashReader{t})
	if err != nil {
		return Hash{}, fmt.Errorf("root at %d: %w", size, err)
	}
	return h, nil
}

// LeafHashAt returns the hash of leaf index, 0 ≤ index < Size().
// It may read a tile.
func (t *Tree) LeafHashAt(index int64) (Hash, error) {
	cur := t.Size()
	if index < 0 || index >= cur {
		return Hash{}, fmt.Errorf("leaf hash: index %d out of range [0, %d)", index, cur)
	}
	hs, err := hashReader{t}.ReadHashes([]int64{tlog.StoredHashIndex(0, index)})
	if err != nil {
		return Hash{}, fmt.Errorf("leaf hash %d: %w", index, err)
	}
	return hs[0], nil
}

// InclusionProof returns the RFC 6962 audit path (§2.1.1) of leaf index in the
// tree of size leaves, 0 ≤ index < size ≤ Size(), ordered from the leaf's
// sibling up to the root's child. It may read tiles.
func (t *Tree) InclusionProof(index, size int64) ([]Hash, error) {
	cur := t.Size()
	if size < 1 || size > cur {
		return nil, fmt.Errorf("inclusion proof: size %d out of range [1, %d]", size, cur)
	}
	if index < 0 || index >= size {
		return nil, fmt.Errorf("inclusion proof: index %d out of range [0, %d)", index, size)
	}
	p, err := t.proveLeaf(index, size)
	if err != nil {
		return nil, fmt.Errorf("inclusion proof of %d in %d: %w", index, size, err)
	}
	return p, nil
}

// proveLeaf is [tlog.ProveRecord] for 0 ≤ index < size ≤ Size(), with the
// same result, in one ReadHashes call and one allocation (the proof): a
// batch's receipts ask for a proof per event.
//
// Going down from the root, the subtree [lo, hi) splits at lo+k, k the
// largest power of two below hi−lo (RFC 6962 §2.1); the proof's hash at
// each split is the other side's subtree hash, listed from the leaf up.
// A left side is always a full subtree (one stored hash); a right side
// is the full subtrees that decompose it, hashed together from the
// right.
func (t *Tree) proveLeaf(index, size int64) ([]Hash, error) {
	type side struct{ first, n int } // the side's hashes in idx/hs
	var (
		sides [maxLevel]side
		ns    int
		idx   [2 * maxLevel]int64 // stored hash indexes, ≤ 2 per level
		ni    int
	)
	for lo, hi := int64(0), size; hi-lo > 1; {
		k := int64(1) << (bits.Len64(uint64(hi-lo-1)) - 1)
		a, b := lo, lo+k // the other side
		if index < lo+k {
			a, b, hi = lo+k, hi, lo+k
		} else {
			lo += k
		}
		sd := side{first: ni}
		for a < b { // full subtrees of [a, b), largest first
			l := bits.Len64(uint64(b-a)) - 1
			idx[ni] = tlog.StoredHashIndex(l, a>>l)
			ni++
			a += 1 << l
		}
		sd.n = ni - sd.first
		sides[ns] = sd
		ns++
	}
	var hs [2 * maxLevel]Hash
	if err := (hashReader{t}).readInto(idx[:ni], hs[:ni]); err != nil {
		return nil, err
	}
	proof := make([]Hash, ns)
	for i := range ns {
		sd := sides[ns-1-i] // from the leaf up
		h := hs[sd.first+sd.n-1]
		for j := sd.first + sd.n - 2; j >= sd.first; j-- {
			h = tlog.NodeHash(hs[j], h)
		}
		proof[i] = h
	}
	return proof, nil
}

// ConsistencyProof returns the RFC 6962 consistency proof (§2.1.2) that the
// tree of size to extends the tree of size from, 0 ≤ from ≤ to ≤ Size().
// The proof is empty when from is 0 or from equals to. It may read tiles.
func (t *Tree) ConsistencyProof(from, to int64) ([]Hash, error) {
	cur := t.Size()
	if to < 0 || to > cur {
		return nil, fmt.Errorf("consistency proof: to %d out of range [0, %d]", to, cur)
	}
	if from < 0 || from > to {
		return nil, fmt.Errorf("consistency proof: from %d out of range [0, %d]", from, to)
	}
	if from == 0 || from == to {
		return []Hash{}, nil
	}
	p, err := tlog.ProveTree(to, from, hashReader{t})
	if err != nil {
		return nil, fmt.Errorf("consistency proof from %d to %d: %w", from, to, err)
	}
	return p, nil
}

// Tiles returns the data of every tile, full or partial, at every tile level,
// that changed since the last call to [Tree.Persisted] (or since [Open]):
// the tiles [tlog.NewTiles] lists between those two sizes. The engine writes
// them (a partial tile replaces the narrower one at the same path, or is
// stored under its own width) and then calls Persisted. Tiles does no I/O.
func (t *Tree) Tiles() []TileData {
	tiles, _ := t.TilesAndSize()
	return tiles
}

// TilesAndSize is Tiles that also returns the tree size the tiles describe,
// read under the same lock. Pass that size to [Tree.Persisted]: a size read
// separately may include leaves appended after the tiles were taken, and
// the tree would then wrongly treat their tiles as written.
func (t *Tree) TilesAndSize() ([]TileData, int64) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	tiles := tlog.NewTiles(TileHeight, t.persisted, t.size)
	total := 0
	for _, tile := range tiles {
		total += tile.W * tlog.HashSize
	}
	buf := make([]byte, total)
	out := make([]TileData, len(tiles))
	for i, tile := range tiles {
		l := tile.L * TileHeight
		start := tile.N<<TileHeight - t.lo[l]
		data := buf[: tile.W*tlog.HashSize : tile.W*tlog.HashSize]
		buf = buf[len(data):]
		for j, h := range t.hashes[l][start : start+int64(tile.W)] {
			copy(data[j*tlog.HashSize:], h[:])
		}
		out[i] = TileData{Tile: tile, Data: data}
	}
	return out, t.size
}

// Persisted tells the tree that every tile returned by [Tree.Tiles] for a tree
// of at least size leaves is durably written and readable through its
// [TileReader]. The tree then drops the in-memory hashes covered by full tiles
// of that size (unless the tree has no TileReader), and the next Tiles call
// starts from size. A size below the
// last persisted size is ignored; one above Size() counts as Size().
func (t *Tree) Persisted(size int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	size = min(size, t.size)
	if size <= t.persisted {
		return
	}
	t.persisted = size
	if t.r == nil {
		return // nowhere to read dropped hashes from: keep them all
	}
	for L := 0; L*TileHeight < maxLevel && size>>(L*TileHeight) > 0; L++ {
		full := size >> (L * TileHeight) >> TileHeight
		for k := range TileHeight {
			l := L*TileHeight + k
			newLo := full << (TileHeight - k)
			drop := newLo - t.lo[l]
			if drop <= 0 {
				continue
			}
			hs := t.hashes[l]
			if cap(hs) > 4*(len(hs)-int(drop))+2*tileWidth {
				// Let a backing array grown by a long run without
				// Persisted go.
				hs = append([]Hash(nil), hs[drop:]...)
			} else {
				hs = hs[:copy(hs, hs[drop:])]
			}
			t.hashes[l] = hs
			t.lo[l] = newLo
		}
	}
}

// recentTile returns the data of a full persisted tile, from
// recentTiles or read and kept there.
func (t *Tree) recentTile(tile tlog.Tile) ([]byte, error) {
	t.cacheMu.Lock()
	for _, td := range t.recentTiles {
		if td.data != nil && td.tile == tile {
			t.cacheMu.Unlock()
			return td.data, nil
		}
	}
	t.cacheMu.Unlock()
	data, err := t.readTile(tile)
	if err != nil {
		return nil, err
	}
	data = bytes.Clone(data) // the reader may reuse its buffer
	t.cacheMu.Lock()
	t.recentTiles[t.nextRecent] = tileData{tile, data}
	t.nextRecent = (t.nextRecent + 1) % recentTileCount
	t.cacheMu.Unlock()
	return data, nil
}

// hashReader reads hashes by tlog stored hash index, from memory or, with no
// lock held, from full persisted tiles.
type hashReader struct{ t *Tree }

func (r hashReader) ReadHashes(indexes []int64) ([]Hash, error) {
	out := make([]Hash, len(indexes))
	if err := r.readInto(indexes, out); err != nil {
		return nil, err
	}
	return out, nil
}

// readInto is ReadHashes into out, which has the length of indexes.
func (r hashReader) readInto(indexes []int64, out []Hash) error {
	t := r.t
	var missing []int
	t.mu.RLock()
	for i, x := range indexes {
		l, n := tlog.SplitStoredHashIndex(x)
		if l >= maxLevel || n >= t.size>>l {
			t.mu.RUnlock()
			return fmt.Errorf("hash (level %d, index %d) not in tree of size %d", l, n, t.size)
		}
		if j := n - t.lo[l]; j >= 0 {
			out[i] = t.hashes[l][j]
		} else {
			missing = append(missing, i)
		}
	}
	t.mu.RUnlock()

	// The missing hashes are in full persisted tiles, which never change.
	// A proof touches a few tiles; read each once, and keep what was
	// derived for the next proofs.
	if len(missing) == 0 {
		return nil
	}
	t.cacheMu.Lock()
	kept := missing[:0]
	for _, i := range missing {
		if h, ok := t.persistedCache[indexes[i]]; ok {
			out[i] = h
		} else {
			kept = append(kept, i)
		}
	}
	t.cacheMu.Unlock()
	missing = kept
	var read []tileData
	for _, i := range missing {
		l, n := tlog.SplitStoredHashIndex(indexes[i])
		L, k := l/TileHeight, l%TileHeight
		first := n << k // first hash of level L*TileHeight under the node
		tile := tlog.Tile{H: TileHeight, L: L, N: first >> TileHeight, W: tileWidth}
		var data []byte
		for _, td := range read {
			if td.tile == tile {
				data = td.data
				break
			}
		}
		if data == nil {
			var err error
			if data, err = t.recentTile(tile); err != nil {
				return err
			}
			read = append(read, tileData{tile, data})
		}
		start := int(first%tileWidth) * tlog.HashSize
		out[i] = subtreeHash(data[start : start+(1<<k)*tlog.HashSize])
	}
	t.cacheMu.Lock()
	defer t.cacheMu.Unlock()
	if t.persistedCache == nil || len(t.persistedCache)+len(missing) > maxPersistedCache {
		t.persistedCache = make(map[int64]Hash, min(maxPersistedCache, 64))
	}
	for _, i := range missing {
		if len(t.persistedCache) < maxPersistedCache {
			t.persistedCache[indexes[i]] = out[i]
		}
	}
	return nil
}
