package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/auth"
	"github.com/trail-audit/trail/mask"
)

// eventInput is the client's wire shape of an event: every field a client
// may set, and the server fields only to reject them by name.
type eventInput struct {
	ID       string          `json:"id"`
	Time     *time.Time      `json:"time"`
	Tenant   string          `json:"tenant"`
	Action   string          `json:"action"`
	Outcome  string          `json:"outcome"`
	Severity string          `json:"severity"`
	Actor    *trail.Actor    `json:"actor"`
	Resource *trail.Resource `json:"resource"`
	Source   *trail.Source   `json:"source"`
	Request  *trail.Request  `json:"request"`
	Changes  []trail.Change  `json:"changes"`
	Reason   string          `json:"reason"`
	Metadata map[string]any  `json:"metadata"`

	Seq        json.RawMessage `json:"seq"`
	ReceivedAt json.RawMessage `json:"received_at"`
	Masked     json.RawMessage `json:"masked"`
	Erased     json.RawMessage `json:"erased"`
	LeafHash   json.RawMessage `json:"leaf_hash"`
}

// decodeEvent strictly decodes one event: unknown fields, wrong types and
// server-set fields are EINVALID errors naming the field.
func decodeEvent(data []byte) (*trail.Event, error) {
	if e, ok := trail.DecodeClientEvent(data); ok {
		return e, nil // the common case: well-formed, known fields only
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	var in eventInput
	if err := dec.Decode(&in); err != nil {
		return nil, jsonError(err)
	}
	if dec.More() {
		return nil, trail.FieldError("", "trailing data after the event")
	}
	for name, raw := range map[string]json.RawMessage{"seq": in.Seq, "received_at": in.ReceivedAt, "masked": in.Masked, "erased": in.Erased, "leaf_hash": in.LeafHash} {
		if raw != nil {
			return nil, trail.FieldError(name, "is set by the server")
		}
	}
	e := &trail.Event{ID: in.ID, Tenant: in.Tenant, Action: in.Action, Outcome: in.Outcome, Severity: in.Severity,
		Resource: in.Resource, Source: in.Source, Request: in.Request, Changes: in.Changes, Reason: in.Reason, Metadata: in.Metadata}
	if in.Time != nil {
		e.Time = *in.Time
	}
	if in.Actor == nil {
		return nil, trail.FieldError("actor.id", "required")
	}
	e.Actor = *in.Actor
	return e, nil
}

// jsonError turns a decoding error into an EINVALID error naming the field.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	var tp *time.ParseError
	switch {
	case errors.As(err, &te):
		return trail.FieldError(te.Field, "must be %s, not %s", jsonKind(te.Type.Kind().String()), te.Value)
	case errors.As(err, &se):
		return trail.FieldError("", "malformed JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &tp):
		return trail.FieldError("time", "must be an RFC 3339 time such as 2026-11-22T10:04:05Z")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return trail.FieldError("", "empty or truncated JSON")
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return trail.FieldError(strings.Trim(f, `"`), "unknown field")
	}
	return trail.FieldError("", "%s", strings.TrimPrefix(msg, "json: "))
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "int", "int64", "float64":
		return "a number"
	case "struct", "map":
		return "an object"
	case "slice":
		return "an array"
	case "bool":
		return "true or false"
	}
	return k
}

// readEvents parses a request body: one event, {"events":[…]}, or NDJSON.
// Errors name the index as "events[i]…".
func (s *Server) readEvents(r *http.Request, body []byte) ([]*trail.Event, error) {
	ct := r.Header.Get("Content-Type")
	if ct != "application/json" { // the common case needs no parsing (nor its map)
		ct, _, _ = mime.ParseMediaType(ct)
	}
	var raws []json.RawMessage
	switch ct {
	case "application/x-ndjson", "application/jsonl", "application/ndjson":
		// Lines are slices of body, which outlives raws: no copy, and
		// nothing a reused read buffer could overwrite.
		for rest := body; len(rest) > 0; {
			line, tail, _ := bytes.Cut(rest, []byte{'\n'})
			rest = tail
			if line = bytes.TrimSpace(line); len(line) > 0 {
				raws = append(raws, json.RawMessage(line))
			}
		}
	case "", "application/json":
		if events, ok := s.decodeBatchFast(body); ok {
			return events, nil
		}
		var err error
		if raws, err = splitBatch(body); err != nil {
			return nil, err
		}
	default:
		return nil, trail.FieldError("Content-Type", "must be application/json or application/x-ndjson (got %q)", ct)
	}
	if len(raws) == 0 {
		return nil, trail.FieldError("events", "at least one event is required")
	}
	if len(raws) > s.limits.MaxBatchEvents {
		return nil, &trail.Error{Code: trail.ETOOLARGE, Field: "events", Message: "at most " + strconv.Itoa(s.limits.MaxBatchEvents) + " events per request"}
	}
	events := make([]*trail.Event, len(raws))
	for i, raw := range raws {
		e, err := decodeEvent(raw)
		if err != nil {
			return nil, trail.AtIndex(err, "events", i)
		}
		events[i] = e
	}
	return events, nil
}

// decodeBatchFast decodes a JSON body that is one well-formed event or a
// well-formed batch {"events":[…]} of 1 to MaxBatchEvents events (the
// key spelled without escapes, only JSON whitespace around the tokens),
// every one of which trail.DecodeClientEventPrefix accepts. For such a
// body it returns exactly the events splitBatch and decodeEvent would;
// for any other body it returns ok false, and the caller takes that
// slower path, which reports what is wrong. The events' strings share
// blocks of memory (see trail.ClientEventDecoder): they live as long as
// the request.
func (s *Server) decodeBatchFast(body []byte) (events []*trail.Event, ok bool) {
	var dec trail.ClientEventDecoder
	i := skipWS(body, 0)
	if i == len(body) || body[i] != '{' {
		return nil, false
	}
	j := skipWS(body, i+1)
	const key = `"events"`
	if !bytes.HasPrefix(body[j:], []byte(key)) {
		// A single event, or something the slow path rejects.
		e, n, ok := dec.DecodePrefix(body[i:])
		if !ok || skipWS(body, i+n) != len(body) {
			return nil, false
		}
		return []*trail.Event{e}, true
	}
	if j = skipWS(body, j+len(key)); j == len(body) || body[j] != ':' {
		return nil, false
	}
	if j = skipWS(body, j+1); j == len(body) || body[j] != '[' {
		return nil, false
	}
	for j = skipWS(body, j+1); ; {
		if j == len(body) || body[j] != '{' || len(events) == s.limits.MaxBatchEvents {
			return nil, false // also an empty array: the slow path says why
		}
		e, n, ok := dec.DecodePrefix(body[j:])
		if !ok {
			return nil, false
		}
		events = append(events, e)
		if j = skipWS(body, j+n); j == len(body) {
			return nil, false
		}
		if body[j] == ']' {
			break
		}
		if body[j] != ',' {
			return nil, false
		}
		j = skipWS(body, j+1)
	}
	j = skipWS(body, j+1)
	if j == len(body) || body[j] != '}' || skipWS(body, j+1) != len(body) {
		return nil, false
	}
	return events, true
}

// skipWS returns the offset of the first byte of b at or after i that is
// not JSON whitespace.
func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// splitBatch returns the events of a JSON body: the elements of
// {"events":[…]} (each scanned once), or the body itself when it is a
// single event (any object whose first key is not "events").
func splitBatch(body []byte) ([]json.RawMessage, error) {
	trimmed := bytes.TrimSpace(body)
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonError(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return []json.RawMessage{trimmed}, nil // not an object: decodeEvent says why
	}
	if !dec.More() {
		return []json.RawMessage{trimmed}, nil
	}
	key, err := dec.Token()
	if err != nil {
		return nil, jsonError(err)
	}
	if key != "events" {
		return []json.RawMessage{trimmed}, nil // a single event
	}
	if tok, err = dec.Token(); err != nil {
		return nil, jsonError(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, trail.FieldError("events", "must be an array of events")
	}
	var raws []json.RawMessage
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, trail.FieldError("events["+strconv.Itoa(len(raws))+"]", "malformed JSON: %v", err)
		}
		raws = append(raws, raw)
	}
	if _, err := dec.Token(); err != nil { // ]
		return nil, jsonError(err)
	}
	if dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, jsonError(err)
		}
		return nil, trail.FieldError(fmt.Sprint(k), "unknown field: a batch is {\"events\":[…]}")
	}
	if _, err := dec.Token(); err != nil { // }
		return nil, jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, trail.FieldError("", "trailing data after the batch")
	}
	if raws == nil {
		raws = []json.RawMessage{}
	}
	return raws, nil
}

func (s *Server) ingest(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	// The body's buffer goes back to the pool when the request is done:
	// events are decoded into copies (strings, decoded values), so
	// nothing the store or the response keeps points into it.
	buf := s.bodies.get()
	body, err := s.readBodyInto(w, r, buf)
	defer func() { s.bodies.put(body) }()
	if err != nil {
		return err
	}
	events, err := s.readEvents(r, body)
	if err != nil {
		return err
	}
	return s.commitEvents(w, r, p, events, "events")
}

// bodyPool keeps the buffers of finished ingest requests for the next
// ones. A batch body is hundreds of kilobytes: a new one each time is
// fresh memory the kernel must fault in and zero, which showed as a few
// percent of a batched ingest's CPU. Buffers larger than maxPooledBody
// are left to the collector.
type bodyPool struct{ p sync.Pool }

const maxPooledBody = 8 << 20

func (b *bodyPool) get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return (*v)[:0]
	}
	return nil
}

func (b *bodyPool) put(buf []byte) {
	if cap(buf) == 0 || cap(buf) > maxPooledBody {
		return
	}
	buf = buf[:0]
	b.p.Put(&buf)
}

// readBody reads a request body of at most the batch size limit (plus
// room for framing); a larger one is ETOOLARGE.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	return s.readBodyInto(w, r, nil)
}

// readBodyInto is readBody reading into buf's capacity when it is large
// enough (buf's contents are discarded).
func (s *Server) readBodyInto(w http.ResponseWriter, r *http.Request, buf []byte) ([]byte, error) {
	limit := int64(s.limits.MaxBatchBytes) + 1<<20
	body, err := readAllSized(http.MaxBytesReader(w, r.Body, limit), min(r.ContentLength, limit), buf)
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, &trail.Error{Code: trail.ETOOLARGE, Message: "request body exceeds " + strconv.Itoa(s.limits.MaxBatchBytes) + " bytes"}
		}
		return nil, trail.FieldError("", "read body: %v", err)
	}
	return body, nil
}

// readAllSized is io.ReadAll into a buffer sized for the size bytes the
// request declared (none when size is not positive), so that a body of
// the declared length is read without copying it as it grows. A body of
// another length is still read whole. buf, when its capacity is enough,
// is the buffer (its contents are discarded).
func readAllSized(rd io.Reader, size int64, buf []byte) ([]byte, error) {
	if size <= 0 {
		return io.ReadAll(rd)
	}
	if int64(cap(buf)) < size+1 { // +1: room for the read that sees EOF
		buf = make([]byte, 0, size+1)
	}
	buf = buf[:0]
	for {
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // longer than declared: grow
		}
	}
}

// commitEvents is the ingest path every ingest endpoint shares, after its
// body is decoded into events: tenant (the event's, else ?tenant= for an
// all-tenant key, else the key's), authorisation, rate limit, schemas,
// masking, store.Append and the 201 receipt response. It is all or
// nothing. Errors name an event as "<list>[i]…", list being the name of
// the array in the request body ("events", or "items" for a Kubernetes
// EventList).
func (s *Server) commitEvents(w http.ResponseWriter, r *http.Request, p *auth.Principal, events []*trail.Event, list string) error {
	var err error
	query := r.URL.Query()
	defTenant := query.Get("tenant")
	if p.Tenant != auth.AllTenants {
		defTenant = p.Tenant
	}
	var known map[string]bool
	for i, e := range events {
		if e.Tenant == "" {
			e.Tenant = defTenant
		}
		if e.Tenant == "" {
			e.Tenant = trail.DefaultTenant
		}
		// Batches are mostly of one tenant: it is checked once.
		if i == 0 || e.Tenant != events[i-1].Tenant {
			if err := s.checkIngestTenant(r, p, e.Tenant, &known); err != nil {
				var te *trail.Error
				if errors.As(err, &te) && te.Field == "tenant" {
					c := *te
					c.Field = list + "[" + strconv.Itoa(i) + "].tenant"
					return &c
				}
				return err
			}
		}
		if strings.HasPrefix(e.Action, "trail.") && p.Role != auth.Operator {
			return &trail.Error{Code: trail.EFORBIDDEN, Field: list + "[" + strconv.Itoa(i) + "].action", Message: "actions trail.* are reserved for trail's own events"}
		}
	}
	if ok, after := s.ingestL.Allow(p.KeyID, len(events)); !ok {
		s.m.rateLimited.WithLabelValues("ingest").Inc()
		return retryAfter{trail.Errorf(trail.ERATELIMITED, "ingest rate limit of this key exceeded"), after}
	}
	// Metadata must satisfy its tenant's schema for the action, before
	// anything of the batch is stored.
	for i, e := range events {
		if err := s.cfg.Schemas.Validate(e.Tenant, e); err != nil {
			return trail.AtIndex(err, list, i)
		}
	}
	// Secrets are masked before anything is hashed or stored; the masked
	// paths are listed in each event's masked field.
	var m *mask.Masker
	for i, e := range events {
		if i == 0 || e.Tenant != events[i-1].Tenant { // batches are mostly of one tenant
			if m, err = s.maskers.get(e.Tenant); err != nil {
				return err
			}
		}
		m.Apply(e)
	}
	start := s.now()
	res, err := s.cfg.Store.Append(r.Context(), events)
	if err != nil {
		return renameList(err, list)
	}
	s.m.commit.Observe(s.now().Sub(start).Seconds())
	s.m.ingestEvents.Add(float64(len(events)))
	s.m.ingestBatches.Inc()
	if query.Get("receipt") == "proof" {
		if err := s.addProofs(r.Context(), res.Receipts, res.Checkpoints); err != nil {
			return err
		}
	}
	return writeIngest(w, res.Receipts, res.Checkpoints)
}

// checkIngestTenant checks that p may ingest into tenant: a valid name,
// not _system unless p is an operator, allowed by p's key, and existing
// when p is scoped to all tenants and the server does not create tenants
// (*known caches the tenants that exist). Errors about the tenant have
// Field "tenant", which the caller renames to the event's.
func (s *Server) checkIngestTenant(r *http.Request, p *auth.Principal, tenant string, known *map[string]bool) error {
	if err := trail.ValidateTenantName(tenant); err != nil {
		return trail.FieldError("tenant", "must match [a-z0-9][a-z0-9_-]{0,62}")
	}
	if tenant == trail.SystemTenant && p.Role != auth.Operator {
		return &trail.Error{Code: trail.EFORBIDDEN, Field: "tenant", Message: "tenant _system is reserved for trail's own events"}
	}
	if err := p.Authorize(auth.PermIngest, tenant); err != nil {
		var te *trail.Error
		if errors.As(err, &te) {
			c := *te
			c.Field = "tenant"
			return &c
		}
		return err
	}
	if p.Tenant == auth.AllTenants && !s.cfg.AutoTenants {
		if *known == nil {
			m, err := s.tenantSet(r)
			if err != nil {
				return err
			}
			*known = m
		}
		if !(*known)[tenant] {
			return &trail.Error{Code: trail.ENOTFOUND, Field: "tenant", Message: "tenant " + tenant + " does not exist and automatic creation is off"}
		}
	}
	return nil
}

// renameList renames the "events[i]" that a store's errors start their
// Field with to "<list>[i]".
func renameList(err error, list string) error {
	var te *trail.Error
	if list == "events" || !errors.As(err, &te) || !strings.HasPrefix(te.Field, "events") {
		return err
	}
	c := *te
	c.Field = list + strings.TrimPrefix(te.Field, "events")
	return &c
}

// addProofs sets each receipt's inclusion proof against its tenant's
// checkpoint, computing them on every core.
func (s *Server) addProofs(ctx context.Context, rcs []trail.Receipt, cps map[string]*trail.Checkpoint) error {
	workers := min(runtime.GOMAXPROCS(0), len(rcs))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(rcs); i += workers {
				rc := &rcs[i]
				proof, err := s.cfg.Store.InclusionProof(ctx, rc.Tenant, rc.Seq, cps[rc.Tenant].Size)
				if err != nil {
					errs[w] = err
					return
				}
				rc.Inclusion = proof
			}
		}(w)
	}
	wg.Wait()
	return errors.Join(errs...)
}

// tenantSet returns the names of existing tenants.
func (s *Server) tenantSet(r *http.Request) (map[string]bool, error) {
	ts, err := s.cfg.Store.Tenants(r.Context())
	if err != nil {
		return nil, err
	}
	m := make(map[string]bool, len(ts))
	for _, t := range ts {
		m[t.Name] = true
	}
	return m, nil
}
