// Package retention removes the content of events older than each
// tenant's retention period, on top of any trail.Store.
//
// A Job looks at every tenant: unless its settings hold it (legal hold)
// or keep events forever (retention_days 0), it optionally archives the
// events that are about to go as a verifiable bundle, asks the store to
// Retain everything received before now − retention_days, and records
// what it removed as a trail.retention.purged event in the tenant's own
// log. Leaf hashes stay, so every inclusion and consistency proof stays
// valid; purged events read back erased.
//
// Retain is idempotent, so several nodes may run a Job on one database:
// the one that finds nothing left to purge records nothing.
package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/trail-audit/trail"
)

// ActionPurged is the action of the event a Job records after a purge.
const ActionPurged = "trail.retention.purged"

// Archiver keeps a tenant's events received before a cut-off, before the
// Job removes them. An error stops the purge of that tenant.
type Archiver interface {
	Archive(ctx context.Context, tenant string, before time.Time) error
}

// Job applies retention. Store and Settings are required.
type Job struct {
	Store    trail.Store
	Settings func(tenant string) trail.Settings // e.g. (*settings.Registry).Get
	Now      func() time.Time                   // nil: time.Now
	Archive  Archiver                           // nil: no archive
	Logger   *slog.Logger                       // nil: discard
}

// Result is what one tenant's retention did.
type Result struct {
	Tenant string
	Held   bool // legal hold: nothing was purged
	Before time.Time
	trail.RetentionResult
}

// RunOnce applies retention to every tenant, in name order. A tenant that
// fails does not stop the others; the errors are joined.
func (j *Job) RunOnce(ctx context.Context) ([]Result, error) {
	now := time.Now
	if j.Now != nil {
		now = j.Now
	}
	log := j.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tenants, err := j.Store.Tenants(ctx)
	if err != nil {
		return nil, fmt.Errorf("retention: list tenants: %w", err)
	}
	var out []Result
	var errs []error
	for _, t := range tenants {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		st := j.Settings(t.Name)
		if st.RetentionDays <= 0 {
			continue
		}
		r := Result{Tenant: t.Name, Before: now().Add(-time.Duration(st.RetentionDays) * 24 * time.Hour)}
		if st.LegalHold {
			r.Held = true
			r.RetentionResult = trail.RetentionResult{Tenant: t.Name, FirstSeq: -1, LastSeq: -1}
			out = append(out, r)
			continue
		}
		if err := j.purge(ctx, &r, st); err != nil {
			log.Error("retention failed", "tenant", t.Name, "err", err)
			errs = append(errs, fmt.Errorf("retention: tenant %s: %w", t.Name, err))
			continue
		}
		if r.Purged > 0 {
			log.Info("retention purged events", "tenant", t.Name, "purged", r.Purged, "first_seq", r.FirstSeq, "last_seq", r.LastSeq, "before", r.Before)
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

// purge archives, retains and records one tenant.
func (j *Job) purge(ctx context.Context, r *Result, st trail.Settings) error {
	if j.Archive != nil {
		if err := j.Archive.Archive(ctx, r.Tenant, r.Before); err != nil {
			return fmt.Errorf("archive: %w", err)
		}
	}
	res, err := j.Store.Retain(ctx, r.Tenant, r.Before)
	if err != nil {
		return err
	}
	r.RetentionResult = *res
	if res.Purged == 0 {
		return nil
	}
	ev := &trail.Event{
		Tenant:   r.Tenant,
		Action:   ActionPurged,
		Actor:    trail.Actor{ID: "trail", Type: trail.ActorSystem},
		Outcome:  trail.OutcomeSuccess,
		Severity: trail.SeverityInfo,
		Reason:   fmt.Sprintf("retention of %d days", st.RetentionDays),
		Metadata: map[string]any{
			"purged":         float64(res.Purged),
			"first_seq":      float64(res.FirstSeq),
			"last_seq":       float64(res.LastSeq),
			"before":         r.Before.UTC().Format(time.RFC3339Nano),
			"retention_days": float64(st.RetentionDays),
		},
	}
	if _, err := j.Store.Append(ctx, []*trail.Event{ev}); err != nil {
		return fmt.Errorf("record the purge: %w", err)
	}
	return nil
}

// Run calls RunOnce now and then every interval until ctx is done.
func (j *Job) Run(ctx context.Context, interval time.Duration) {
	log := j.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := j.RunOnce(ctx); err != nil && ctx.Err() == nil {
			log.Error("retention run failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
