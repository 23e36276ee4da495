package api

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/auth"
)

// Erasure limits.
const (
	maxErasureIDs    = 10000   // ids in one request
	maxErasureEvents = 1000000 // events one actor selection may erase
	maxReasonLen     = 1024
)

// erasureRequest is the body of POST /v1/erasures: either ids, or an
// actor and an optional time range (event time, [from, to)).
type erasureRequest struct {
	IDs     []string   `json:"ids"`
	ActorID string     `json:"actor_id"`
	From    *time.Time `json:"from"`
	To      *time.Time `json:"to"`
	Reason  string     `json:"reason"`
}

// erase removes the content of chosen events of a tenant: their ids, seqs,
// receipt times and leaf hashes stay, so every proof stays valid, and they
// read back erased. What was done is recorded in the tenant's log as
// trail.events.erased, with the count, the seqs and the reason, but not the
// actor id, which is the personal data being erased.
func (s *Server) erase(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	tenant, err := readTenant(r, p, auth.PermSettings)
	if err != nil {
		return err
	}
	var in erasureRequest
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	if err := in.validate(); err != nil {
		return err
	}
	ctx := r.Context()
	var seqs []int64
	selector := "ids"
	if len(in.IDs) > 0 {
		if seqs, err = s.seqsOfIDs(ctx, tenant, in.IDs); err != nil {
			return err
		}
	} else {
		selector = "actor"
		if seqs, err = s.seqsOfActor(ctx, tenant, &in); err != nil {
			return err
		}
	}
	res, err := s.cfg.Store.Erase(context.WithoutCancel(ctx), tenant, seqs)
	if err != nil {
		return err
	}
	meta := map[string]any{"selector": selector, "reason": in.Reason, "erased": float64(res.Erased), "requested": float64(len(seqs))}
	if len(res.Seqs) > 0 {
		shown := res.Seqs[:min(len(res.Seqs), 1000)]
		list := make([]any, len(shown))
		for i, q := range shown {
			list[i] = float64(q)
		}
		meta["seqs"] = list
		meta["first_seq"], meta["last_seq"] = float64(res.Seqs[0]), float64(res.Seqs[len(res.Seqs)-1])
	}
	if in.From != nil {
		meta["from"] = in.From.UTC().Format(time.RFC3339Nano)
	}
	if in.To != nil {
		meta["to"] = in.To.UTC().Format(time.RFC3339Nano)
	}
	if err := s.audit.recordSync(tenant, r, p, "trail.events.erased", meta); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int64{"erased": res.Erased})
	return nil
}

func (in *erasureRequest) validate() error {
	switch {
	case len(in.IDs) > 0 && in.ActorID != "":
		return trail.FieldError("ids", "give ids or actor_id, not both")
	case len(in.IDs) == 0 && in.ActorID == "":
		return trail.FieldError("ids", "give ids, or actor_id with an optional from and to")
	case len(in.IDs) > maxErasureIDs:
		return trail.FieldError("ids", "at most %d ids per request", maxErasureIDs)
	case len(in.IDs) > 0 && (in.From != nil || in.To != nil):
		return trail.FieldError("from", "from and to go with actor_id")
	case in.From != nil && in.To != nil && !in.From.Before(*in.To):
		return trail.FieldError("from", "must be before to")
	case in.Reason == "":
		return trail.FieldError("reason", "required: say why (e.g. the request it answers)")
	case len(in.Reason) > maxReasonLen:
		return trail.FieldError("reason", "at most %d bytes", maxReasonLen)
	}
	for i, id := range in.IDs {
		if id == "" {
			return trail.FieldError("ids["+strconv.Itoa(i)+"]", "empty id")
		}
	}
	return nil
}

// seqsOfIDs resolves ids to seqs; an unknown id erases nothing and names
// it.
func (s *Server) seqsOfIDs(ctx context.Context, tenant string, ids []string) ([]int64, error) {
	seqs := make([]int64, 0, len(ids))
	for i, id := range ids {
		e, err := s.cfg.Store.Get(ctx, tenant, id)
		if err != nil {
			if te, ok := err.(*trail.Error); ok && te.Code == trail.ENOTFOUND {
				return nil, &trail.Error{Code: trail.EINVALID, Field: "ids[" + strconv.Itoa(i) + "]", Message: "no event " + id + " in tenant " + tenant}
			}
			return nil, err
		}
		seqs = append(seqs, e.Seq)
	}
	slices.Sort(seqs)
	return slices.Compact(seqs), nil
}

// seqsOfActor finds every event of the actor in the time range.
func (s *Server) seqsOfActor(ctx context.Context, tenant string, in *erasureRequest) ([]int64, error) {
	q := trail.Query{Tenant: tenant, Filter: trail.Term(trail.FieldActor, in.ActorID), Order: trail.OrderAsc, Limit: trail.MaxLimit}
	if err := q.Filter.Validate(); err != nil {
		return nil, trail.FieldError("actor_id", "%v", err)
	}
	if in.From != nil {
		q.From = *in.From
	}
	if in.To != nil {
		q.To = *in.To
	}
	var seqs []int64
	for {
		page, err := s.cfg.Store.Query(ctx, &q)
		if err != nil {
			return nil, err
		}
		for _, e := range page.Events {
			seqs = append(seqs, e.Seq)
		}
		if len(seqs) > maxErasureEvents {
			return nil, trail.FieldError("actor_id", "selects more than %d events: narrow it with from and to", maxErasureEvents)
		}
		if page.NextCursor == "" {
			return seqs, nil
		}
		q.Cursor = page.NextCursor
	}
}
