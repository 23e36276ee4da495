package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	trailclient "github.com/trail-audit/trail/client"
	"github.com/trail-audit/trail/proxy"
)

// ProxyConfig is the configuration of "trail proxy". Validate names the
// offending flag.
type ProxyConfig struct {
	Listen   string // address to listen on
	Upstream string // URL of the API every call is forwarded to
	Server   string // trail server that records the events
	Key      string // trail API key with the writer role
	Tenant   string // tenant of the events (for keys scoped to all tenants)
	File     string // --config: the proxy's JSON configuration (routes, JWT, limits, masking)
	Spool    string // directory of the on-disk spool for events trail cannot take yet
	TLSCert  string
	TLSKey   string
	ClientCA string // CA bundle that verifies client certificates (mTLS actors)
	LogLevel string
	// MetricsListen, when set, is the address of a separate listener
	// serving Prometheus metrics at /metrics (trail_proxy_*,
	// trail_client_*, Go runtime).
	MetricsListen string
	// GCPercent, when not 0, is the garbage collector's target
	// (runtime/debug.SetGCPercent) for the process: the proxy's live heap
	// is small, and collecting less often takes the collector's pauses
	// and assists out of most calls' latency (the 2k calls/s benchmark's
	// added p99 fell from ≈ 3.1 to ≈ 2.2 ms at 400) for a few tens of MB.
	// The command's default is 400; GOGC in the environment wins.
	GCPercent int
}

// Validate checks the flags.
func (c *ProxyConfig) Validate() error {
	switch {
	case c.Listen == "":
		return errors.New("--listen: required")
	case c.Upstream == "":
		return errors.New("--upstream: required, the URL of the API to put trail in front of")
	case c.Server == "":
		return errors.New("--server: required")
	case c.Key == "":
		return errors.New("--key (or TRAIL_KEY): required, an API key with the writer role")
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return errors.New("--tls-cert and --tls-key: give both or neither")
	case c.ClientCA != "" && c.TLSCert == "":
		return errors.New("--client-ca: needs --tls-cert and --tls-key (client certificates come over TLS)")
	case c.GCPercent < 0:
		return errors.New("--gc-percent: must be >= 0 (0 keeps the Go runtime's default or GOGC)")
	}
	u, err := url.Parse(c.Upstream)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--upstream: %q is not an http(s) URL", c.Upstream)
	}
	return nil
}

// Proxy is a running "trail proxy": Open it, Run it, Close it.
type Proxy struct {
	cfg     ProxyConfig
	log     *slog.Logger
	client  *trailclient.Client
	auditor *proxy.Auditor
	http    *http.Server
	ln      net.Listener
	metrics *http.Server // nil without MetricsListen
	mln     net.Listener
}

// OpenProxy reads the configuration file, starts the trail client (and its
// spool) and binds the listener.
func OpenProxy(cfg ProxyConfig, logOut io.Writer) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	level := slog.LevelInfo
	if cfg.LogLevel == "debug" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level}))
	if cfg.GCPercent > 0 {
		debug.SetGCPercent(cfg.GCPercent)
	}
	var pc proxy.Config
	if cfg.File != "" {
		var err error
		if pc, err = proxy.LoadConfig(cfg.File); err != nil {
			return nil, fmt.Errorf("--config %s: %w", cfg.File, err)
		}
	}
	if pc.MaskKey == nil {
		pc.MaskKey = proxyMaskKey(cfg.Key)
	}
	upstream, _ := url.Parse(cfg.Upstream) // validated
	var reg *prometheus.Registry
	var registerer prometheus.Registerer // nil (not a nil *Registry) without metrics
	if cfg.MetricsListen != "" {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		registerer = reg
	}
	cl, err := trailclient.New(trailclient.Config{Server: cfg.Server, Key: cfg.Key, Tenant: cfg.Tenant, SpoolDir: cfg.Spool, Logger: log, Registerer: registerer})
	if err != nil {
		return nil, fmt.Errorf("trail client: %w", err)
	}
	fail := func(err error) (*Proxy, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		cl.Close(ctx)
		return nil, err
	}
	a, err := proxy.New(pc, proxy.Options{Recorder: cl, Logger: log, Registerer: registerer})
	if err != nil {
		return fail(fmt.Errorf("--config %s: %w", cfg.File, err))
	}
	h, err := proxy.NewReverseProxy(a, upstream, nil)
	if err != nil {
		return fail(fmt.Errorf("--upstream: %w", err))
	}
	p := &Proxy{cfg: cfg, log: log, client: cl, auditor: a}
	p.http = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return fail(fmt.Errorf("--tls-cert/--tls-key: %w", err))
		}
		p.http.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if cfg.ClientCA != "" {
			pem, err := os.ReadFile(cfg.ClientCA)
			if err != nil {
				return fail(fmt.Errorf("--client-ca: %w", err))
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return fail(fmt.Errorf("--client-ca: %s holds no PEM certificate", cfg.ClientCA))
			}
			p.http.TLSConfig.ClientCAs = pool
			p.http.TLSConfig.ClientAuth = tls.VerifyClientCertIfGiven
		}
	}
	if p.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		return fail(fmt.Errorf("--listen: %w", err))
	}
	if reg != nil {
		if p.mln, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			p.ln.Close()
			return fail(fmt.Errorf("--metrics-listen: %w", err))
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		p.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	}
	return p, nil
}

// MetricsURL is the URL of the metrics, or "" without --metrics-listen.
func (p *Proxy) MetricsURL() string {
	if p.mln == nil {
		return ""
	}
	return "http://" + p.mln.Addr().String() + "/metrics"
}

// proxyMaskKey is the key of the hmac masking action when the
// configuration names no mask_key_file: derived from the trail API key,
// one way and domain separated, so that hashes stay the same across
// restarts without a second secret. A new API key makes new hashes.
func proxyMaskKey(apiKey string) []byte {
	h := hmac.New(sha256.New, []byte(apiKey))
	h.Write([]byte("trail/proxy/mask-key/v1"))
	return h.Sum(nil)
}

// URL is the proxy's base URL.
func (p *Proxy) URL() string {
	if p.cfg.TLSCert != "" {
		return "https://" + p.ln.Addr().String()
	}
	return "http://" + p.ln.Addr().String()
}

// Auditor is the middleware inside the proxy (tests read its Stats).
func (p *Proxy) Auditor() *proxy.Auditor { return p.auditor }

// Run serves until ctx is done, then closes the proxy (see Close).
func (p *Proxy) Run(ctx context.Context) error {
	if p.metrics != nil {
		go p.metrics.Serve(p.mln)
	}
	p.log.Info("trail proxy serving", "addr", p.URL(), "upstream", p.cfg.Upstream, "trail", p.cfg.Server)
	return serveUntil(ctx, p.http, p.ln, p.cfg.TLSCert != "", p.Close)
}

// Close stops accepting calls, waits up to 30 s for those in flight, then
// closes the trail client, which delivers the queued events (or leaves
// them in the spool) within another 30 s.
func (p *Proxy) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := p.http.Shutdown(ctx)
	if p.metrics != nil {
		p.metrics.Close()
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	if e := p.client.Close(ctx2); e != nil && !errors.Is(e, trailclient.ErrClosed) && err == nil {
		err = fmt.Errorf("trail client: %w", e)
	}
	return err
}

// proxyEnv maps the proxy's own flags to TRAIL_PROXY_* variables
// (--listen is TRAIL_PROXY_LISTEN), so that they do not collide with
// "trail serve"'s on one host; --server, --key and --tenant keep the
// client commands' TRAIL_SERVER, TRAIL_KEY and TRAIL_TENANT.
func proxyEnv(e env) env {
	own := map[string]bool{}
	for _, f := range []string{"listen", "upstream", "config", "spool", "tls-cert", "tls-key", "client-ca", "log-level", "metrics-listen", "gc-percent"} {
		own[envName(f)] = true
	}
	get := e.getenv
	e.getenv = func(k string) string {
		if own[k] {
			return get("TRAIL_PROXY_" + strings.TrimPrefix(k, "TRAIL_"))
		}
		return get(k)
	}
	return e
}

func runProxy(ctx context.Context, args []string, e env) int {
	fs := newFlags("proxy", e)
	var cfg ProxyConfig
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:8081", "address to listen on (TRAIL_PROXY_LISTEN)")
	fs.StringVar(&cfg.Upstream, "upstream", "", "URL of the API to forward every call to (TRAIL_PROXY_UPSTREAM)")
	fs.StringVar(&cfg.Server, "server", "http://127.0.0.1:8080", "trail server that records the events")
	fs.StringVar(&cfg.Key, "key", "", "trail API key with the writer role")
	fs.StringVar(&cfg.Tenant, "tenant", "", "tenant of the events (for keys scoped to all tenants)")
	fs.StringVar(&cfg.File, "config", "", "JSON configuration: routes, capture, JWT, API key headers, trusted proxies, rate limits, masking (TRAIL_PROXY_CONFIG; see docs/proxy.md)")
	fs.StringVar(&cfg.Spool, "spool", "", "directory where events wait on disk while trail is unreachable (TRAIL_PROXY_SPOOL)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate file (TRAIL_PROXY_TLS_CERT)")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "TLS key file (TRAIL_PROXY_TLS_KEY)")
	fs.StringVar(&cfg.ClientCA, "client-ca", "", "PEM CA bundle that verifies client certificates, whose subjects become actors (TRAIL_PROXY_CLIENT_CA)")
	fs.StringVar(&cfg.LogLevel, "log-level", "info", "info or debug (TRAIL_PROXY_LOG_LEVEL)")
	fs.IntVar(&cfg.GCPercent, "gc-percent", 400, "garbage collector target of the proxy process (0: the Go default; TRAIL_PROXY_GC_PERCENT); GOGC in the environment overrides it")
	fs.StringVar(&cfg.MetricsListen, "metrics-listen", "", "address of a separate listener for Prometheus metrics at /metrics (TRAIL_PROXY_METRICS_LISTEN)")
	if err := parseFlags(fs, args, proxyEnv(e)); err != nil {
		fmt.Fprintln(e.stderr, "trail proxy:", err)
		return exitUsage
	}
	if e.getenv("GOGC") != "" {
		cfg.GCPercent = 0 // the runtime read GOGC already
	}
	p, err := OpenProxy(cfg, e.stderr)
	if err != nil {
		fmt.Fprintln(e.stderr, "trail proxy:", err)
		if strings.HasPrefix(err.Error(), "--") {
			return exitUsage
		}
		return exitFailure
	}
	fmt.Fprintf(e.stdout, "trail proxy is serving %s, forwarding to %s, recording into %s\n", p.URL(), cfg.Upstream, cfg.Server)
	if u := p.MetricsURL(); u != "" {
		fmt.Fprintf(e.stdout, "metrics at %s\n", u)
	}
	if err := p.Run(ctx); err != nil {
		fmt.Fprintln(e.stderr, "trail proxy:", err)
		return exitFailure
	}
	return exitOK
}
