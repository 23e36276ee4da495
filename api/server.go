package api

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/alert"
	"github.com/trail-audit/trail/auth"
	"github.com/trail-audit/trail/limit"
	"github.com/trail-audit/trail/schema"
	"github.com/trail-audit/trail/session"
	"github.com/trail-audit/trail/settings"
	"github.com/trail-audit/trail/sink"
	"github.com/trail-audit/trail/ui"
	"github.com/trail-audit/trail/viewtoken"
)

// Config configures a Server. Store and Keys are required.
type Config struct {
	Store       trail.Store
	Keys        *auth.Keys
	VerifierKey string // served at /v1/log/key (note verifier format)

	// Settings holds every tenant's settings (GET|PUT /v1/settings); nil:
	// settings kept in memory only.
	Settings *settings.Registry
	// Schemas holds every tenant's action schemas (/v1/schemas), which
	// ingest enforces; nil: schemas kept in memory only.
	Schemas *schema.Registry

	// Alerts runs the alert rules (/v1/alert-rules, /v1/alerts); nil: an
	// in-memory manager that stores rules and alerts but evaluates only if
	// someone runs it.
	Alerts *alert.Manager

	// Sinks runs the tenants' sinks and SinkConfigs keeps their
	// configurations (/v1/sinks); nil: in-memory ones.
	Sinks       *sink.Manager
	SinkConfigs sink.Configs

	// MaskSecret keys the hmac masking action: each tenant's key is
	// derived from it, so it must be secret, random (at least 16 bytes)
	// and the same on every node and across restarts, or equality search
	// of hashed values breaks. nil: a random secret for this process only.
	MaskSecret []byte

	Limits      trail.Limits
	AutoTenants bool // an all-tenant key creates a tenant on its first event

	// Rate limits: per key on ingest (events/s) and on reads
	// (requests/s), and per client IP on everything. Zero Rate = off.
	IngestRate limit.Config
	ReadRate   limit.Config
	IPRate     limit.Config

	// Sessions keeps the dashboard's sign-in sessions (cookie
	// trail_session); nil: in memory, with the default timeouts.
	// SecureCookies marks cookies Secure on plain HTTP too (behind a
	// TLS-terminating proxy); over TLS they always are. OIDC, when set,
	// enables sign-in at /auth/oidc/login.
	Sessions      *session.Manager
	SecureCookies bool
	OIDC          *OIDCConfig

	// ViewerTokenSecret keys the MAC of viewer tokens (POST
	// /v1/viewer-tokens, package viewtoken): random, at least 16 bytes,
	// the same on every node; changing it revokes every token. nil: a
	// random secret for this process only. ViewerTokenMaxTTL bounds their
	// lifetime (0: 24h). EmbedOrigins are the origins allowed to frame
	// /embed (CSP frame-ancestors; see ui.CheckOrigins); none: no site.
	ViewerTokenSecret []byte
	ViewerTokenMaxTTL time.Duration
	EmbedOrigins      []string

	Now        func() time.Time
	Logger     *slog.Logger          // nil: discard
	Registerer prometheus.Registerer // nil: a private registry
	Gatherer   prometheus.Gatherer   // served at /metrics; nil: the private registry
	// Ready reports readiness for /readyz; nil: always ready.
	Ready func(context.Context) error
}

// Server is the HTTP API. It is an http.Handler; Close stops its
// background work (the self-audit writer) after flushing it.
type Server struct {
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	now     func() time.Time
	limits  trail.Limits
	ingestL *limit.Limiter
	readL   *limit.Limiter
	ipL     *limit.Limiter
	m       *metrics
	audit   *auditor
	maskers *maskers
	// viewTokens mints and checks viewer tokens (viewertokens.go).
	viewTokens *viewtoken.Minter
	sess       *sessionAuth
	bodies     bodyPool // ingest request bodies, reused (see bodyPool)

	closeOnce sync.Once
}

// New returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Keys == nil {
		return nil, errors.New("api: Config.Store and Config.Keys are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registerer == nil {
		reg := prometheus.NewRegistry()
		cfg.Registerer = reg
		if cfg.Gatherer == nil {
			cfg.Gatherer = reg
		}
	}
	if cfg.Gatherer == nil {
		cfg.Gatherer = prometheus.DefaultGatherer
	}
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger,
		mux:     http.NewServeMux(),
		now:     cfg.Now,
		limits:  cfg.Limits.WithDefaults(),
		ingestL: limit.New(cfg.IngestRate, cfg.Now),
		readL:   limit.New(cfg.ReadRate, cfg.Now),
		ipL:     limit.New(cfg.IPRate, cfg.Now),
	}
	m, err := newMetrics(cfg.Registerer, cfg.Store)
	if err != nil {
		return nil, err
	}
	s.m = m
	if len(s.cfg.MaskSecret) == 0 {
		s.cfg.MaskSecret = make([]byte, 32)
		if _, err := rand.Read(s.cfg.MaskSecret); err != nil {
			return nil, err
		}
		s.log.Warn("api: no masking secret configured; hashed values are searchable only until restart")
	}
	if s.cfg.Settings == nil {
		if s.cfg.Settings, err = settings.New(context.Background(), &settings.MemStore{}, CheckMasking(s.cfg.MaskSecret)); err != nil {
			return nil, err
		}
	}
	if s.cfg.Schemas == nil {
		if s.cfg.Schemas, err = schema.New(context.Background(), &schema.MemStore{}, cfg.Now); err != nil {
			return nil, err
		}
	}
	s.maskers = newMaskers(s.cfg.Settings, s.cfg.MaskSecret)
	if s.cfg.Sinks == nil {
		s.cfg.Sinks = sink.NewManager(sink.ManagerOptions{Store: cfg.Store, Cursors: &sink.MemCursors{}, Logger: cfg.Logger})
	}
	if s.cfg.SinkConfigs == nil {
		s.cfg.SinkConfigs = &memSinkConfigs{}
	}
	if s.cfg.Alerts == nil {
		s.cfg.Alerts = alert.NewManager(alert.Config{Store: cfg.Store, State: &alert.MemoryState{}, Now: cfg.Now, Logger: cfg.Logger}, 0)
	}
	if s.viewTokens, err = newViewTokens(cfg, s.log); err != nil {
		return nil, err
	}
	if err := ui.CheckOrigins(cfg.EmbedOrigins); err != nil {
		return nil, err
	}
	s.audit = newAuditor(cfg.Store, cfg.Logger)
	if s.sess, err = newSessionAuth(cfg); err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

// Close flushes pending self-audit events and stops background work.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.cfg.Sinks.Close() // before the audit writer and the store: runners read the store
		s.audit.close()
	})
	return nil
}

// route is one API endpoint: the permission it needs ("" = public) and
// its handler, which receives the authenticated principal.
type route struct {
	pattern string
	perm    auth.Permission
	handle  func(w http.ResponseWriter, r *http.Request, p *auth.Principal) error
}

// Routes lists every endpoint with the permission it requires, for the
// authorisation tests and the OpenAPI check.
func (s *Server) Routes() []Route {
	out := make([]Route, 0, len(s.table()))
	for _, rt := range s.table() {
		method, path, _ := strings.Cut(rt.pattern, " ")
		out = append(out, Route{Method: method, Path: path, Permission: rt.perm})
	}
	return out
}

// Route describes an endpoint.
type Route struct {
	Method, Path string
	Permission   auth.Permission // "" = public
}

func (s *Server) table() []route {
	return []route{
		{"POST /v1/events", auth.PermIngest, s.ingest},
		{"POST /v1/ingest/kubernetes", auth.PermIngest, s.ingestKubernetes},
		{"GET /v1/events", auth.PermRead, s.query},
		{"GET /v1/events/{id}", auth.PermRead, s.getEvent},
		{"GET /v1/export", auth.PermExport, s.export},
		{"GET /v1/stream", auth.PermRead, s.stream},
		{"GET /v1/stats", auth.PermRead, s.stats},
		{"GET /v1/log/checkpoint", auth.PermRead, s.checkpoint},
		{"GET /v1/log/proof/inclusion", auth.PermRead, s.inclusion},
		{"GET /v1/log/proof/consistency", auth.PermRead, s.consistency},
		{"GET /v1/log/key", "", s.verifierKey},
		{"POST /v1/keys", auth.PermKeys, s.createKey},
		{"GET /v1/keys", auth.PermKeys, s.listKeys},
		{"DELETE /v1/keys/{id}", auth.PermKeys, s.revokeKey},
		{"POST /v1/keys/{id}/rotate", auth.PermKeys, s.rotateKey},
		{"POST /v1/viewer-tokens", auth.PermKeys, s.createViewerToken},
		{"POST /v1/erasures", auth.PermSettings, s.erase},
		{"GET /v1/sinks", auth.PermSettings, s.listSinks},
		{"POST /v1/sinks", auth.PermSettings, s.createSink},
		{"GET /v1/sinks/{id}", auth.PermSettings, s.getSink},
		{"PUT /v1/sinks/{id}", auth.PermSettings, s.replaceSink},
		{"DELETE /v1/sinks/{id}", auth.PermSettings, s.deleteSink},
		{"POST /v1/sinks/{id}/pause", auth.PermSettings, s.sinkAction},
		{"POST /v1/sinks/{id}/resume", auth.PermSettings, s.sinkAction},
		{"POST /v1/sinks/{id}/replay", auth.PermSettings, s.sinkAction},
		{"GET /v1/alert-rules", auth.PermRead, s.listAlertRules},
		{"POST /v1/alert-rules", auth.PermSettings, s.putAlertRule},
		{"GET /v1/alert-rules/{id}", auth.PermRead, s.getAlertRule},
		{"PUT /v1/alert-rules/{id}", auth.PermSettings, s.putAlertRule},
		{"DELETE /v1/alert-rules/{id}", auth.PermSettings, s.deleteAlertRule},
		{"GET /v1/alerts", auth.PermRead, s.listAlerts},
		{"POST /v1/alerts/{id}/acknowledge", auth.PermVerify, s.setAlertStatus(false)},
		{"POST /v1/alerts/{id}/resolve", auth.PermVerify, s.setAlertStatus(true)},
		{"GET /v1/settings", auth.PermRead, s.getSettings},
		{"PUT /v1/settings", auth.PermSettings, s.putSettings},
		{"GET /v1/schemas", auth.PermRead, s.listSchemas},
		{"GET /v1/schemas/{action}", auth.PermRead, s.getSchema},
		{"PUT /v1/schemas/{action}", auth.PermSettings, s.putSchema},
		{"GET /v1/tenants", auth.PermTenants, s.listTenants},
		{"POST /v1/tenants", auth.PermTenants, s.createTenant},
		{"POST /v1/session", "", s.createSession},
		{"GET /v1/session", "", s.getSession},
		{"DELETE /v1/session", "", s.deleteSession},
		{"GET /v1/session/config", "", s.sessionConfig},
		{"GET /healthz", "", s.healthz},
		{"GET /readyz", "", s.readyz},
		{"GET /openapi.json", "", s.openapi},
	}
}

func (s *Server) routes() {
	for _, rt := range s.table() {
		s.mux.Handle(rt.pattern, s.wrap(rt))
	}
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{}))
	// OIDC sign-in answers with redirects and HTML pages, not JSON, so it
	// is outside /v1 and the API table (see oidc.go).
	s.mux.HandleFunc("GET /auth/oidc/login", s.oidcLogin)
	s.mux.HandleFunc("GET /auth/oidc/callback", s.oidcCallback)
	// The dashboard (package ui) is static and public; its pages call the
	// API with the user's key. It is not an API route, so it is not in
	// table(), Routes() or openapi.json; every other path, /v1/… included,
	// still gets the JSON 404 below.
	dashboard := ui.Handler()
	s.mux.Handle("GET /{$}", dashboard)
	s.mux.Handle("GET /ui/", dashboard)
	// The embeddable viewer: read-only, driven by a viewer token, framable
	// by EmbedOrigins only (docs/embedding.md).
	s.mux.Handle("GET /embed", ui.EmbedHandler(s.cfg.EmbedOrigins))
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, trail.Errorf(trail.ENOTFOUND, "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// wrap authenticates, authorises the permission (tenant checks happen in
// the handler, which knows the tenant), rate-limits by IP and times the
// request.
func (s *Server) wrap(rt route) http.Handler {
	rm := &routeMetrics{m: s.m, pattern: rt.pattern}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			rm.requests(sw.status).Inc()
			rm.latency().Observe(s.now().Sub(start).Seconds())
		}()
		if ok, after := s.ipL.Allow(clientIP(r), 1); !ok {
			s.m.rateLimited.WithLabelValues("ip").Inc()
			s.writeError(sw, r, retryAfter{trail.Errorf(trail.ERATELIMITED, "too many requests from this address"), after})
			return
		}
		var p *auth.Principal
		if rt.perm != "" {
			pr, err := s.authenticate(r)
			if err != nil {
				s.writeError(sw, r, err)
				return
			}
			if !pr.Role.Allows(rt.perm) {
				s.writeError(sw, r, trail.Errorf(trail.EFORBIDDEN, "role %s cannot %s", pr.Role, rt.perm))
				return
			}
			if err := checkEventsOnly(rt.pattern, pr); err != nil { // viewer tokens: see viewertokens.go
				s.writeError(sw, r, err)
				return
			}
			p = &pr
		}
		if err := rt.handle(sw, r, p); err != nil {
			s.writeError(sw, r, err)
		}
	})
}

// authenticate reads the bearer token, or without an Authorization header
// the dashboard's session cookie (see session.go, which also checks the
// CSRF token of state-changing requests). A failure is audited in _system.
func (s *Server) authenticate(r *http.Request) (auth.Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" && hasCookie(r, SessionCookie) {
		return s.authenticateSession(r)
	}
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" {
		return auth.Principal{}, trail.Errorf(trail.EUNAUTHENTICATED, "missing bearer token in the Authorization header")
	}
	var p auth.Principal
	var err error
	switch token = strings.TrimSpace(token); {
	case strings.HasPrefix(token, viewtoken.Prefix):
		p, err = s.viewerPrincipal(token) // viewertokens.go
	default:
		p, err = s.cfg.Keys.Authenticate(r.Context(), token)
	}
	if err != nil {
		s.m.authFailures.Inc()
		s.audit.record(trail.SystemTenant, r, nil, "trail.auth.failed", trail.OutcomeFailure, map[string]any{"reason": trail.ErrorMessage(err)})
		return auth.Principal{}, err
	}
	return p, nil
}

// statusWriter records the status for metrics and forwards Flush.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// routeMetrics are one route's request metrics, looked up by their labels
// once (on the route's first request, so that a route never requested has
// no series) instead of on every request.
type routeMetrics struct {
	m       *metrics
	pattern string
	lat     atomic.Pointer[prometheus.Observer]
	classes [6]atomic.Pointer[prometheus.Counter] // by status / 100
}

func (rm *routeMetrics) latency() prometheus.Observer {
	if o := rm.lat.Load(); o != nil {
		return *o
	}
	o := rm.m.latency.WithLabelValues(rm.pattern)
	rm.lat.Store(&o)
	return o
}

func (rm *routeMetrics) requests(status int) prometheus.Counter {
	i := status / 100
	if i < 1 || i >= len(rm.classes) {
		return rm.m.requests.WithLabelValues(rm.pattern, statusClass(status))
	}
	if c := rm.classes[i].Load(); c != nil {
		return *c
	}
	c := rm.m.requests.WithLabelValues(rm.pattern, statusClass(status))
	rm.classes[i].Store(&c)
	return c
}

func statusClass(code int) string {
	return string(rune('0'+code/100)) + "xx"
}

// clientIP is the connection's address. Forwarded headers are not trusted.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(r.Context()); err != nil {
			return &trail.Error{Code: trail.EUNAVAILABLE, Message: "not ready", Err: err}
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

func (s *Server) verifierKey(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err := w.Write([]byte(s.cfg.VerifierKey + "\n"))
	return err
}
