package logstore

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sort"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/merkle"
)

// Verify implements trail.Store: for every tenant it recomputes each leaf
// hash from the stored bytes and compares it with the Merkle tiles,
// recomputes the root at every stored checkpoint's size from the leaves and
// compares it with the signed root, checks every checkpoint signature, and
// checks that the stored upper tiles (used for proofs) give the same roots.
// The first damage found is returned as a *trail.TamperError.
func (s *Store) Verify(ctx context.Context) (*trail.VerifyReport, error) {
	s.mu.RLock()
	ts := make([]*tenant, 0, len(s.tenants))
	for _, t := range s.tenants {
		ts = append(ts, t)
	}
	s.mu.RUnlock()
	sort.Slice(ts, func(i, j int) bool { return ts[i].name < ts[j].name })
	// Tenants are independent: verify them on every core. The report
	// sums them; the error is the first damage in tenant order.
	reps := make([]trail.VerifyReport, len(ts))
	idx := make(map[*tenant]int, len(ts))
	for i, t := range ts {
		idx[t] = i
	}
	err := forEach(ts, runtime.GOMAXPROCS(0), func(t *tenant) error {
		if t.broken != nil {
			return t.broken
		}
		return s.verifyTenant(ctx, t, &reps[idx[t]])
	})
	rep := &trail.VerifyReport{}
	for _, r := range reps {
		rep.Events += r.Events
		rep.Erased += r.Erased
		rep.Checkpoints += r.Checkpoints
	}
	if err != nil {
		return rep, err
	}
	rep.Tenants = len(ts)
	return rep, nil
}

func (s *Store) verifyTenant(ctx context.Context, t *tenant, rep *trail.VerifyReport) error {
	// The latest checkpoint first: the snapshot taken after it holds at
	// least the events it covers, even while appends continue.
	t.mu.RLock()
	latest := t.cp
	t.mu.RUnlock()
	v := s.snapshot(t, nil)
	defer v.release()
	notes, err := s.readCheckpoints(t)
	if err != nil {
		return err
	}
	var cps []*trail.Checkpoint
	for i, n := range notes {
		cp, err := s.openCheckpoint(t.name, n)
		if err != nil {
			return &trail.TamperError{Tenant: t.name, Seq: -1, File: t.rel(checkpointsFile), Reason: fmt.Sprintf("checkpoint %d: %v", i, err)}
		}
		cps = append(cps, cp)
	}
	if latest != nil {
		if _, err := s.openCheckpoint(t.name, latest.Note); err != nil {
			return &trail.TamperError{Tenant: t.name, Seq: -1, File: "wal", Reason: "latest checkpoint: " + err.Error()}
		}
		cps = append(cps, latest)
	}
	sort.SliceStable(cps, func(i, j int) bool { return cps[i].Size < cps[j].Size })
	rep.Checkpoints += len(cps)
	for _, cp := range cps {
		if cp.Size > v.size {
			return &trail.TamperError{Tenant: t.name, Seq: v.size, File: t.rel(checkpointsFile), Reason: fmt.Sprintf("a signed checkpoint covers %d events but only %d are stored", cp.Size, v.size)}
		}
	}
	var b merkle.Builder
	next := 0
	// A block row whose bytes do not hash to the leaf hash in the tiles
	// means one of the two was damaged. The tree is built from the stored
	// bytes, so the next signed checkpoint tells which: if its root still
	// matches, the bytes are intact and the tile is wrong. suspectSeq is
	// the first such row (-1: none), in block file suspectFile.
	suspectSeq, suspectFile := int64(-1), ""
	rowDamaged := func() error {
		return &trail.TamperError{Tenant: t.name, Seq: suspectSeq, File: suspectFile, Reason: "stored event does not match its leaf hash"}
	}
	checkRoots := func() error {
		for next < len(cps) && cps[next].Size == b.Size() {
			if trail.Hash(b.Root()) != cps[next].Root {
				if suspectSeq >= 0 {
					return rowDamaged()
				}
				return &trail.TamperError{Tenant: t.name, Seq: b.Size() - 1, File: t.rel(checkpointsFile), Reason: fmt.Sprintf("root recomputed from the leaves at size %d differs from the signed checkpoint", b.Size())}
			}
			if suspectSeq >= 0 {
				return &trail.TamperError{Tenant: t.name, Seq: suspectSeq, File: t.rel(filepath.Join("tiles", "L0")), Reason: fmt.Sprintf("leaf hash in the tiles differs from the stored event, whose root at size %d matches the signed checkpoint", b.Size())}
			}
			if cps[next].Size > 0 {
				root, err := v.tree.RootAt(cps[next].Size)
				if err != nil || trail.Hash(root) != cps[next].Root {
					return &trail.TamperError{Tenant: t.name, Seq: cps[next].Size - 1, File: t.rel("tiles"), Reason: fmt.Sprintf("root from the stored tiles at size %d differs from the signed checkpoint", cps[next].Size)}
				}
			}
			next++
		}
		return nil
	}
	if err := checkRoots(); err != nil {
		return err
	}
	lr := &leafReader{v: v}
	for _, src := range v.sources() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if src.seg != nil {
			for i := range src.seg.entries.len() {
				e := src.seg.entries.at(i)
				if leafHash(e.leaf) != e.hash {
					return &trail.TamperError{Tenant: t.name, Seq: src.first + int64(i), File: "wal", Reason: "leaf hash mismatch in memory"}
				}
				b.Add(merkle.Hash(e.hash))
				rep.Events++
				if err := checkRoots(); err != nil {
					return err
				}
			}
			continue
		}
		rel, _ := filepath.Rel(s.opts.Dir, src.b.path)
		err := src.b.r.Scan(0, src.n, func(row int, data []byte) error {
			seq := src.first + int64(row)
			want, err := lr.at(seq)
			if err != nil {
				return &trail.TamperError{Tenant: t.name, Seq: seq, File: t.rel("tiles"), Reason: "leaf hash unreadable: " + err.Error()}
			}
			h := want
			if isStub(data) {
				rep.Erased++
			} else if h = leafHash(data); h != want && suspectSeq < 0 {
				suspectSeq, suspectFile = seq, rel
			}
			b.Add(merkle.Hash(h))
			rep.Events++
			return checkRoots()
		})
		if err != nil {
			if _, ok := err.(*trail.TamperError); ok {
				return err
			}
			return &trail.TamperError{Tenant: t.name, Seq: src.first, File: rel, Reason: err.Error()}
		}
	}
	if suspectSeq >= 0 {
		return rowDamaged() // no checkpoint after it to tell: blame the row
	}
	if b.Size() != v.size {
		return &trail.TamperError{Tenant: t.name, Seq: b.Size(), File: t.rel("blocks"), Reason: fmt.Sprintf("%d events stored, %d expected", b.Size(), v.size)}
	}
	if next < len(cps) {
		return &trail.TamperError{Tenant: t.name, Seq: -1, File: t.rel(checkpointsFile), Reason: fmt.Sprintf("checkpoint of size %d matches no prefix of the log", cps[next].Size)}
	}
	return nil
}
