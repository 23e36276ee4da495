package retention

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/trail-audit/trail"
	"github.com/trail-audit/trail/export"
)

// BundleArchiver archives what retention is about to remove as verifiable
// bundles (the format of GET /v1/export?format=bundle, checked by
// "trail verify --bundle"): one zip per run and tenant,
// Dir/<tenant>/<tenant>-<first seq>-<last seq>.zip, written to a
// temporary file, synced and renamed, so an archive is complete or absent.
type BundleArchiver struct {
	Store       trail.Store
	Dir         string
	VerifierKey string           // the log's public key, recorded in the bundle
	Now         func() time.Time // nil: time.Now
}

// Archive implements Archiver. It reads the tenant's log from the start
// and stops at the first event received at or after before; events whose
// content is already gone are skipped.
func (a *BundleArchiver) Archive(ctx context.Context, tenant string, before time.Time) error {
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	cp, err := a.Store.Checkpoint(ctx, tenant)
	if err != nil {
		return err
	}
	dir := filepath.Join(a.Dir, tenant)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".archive-*.zip")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	defer tmp.Close()
	proofs := func(seq int64) (*trail.InclusionProof, error) {
		return a.Store.InclusionProof(ctx, tenant, seq, cp.Size)
	}
	var bw *export.BundleWriter
	first, last := int64(-1), int64(-1)
	for from := int64(0); from < cp.Size; {
		recs, err := a.Store.Read(ctx, tenant, from, 1000)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			break
		}
		done := false
		for _, r := range recs {
			from = r.Seq + 1
			if r.Data == nil {
				continue
			}
			e, err := trail.DecodeEvent(r.Data)
			if err != nil {
				return fmt.Errorf("seq %d: %w", r.Seq, err)
			}
			if !e.ReceivedAt.Before(before) {
				done = true
				break
			}
			if bw == nil {
				filter := "received_at < " + before.UTC().Format(time.RFC3339Nano) + " (retention archive)"
				if bw, err = export.NewBundle(tmp, tenant, cp, a.VerifierKey, proofs, dir, now(), filter); err != nil {
					return err
				}
				first = r.Seq
			}
			h := r.LeafHash
			e.LeafHash = &h
			e.Leaf = r.Data
			if err := bw.Write(e); err != nil {
				return err
			}
			last = r.Seq
		}
		if done {
			break
		}
	}
	if bw == nil {
		return nil // nothing left to archive
	}
	if err := bw.Close(); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	name := filepath.Join(dir, fmt.Sprintf("%s-%d-%d.zip", tenant, first, last))
	if err := os.Rename(tmp.Name(), name); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
