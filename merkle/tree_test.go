package merkle_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/trail-audit/trail/merkle"
)

// tileStore is a TileReader backed by a map, standing in for the storage
// engine: it keeps the widest data written for each tile.
type tileStore struct {
	mu    sync.Mutex
	tiles map[[2]int64][]byte // {level, index} → data
	reads int
}

func newTileStore() *tileStore {
	return &tileStore{tiles: make(map[[2]int64][]byte)}
}

func (s *tileStore) ReadTile(t tlog.Tile) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	data, ok := s.tiles[[2]int64{int64(t.L), t.N}]
	if !ok || len(data) < t.W*tlog.HashSize {
		return nil, fmt.Errorf("tile %s: %w", t.Path(), fs.ErrNotExist)
	}
	return data[:t.W*tlog.HashSize], nil
}

func (s *tileStore) write(tds []merkle.TileData) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, td := range tds {
		if got, want := len(td.Data), td.Tile.W*tlog.HashSize; got != want {
			panic(fmt.Sprintf("tile %s: got %d bytes, want %d", td.Tile.Path(), got, want))
		}
		key := [2]int64{int64(td.Tile.L), td.Tile.N}
		if len(td.Data) >= len(s.tiles[key]) {
			s.tiles[key] = bytes.Clone(td.Data)
		}
	}
}

// persist writes what the tree reports as changed and acknowledges it, as the
// engine's writer loop does.
func (s *tileStore) persist(tr *merkle.Tree) {
	tiles, size := tr.TilesAndSize()
	s.write(tiles)
	tr.Persisted(size)
}

// dropPartial deletes every partial tile, leaving only full ones.
func (s *tileStore) dropPartial() {
	for k, v := range s.tiles {
		if len(v) < 256*tlog.HashSize {
			delete(s.tiles, k)
		}
	}
}

func leaf(i int64) merkle.Hash {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	return merkle.LeafHash(b[:])
}

// reference holds the leaves and every prefix root, computed with
// transparency-dev's compact ranges, independently of the package.
type reference struct {
	leaves []merkle.Hash
	roots  []merkle.Hash // roots[n] is the root of the first n leaves
}

func newReference(n int64) *reference {
	ref := &reference{roots: []merkle.Hash{merkle.Hash(rfc6962.DefaultHasher.EmptyRoot())}}
	rf := &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	cr := rf.NewEmptyRange(0)
	for i := range n {
		h := leaf(i)
		ref.leaves = append(ref.leaves, h)
		if err := cr.Append(h[:], nil); err != nil {
			panic(err)
		}
		root, err := cr.GetRootHash(nil)
		if err != nil {
			panic(err)
		}
		ref.roots = append(ref.roots, merkle.Hash(root))
	}
	return ref
}

// refStored holds every stored hash (tlog's numbering) of the shared
// reference's leaves, computed by tlog.
var refStored = sync.OnceValue(func() []tlog.Hash {
	var hs []tlog.Hash
	r := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = hs[x]
		}
		return out, nil
	})
	for i, l := range sharedRef.leaves {
		add, err := tlog.StoredHashesForRecordHash(int64(i), l, r)
		if err != nil {
			panic(err)
		}
		hs = append(hs, add...)
	}
	return hs
})

// refStoredReader reads refStored.
var refStoredReader = tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
	all := refStored()
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		out[i] = all[x]
	}
	return out, nil
})

// naiveRoot is the Merkle Tree Hash of RFC 6962 §2.1, written from the RFC.
func naiveRoot(leaves []merkle.Hash) merkle.Hash {
	switch len(leaves) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	l, r := naiveRoot(leaves[:k]), naiveRoot(leaves[k:])
	return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
}

func toBytes(hs []merkle.Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

var sharedRef = newReference(5000)

func TestReferenceAgreesWithRFC(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 7, 8, 255, 256, 257, 1000} {
		if got, want := sharedRef.roots[n], naiveRoot(sharedRef.leaves[:n]); got != want {
			t.Errorf("size %d: compact range root %x, naive root %x", n, got, want)
		}
	}
}

// build grows a tree to size n as the engine would: random batches, tiles
// persisted after most batches, and a reopen from the persisted tiles now and
// then. It returns the tree and its tile store.
func build(t *testing.T, rng *rand.Rand, n int64) (*merkle.Tree, *tileStore) {
	t.Helper()
	store := newTileStore()
	tr, err := merkle.Open(0, store)
	if err != nil {
		t.Fatal(err)
	}
	for tr.Size() < n {
		batch := min(n-tr.Size(), 1+rng.Int64N(300))
		leaves := sharedRef.leaves[tr.Size() : tr.Size()+batch]
		if err := tr.Append(leaves...); err != nil {
			t.Fatal(err)
		}
		if got, want := tr.Root(), sharedRef.roots[tr.Size()]; got != want {
			t.Fatalf("after append to %d: root %x, want %x", tr.Size(), got, want)
		}
		switch rng.IntN(4) {
		case 0: // not persisted yet: Tiles accumulates
		case 1: // persisted and reopened
			store.persist(tr)
			size := tr.Size()
			if tr, err = merkle.Open(size, store); err != nil {
				t.Fatalf("reopen at %d: %v", size, err)
			}
			if got, want := tr.Root(), sharedRef.roots[size]; got != want {
				t.Fatalf("reopened at %d: root %x, want %x", size, got, want)
			}
		default:
			store.persist(tr)
		}
	}
	return tr, store
}

func testSizes(rng *rand.Rand) []int64 {
	var sizes []int64
	for n := range int64(601) {
		sizes = append(sizes, n)
	}
	for range 12 {
		sizes = append(sizes, 601+rng.Int64N(5000-601))
	}
	return append(sizes, 4096, 5000)
}

func TestTreeProofs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range testSizes(rng) {
		t.Run(fmt.Sprint("size=", n), func(t *testing.T) {
			tr, _ := build(t, rng, n)
			if got, want := tr.Size(), n; got != want {
				t.Fatalf("Size() = %d, want %d", got, want)
			}
			if got, want := tr.Root(), sharedRef.roots[n]; got != want {
				t.Fatalf("Root() = %x, want %x", got, want)
			}
			// Every index and every earlier size for small trees, sizes at
			// tile edges and every 32nd size; a sample of about 40 (below
			// 600) or 150 (above) for the others.
			step := int64(1)
			switch {
			case n <= 64 || n%32 == 0 || (n+1)%256 <= 2:
			case n <= 600:
				step = n/40 + 1
			default:
				step = n/150 + 1
			}
			for i := int64(0); i < n; i += step {
				checkInclusion(t, tr, i, n)
				if i%7 == 0 && i > 0 {
					checkInclusion(t, tr, i/2, i) // in an older tree
				}
			}
			for m := int64(0); m <= n; m += step {
				checkRootAt(t, tr, m)
				checkConsistency(t, tr, m, n)
				if m%5 == 0 {
					checkConsistency(t, tr, m/3, m)
				}
			}
		})
	}
}

func checkInclusion(t *testing.T, tr *merkle.Tree, index, size int64) {
	t.Helper()
	p, err := tr.InclusionProof(index, size)
	if err != nil {
		t.Fatalf("InclusionProof(%d, %d): %v", index, size, err)
	}
	leaf, root := sharedRef.leaves[index], sharedRef.roots[size]
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(index), uint64(size), leaf[:], toBytes(p), root[:]); err != nil {
		t.Fatalf("InclusionProof(%d, %d): reference verifier: %v", index, size, err)
	}
	if err := merkle.VerifyInclusion(leaf, index, size, p, root); err != nil {
		t.Fatalf("InclusionProof(%d, %d): VerifyInclusion: %v", index, size, err)
	}
	// Exactly tlog's proof, hash for hash.
	want, err := tlog.ProveRecord(size, index, refStoredReader)
	if err != nil {
		t.Fatalf("tlog.ProveRecord(%d, %d): %v", size, index, err)
	}
	if len(p) != len(want) {
		t.Fatalf("InclusionProof(%d, %d): %d hashes, tlog.ProveRecord %d", index, size, len(p), len(want))
	}
	for i := range want {
		if p[i] != want[i] {
			t.Fatalf("InclusionProof(%d, %d): hash %d is %x, tlog.ProveRecord's %x", index, size, i, p[i], want[i])
		}
	}
	got, err := tr.LeafHashAt(index)
	if err != nil {
		t.Fatalf("LeafHashAt(%d): %v", index, err)
	}
	if got != leaf {
		t.Fatalf("LeafHashAt(%d) = %x, want %x", index, got, leaf)
	}
}

func checkConsistency(t *testing.T, tr *merkle.Tree, from, to int64) {
	t.Helper()
	p, err := tr.ConsistencyProof(from, to)
	if err != nil {
		t.Fatalf("ConsistencyProof(%d, %d): %v", from, to, err)
	}
	r1, r2 := sharedRef.roots[from], sharedRef.roots[to]
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(from), uint64(to), toBytes(p), r1[:], r2[:]); err != nil {
		t.Fatalf("ConsistencyProof(%d, %d): reference verifier: %v", from, to, err)
	}
	if err := merkle.VerifyConsistency(from, to, p, r1, r2); err != nil {
		t.Fatalf("ConsistencyProof(%d, %d): VerifyConsistency: %v", from, to, err)
	}
}

func checkRootAt(t *testing.T, tr *merkle.Tree, size int64) {
	t.Helper()
	got, err := tr.RootAt(size)
	if err != nil {
		t.Fatalf("RootAt(%d): %v", size, err)
	}
	if want := sharedRef.roots[size]; got != want {
		t.Fatalf("RootAt(%d) = %x, want %x", size, got, want)
	}
}

// TestTilesMatchReference checks the persisted tiles byte for byte against
// tiles computed from the reference hashes by tlog.
func TestTilesMatchReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int64{1, 255, 256, 257, 511, 512, 4095, 4096, 5000} {
		t.Run(fmt.Sprint("size=", n), func(t *testing.T) {
			tr, store := build(t, rng, n)
			store.persist(tr)
			var stored []merkle.Hash // tlog storage order, from tlog itself
			r := tlog.HashReaderFunc(func(ix []int64) ([]merkle.Hash, error) {
				out := make([]merkle.Hash, len(ix))
				for i, x := range ix {
					out[i] = stored[x]
				}
				return out, nil
			})
			for i := range n {
				hs, err := tlog.StoredHashesForRecordHash(i, sharedRef.leaves[i], r)
				if err != nil {
					t.Fatal(err)
				}
				stored = append(stored, hs...)
			}
			for _, tile := range tlog.NewTiles(merkle.TileHeight, 0, n) {
				want, err := tlog.ReadTileData(tile, r)
				if err != nil {
					t.Fatal(err)
				}
				got, err := store.ReadTile(tile)
				if err != nil {
					t.Fatalf("tile %s: %v", tile.Path(), err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("tile %s: got %x…, want %x…", tile.Path(), got[:8], want[:8])
				}
			}
		})
	}
}

func TestTilesSincePersisted(t *testing.T) {
	tr, _ := merkle.Open(0, nil)
	if err := tr.Append(sharedRef.leaves[:300]...); err != nil {
		t.Fatal(err)
	}
	paths := func(tds []merkle.TileData) string {
		var s []string
		for _, td := range tds {
			s = append(s, td.Tile.Path())
		}
		return strings.Join(s, " ")
	}
	if got, want := paths(tr.Tiles()), "tile/8/0/000 tile/8/0/001.p/44 tile/8/1/000.p/1"; got != want {
		t.Errorf("Tiles() at 300 = %s, want %s", got, want)
	}
	tr.Persisted(300)
	if got, want := paths(tr.Tiles()), ""; got != want {
		t.Errorf("Tiles() after Persisted = %q, want %q", got, want)
	}
	if err := tr.Append(sharedRef.leaves[300:301]...); err != nil {
		t.Fatal(err)
	}
	if got, want := paths(tr.Tiles()), "tile/8/0/001.p/45"; got != want {
		t.Errorf("Tiles() at 301 = %s, want %s", got, want)
	}
}

// TestOpenFromFullTilesOnly opens trees at multiples of 256 from a store that
// holds full tiles only, as an engine that rebuilds the right edge from its
// WAL does, then appends the rest.
func TestOpenFromFullTilesOnly(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int64{256, 512, 768, 4096, 4864} {
		t.Run(fmt.Sprint("size=", n), func(t *testing.T) {
			tr, store := build(t, rng, n)
			store.persist(tr)
			store.dropPartial()
			tr, err := merkle.Open(n, store)
			if err != nil {
				t.Fatalf("Open(%d): %v", n, err)
			}
			if got, want := tr.Root(), sharedRef.roots[n]; got != want {
				t.Fatalf("Root() = %x, want %x", got, want)
			}
			if err := tr.Append(sharedRef.leaves[n : n+100]...); err != nil {
				t.Fatal(err)
			}
			if got, want := tr.Root(), sharedRef.roots[n+100]; got != want {
				t.Fatalf("Root() after append = %x, want %x", got, want)
			}
			checkInclusion(t, tr, n/2, n+100)
			checkConsistency(t, tr, n-1, n+100)
		})
	}
	t.Run("partial level 0 missing", func(t *testing.T) {
		_, store := build(t, rng, 300)
		store.dropPartial()
		_, err := merkle.Open(300, store)
		if err == nil || !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Open(300) = %v, want an error wrapping fs.ErrNotExist", err)
		}
	})
}

func TestBuilder(t *testing.T) {
	var b merkle.Builder
	for n := range int64(len(sharedRef.leaves)) {
		if got, want := b.Size(), n; got != want {
			t.Fatalf("Size() = %d, want %d", got, want)
		}
		if got, want := b.Root(), sharedRef.roots[n]; got != want {
			t.Fatalf("size %d: Root() = %x, want %x", n, got, want)
		}
		b.Add(sharedRef.leaves[n])
	}
	var b2 merkle.Builder
	b2.AddLeaf([]byte("x"))
	if got, want := b2.Root(), merkle.LeafHash([]byte("x")); got != want {
		t.Errorf("AddLeaf: Root() = %x, want %x", got, want)
	}
}

func TestLeafHash(t *testing.T) {
	data := []byte("hello")
	if got, want := merkle.LeafHash(data), merkle.Hash(rfc6962.DefaultHasher.HashLeaf(data)); got != want {
		t.Errorf("LeafHash = %x, want %x", got, want)
	}
	if got, want := merkle.EmptyRoot(), merkle.Hash(rfc6962.DefaultHasher.EmptyRoot()); got != want {
		t.Errorf("EmptyRoot = %x, want %x", got, want)
	}
}

func TestRangeErrors(t *testing.T) {
	tr, _ := merkle.Open(0, nil)
	if err := tr.Append(sharedRef.leaves[:10]...); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"inclusion index too big", func() error { _, err := tr.InclusionProof(10, 10); return err }, "index 10 out of range [0, 10)"},
		{"inclusion negative index", func() error { _, err := tr.InclusionProof(-1, 10); return err }, "index -1 out of range [0, 10)"},
		{"inclusion size too big", func() error { _, err := tr.InclusionProof(0, 11); return err }, "size 11 out of range [1, 10]"},
		{"inclusion size 0", func() error { _, err := tr.InclusionProof(0, 0); return err }, "size 0 out of range [1, 10]"},
		{"consistency to too big", func() error { _, err := tr.ConsistencyProof(1, 11); return err }, "to 11 out of range [0, 10]"},
		{"consistency from after to", func() error { _, err := tr.ConsistencyProof(6, 5); return err }, "from 6 out of range [0, 5]"},
		{"root at too big", func() error { _, err := tr.RootAt(11); return err }, "size 11 out of range [0, 10]"},
		{"root at negative", func() error { _, err := tr.RootAt(-1); return err }, "size -1 out of range [0, 10]"},
		{"leaf hash too big", func() error { _, err := tr.LeafHashAt(10); return err }, "index 10 out of range [0, 10)"},
		{"open negative", func() error { _, err := merkle.Open(-1, nil); return err }, "size -1: must not be negative"},
		{"open without reader", func() error { _, err := merkle.Open(5, nil); return err }, "nil tile reader"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

type failingReader struct{}

func (failingReader) ReadTile(t tlog.Tile) ([]byte, error) {
	return nil, errors.New("disk on fire")
}

func TestReaderErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	tr, store := build(t, rng, 1000)
	store.persist(tr)
	tr, err := merkle.Open(1000, store)
	if err != nil {
		t.Fatal(err)
	}
	// Swap the tiles for a broken store: a reopened tree reads old hashes.
	store.tiles = map[[2]int64][]byte{}
	if _, err := tr.InclusionProof(3, 1000); err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("InclusionProof with missing tiles: got %v, want fs.ErrNotExist", err)
	}
	if _, err := merkle.Open(1000, failingReader{}); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("Open with failing reader: got %v, want the reader's error", err)
	}
	if _, err := merkle.Open(5, readerFunc(func(tlog.Tile) ([]byte, error) { return make([]byte, 3*32), nil })); err == nil || !strings.Contains(err.Error(), "got 96 bytes, want 160") {
		t.Errorf("Open with short tile: got %v, want a length error", err)
	}
}

type readerFunc func(tlog.Tile) ([]byte, error)

func (f readerFunc) ReadTile(t tlog.Tile) ([]byte, error) { return f(t) }

func TestVerifyRejects(t *testing.T) {
	const n = 1000
	tr, _ := merkle.Open(0, nil)
	if err := tr.Append(sharedRef.leaves[:n]...); err != nil {
		t.Fatal(err)
	}
	incl, err := tr.InclusionProof(300, n)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := tr.ConsistencyProof(300, n)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(p []merkle.Hash, i int) []merkle.Hash {
		q := append([]merkle.Hash(nil), p...)
		q[i][0] ^= 1
		return q
	}
	leaf, root, oldRoot := sharedRef.leaves[300], sharedRef.roots[n], sharedRef.roots[300]
	inclusion := []struct {
		name        string
		leaf        merkle.Hash
		index, size int64
		proof       []merkle.Hash
		root        merkle.Hash
	}{
		{"wrong leaf", sharedRef.leaves[301], 300, n, incl, root},
		{"wrong index", leaf, 301, n, incl, root},
		{"wrong size", leaf, 300, 2 * n, incl, root},
		{"wrong root", leaf, 300, n, incl, oldRoot},
		{"first hash flipped", leaf, 300, n, flip(incl, 0), root},
		{"last hash flipped", leaf, 300, n, flip(incl, len(incl)-1), root},
		{"truncated", leaf, 300, n, incl[:len(incl)-1], root},
		{"extended", leaf, 300, n, append(incl[:len(incl):len(incl)], root), root},
		{"index past size", leaf, n, n, incl, root},
		{"negative index", leaf, -1, n, incl, root},
		{"empty tree", leaf, 0, 0, nil, merkle.EmptyRoot()},
	}
	for _, tt := range inclusion {
		t.Run("inclusion/"+tt.name, func(t *testing.T) {
			err := merkle.VerifyInclusion(tt.leaf, tt.index, tt.size, tt.proof, tt.root)
			if !errors.Is(err, merkle.ErrProofFailed) {
				t.Errorf("got %v, want ErrProofFailed", err)
			}
		})
	}
	consistency := []struct {
		name           string
		from, to       int64
		proof          []merkle.Hash
		fromRoot, root merkle.Hash
	}{
		{"wrong old root", 300, n, cons, sharedRef.roots[299], root},
		{"wrong new root", 300, n, cons, oldRoot, sharedRef.roots[n-1]},
		{"wrong from", 299, n, cons, oldRoot, root},
		{"hash flipped", 300, n, flip(cons, 1), oldRoot, root},
		{"truncated", 300, n, cons[:len(cons)-1], oldRoot, root},
		{"from after to", n + 1, n, cons, oldRoot, root},
		{"negative from", -1, n, cons, oldRoot, root},
		{"equal sizes, different roots", n, n, nil, oldRoot, root},
		{"equal sizes, non-empty proof", n, n, cons, root, root},
		{"from 0, non-empty proof", 0, n, cons, merkle.EmptyRoot(), root},
	}
	for _, tt := range consistency {
		t.Run("consistency/"+tt.name, func(t *testing.T) {
			err := merkle.VerifyConsistency(tt.from, tt.to, tt.proof, tt.fromRoot, tt.root)
			if !errors.Is(err, merkle.ErrProofFailed) {
				t.Errorf("got %v, want ErrProofFailed", err)
			}
		})
	}
}

// TestConcurrentReaders runs proofs while one writer appends and persists;
// run with -race.
func TestConcurrentReaders(t *testing.T) {
	store := newTileStore()
	tr, _ := merkle.Open(0, nil)
	if err := tr.Append(sharedRef.leaves[:600]...); err != nil {
		t.Fatal(err)
	}
	store.persist(tr)
	tr, err := merkle.Open(600, store)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	for r := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 9))
			for {
				select {
				case <-done:
					return
				default:
				}
				size, root := tr.SizeRoot()
				if want := sharedRef.roots[size]; root != want {
					t.Errorf("SizeRoot() = %d, %x; want root %x", size, root, want)
					return
				}
				i := rng.Int64N(size)
				p, err := tr.InclusionProof(i, size)
				if err != nil {
					t.Error(err)
					return
				}
				if err := merkle.VerifyInclusion(sharedRef.leaves[i], i, size, p, root); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for size := 600; size < len(sharedRef.leaves); size += 50 {
		if err := tr.Append(sharedRef.leaves[size : size+50]...); err != nil {
			t.Fatal(err)
		}
		store.persist(tr)
	}
	close(done)
	wg.Wait()
}

// TestTilesAndSizeWhileAppending persists tiles taken at one size while
// the tree grows past the end of a tile before Persisted is called, as
// the engine's background flush does while its writer appends. Every
// leaf hash must stay readable and right, and the grown tile must be
// reported again by the next Tiles.
func TestTilesAndSizeWhileAppending(t *testing.T) {
	store := newTileStore()
	tr, err := merkle.Open(0, store)
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(0); i < 2040; i++ {
		tr.Append(leaf(i))
	}
	tiles, size := tr.TilesAndSize()
	if size != 2040 {
		t.Fatalf("TilesAndSize size = %d, want 2040", size)
	}
	for i := int64(2040); i < 2100; i++ { // completes tile 7 in memory
		tr.Append(leaf(i))
	}
	store.write(tiles)
	tr.Persisted(size)
	for i := int64(0); i < 2100; i++ {
		got, err := tr.LeafHashAt(i)
		if err != nil || got != leaf(i) {
			t.Fatalf("LeafHashAt(%d) = %x, %v; want %x", i, got, err, leaf(i))
		}
	}
	found := false
	for _, td := range tr.Tiles() {
		if td.Tile.L == 0 && td.Tile.N == 7 && td.Tile.W == 256 {
			found = true
		}
	}
	if !found {
		t.Errorf("Tiles after Persisted(2040) does not report the completed level-0 tile 7")
	}
}

// TestPersistedCache asks for proofs of a reopened tree in several
// orders and sizes, with the cache of hashes derived from persisted tiles
// filling, overflowing and being dropped: every proof verifies; proofs of
// a batch of recent leaves (a batch's receipts) read their shared upper
// siblings' tiles about once; a failed read caches nothing.
func TestPersistedCache(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 5000
	tr, store := build(t, rng, n)
	store.persist(tr)
	tr, err := merkle.Open(n, store)
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(0); i < n; i += 7 {
		checkInclusion(t, tr, i, n)
	}
	for i := int64(n - 1); i >= 0; i -= 7 {
		checkInclusion(t, tr, i, n)
	}
	for range 200 {
		i := rng.Int64N(n)
		checkInclusion(t, tr, i, n-rng.Int64N(n-i))
	}

	// A reader that fails leaves nothing behind: once tiles are back,
	// proofs are right.
	tr2, err := merkle.Open(n, store)
	if err != nil {
		t.Fatal(err)
	}
	saved := store.tiles
	store.tiles = map[[2]int64][]byte{}
	if _, err := tr2.InclusionProof(3, n); err == nil {
		t.Fatal("InclusionProof with missing tiles succeeded")
	}
	store.tiles = saved
	for i := int64(0); i < 600; i += 3 {
		checkInclusion(t, tr2, i, n)
	}

	// A tree past one full tile of level 1 (65536 leaves): the upper
	// siblings of its newest leaves are in persisted tiles.
	const big = 1<<16 + 3000
	bs := newTileStore()
	bt, err := merkle.Open(0, bs)
	if err != nil {
		t.Fatal(err)
	}
	leaves := make([]merkle.Hash, big)
	for i := range leaves {
		leaves[i] = leaf(int64(i))
	}
	for i := 0; i < big; i += 10000 {
		if err := bt.Append(leaves[i:min(big, i+10000)]...); err != nil {
			t.Fatal(err)
		}
		bs.persist(bt)
	}
	if bt, err = merkle.Open(big, bs); err != nil {
		t.Fatal(err)
	}
	root := bt.Root()
	for _, r := range []struct {
		what  string
		first int64
	}{{"100 consecutive persisted leaves", 1000}, {"the 100 newest leaves", big - 100}} {
		before := bs.reads
		for i := r.first; i < r.first+100; i++ {
			p, err := bt.InclusionProof(i, big)
			if err != nil {
				t.Fatal(err)
			}
			if err := merkle.VerifyInclusion(leaves[i], i, big, p, root); err != nil {
				t.Fatalf("proof of %d: %v", i, err)
			}
		}
		if reads := bs.reads - before; reads > 10 {
			t.Errorf("proofs of %s read %d tiles, want at most 10", r.what, reads)
		}
	}
}
