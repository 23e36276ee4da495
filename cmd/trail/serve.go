package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/alert"
	"github.com/trail-audit/trail/api"
	"github.com/trail-audit/trail/auth"
	"github.com/trail-audit/trail/checkpoint"
	"github.com/trail-audit/trail/egress"
	"github.com/trail-audit/trail/keyring"
	"github.com/trail-audit/trail/limit"
	"github.com/trail-audit/trail/logstore"
	"github.com/trail-audit/trail/pgstore"
	"github.com/trail-audit/trail/pgstore/pgkeys"
	"github.com/trail-audit/trail/pgstore/pgschemas"
	"github.com/trail-audit/trail/pgstore/pgsessions"
	"github.com/trail-audit/trail/pgstore/pgsettings"
	"github.com/trail-audit/trail/pgstore/pgwatch"
	"github.com/trail-audit/trail/retention"
	"github.com/trail-audit/trail/schema"
	"github.com/trail-audit/trail/session"
	"github.com/trail-audit/trail/settings"
	"github.com/trail-audit/trail/sink"
	"github.com/trail-audit/trail/ui"
)

// ServeConfig is the configuration of "trail serve". Validate names the
// offending flag.
type ServeConfig struct {
	// SignInConfig holds the dashboard's session timeouts and OIDC issuer
	// (signin.go).
	SignInConfig
	Addr         string
	Data         string
	Postgres     string // DSN of the PostgreSQL store; empty means the embedded store in Data
	ServerName   string
	TLSCert      string
	TLSKey       string
	BootstrapKey string
	AutoTenants  bool
	IngestRate   float64 // events/s per key; 0 = unlimited
	ReadRate     float64 // requests/s per key
	IPRate       float64 // requests/s per client IP
	LogLevel     string
	// RetentionInterval is how often the retention job runs (0: never);
	// RetentionArchive, when set, is where it archives what it removes.
	RetentionInterval time.Duration
	RetentionArchive  string
	// EncryptionKeyFile holds the keys that encrypt the embedded store at
	// rest; EncryptionKeys is the same text given directly (from
	// TRAIL_ENCRYPTION_KEY). At most one of them.
	EncryptionKeyFile string
	EncryptionKeys    string
	// SinkAllowNetworks and SinkDenyNetworks adjust which addresses sinks
	// may connect to (egress.DefaultDenied otherwise): comma-separated
	// CIDR prefixes or addresses; an allowed range wins.
	SinkAllowNetworks string
	SinkDenyNetworks  string
	// EmbedOrigins may frame the embeddable viewer /embed (CSP
	// frame-ancestors); none: no site may. ViewerTokenMaxTTL bounds the
	// lifetime of viewer tokens (0: 24h). ViewerTokenSecret (from
	// TRAIL_VIEWER_TOKEN_SECRET, at least 32 characters), when set, keys
	// viewer tokens instead of the signing key: changing it revokes every
	// token. See docs/embedding.md.
	EmbedOrigins      []string
	ViewerTokenMaxTTL time.Duration
	ViewerTokenSecret string
}

// Validate checks the configuration.
func (c *ServeConfig) Validate() error {
	switch {
	case c.Addr == "":
		return errors.New("--addr: required")
	case c.Data == "":
		return errors.New("--data: required")
	case c.ServerName == "":
		return errors.New("--server-name: required")
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return errors.New("--tls-cert and --tls-key: give both or neither")
	case c.BootstrapKey != "" && len(c.BootstrapKey) < 32:
		return errors.New("TRAIL_BOOTSTRAP_KEY: at least 32 characters")
	case c.IngestRate < 0 || c.ReadRate < 0 || c.IPRate < 0:
		return errors.New("rate limits: must be >= 0")
	case c.RetentionInterval < 0:
		return errors.New("--retention-interval: must be >= 0")
	case c.EncryptionKeyFile != "" && c.EncryptionKeys != "":
		return errors.New("--encryption-key-file and TRAIL_ENCRYPTION_KEY: give one of them")
	case c.ViewerTokenMaxTTL < 0:
		return errors.New("--viewer-token-max-ttl: must be >= 0")
	case c.ViewerTokenSecret != "" && len(c.ViewerTokenSecret) < 32:
		return errors.New("TRAIL_VIEWER_TOKEN_SECRET: at least 32 characters")
	case ui.CheckOrigins(c.EmbedOrigins) != nil:
		return fmt.Errorf("--embed-origins: %w", ui.CheckOrigins(c.EmbedOrigins))
	case c.Postgres != "" && (c.EncryptionKeyFile != "" || c.EncryptionKeys != ""):
		return errors.New("--encryption-key-file: encryption at rest is for the embedded store; with --postgres use PostgreSQL's own (disk or TDE)")
	}
	_, err := c.egressPolicy()
	return err
}

// egressPolicy is the policy sinks' connections are checked against.
func (c *ServeConfig) egressPolicy() (*egress.Policy, error) {
	allow, err := egress.ParsePrefixes("--sink-allow-networks", c.SinkAllowNetworks)
	if err != nil {
		return nil, err
	}
	deny, err := egress.ParsePrefixes("--sink-deny-networks", c.SinkDenyNetworks)
	if err != nil {
		return nil, err
	}
	return egress.NewPolicy(allow, deny), nil
}

// Server is a running trail server: Open it, Run it, Close it. Tests boot
// the real wiring on 127.0.0.1:0 through it.
type Server struct {
	cfg     ServeConfig
	log     *slog.Logger
	store   trail.Store
	api     *api.Server
	http    *http.Server
	ln      net.Listener
	cancel  context.CancelFunc
	baseCtx context.Context
	// bg counts the background work (key and settings watchers, the
	// retention job) that must stop before the store closes.
	bg       sync.WaitGroup
	Operator string // the bootstrap operator key when one was created now
}

// OpenServer opens the store and key files and binds the listener.
func OpenServer(cfg ServeConfig, logOut io.Writer) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	level := slog.LevelInfo
	if cfg.LogLevel == "debug" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level}))
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return nil, fmt.Errorf("--data: %w", err)
	}
	signer, verifier, err := checkpoint.LoadOrCreateKeyFile(filepath.Join(cfg.Data, "signing.key"), cfg.ServerName, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	vkey, err := verifierText(filepath.Join(cfg.Data, "signing.key"))
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	var store trail.Store
	if cfg.Postgres != "" {
		store, err = pgstore.Open(ctx, pgstore.Options{DSN: cfg.Postgres, Signer: signer, Verifier: verifier, VerifierKey: vkey, ServerName: cfg.ServerName, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("--postgres: %w", err)
		}
	} else {
		ring, err := loadKeyring(cfg.EncryptionKeyFile, cfg.EncryptionKeys)
		if err != nil {
			return nil, err
		}
		store, err = logstore.Open(logstore.Options{Dir: filepath.Join(cfg.Data, "store"), Signer: signer, Verifier: verifier, ServerName: cfg.ServerName, Logger: log, Encryption: ring})
		if err != nil {
			return nil, err
		}
	}
	// On PostgreSQL the keys live in the database, shared by every node.
	var keyStore auth.Store = auth.NewFileStore(filepath.Join(cfg.Data, "keys.json"))
	var pgKeys *pgkeys.Store
	if pg, ok := store.(*pgstore.Store); ok {
		pgKeys = pgkeys.New(pg.Pool(), time.Now)
		keyStore = pgKeys
	}
	keys, err := auth.NewKeys(ctx, keyStore, time.Now, rand.Reader)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("keys: %w", err)
	}
	op, err := keys.Bootstrap(ctx, cfg.BootstrapKey)
	if err != nil {
		store.Close()
		return nil, err
	}
	var settingsStore settings.Store = settings.NewFileStore(filepath.Join(cfg.Data, "settings.json"))
	var pgSettings *pgsettings.Store
	if pg, ok := store.(*pgstore.Store); ok {
		pgSettings = pgsettings.New(pg.Pool(), time.Now)
		settingsStore = pgSettings
	}
	maskSecret, err := maskingSecret(filepath.Join(cfg.Data, "signing.key"))
	if err != nil {
		store.Close()
		return nil, err
	}
	viewerSecret, err := viewerTokenSecret(filepath.Join(cfg.Data, "signing.key"), cfg.ViewerTokenSecret)
	if err != nil {
		store.Close()
		return nil, err
	}
	tenantSettings, err := settings.New(ctx, settingsStore, api.CheckMasking(maskSecret))
	if err != nil {
		store.Close()
		return nil, err
	}
	// Action schemas: schemas.json, or a table that every node follows.
	var schemaStore schema.Store = schema.NewFileStore(filepath.Join(cfg.Data, "schemas.json"))
	var pgSchemas *pgschemas.Store
	if pg, ok := store.(*pgstore.Store); ok {
		pgSchemas = pgschemas.New(pg.Pool())
		schemaStore = pgSchemas
	}
	schemas, err := schema.New(ctx, schemaStore, time.Now)
	if err != nil {
		store.Close()
		return nil, err
	}
	// Alert rules run on every node over the committed log; their state
	// (cursor, windows, alert list) is kept per node in the data
	// directory. Fired alerts are events with content-derived ids, so two
	// nodes evaluating the same tenant store each alert once.
	alerts := alert.NewManager(alert.Config{Store: store, State: &alert.FileState{Dir: filepath.Join(cfg.Data, "alerts")}, Logger: log}, 0)
	// Sinks deliver each tenant's log to SIEMs and webhooks from durable
	// cursors in the data directory; their configurations are there too.
	sinkConfigs := &sink.FileConfigs{Path: filepath.Join(cfg.Data, "sinks.json")}
	egressPolicy, err := cfg.egressPolicy()
	if err != nil {
		store.Close()
		return nil, err
	}
	sinks := sink.NewManager(sink.ManagerOptions{Store: store, Cursors: &sink.FileCursors{Dir: filepath.Join(cfg.Data, "sinks")},
		Env: sink.Env{FileDir: filepath.Join(cfg.Data, "sink-files"), Egress: egressPolicy}, Logger: log,
		Runner: sink.Options{Include: alertsFor(alerts)}})
	stored, err := sinkConfigs.List()
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("sinks: %w", err)
	}
	for _, x := range stored {
		if err := sinks.Start(x); err != nil {
			log.Error("sink not started", "sink", x.ID, "err", err)
		}
	}
	// Dashboard sessions: in this node's memory, or on PostgreSQL in a
	// table every node shares (a sign-out through one ends it on all).
	var sessionStore session.Store = &session.MemoryStore{}
	if pg, ok := store.(*pgstore.Store); ok {
		sessionStore = pgsessions.New(pg.Pool())
	}
	sessions, err := cfg.sessions(sessionStore)
	if err != nil {
		store.Close()
		return nil, err
	}
	oidcCfg, err := cfg.oidc()
	if err != nil {
		store.Close()
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a, err := api.New(api.Config{
		Store: store, Keys: keys, Settings: tenantSettings, MaskSecret: maskSecret, Alerts: alerts, Sinks: sinks, SinkConfigs: sinkConfigs, Schemas: schemas, VerifierKey: vkey, AutoTenants: cfg.AutoTenants,
		IngestRate: limit.Config{Rate: cfg.IngestRate, Burst: max(int(cfg.IngestRate), 10000)},
		ReadRate:   limit.Config{Rate: cfg.ReadRate, Burst: max(int(cfg.ReadRate*2), 1)},
		IPRate:     limit.Config{Rate: cfg.IPRate, Burst: max(int(cfg.IPRate*2), 1)},
		Logger:     log, Registerer: reg, Gatherer: reg,
		Sessions: sessions, OIDC: oidcCfg, SecureCookies: strings.HasPrefix(cfg.OIDCRedirectURL, "https://"),
		ViewerTokenSecret: viewerSecret, ViewerTokenMaxTTL: cfg.ViewerTokenMaxTTL, EmbedOrigins: cfg.EmbedOrigins,
	})
	if err != nil {
		store.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		a.Close()
		store.Close()
		return nil, fmt.Errorf("--addr: %w", err)
	}
	baseCtx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, log: log, store: store, api: a, ln: ln, cancel: cancel, baseCtx: baseCtx, Operator: op}
	if pgKeys != nil {
		// Key and settings changes made through any node take effect here
		// at once.
		s.goBackground(func() { pgKeys.Watch(baseCtx, keys, pgkeys.WatchOptions{Logger: log}) })
		s.goBackground(func() { pgSettings.Watch(baseCtx, tenantSettings, pgwatch.Options{Logger: log}) })
	}
	if pgSchemas != nil {
		s.goBackground(func() { pgSchemas.Watch(baseCtx, schemas, pgwatch.Options{Logger: log}) })
	}
	s.goBackground(func() { alerts.Run(baseCtx) })
	if cfg.RetentionInterval > 0 {
		job := &retention.Job{Store: store, Settings: tenantSettings.Get, Logger: log}
		if cfg.RetentionArchive != "" {
			job.Archive = &retention.BundleArchiver{Store: store, Dir: cfg.RetentionArchive, VerifierKey: vkey}
		}
		s.goBackground(func() { job.Run(baseCtx, cfg.RetentionInterval) })
	}
	s.http = &http.Server{
		Handler:           a,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		s.http.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	return s, nil
}

// alertsFor routes fired alerts to the sinks their rule names, whatever
// those sinks' filters: a sink delivers a trail.alert.fired event when the
// rule that fired lists it. Delivery goes through the sink's cursor like
// every event, so it is durable and at least once.
func alertsFor(m *alert.Manager) func(sinkID string, e *trail.Event) bool {
	return func(sinkID string, e *trail.Event) bool {
		if e.Action != sink.AlertAction || e.Metadata == nil {
			return false
		}
		ruleID, _ := e.Metadata["rule_id"].(string)
		if ruleID == "" {
			return false
		}
		eng, err := m.Engine(context.Background(), e.Tenant)
		if err != nil {
			return false
		}
		r, err := eng.Rule(ruleID)
		if err != nil {
			return false
		}
		return slices.Contains(r.Sinks, sinkID)
	}
}

// loadKeyring reads the encryption keys from a file (mode 0600) or from
// text; nil when neither is given (no encryption at rest).
func loadKeyring(file, text string) (*keyring.Ring, error) {
	switch {
	case file != "":
		r, err := keyring.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--encryption-key-file: %w", err)
		}
		return r, nil
	case text != "":
		r, err := keyring.Parse(text)
		if err != nil {
			return nil, fmt.Errorf("TRAIL_ENCRYPTION_KEY: %w", err)
		}
		return r, nil
	}
	return nil, nil
}

// maskingSecret derives the secret of the hmac masking action from the
// signing key file, which every node of a database already shares: hashed
// values then match on every node and across restarts with no second
// secret to distribute. It is a one-way function of the key, domain
// separated, so it reveals nothing about the signing key.
func maskingSecret(signingKeyPath string) ([]byte, error) {
	data, err := os.ReadFile(signingKeyPath)
	if err != nil {
		return nil, fmt.Errorf("masking secret: %w", err)
	}
	h := sha256.New()
	h.Write([]byte("trail/masking-secret/v1\n"))
	h.Write(trimNewline(data))
	return h.Sum(nil), nil
}

// viewerTokenSecret derives the secret that MACs viewer tokens from
// override (TRAIL_VIEWER_TOKEN_SECRET) when it is set, else from the
// signing key file, as maskingSecret does (with its own label): every node
// that shares it accepts every node's tokens. Changing the override
// revokes every viewer token at once without touching the signing key
// (whose replacement the stores refuse for existing tenants).
func viewerTokenSecret(signingKeyPath, override string) ([]byte, error) {
	data := []byte(override)
	if override == "" {
		var err error
		if data, err = os.ReadFile(signingKeyPath); err != nil {
			return nil, fmt.Errorf("viewer-token secret: %w", err)
		}
	}
	h := sha256.New()
	h.Write([]byte("trail/viewer-token-secret/v1\n"))
	h.Write(trimNewline(data))
	return h.Sum(nil), nil
}

// verifierText derives the public verifier key from the signing key file.
func verifierText(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return checkpoint.VerifierKey(string(trimNewline(data)))
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// goBackground runs fn until baseCtx ends; Close waits for it.
func (s *Server) goBackground(fn func()) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		fn()
	}()
}

// Addr is the bound address (useful with port 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the base URL of the server.
func (s *Server) URL() string {
	if s.cfg.TLSCert != "" {
		return "https://" + s.Addr()
	}
	return "http://" + s.Addr()
}

// Run serves until ctx is done, then shuts down gracefully: it stops
// accepting, ends live streams, waits for in-flight requests (ingest
// included) and closes the store.
func (s *Server) Run(ctx context.Context) error {
	s.log.Info("trail serving", "addr", s.URL(), "data", s.cfg.Data)
	return serveUntil(ctx, s.http, s.ln, s.cfg.TLSCert != "", s.Close)
}

// serveUntil serves srv on ln (over TLS with srv.TLSConfig's certificates
// when useTLS) until ctx is done or serving fails, then calls closeFn,
// which shuts srv down. A failure to serve is returned rather than
// closeFn's error.
func serveUntil(ctx context.Context, srv *http.Server, ln net.Listener, useTLS bool, closeFn func() error) error {
	errc := make(chan error, 1)
	go func() {
		if useTLS {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			closeFn()
			return err
		}
	case <-ctx.Done():
	}
	return closeFn()
}

// Close shuts the server down (see Run). It is safe to call twice.
func (s *Server) Close() error {
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.http.RegisterOnShutdown(s.cancel) // ends streams
	err := s.http.Shutdown(shutdownCtx)
	s.cancel()
	s.bg.Wait() // background work uses the store
	s.api.Close()
	if e := s.store.Close(); err == nil {
		err = e
	}
	return err
}

func runServe(ctx context.Context, args []string, e env) int {
	fs := newFlags("serve", e)
	var cfg ServeConfig
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "listen address")
	fs.StringVar(&cfg.Data, "data", "./trail-data", "data directory (with --postgres: the signing key only; keys live in the database)")
	fs.StringVar(&cfg.Postgres, "postgres", "", "PostgreSQL connection string: store events in PostgreSQL, shared by several nodes")
	fs.StringVar(&cfg.ServerName, "server-name", "trail.local", "checkpoint origin prefix and signing key name")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate file")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "TLS key file")
	fs.BoolVar(&cfg.AutoTenants, "auto-tenants", true, "create a tenant on its first event from an all-tenant key")
	fs.Float64Var(&cfg.IngestRate, "ingest-rate", 0, "ingest limit per key, events/s (0 = unlimited)")
	fs.Float64Var(&cfg.ReadRate, "read-rate", 0, "read limit per key, requests/s (0 = unlimited)")
	fs.Float64Var(&cfg.IPRate, "ip-rate", 0, "request limit per client IP, requests/s (0 = unlimited)")
	fs.StringVar(&cfg.LogLevel, "log-level", "info", "info or debug")
	fs.StringVar(&cfg.EncryptionKeyFile, "encryption-key-file", "", "file of AES-256 keys (<id> <base64 of 32 bytes> per line, mode 0600, the last current) that encrypt the embedded store at rest; TRAIL_ENCRYPTION_KEY takes the same text directly")
	fs.StringVar(&cfg.SinkAllowNetworks, "sink-allow-networks", "", "comma-separated CIDR prefixes sinks may reach although denied by default (loopback, link-local and metadata addresses), e.g. 127.0.0.1/32")
	fs.StringVar(&cfg.SinkDenyNetworks, "sink-deny-networks", "", "comma-separated CIDR prefixes sinks may not reach, besides the defaults, e.g. 10.0.0.0/8 when tenant admins must not reach the internal network")
	fs.DurationVar(&cfg.RetentionInterval, "retention-interval", time.Hour, "how often to purge content past each tenant's retention (0: never)")
	fs.StringVar(&cfg.RetentionArchive, "retention-archive", "", "directory where retention archives what it purges, as verifiable bundles")
	fs.Func("embed-origins", "origins allowed to frame the embeddable viewer /embed, separated by commas (e.g. https://app.example.com); default 'none': no site may (see docs/embedding.md)", func(v string) error {
		o, err := ui.ParseOrigins(v)
		cfg.EmbedOrigins = o
		return err
	})
	cfg.SignInConfig.addFlags(fs)
	fs.DurationVar(&cfg.ViewerTokenMaxTTL, "viewer-token-max-ttl", 24*time.Hour, "longest lifetime of a viewer token (POST /v1/viewer-tokens)")
	if err := parseFlags(fs, args, e); err != nil {
		fmt.Fprintln(e.stderr, "trail serve:", err)
		return exitUsage
	}
	cfg.BootstrapKey = e.getenv("TRAIL_BOOTSTRAP_KEY")
	cfg.ViewerTokenSecret = e.getenv("TRAIL_VIEWER_TOKEN_SECRET")
	cfg.EncryptionKeys = e.getenv("TRAIL_ENCRYPTION_KEY")
	s, err := OpenServer(cfg, e.stderr)
	if err != nil {
		fmt.Fprintln(e.stderr, "trail serve:", err)
		if errors.Is(err, trail.ErrProofFailed) {
			return exitTampered
		}
		return exitFailure
	}
	if s.Operator != "" && cfg.BootstrapKey == "" {
		fmt.Fprintf(e.stdout, "First start: your operator key (shown once, keep it safe):\n\n    %s\n\n", s.Operator)
	}
	if cfg.Postgres != "" {
		fmt.Fprintf(e.stdout, "trail is serving %s (events in PostgreSQL, signing key in %s)\n", s.URL(), cfg.Data)
	} else {
		fmt.Fprintf(e.stdout, "trail is serving %s (data in %s)\n", s.URL(), cfg.Data)
	}
	if err := s.Run(ctx); err != nil {
		fmt.Fprintln(e.stderr, "trail serve:", err)
		return exitFailure
	}
	return exitOK
}

// httpClient returns a client for this server (tests).
func (s *Server) httpClient() *http.Client { return &http.Client{Timeout: 30 * time.Second} }
