package storetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trail-audit/trail"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// leafHash returns SHA-256(0x00‖leaf), the RFC 6962 leaf hash.
func leafHash(leaf []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(leaf)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// treeRoot computes the RFC 6962 Merkle tree hash of leaves, independently
// of the store.
func treeRoot(leaves []trail.Hash) trail.Hash {
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
	l, r := treeRoot(leaves[:k]), treeRoot(leaves[k:])
	return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
}

func hashBytes(hs []trail.Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

// verifyCheckpoint checks that cp is a note signed by h.Verifier() whose
// text is the C2SP tlog-checkpoint "origin\nsize\nroot\n" with origin
// h.Origin(tenant), and that cp's fields agree with it.
func verifyCheckpoint(t *testing.T, h Harness, tenant string, cp *trail.Checkpoint) bool {
	t.Helper()
	if cp == nil {
		t.Errorf("checkpoint of %s: got nil", tenant)
		return false
	}
	n, err := note.Open(cp.Note, note.VerifierList(h.Verifier()))
	if err != nil {
		t.Errorf("checkpoint of %s: note does not verify: %v\n%s", tenant, err, cp.Note)
		return false
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[len(lines)-1] != "" {
		t.Errorf("checkpoint of %s: text %q, want origin, size and root lines", tenant, n.Text)
		return false
	}
	ok := true
	if want := h.Origin(tenant); lines[0] != want || cp.Origin != want {
		t.Errorf("checkpoint of %s: origin %q (field %q), want %q", tenant, lines[0], cp.Origin, want)
		ok = false
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size != cp.Size || lines[1] != strconv.FormatInt(size, 10) {
		t.Errorf("checkpoint of %s: size line %q, Size field %d", tenant, lines[1], cp.Size)
		ok = false
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || !bytes.Equal(root, cp.Root[:]) {
		t.Errorf("checkpoint of %s: root line %q, Root field %v", tenant, lines[2], cp.Root)
		ok = false
	}
	return ok
}

// verifyInclusion checks p against a signed root with the reference
// verifier.
func verifyInclusion(t *testing.T, what string, p *trail.InclusionProof, seq, size int64, leaf, root trail.Hash) {
	t.Helper()
	if p == nil {
		t.Errorf("%s: got nil proof", what)
		return
	}
	if p.LeafIndex != seq || p.TreeSize != size {
		t.Errorf("%s: proof for leaf %d of %d, want leaf %d of %d", what, p.LeafIndex, p.TreeSize, seq, size)
		return
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(seq), uint64(size), leaf[:], hashBytes(p.Hashes), root[:]); err != nil {
		t.Errorf("%s: inclusion proof does not verify: %v", what, err)
	}
}

// verifyConsistency checks p from one signed root to another.
func verifyConsistency(t *testing.T, what string, p *trail.ConsistencyProof, from, to int64, root1, root2 trail.Hash) {
	t.Helper()
	if p == nil {
		t.Errorf("%s: got nil proof", what)
		return
	}
	if p.From != from || p.To != to {
		t.Errorf("%s: proof from %d to %d, want from %d to %d", what, p.From, p.To, from, to)
		return
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(from), uint64(to), hashBytes(p.Hashes), root1[:], root2[:]); err != nil {
		t.Errorf("%s: consistency proof does not verify: %v", what, err)
	}
}

// checkInclusion asks the store for the proof of seq in the tree of
// cp.Size and verifies it against cp.
func (f *fixture) checkInclusion(tenant string, seq int64, leaf trail.Hash, cp *trail.Checkpoint) {
	f.t.Helper()
	what := fmt.Sprintf("InclusionProof(%s, %d, %d)", tenant, seq, cp.Size)
	p, err := f.s.InclusionProof(f.ctx, tenant, seq, cp.Size)
	if err != nil {
		f.t.Errorf("%s: %v", what, err)
		return
	}
	verifyInclusion(f.t, what, p, seq, cp.Size, leaf, cp.Root)
}

// checkConsistency asks the store for the proof from a to b and verifies it.
func (f *fixture) checkConsistency(tenant string, a, b *trail.Checkpoint) {
	f.t.Helper()
	what := fmt.Sprintf("ConsistencyProof(%s, %d, %d)", tenant, a.Size, b.Size)
	p, err := f.s.ConsistencyProof(f.ctx, tenant, a.Size, b.Size)
	if err != nil {
		f.t.Errorf("%s: %v", what, err)
		return
	}
	verifyConsistency(f.t, what, p, a.Size, b.Size, a.Root, b.Root)
}

// testProofs grows one tenant past several tile boundaries (tiles hold 256
// hashes), keeps the checkpoint signed at each size, and checks inclusion
// and consistency proofs between them with the reference verifier.
func testProofs(t *testing.T, h Harness) {
	f := newFixture(t, h)
	g := NewGen(9, 1)
	const tenant = "proofs"
	targets := []int64{1, 2, 3, 7, 8, 255, 256, 257, 300, 511, 512, 513, 600, 640}
	var cps []*trail.Checkpoint
	var size int64
	for _, target := range targets {
		batch := make([]*trail.Event, target-size)
		for i := range batch {
			batch[i] = g.Event(tenant, f.clk.Now())
		}
		res := f.append(batch...)
		f.clk.Advance(time.Second)
		cp := res.Checkpoints[tenant]
		if !verifyCheckpoint(t, h, tenant, cp) {
			t.FailNow()
		}
		if cp.Size != target {
			t.Fatalf("checkpoint after appending up to %d events: size %d, want %d (single writer)", target, cp.Size, target)
		}
		cps = append(cps, cp)
		size = target
	}
	recs := f.readAll(tenant)
	if int64(len(recs)) != size {
		t.Fatalf("Read: got %d records, want %d", len(recs), size)
	}
	leaves := make([]trail.Hash, len(recs))
	for i, r := range recs {
		leaves[i] = r.LeafHash
	}

	t.Run("Roots", func(t *testing.T) {
		f := f.with(t)
		for _, cp := range cps {
			if got := treeRoot(leaves[:cp.Size]); got != cp.Root {
				t.Errorf("checkpoint %d: root %v, want RFC 6962 root of the leaf hashes read back %v", cp.Size, cp.Root, got)
			}
		}
		latest := f.checkpoint(tenant)
		if latest.Size != size || latest.Root != cps[len(cps)-1].Root {
			t.Errorf("Checkpoint: size %d root %v, want %d %v", latest.Size, latest.Root, size, cps[len(cps)-1].Root)
		}
	})

	t.Run("Inclusion", func(t *testing.T) {
		f := f.with(t)
		for _, cp := range cps {
			n := cp.Size
			for _, seq := range []int64{0, 1, n / 2, 254, 255, 256, 257, 511, 512, n - 2, n - 1} {
				if seq >= 0 && seq < n {
					f.checkInclusion(tenant, seq, leaves[seq], cp)
				}
			}
		}
		latest := cps[len(cps)-1]
		for _, seq := range []int64{0, 255, 256, size - 1} {
			p, err := f.s.InclusionProof(f.ctx, tenant, seq, 0)
			if err != nil {
				t.Errorf("InclusionProof(%s, %d, 0): %v", tenant, seq, err)
				continue
			}
			verifyInclusion(t, fmt.Sprintf("InclusionProof(%s, %d, 0)", tenant, seq), p, seq, size, leaves[seq], latest.Root)
		}
	})

	t.Run("Consistency", func(t *testing.T) {
		f := f.with(t)
		for i, a := range cps {
			for _, b := range cps[i:] {
				f.checkConsistency(tenant, a, b)
			}
		}
		latest := cps[len(cps)-1]
		p, err := f.s.ConsistencyProof(f.ctx, tenant, 256, 0)
		if err != nil {
			t.Fatalf("ConsistencyProof(%s, 256, 0): %v", tenant, err)
		}
		verifyConsistency(t, "ConsistencyProof(256, 0)", p, 256, size, cps[6].Root, latest.Root)
	})

	t.Run("BadArguments", func(t *testing.T) {
		f := f.with(t)
		_, err := f.s.InclusionProof(f.ctx, tenant, 300, 300)
		wantError(t, "InclusionProof(seq 300, size 300)", err, trail.EINVALID, "")
		_, err = f.s.InclusionProof(f.ctx, tenant, size, 0)
		wantError(t, "InclusionProof(seq = log size, latest)", err, trail.EINVALID, "")
		_, err = f.s.InclusionProof(f.ctx, tenant, 0, size+1)
		wantError(t, "InclusionProof(size > log size)", err, trail.EINVALID, "")
		_, err = f.s.InclusionProof(f.ctx, tenant, -1, 10)
		wantError(t, "InclusionProof(seq -1)", err, trail.EINVALID, "")
		_, err = f.s.ConsistencyProof(f.ctx, tenant, 300, 200)
		wantError(t, "ConsistencyProof(from 300 > to 200)", err, trail.EINVALID, "")
		_, err = f.s.ConsistencyProof(f.ctx, tenant, 1, size+1)
		wantError(t, "ConsistencyProof(to > log size)", err, trail.EINVALID, "")
		_, err = f.s.ConsistencyProof(f.ctx, tenant, size+1, 0)
		wantError(t, "ConsistencyProof(from > latest)", err, trail.EINVALID, "")
		_, err = f.s.InclusionProof(f.ctx, "nosuchtenant", 0, 1)
		wantError(t, "InclusionProof(unknown tenant)", err, trail.ENOTFOUND, "")
		_, err = f.s.ConsistencyProof(f.ctx, "nosuchtenant", 1, 2)
		wantError(t, "ConsistencyProof(unknown tenant)", err, trail.ENOTFOUND, "")
		_, err = f.s.Checkpoint(f.ctx, "nosuchtenant")
		wantError(t, "Checkpoint(unknown tenant)", err, trail.ENOTFOUND, "")
	})
}
