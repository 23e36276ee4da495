package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/auth"
)

// Live tail settings.
const (
	streamWriteTimeout = 10 * time.Second // a client that cannot take an event this long is dropped
	streamHeartbeat    = 15 * time.Second
	streamBatch        = 500
)

// stream is the live tail: Server-Sent Events of matching events as they
// are committed. Each event's SSE id is its seq; a client that reconnects
// with Last-Event-ID resumes right after it. It reads the durable log by
// seq, so a slow client only falls behind and never slows ingest; one
// that cannot take a write for streamWriteTimeout is dropped.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	q, err := s.readQuery(r, p, auth.PermRead)
	if err != nil {
		return err
	}
	tenant := q.Tenant
	match, err := q.Filter.Compile()
	if err != nil {
		return err
	}
	ctx := r.Context()
	var next int64
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil || n < 0 {
			return trail.FieldError("Last-Event-ID", "must be the seq of the last event received")
		}
		next = n + 1
	} else if v := r.URL.Query().Get("from_seq"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return trail.FieldError("from_seq", "must be a non-negative integer")
		}
		next = n
	} else {
		ts, err := s.cfg.Store.Tenants(ctx)
		if err != nil {
			return err
		}
		for _, t := range ts {
			if t.Name == tenant {
				next = t.Size
			}
		}
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	s.audit.record(tenant, r, p, "trail.events.stream", trail.OutcomeSuccess, map[string]any{"query": r.URL.RawQuery, "from_seq": next})
	write := func(b []byte) bool {
		rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write([]byte(": stream of " + tenant + " from seq " + strconv.FormatInt(next, 10) + "\n\n")) {
		return nil
	}
	s.m.streams.Inc()
	defer s.m.streams.Dec()
	for {
		recs, err := s.cfg.Store.Read(ctx, tenant, next, streamBatch)
		if err != nil && trail.ErrorCode(err) != trail.ENOTFOUND {
			if ctx.Err() == nil {
				s.log.Error("stream read", "tenant", tenant, "err", err)
			}
			return nil
		}
		var buf []byte
		for _, rec := range recs {
			next = rec.Seq + 1
			if rec.Data == nil {
				continue
			}
			e, err := trail.DecodeEvent(rec.Data)
			if err != nil {
				s.log.Error("stream decode", "tenant", tenant, "seq", rec.Seq, "err", err)
				continue
			}
			e.Seq, e.LeafHash, e.Leaf = rec.Seq, &rec.LeafHash, rec.Data
			if (!q.From.IsZero() && e.Time.Before(q.From)) || (!q.To.IsZero() && !e.Time.Before(q.To)) || !match(e) {
				continue
			}
			buf = append(buf, "id: "...)
			buf = strconv.AppendInt(buf, rec.Seq, 10)
			buf = append(buf, "\nevent: event\ndata: "...)
			if buf, err = appendEvent(buf, e); err != nil {
				s.log.Error("stream encode", "tenant", tenant, "seq", rec.Seq, "err", err)
				return nil
			}
			buf = append(buf, "\n\n"...)
		}
		if len(buf) > 0 && !write(buf) {
			return nil
		}
		if len(recs) == streamBatch {
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, streamHeartbeat)
		_, err = s.cfg.Store.Wait(wctx, tenant, next)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, context.DeadlineExceeded) && !write([]byte(": ping\n\n")) {
			return nil
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return nil
		}
	}
}
