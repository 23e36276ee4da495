package proxy

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trail-audit/trail"
	"github.com/trail-audit/trail/limit"
	"github.com/trail-audit/trail/mask"
)

// Recorder receives the audit events. The trail Go SDK's *client.Client
// is one; Send must be safe for concurrent use and should not block for
// long, since it runs on the request's goroutine after the response is
// written.
type Recorder interface {
	Send(ctx context.Context, e trail.Event) error
}

// Options are the runtime dependencies of an Auditor.
type Options struct {
	// Recorder receives one event per call. Required.
	Recorder Recorder
	// Tenant is the tenant of the events; "" leaves it to the server
	// (the key's tenant, or "default").
	Tenant string
	// Origin is source.origin of the events; default "gateway".
	Origin string
	// Now is the clock of event times, latencies, token expiry and rate
	// limits; nil means time.Now.
	Now func() time.Time
	// Rand supplies the randomness of event and request ids; nil means
	// crypto/rand. It must be safe for concurrent use.
	Rand io.Reader
	// HTTPClient fetches the JWKS; nil means a client with a 10 s timeout.
	HTTPClient *http.Client
	// Logger receives failures to record; nil discards them.
	Logger *slog.Logger
	// Registerer, when set, receives the counters of Stats as metrics
	// under the namespace trail_proxy (events_recorded_total,
	// events_send_errors_total, events_invalid_total,
	// rate_limited_total).
	Registerer prometheus.Registerer
}

// Auditor records an audit event for every call through the handlers it
// wraps, and applies the per-caller and per-IP rate limits. It is safe
// for concurrent use.
type Auditor struct {
	cfg            Config
	rec            Recorder
	tenant         string
	origin         string
	now            func() time.Time
	rand           io.Reader
	log            *slog.Logger
	router         *router
	masker         *mask.Masker
	jwt            *jwtVerifier
	apiKeyHeaders  []string
	trustedProxies []netip.Prefix
	requestIDHdr   string
	callerLimit    *limit.Limiter
	ipLimit        *limit.Limiter

	recorded, sendErrors, invalid, limited atomic.Int64
}

// Stats counts what an Auditor did since it was made.
type Stats struct {
	Recorded    int64 // events handed to the Recorder
	SendErrors  int64 // events the Recorder refused
	Invalid     int64 // events not sent because they failed validation (a bug: they are logged)
	RateLimited int64 // calls answered 429
}

// New validates cfg and returns an Auditor. It fails with an EINVALID
// *trail.Error naming the field when cfg is invalid, and when masking
// needs a key (an hmac rule, such as the default e-mail detector) and
// cfg.MaskKey is shorter than mask.MinKeyLen.
func New(cfg Config, opts Options) (*Auditor, error) {
	if opts.Recorder == nil {
		return nil, errors.New("proxy: Options.Recorder is required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Tenant != "" {
		if err := trail.ValidateTenantName(opts.Tenant); err != nil {
			return nil, err
		}
	}
	m, err := mask.New(cfg.Masking, cfg.MaskKey)
	if errors.Is(err, mask.ErrNoKey) {
		return nil, trail.FieldError("mask_key_file", "masking hashes values (the e-mail detector does by default), so it needs a key of at least %d bytes", mask.MinKeyLen)
	}
	if err != nil {
		return nil, err
	}
	a := &Auditor{cfg: cfg, rec: opts.Recorder, tenant: opts.Tenant, origin: opts.Origin, now: opts.Now, rand: opts.Rand, log: opts.Logger, masker: m}
	if a.origin == "" {
		a.origin = "gateway"
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.rand == nil {
		a.rand = rand.Reader
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: jwksTimeout}
	}
	a.router = newRouter(&cfg)
	a.jwt = newJWTVerifier(cfg.JWT, hc, a.now, a.log)
	if a.jwt.jwks != nil {
		// Fetch the keys now, so that the first calls do not wait for them.
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), jwksTimeout)
			defer cancel()
			a.jwt.jwks.fetch(ctx)
		}()
	}
	for _, h := range cfg.APIKeyHeaders {
		a.apiKeyHeaders = append(a.apiKeyHeaders, canonicalHeader(h))
	}
	for _, p := range cfg.TrustedProxies {
		pf, _ := parsePrefix(p) // validated
		a.trustedProxies = append(a.trustedProxies, pf)
	}
	a.requestIDHdr = DefaultRequestIDHeader
	if cfg.RequestIDHeader != "" {
		a.requestIDHdr = canonicalHeader(cfg.RequestIDHeader)
	}
	if err := a.registerMetrics(opts.Registerer); err != nil {
		return nil, fmt.Errorf("proxy: register metrics: %w", err)
	}
	if r := cfg.RateLimits.Caller; r != nil {
		a.callerLimit = limit.New(limit.Config{Rate: r.Rate, Burst: r.burst()}, a.now)
	}
	if r := cfg.RateLimits.IP; r != nil {
		a.ipLimit = limit.New(limit.Config{Rate: r.Rate, Burst: r.burst()}, a.now)
	}
	return a, nil
}

// Stats returns the counters.
func (a *Auditor) Stats() Stats {
	return Stats{Recorded: a.recorded.Load(), SendErrors: a.sendErrors.Load(), Invalid: a.invalid.Load(), RateLimited: a.limited.Load()}
}

// registerMetrics exposes the counters on r (nothing when r is nil).
func (a *Auditor) registerMetrics(r prometheus.Registerer) error {
	if r == nil {
		return nil
	}
	counter := func(name, help string, v *atomic.Int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "trail_proxy", Name: name, Help: help},
			func() float64 { return float64(v.Load()) })
	}
	for _, c := range []prometheus.Collector{
		counter("events_recorded_total", "Audit events handed to the recorder.", &a.recorded),
		counter("events_send_errors_total", "Audit events the recorder refused (queue full, closed).", &a.sendErrors),
		counter("events_invalid_total", "Audit events not sent because they failed validation (a bug; logged).", &a.invalid),
		counter("rate_limited_total", "Calls answered 429 by the per-IP or per-caller limit.", &a.limited),
	} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// RequestIDHeader is the header that carries the request id.
func (a *Auditor) RequestIDHeader() string { return a.requestIDHdr }

// Wrap returns a handler that audits every call to next: it makes sure
// the request has a request id (keeping a valid one the client sent, else
// generating one) and passes it to next in the request header and to the
// client in the response header, applies the rate limits (refused calls
// get 429 with Retry-After and are recorded with outcome "denied"), calls
// next, and once next has returned records one event, masked, unless the
// route's capture level is "none". A panic in next is recorded as status
// 500 and then re-raised.
func (a *Auditor) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.serve(w, r, next)
	})
}

// call is what the middleware learns about one call.
type call struct {
	start     time.Time
	route     *compiledRoute
	capture   Capture
	bodyLimit int
	requestID string
	ip        netip.Addr
	hasIP     bool
	who       identity
	limitedBy string // "ip" or "caller" when refused
	retry     time.Duration
	reqBody   *bodyCapture
	reqType   string
}

func (a *Auditor) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	c := &call{start: a.now()}
	c.route = a.router.find(r.Method, r.URL.EscapedPath())
	c.capture, c.bodyLimit = a.cfg.Capture, a.cfg.BodyLimit
	if c.capture == "" {
		c.capture = CaptureMetadata
	}
	if c.route != nil {
		if c.route.capture != "" {
			c.capture = c.route.capture
		}
		if c.route.bodyLimit != 0 {
			c.bodyLimit = c.route.bodyLimit
		}
	}
	if c.bodyLimit == 0 {
		c.bodyLimit = DefaultBodyLimit
	}
	c.requestID = r.Header.Get(a.requestIDHdr)
	if !validRequestID(c.requestID) {
		c.requestID = a.newID()
		r.Header.Set(a.requestIDHdr, c.requestID)
	}
	w.Header().Set(a.requestIDHdr, c.requestID)

	limits := a.ipLimit != nil || a.callerLimit != nil
	if c.capture == CaptureNone && !limits {
		next.ServeHTTP(w, r)
		return
	}
	c.ip, c.hasIP = a.clientIP(r)
	c.who = a.identify(r.Context(), r)
	if a.refuse(c) {
		a.limited.Add(1)
		writeRateLimited(w, c)
		if c.capture != CaptureNone {
			a.record(r, c, http.StatusTooManyRequests, nil)
		}
		return
	}
	if c.capture == CaptureNone {
		next.ServeHTTP(w, r)
		return
	}
	rw := &responseRecorder{ResponseWriter: w}
	if c.capture.level() >= CaptureRequest.level() && r.Body != nil && r.Body != http.NoBody {
		c.reqBody = &bodyCapture{limit: c.bodyLimit}
		c.reqType = r.Header.Get("Content-Type")
		r.Body = &teeBody{ReadCloser: r.Body, c: c.reqBody}
	}
	if c.capture == CaptureRequestResponse {
		rw.body = &bodyCapture{limit: c.bodyLimit}
	}
	defer func() {
		if p := recover(); p != nil {
			status := http.StatusInternalServerError
			if rw.status != 0 {
				status = rw.status // the response had started: errAbortHandler and friends
			}
			a.record(r, c, status, rw)
			panic(p)
		}
	}()
	next.ServeHTTP(rw, r)
	if rw.status != 0 && !rw.hijacked && rw.Header().Get("Content-Length") != "" {
		// The response is complete: send it now, so that the client does
		// not wait while the event is built.
		rw.Flush()
	}
	a.record(r, c, rw.statusCode(), rw)
}

// refuse applies the per-IP and then the per-caller limit.
func (a *Auditor) refuse(c *call) bool {
	if a.ipLimit != nil && c.hasIP {
		if ok, retry := a.ipLimit.Allow(c.ip.String(), 1); !ok {
			c.limitedBy, c.retry = "ip", retry
			return true
		}
	}
	if a.callerLimit != nil && c.who.caller != "" {
		if ok, retry := a.callerLimit.Allow(c.who.caller, 1); !ok {
			c.limitedBy, c.retry = "caller", retry
			return true
		}
	}
	return false
}

// writeRateLimited answers 429 in trail's error shape with Retry-After
// in whole seconds, rounded up.
func writeRateLimited(w http.ResponseWriter, c *call) {
	secs := max(int64(math.Ceil(c.retry.Seconds())), 1)
	h := w.Header()
	h.Set("Retry-After", strconv.FormatInt(secs, 10))
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusTooManyRequests)
	io.WriteString(w, `{"error":{"code":"rate_limited","message":"rate limit of this `+c.limitedBy+` exceeded; retry after `+strconv.FormatInt(secs, 10)+`s"}}`)
}

// validRequestID accepts a client's request id of 1 to 128 printable
// ASCII characters without spaces.
func validRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// newID returns a UUIDv7, or a time-based id if the randomness fails.
func (a *Auditor) newID() string {
	id, err := trail.NewUUIDv7(a.now(), a.rand)
	if err != nil {
		a.log.Error("proxy: randomness failed", "err", err)
		return "t" + strconv.FormatInt(a.now().UnixNano(), 36)
	}
	return id
}

// record builds, masks, validates and sends the event of one call.
func (a *Auditor) record(r *http.Request, c *call, status int, rw *responseRecorder) {
	e := a.event(r, c, status, rw)
	a.masker.Apply(&e)
	if len(e.Masked) > 0 {
		paths := make([]any, len(e.Masked))
		for i, p := range e.Masked {
			paths[i] = p
		}
		e.Metadata["masked"] = paths
		e.Masked = nil // a server field: the server lists its own
	}
	if err := a.check(&e); err != nil {
		a.invalid.Add(1)
		a.log.Error("proxy: audit event is invalid; not sent", "request_id", c.requestID, "err", err)
		return
	}
	ctx := context.WithoutCancel(r.Context())
	if err := a.rec.Send(ctx, e); err != nil {
		a.sendErrors.Add(1)
		a.log.Warn("proxy: recording the audit event failed", "request_id", c.requestID, "err", err)
		return
	}
	a.recorded.Add(1)
}

// eventBudget is the canonical size an event may have, leaving room
// under trail's 64 KiB for the fields the server adds.
const eventBudget = 60 << 10

// check validates e as the server will. An event too large or invalid
// because of a captured body loses its bodies (response first) and says
// so in metadata.capture_dropped, then is checked again.
func (a *Auditor) check(e *trail.Event) error {
	err := validate(e)
	for _, p := range []string{"response", "request"} {
		if err == nil {
			return nil
		}
		if _, ok := e.Metadata[p+"_body"]; !ok {
			continue
		}
		delete(e.Metadata, p+"_body")
		e.Metadata[p+"_body_dropped"] = trail.ErrorCode(err)
		err = validate(e)
	}
	return err
}

func validate(e *trail.Event) error {
	v := *e
	if v.Tenant == "" {
		v.Tenant = trail.DefaultTenant
	}
	if err := v.Validate(trail.Limits{}); err != nil {
		return err
	}
	if _, ok := v.Metadata["request_body"]; !ok {
		if _, ok := v.Metadata["response_body"]; !ok {
			return nil // without bodies an event is far below the limit
		}
	}
	leaf, err := v.AppendCanonical(nil)
	if err != nil {
		return err
	}
	return trail.CheckSize(leaf, trail.Limits{MaxEventBytes: eventBudget})
}

// event maps a call onto trail's event shape.
func (a *Auditor) event(r *http.Request, c *call, status int, rw *responseRecorder) trail.Event {
	dur := float64(a.now().Sub(c.start).Microseconds()) / 1000
	e := trail.Event{
		ID:       a.newID(),
		Tenant:   a.tenant,
		Time:     c.start.UTC(),
		Action:   action(c.route, r.Method),
		Outcome:  outcome(status),
		Severity: trail.SeverityInfo,
		Actor:    c.who.actor,
		Source:   &trail.Source{UserAgent: clean(r.UserAgent(), maxTextLen), Origin: a.origin},
		Request: &trail.Request{ID: c.requestID, Method: clean(r.Method, 32), Path: clean(r.URL.Path, maxTextLen),
			Status: status, DurationMS: &dur},
		Metadata: map[string]any{"capture": string(c.capture), "authn": c.who.auth},
	}
	if c.hasIP {
		e.Source.IP = c.ip.String()
	}
	if c.route != nil {
		e.Metadata["route"] = c.route.Path
		params := map[string]any{}
		c.route.tmpl.match(r.URL.EscapedPath(), func(name, value string) {
			if v, err := url.PathUnescape(value); err == nil {
				value = v
			}
			params[name] = clean(value, 1024)
		})
		if len(params) > 0 {
			e.Metadata["params"] = params
		}
		res := &trail.Resource{Type: clean(c.route.resourceType, 1024)}
		if c.route.endsInParam {
			res.ID, _ = params[c.route.lastParam].(string)
		}
		e.Resource = res
	}
	if c.limitedBy != "" {
		e.Metadata["rate_limited"] = c.limitedBy
	}
	if rw != nil && rw.hijacked {
		e.Metadata["upgraded"] = true
	}
	if c.capture.level() >= CaptureRequest.level() {
		if r.URL.RawQuery != "" {
			if q, err := url.ParseQuery(r.URL.RawQuery); err == nil && len(q) > 0 {
				e.Metadata["query"] = queryObject(q)
			} else {
				e.Metadata["query"] = clean(r.URL.RawQuery, maxTextLen)
			}
		}
		if c.reqBody != nil {
			data, total := c.reqBody.snapshot()
			bodyFields(e.Metadata, "request", data, total, c.reqType)
		}
	}
	if c.capture == CaptureRequestResponse && rw != nil && rw.body != nil {
		data, total := rw.body.snapshot()
		bodyFields(e.Metadata, "response", data, total, rw.Header().Get("Content-Type"))
	}
	return e
}

// outcome maps a status: 2xx and 3xx success, 401, 403 and 429 denied,
// other 4xx failure, 5xx error.
func outcome(status int) string {
	switch {
	case status < 400:
		return trail.OutcomeSuccess
	case status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusTooManyRequests:
		return trail.OutcomeDenied
	case status < 500:
		return trail.OutcomeFailure
	}
	return trail.OutcomeError
}
