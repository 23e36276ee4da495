package api

import (
	"fmt"
	"net/http"
	"os"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/auth"
	"github.com/trail-audit/trail/export"
)

// eventWriter is one export format.
type eventWriter interface {
	Write(e *trail.Event) error
}

// export streams every matching event, oldest first by default, in
// constant memory: it pages through the store and writes as it goes.
func (s *Server) export(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	q, err := s.readQuery(r, p, auth.PermExport)
	if err != nil {
		return err
	}
	tenant, v := q.Tenant, r.URL.Query()
	if q.Order == "" {
		q.Order = trail.OrderAsc
	}
	q.Limit = trail.MaxLimit
	format := v.Get("format")
	if format == "" {
		format = "ndjson"
	}
	// Validate the query before the first byte is sent.
	if _, _, err := q.Normalize(); err != nil {
		return err
	}
	if _, err := s.cfg.Store.Checkpoint(r.Context(), tenant); err != nil {
		return err
	}
	stamp := s.now().UTC().Format("20060102T150405Z")
	var (
		out    eventWriter
		finish func() error
		limit  int64 = -1 // bundle: only events inside its checkpoint
	)
	switch format {
	case "ndjson":
		nw := export.NewNDJSON(w)
		out, finish = nw, nw.Flush
		w.Header().Set("Content-Type", "application/x-ndjson")
	case "csv":
		cw := export.NewCSV(w)
		out, finish = cw, cw.Flush
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	case "bundle":
		if q.Order != trail.OrderAsc {
			return trail.FieldError("order", "a bundle is exported in log order (asc)")
		}
		cp, err := s.cfg.Store.Checkpoint(r.Context(), tenant)
		if err != nil {
			return err
		}
		limit = cp.Size
		proofs := func(seq int64) (*trail.InclusionProof, error) {
			return s.cfg.Store.InclusionProof(r.Context(), tenant, seq, cp.Size)
		}
		w.Header().Set("Content-Type", "application/zip")
		bw, err := export.NewBundle(w, tenant, cp, s.cfg.VerifierKey, proofs, os.TempDir(), s.now(), r.URL.RawQuery)
		if err != nil {
			return err
		}
		out, finish = bw, bw.Close
	default:
		return trail.FieldError("format", "must be ndjson, csv or bundle")
	}
	ext := map[string]string{"ndjson": "ndjson", "csv": "csv", "bundle": "zip"}[format]
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="trail-%s-%s.%s"`, tenant, stamp, ext))
	w.WriteHeader(http.StatusOK)
	if nw, ok := out.(*export.NDJSONWriter); ok && q.Filter == nil && q.From.IsZero() && q.To.IsZero() && q.Order == trail.OrderAsc && q.Cursor == "" {
		n, err := s.exportLog(r, tenant, nw)
		if err != nil {
			return s.abort(r, err)
		}
		s.audit.record(tenant, r, p, "trail.events.export", trail.OutcomeSuccess, map[string]any{"format": format, "query": r.URL.RawQuery, "events": n})
		return nil
	}
	n := 0
	for {
		page, err := s.cfg.Store.Query(r.Context(), q)
		if err != nil {
			return s.abort(r, err)
		}
		for _, e := range page.Events {
			if limit >= 0 && e.Seq >= limit {
				page.NextCursor = ""
				break
			}
			if err := out.Write(e); err != nil {
				return s.abort(r, err)
			}
			n++
		}
		if page.NextCursor == "" {
			break
		}
		q.Cursor = page.NextCursor
	}
	if err := finish(); err != nil {
		return s.abort(r, err)
	}
	s.audit.record(tenant, r, p, "trail.events.export", trail.OutcomeSuccess, map[string]any{"format": format, "query": r.URL.RawQuery, "events": n})
	return nil
}

// abort ends a response whose body has started: the error is logged and
// the connection is cut so the client sees a truncated transfer, never a
// silently short export.
func (s *Server) abort(r *http.Request, err error) error {
	s.log.Error("streaming response failed", "path", r.URL.Path, "err", err)
	panic(http.ErrAbortHandler)
}

// exportLog writes a tenant's whole log as NDJSON straight from the stored
// leaves (Store.Read), without decoding them: the fast path of an
// unfiltered export. Erased events, whose leaves are gone, are written as
// the same stubs the filtered path writes.
func (s *Server) exportLog(r *http.Request, tenant string, nw *export.NDJSONWriter) (int, error) {
	ctx := r.Context()
	n := 0
	for next := int64(0); ; {
		recs, err := s.cfg.Store.Read(ctx, tenant, next, trail.MaxLimit)
		if err != nil {
			return n, err
		}
		if len(recs) == 0 {
			return n, nw.Flush()
		}
		for _, rec := range recs {
			next = rec.Seq + 1
			if rec.Data != nil {
				err = nw.WriteLeaf(tenant, rec.Seq, rec.Data, rec.LeafHash)
			} else {
				err = s.exportErased(r, tenant, rec, nw)
			}
			if err != nil {
				return n, err
			}
			n++
		}
	}
}

// exportErased writes the stub of one erased event from its record.
func (s *Server) exportErased(r *http.Request, tenant string, rec trail.Record, nw *export.NDJSONWriter) error {
	h := rec.LeafHash
	return nw.Write(&trail.Event{ID: rec.ID, Seq: rec.Seq, Tenant: tenant, ReceivedAt: rec.ReceivedAt, Erased: true, LeafHash: &h})
}
