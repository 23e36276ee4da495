package sink

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/query"
)

// Type is the kind of destination a sink delivers to.
type Type string

// Sink types.
const (
	TypeWebhook   Type = "webhook"    // HTTPS POST signed per Standard Webhooks
	TypeSyslog    Type = "syslog"     // RFC 5424 over TCP or TLS, octet counting (RFC 6587)
	TypeSplunkHEC Type = "splunk_hec" // Splunk HTTP Event Collector
	TypeOCSFHTTP  Type = "ocsf_http"  // OCSF JSON array over HTTP
	TypeFile      Type = "file"       // NDJSON file with size-based rotation
)

// Format is the payload format of a sink.
type Format string

// Formats. The zero Format is the type's default: FormatJSON, or FormatOCSF
// for TypeOCSFHTTP.
const (
	FormatJSON Format = "json" // the event's canonical JSON (every type but ocsf_http)
	FormatCEF  Format = "cef"  // ArcSight CEF (syslog only)
	FormatOCSF Format = "ocsf" // OCSF 1.x (ocsf_http only)
)

// Limits and defaults of a sink's configuration.
const (
	DefaultBatchSize   = 500
	MaxBatchSize       = 10000
	DefaultOCSFVersion = "1.3.0"
	DefaultFileMaxSize = 100 << 20 // bytes before a file sink rotates
	DefaultFileKeep    = 5         // rotated files a file sink keeps
	SecretPrefix       = "whsec_"  // Standard Webhooks secret prefix
	minSecretBytes     = 24
)

// Sink is the configuration of one sink: where one tenant's committed
// events that match Filter are delivered. Its JSON form is what the API
// stores and returns (redact Secret and Token with Redacted before
// returning it). A Sink is a value: the Runner that delivers it keeps its
// own copy.
//
// Which fields apply depends on Type:
//
//	webhook     URL (http or https), Secret (whsec_…), TLS
//	syslog      Address (host:port), Format json|cef, TLS (nil: plain TCP), Hostname
//	splunk_hec  URL (base or …/services/collector/event), Token, Index, TLS
//	ocsf_http   URL, OCSFVersion (pinned; default DefaultOCSFVersion), Token (Bearer), TLS
//	file        Path (relative to the operator's file directory), MaxSize, Keep
type Sink struct {
	ID     string `json:"id"`
	Tenant string `json:"tenant"`
	Name   string `json:"name"`
	Type   Type   `json:"type"`

	URL      string `json:"url,omitempty"`
	Address  string `json:"address,omitempty"`
	Path     string `json:"path,omitempty"`
	Filter   string `json:"filter,omitempty"` // query language (package query); empty matches all
	Format   Format `json:"format,omitempty"`
	Secret   string `json:"secret,omitempty"`   // webhook signing secret, whsec_<base64>
	Token    string `json:"token,omitempty"`    // HEC token; Bearer token for ocsf_http
	Index    string `json:"index,omitempty"`    // HEC index; empty: the token's default
	Hostname string `json:"hostname,omitempty"` // syslog HOSTNAME; empty: the machine's name

	TLS *TLS `json:"tls,omitempty"`

	BatchSize   int    `json:"batch_size,omitempty"` // events per delivery; 0: DefaultBatchSize
	Paused      bool   `json:"paused,omitempty"`
	OCSFVersion string `json:"ocsf_version,omitempty"`
	MaxSize     int64  `json:"max_size,omitempty"` // file: rotate past this many bytes; 0: DefaultFileMaxSize
	Keep        int    `json:"keep,omitempty"`     // file: rotated files kept; 0: DefaultFileKeep
}

// TLS holds the TLS options of a sink. PEM blocks are given inline so that
// a sink's configuration is self-contained.
type TLS struct {
	CA                 string `json:"ca,omitempty"`          // PEM roots; empty: the system roots
	Cert               string `json:"cert,omitempty"`        // PEM client certificate chain
	Key                string `json:"key,omitempty"`         // PEM client key
	ServerName         string `json:"server_name,omitempty"` // empty: the host of URL or Address
	InsecureSkipVerify bool   `json:"insecure_skip_verify,omitempty"`
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
var versionPattern = regexp.MustCompile(`^1\.[0-9]+\.[0-9]+$`)

// Normalize fills the defaults of s (Format, BatchSize, OCSFVersion,
// MaxSize, Keep) and validates it. It returns an EINVALID *trail.Error
// whose Field names the offending field, such as "url" or "tls.ca".
func (s *Sink) Normalize() error {
	if !idPattern.MatchString(s.ID) {
		return trail.FieldError("id", "must be 1 to 64 letters, digits, _ or -")
	}
	if err := trail.ValidateTenantName(s.Tenant); err != nil {
		return err
	}
	if strings.TrimSpace(s.Name) == "" || len(s.Name) > 200 {
		return trail.FieldError("name", "required, at most 200 bytes")
	}
	if s.BatchSize == 0 {
		s.BatchSize = DefaultBatchSize
	}
	if s.BatchSize < 1 || s.BatchSize > MaxBatchSize {
		return trail.FieldError("batch_size", "must be between 1 and %d", MaxBatchSize)
	}
	if _, err := s.Matcher(); err != nil {
		return err
	}
	switch s.Type {
	case TypeWebhook:
		if err := s.checkFormat(FormatJSON); err != nil {
			return err
		}
		if err := checkURL(s.URL); err != nil {
			return err
		}
		if _, err := secretKey(s.Secret); err != nil {
			return err
		}
	case TypeSyslog:
		if err := s.checkFormat(FormatJSON, FormatCEF); err != nil {
			return err
		}
		if _, port, err := net.SplitHostPort(s.Address); err != nil || port == "" {
			return trail.FieldError("address", "must be host:port")
		}
		if strings.ContainsFunc(s.Hostname, func(r rune) bool { return r <= ' ' || r > '~' }) || len(s.Hostname) > 255 {
			return trail.FieldError("hostname", "must be printable ASCII without spaces, at most 255 bytes")
		}
	case TypeSplunkHEC:
		if err := s.checkFormat(FormatJSON); err != nil {
			return err
		}
		if err := checkURL(s.URL); err != nil {
			return err
		}
		if s.Token == "" {
			return trail.FieldError("token", "required for splunk_hec")
		}
	case TypeOCSFHTTP:
		if err := s.checkFormat(FormatOCSF); err != nil {
			return err
		}
		if err := checkURL(s.URL); err != nil {
			return err
		}
		if s.OCSFVersion == "" {
			s.OCSFVersion = DefaultOCSFVersion
		}
		if !versionPattern.MatchString(s.OCSFVersion) {
			return trail.FieldError("ocsf_version", "must be an OCSF 1.x version such as %s", DefaultOCSFVersion)
		}
	case TypeFile:
		if err := s.checkFormat(FormatJSON); err != nil {
			return err
		}
		if s.Path == "" || !filepath.IsLocal(s.Path) {
			return trail.FieldError("path", "must be a relative path inside the sink directory")
		}
		if s.MaxSize == 0 {
			s.MaxSize = DefaultFileMaxSize
		}
		if s.MaxSize < 1024 {
			return trail.FieldError("max_size", "must be at least 1024 bytes")
		}
		if s.Keep == 0 {
			s.Keep = DefaultFileKeep
		}
		if s.Keep < 1 || s.Keep > 1000 {
			return trail.FieldError("keep", "must be between 1 and 1000")
		}
	default:
		return trail.FieldError("type", "must be one of webhook, syslog, splunk_hec, ocsf_http, file")
	}
	if s.TLS != nil {
		if s.Type == TypeFile {
			return trail.FieldError("tls", "not used by file sinks")
		}
		if _, err := s.TLS.config(""); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sink) checkFormat(allowed ...Format) error {
	if s.Format == "" {
		s.Format = allowed[0]
	}
	for _, f := range allowed {
		if s.Format == f {
			return nil
		}
	}
	names := make([]string, len(allowed))
	for i, f := range allowed {
		names[i] = string(f)
	}
	return trail.FieldError("format", "must be %s for %s sinks", strings.Join(names, " or "), s.Type)
}

// Matcher parses s.Filter and returns its compiled matcher; an empty
// filter matches every event. Errors are EINVALID on "filter".
func (s *Sink) Matcher() (trail.Matcher, error) {
	if strings.TrimSpace(s.Filter) == "" {
		return func(*trail.Event) bool { return true }, nil
	}
	x, err := query.Parse(s.Filter)
	if err == nil {
		var m trail.Matcher
		if m, err = x.Compile(); err == nil {
			return m, nil
		}
	}
	if e, ok := err.(*trail.Error); ok {
		return nil, trail.FieldError("filter", "%s", e.Message)
	}
	return nil, trail.FieldError("filter", "%v", err)
}

// Redacted returns a copy of s without Secret, Token and the TLS client
// key, for returning to clients and logging.
func (s *Sink) Redacted() *Sink {
	c := *s
	if c.Secret != "" {
		c.Secret = "whsec_…"
	}
	if c.Token != "" {
		c.Token = "…"
	}
	if c.TLS != nil {
		t := *c.TLS
		if t.Key != "" {
			t.Key = "…"
		}
		c.TLS = &t
	}
	return &c
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return trail.FieldError("url", "must be an absolute http or https URL")
	}
	if u.User != nil {
		return trail.FieldError("url", "must not hold credentials")
	}
	return nil
}

// NewSecret returns a fresh webhook signing secret, "whsec_" and the
// standard base64 of 32 bytes read from rand (crypto/rand.Reader in
// production).
func NewSecret(rand io.Reader) (string, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(rand, b); err != nil {
		return "", fmt.Errorf("sink: new secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// secretKey decodes a whsec_ secret into its HMAC key.
func secretKey(secret string) ([]byte, error) {
	b64, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, trail.FieldError("secret", "must start with %s", SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(key) < minSecretBytes {
		return nil, trail.FieldError("secret", "must be %s and the base64 of at least %d bytes", SecretPrefix, minSecretBytes)
	}
	return key, nil
}

// config returns the crypto/tls configuration of t; serverName is used when
// t.ServerName is empty. Errors are EINVALID on "tls.*".
func (t *TLS) config(serverName string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if t == nil {
		return c, nil
	}
	if t.ServerName != "" {
		c.ServerName = t.ServerName
	}
	c.InsecureSkipVerify = t.InsecureSkipVerify
	if t.CA != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(t.CA)) {
			return nil, trail.FieldError("tls.ca", "holds no PEM certificate")
		}
		c.RootCAs = pool
	}
	if (t.Cert == "") != (t.Key == "") {
		return nil, trail.FieldError("tls.cert", "cert and key go together")
	}
	if t.Cert != "" {
		pair, err := tls.X509KeyPair([]byte(t.Cert), []byte(t.Key))
		if err != nil {
			return nil, trail.FieldError("tls.key", "not a PEM certificate and matching key")
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}
