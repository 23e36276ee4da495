package merkle

import "golang.org/x/mod/sumdb/tlog"

// Builder computes the root of a tree from its leaf hashes, streamed in
// order, in O(log n) memory: it keeps one hash per set bit of the size (a
// compact range). It is for deep verification, which recomputes a tree from
// stored leaves and compares it with a signed checkpoint.
//
// The zero Builder is an empty tree, ready to use. A Builder is not safe for
// concurrent use.
type Builder struct {
	size  int64
	n     int            // hashes in stack
	stack [maxLevel]Hash // roots of the complete subtrees, largest first
}

// Add appends the leaf hash h as leaf Size(). It costs about one node hash and
// does not allocate.
func (b *Builder) Add(h Hash) {
	for s := b.size; s&1 == 1; s >>= 1 {
		b.n--
		h = tlog.NodeHash(b.stack[b.n], h)
	}
	b.stack[b.n] = h
	b.n++
	b.size++
}

// AddLeaf appends a leaf with the given data: Add(LeafHash(data)).
func (b *Builder) AddLeaf(data []byte) {
	b.Add(LeafHash(data))
}

// Size returns the number of leaves added.
func (b *Builder) Size() int64 {
	return b.size
}

// Root returns the root hash of the tree of the leaves added so far (the
// empty-tree hash when none). It costs one node hash per set bit of Size()
// beyond the first, and the Builder can keep adding afterwards.
func (b *Builder) Root() Hash {
	if b.n == 0 {
		return EmptyRoot()
	}
	root := b.stack[b.n-1]
	for i := b.n - 2; i >= 0; i-- {
		root = tlog.NodeHash(b.stack[i], root)
	}
	return root
}
