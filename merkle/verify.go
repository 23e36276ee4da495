package merkle

import (
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// VerifyInclusion checks that proof is an RFC 6962 audit path (§2.1.1) showing
// that leaf, the hash of leaf index, is in the tree of size leaves with the
// given root. It returns nil on success and an error wrapping
// [ErrProofFailed] otherwise, including when index is not in [0, size).
func VerifyInclusion(leaf Hash, index, size int64, proof []Hash, root Hash) error {
	if index < 0 || index >= size {
		return fmt.Errorf("verify inclusion: index %d out of range [0, %d): %w", index, max(size, 0), ErrProofFailed)
	}
	if err := tlog.CheckRecord(proof, size, root, index, leaf); err != nil {
		return fmt.Errorf("verify inclusion of leaf %d in tree of size %d: %w", index, size, ErrProofFailed)
	}
	return nil
}

// VerifyConsistency checks that proof is an RFC 6962 consistency proof
// (§2.1.2) showing that the tree of size to with root toRoot extends the tree
// of size from with root fromRoot, 0 ≤ from ≤ to. When from equals to the
// proof must be empty and the roots equal; when from is 0 the proof must be
// empty (every tree extends the empty tree). It returns nil on success and an
// error wrapping [ErrProofFailed] otherwise.
func VerifyConsistency(from, to int64, proof []Hash, fromRoot, toRoot Hash) error {
	switch {
	case from < 0 || from > to:
		return fmt.Errorf("verify consistency: from %d out of range [0, %d]: %w", from, max(to, 0), ErrProofFailed)
	case from == to:
		if len(proof) != 0 || fromRoot != toRoot {
			return fmt.Errorf("verify consistency of equal sizes %d: %w", from, ErrProofFailed)
		}
		return nil
	case from == 0:
		if len(proof) != 0 {
			return fmt.Errorf("verify consistency from 0: non-empty proof: %w", ErrProofFailed)
		}
		return nil
	}
	if err := tlog.CheckTree(proof, to, toRoot, from, fromRoot); err != nil {
		return fmt.Errorf("verify consistency from %d to %d: %w", from, to, ErrProofFailed)
	}
	return nil
}
