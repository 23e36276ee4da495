package api

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/auth"
	"github.com/trail-audit/trail/query"
)

// readTenant resolves the tenant a read acts on: the key's own tenant, or
// ?tenant= (default "default") for a key scoped to all tenants. The
// reserved tenant _system is read by operators only.
func readTenant(r *http.Request, p *auth.Principal, perm auth.Permission) (string, error) {
	t := r.URL.Query().Get("tenant")
	if t == "" {
		if p.Tenant != auth.AllTenants {
			t = p.Tenant
		} else {
			t = trail.DefaultTenant
		}
	}
	if err := trail.ValidateTenantName(t); err != nil {
		return "", err
	}
	if err := p.Authorize(perm, t); err != nil {
		return "", err
	}
	if t == trail.SystemTenant && p.Role != auth.Operator {
		// _system holds every tenant's failed authentications and the
		// changes to all-tenant keys: operators only, even for keys
		// scoped to all tenants.
		return "", trail.Errorf(trail.EFORBIDDEN, "tenant %s is readable by operator keys only", trail.SystemTenant)
	}
	return t, nil
}

// filterParams are the query parameters that become filter terms.
var filterParams = []struct{ param, field string }{
	{"actor", trail.FieldActor},
	{"action", trail.FieldAction},
	{"outcome", trail.FieldOutcome},
	{"severity", trail.FieldSeverity},
	{"resource_type", trail.FieldResourceType},
	{"resource_id", trail.FieldResourceID},
	{"ip", trail.FieldIP},
	{"request_id", trail.FieldRequestID},
}

// parseQuery builds a trail.Query from URL parameters. Every filter
// parameter and q are ANDed.
func parseQuery(v url.Values, tenant string) (*trail.Query, error) {
	q := &trail.Query{Tenant: tenant, Cursor: v.Get("cursor"), Order: trail.Order(v.Get("order"))}
	var terms []*trail.Expr
	for _, fp := range filterParams {
		for _, val := range v[fp.param] {
			if val == "" {
				continue
			}
			term := trail.Term(fp.field, val)
			if fp.field != trail.FieldIP && strings.HasSuffix(val, "*") {
				term = trail.PrefixTerm(fp.field, strings.TrimSuffix(val, "*"))
			}
			// A bad value is reported against its own parameter, not q.
			if err := term.Validate(); err != nil {
				var te *trail.Error
				if errors.As(err, &te) {
					c := *te
					c.Field = fp.param
					return nil, &c
				}
				return nil, err
			}
			terms = append(terms, term)
		}
	}
	if s := v.Get("q"); strings.TrimSpace(s) != "" {
		x, err := query.Parse(s)
		if err != nil {
			return nil, err
		}
		if x != nil {
			terms = append(terms, x)
		}
	}
	switch len(terms) {
	case 0:
	case 1:
		q.Filter = terms[0]
	default:
		q.Filter = trail.And(terms...)
	}
	if q.Filter != nil {
		if err := q.Filter.Validate(); err != nil {
			return nil, err
		}
	}
	var err error
	if q.From, err = parseTime(v, "from"); err != nil {
		return nil, err
	}
	if q.To, err = parseTime(v, "to"); err != nil {
		return nil, err
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > trail.MaxLimit {
			return nil, trail.FieldError("limit", "must be an integer between 1 and %d", trail.MaxLimit)
		}
		q.Limit = n
	}
	return q, nil
}

func parseTime(v url.Values, name string) (time.Time, error) {
	s := v.Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, trail.FieldError(name, "must be an RFC 3339 time such as 2026-11-22T10:04:05Z")
	}
	return t, nil
}

func parseInt(v url.Values, name string, required bool) (int64, error) {
	s := v.Get(name)
	if s == "" {
		if required {
			return 0, trail.FieldError(name, "required")
		}
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, trail.FieldError(name, "must be a non-negative integer")
	}
	return n, nil
}

// limitRead applies the per-key read rate limit.
func (s *Server) limitRead(p *auth.Principal) error {
	if ok, after := s.readL.Allow(p.KeyID, 1); !ok {
		s.m.rateLimited.WithLabelValues("read").Inc()
		return retryAfter{trail.Errorf(trail.ERATELIMITED, "read rate limit of this key exceeded"), after}
	}
	return nil
}

// readQuery is the start of every filtered read: the tenant the caller
// may read with perm, the per-key read limit, and the filters of the URL.
func (s *Server) readQuery(r *http.Request, p *auth.Principal, perm auth.Permission) (*trail.Query, error) {
	tenant, err := readTenant(r, p, perm)
	if err != nil {
		return nil, err
	}
	if err := s.limitRead(p); err != nil {
		return nil, err
	}
	q, err := parseQuery(r.URL.Query(), tenant)
	if err != nil {
		return nil, err
	}
	// The caller's filter, ANDed with a viewer token's own, in search form.
	if q.Filter, err = s.scopedFilter(p, tenant, q.Filter); err != nil {
		return nil, err
	}
	return q, nil
}

func (s *Server) query(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	q, err := s.readQuery(r, p, auth.PermRead)
	if err != nil {
		return err
	}
	tenant := q.Tenant
	start := s.now()
	page, err := s.cfg.Store.Query(r.Context(), q)
	if err != nil {
		return err
	}
	s.m.query.Observe(s.now().Sub(start).Seconds())
	s.audit.record(tenant, r, p, "trail.events.query", trail.OutcomeSuccess, map[string]any{"query": r.URL.RawQuery, "results": len(page.Events)})
	return writePage(w, page)
}

type eventWithProof struct {
	Event      *trail.Event          `json:"event"`
	Checkpoint string                `json:"checkpoint"`
	Inclusion  *trail.InclusionProof `json:"inclusion"`
}

func (s *Server) getEvent(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	tenant, err := readTenant(r, p, auth.PermRead)
	if err != nil {
		return err
	}
	if err := s.limitRead(p); err != nil {
		return err
	}
	id := r.PathValue("id")
	e, err := s.cfg.Store.Get(r.Context(), tenant, id)
	if err == nil || trail.ErrorCode(err) == trail.ENOTFOUND {
		// For a viewer token, an event outside its filter and an id that
		// does not exist get the same answer: no existence oracle.
		if err = s.inScope(p, tenant, id, e, err); err != nil {
			return err
		}
	}
	if err != nil {
		return err
	}
	s.audit.record(tenant, r, p, "trail.events.get", trail.OutcomeSuccess, map[string]any{"event_id": id})
	if v := r.URL.Query().Get("proof"); v != "1" && v != "true" {
		writeJSON(w, http.StatusOK, e)
		return nil
	}
	cp, err := s.cfg.Store.Checkpoint(r.Context(), tenant)
	if err != nil {
		return err
	}
	proof, err := s.cfg.Store.InclusionProof(r.Context(), tenant, e.Seq, cp.Size)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, eventWithProof{Event: e, Checkpoint: string(cp.Note), Inclusion: proof})
	return nil
}

func (s *Server) stats(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	q, err := s.readQuery(r, p, auth.PermRead)
	if err != nil {
		return err
	}
	tenant, v := q.Tenant, r.URL.Query()
	sq := &trail.StatsQuery{Query: *q, GroupBy: v.Get("group_by")}
	if iv := v.Get("interval"); iv != "" {
		switch iv {
		case "1m":
			sq.Interval = time.Minute
		case "1h":
			sq.Interval = time.Hour
		case "1d":
			sq.Interval = 24 * time.Hour
		default:
			d, err := time.ParseDuration(iv)
			if err != nil {
				return trail.FieldError("interval", "must be 1m, 1h, 1d or a duration such as 15m")
			}
			sq.Interval = d
		}
	}
	st, err := s.cfg.Store.Stats(r.Context(), sq)
	if err != nil {
		return err
	}
	s.audit.record(tenant, r, p, "trail.events.stats", trail.OutcomeSuccess, map[string]any{"query": r.URL.RawQuery})
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (s *Server) checkpoint(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	tenant, err := readTenant(r, p, auth.PermRead)
	if err != nil {
		return err
	}
	cp, err := s.cfg.Store.Checkpoint(r.Context(), tenant)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err = w.Write(cp.Note)
	return err
}

func (s *Server) inclusion(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	tenant, err := readTenant(r, p, auth.PermRead)
	if err != nil {
		return err
	}
	v := r.URL.Query()
	seq, err := parseInt(v, "seq", true)
	if err != nil {
		return err
	}
	size, err := parseInt(v, "size", false)
	if err != nil {
		return err
	}
	proof, err := s.cfg.Store.InclusionProof(r.Context(), tenant, seq, size)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, proof)
	return nil
}

func (s *Server) consistency(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	tenant, err := readTenant(r, p, auth.PermRead)
	if err != nil {
		return err
	}
	v := r.URL.Query()
	from, err := parseInt(v, "from", true)
	if err != nil {
		return err
	}
	to, err := parseInt(v, "to", false)
	if err != nil {
		return err
	}
	proof, err := s.cfg.Store.ConsistencyProof(r.Context(), tenant, from, to)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, proof)
	return nil
}
