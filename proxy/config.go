package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/trail-audit/trail"
	"github.com/trail-audit/trail/mask"
)

// Capture says how much of a call an event holds, like the levels of a
// Kubernetes audit policy.
type Capture string

// Capture levels, from least to most.
const (
	// CaptureNone records no event for the call.
	CaptureNone Capture = "none"
	// CaptureMetadata records who, from where, method, route, path,
	// status and latency, without bodies or the query string. It is the
	// default.
	CaptureMetadata Capture = "metadata"
	// CaptureRequest adds the query string and the request body, up to
	// the body limit.
	CaptureRequest Capture = "request"
	// CaptureRequestResponse adds the response body too.
	CaptureRequestResponse Capture = "request_response"
)

func (c Capture) level() int {
	switch c {
	case CaptureNone:
		return 0
	case CaptureMetadata:
		return 1
	case CaptureRequest:
		return 2
	case CaptureRequestResponse:
		return 3
	}
	return -1
}

// Body limits, in bytes of one captured body.
const (
	DefaultBodyLimit = 4 << 10
	MaxBodyLimit     = 16 << 10
)

// Config limits.
const (
	MaxRoutes        = 1000
	maxTemplateLen   = 1024
	maxHeaderNameLen = 128
)

// DefaultRequestIDHeader carries the request id when the configuration
// names no other header.
const DefaultRequestIDHeader = "X-Request-Id"

// Config is the configuration file of "trail proxy" and of the
// middleware. Its JSON form (every field optional):
//
//	{
//	  "capture": "metadata",
//	  "body_limit": 4096,
//	  "request_id_header": "X-Request-Id",
//	  "routes": [
//	    {"method": "PUT", "path": "/v1/projects/{id}", "action": "project.update",
//	     "resource_type": "project", "capture": "request", "body_limit": 8192}
//	  ],
//	  "jwt": {"jwks_url": "https://idp.example.com/.well-known/jwks.json",
//	          "issuer": "https://idp.example.com/", "audience": ["api"],
//	          "algorithms": ["RS256"], "leeway": "30s", "refresh": "15m"},
//	  "api_key_headers": ["X-Api-Key"],
//	  "trusted_proxies": ["10.0.0.0/8"],
//	  "rate_limits": {"caller": {"rate": 10, "burst": 20}, "ip": {"rate": 50}},
//	  "masking": {"defaults": true, "rules": [{"path": "metadata.request_body.ssn", "action": "redact"}]},
//	  "mask_key_file": "mask.key"
//	}
//
// The zero Config is valid: metadata for every call, masking defaults on,
// JWT subjects recorded as unverified, no rate limits, no trusted proxies.
type Config struct {
	Capture         Capture     `json:"capture,omitempty"`
	BodyLimit       int         `json:"body_limit,omitempty"`
	RequestIDHeader string      `json:"request_id_header,omitempty"`
	Routes          []Route     `json:"routes,omitempty"`
	JWT             *JWTConfig  `json:"jwt,omitempty"`
	APIKeyHeaders   []string    `json:"api_key_headers,omitempty"`
	TrustedProxies  []string    `json:"trusted_proxies,omitempty"`
	RateLimits      RateLimits  `json:"rate_limits,omitzero"`
	Masking         mask.Config `json:"masking,omitzero"`
	// MaskKeyFile names a file whose content (at least 16 bytes) keys the
	// hmac masking action; LoadConfig reads it into MaskKey.
	MaskKeyFile string `json:"mask_key_file,omitempty"`
	// MaskKey keys the hmac masking action (the e-mail detector hashes by
	// default). It is required, at least mask.MinKeyLen bytes, when an
	// hmac rule is in effect.
	MaskKey []byte `json:"-"`
}

// Route is one route template with what to record for it.
type Route struct {
	// Method is an HTTP method, or "" or "*" for any.
	Method string `json:"method,omitempty"`
	// Path is a template: literal segments, "{name}" for one segment and
	// a final "{name...}" for the rest of the path, as in
	// "/v1/projects/{id}/files/{path...}".
	Path string `json:"path"`
	// Action overrides the derived action name (see the package doc).
	Action string `json:"action,omitempty"`
	// ResourceType overrides the derived resource type.
	ResourceType string `json:"resource_type,omitempty"`
	// Capture overrides Config.Capture for this route.
	Capture Capture `json:"capture,omitempty"`
	// BodyLimit overrides Config.BodyLimit for this route.
	BodyLimit int `json:"body_limit,omitempty"`
}

// JWTConfig says how to check bearer JWTs. With neither JWKSURL nor an
// HMAC secret, subjects are recorded as unverified.
type JWTConfig struct {
	// JWKSURL is fetched for the signing keys, cached, refreshed every
	// Refresh and fetched again when a token names an unknown key id.
	JWKSURL string `json:"jwks_url,omitempty"`
	// HMACSecretFile names a file holding the HS256/384/512 secret;
	// LoadConfig reads it into HMACSecret.
	HMACSecretFile string `json:"hmac_secret_file,omitempty"`
	// HMACSecret is the shared secret of HS256/384/512 tokens, at least
	// 32 bytes.
	HMACSecret []byte `json:"-"`
	// Issuer, when set, must equal the iss claim.
	Issuer string `json:"issuer,omitempty"`
	// Audience, when set, must share a value with the aud claim.
	Audience []string `json:"audience,omitempty"`
	// Algorithms is the allow-list of signature algorithms. The default is
	// RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512 and
	// EdDSA with a JWKS, and HS256, HS384, HS512 with an HMAC secret;
	// symmetric and asymmetric algorithms never mix.
	Algorithms []string `json:"algorithms,omitempty"`
	// Leeway is the clock skew allowed on exp, nbf and iat; default 30s.
	Leeway Duration `json:"leeway,omitzero"`
	// Refresh is how often the JWKS is fetched again; default 15m.
	Refresh Duration `json:"refresh,omitzero"`
}

// RateLimits are token buckets per caller and per client IP. A nil Rate
// is no limit.
type RateLimits struct {
	Caller *Rate `json:"caller,omitempty"`
	IP     *Rate `json:"ip,omitempty"`
}

// Rate is a token bucket: Rate requests per second, bursts of Burst
// (default: twice the rate, at least 1).
type Rate struct {
	Rate  float64 `json:"rate"`
	Burst int     `json:"burst,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("30s").
type Duration time.Duration

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string such as "90s" or "15m".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`want a duration string such as "30s"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as \"30s\"", s)
	}
	*d = Duration(v)
	return nil
}

// maxConfigBytes bounds a configuration file.
const maxConfigBytes = 4 << 20

// ParseConfig decodes a configuration file and validates it (see
// Validate). Unknown fields are errors. It reads no files: see LoadConfig.
// Errors are EINVALID *trail.Error values whose Field names the offending
// field, as in "routes[2].path".
func ParseConfig(data []byte) (Config, error) {
	if len(data) > maxConfigBytes {
		return Config{}, trail.FieldError("", "configuration larger than %d bytes", maxConfigBytes)
	}
	var c Config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, decodeError(err)
	}
	if dec.More() {
		return Config{}, trail.FieldError("", "one JSON object expected, more follows")
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// decodeError turns a JSON decoding error into a field error.
func decodeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return trail.FieldError(te.Field, "want a JSON %s, got %s", te.Type.Kind(), te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return trail.FieldError("", "invalid JSON at byte %d: %v", se.Offset, se)
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return trail.FieldError(strings.Trim(f, `"`), "unknown field")
	}
	return trail.FieldError("", "%s", strings.TrimPrefix(msg, "json: "))
}

// LoadConfig reads and parses the configuration file at path, then reads
// the files it names (jwt.hmac_secret_file, mask_key_file; relative names
// are relative to the configuration file's directory).
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	c, err := ParseConfig(data)
	if err != nil {
		return Config{}, err
	}
	read := func(field, name string, min int) ([]byte, error) {
		if !filepath.IsAbs(name) {
			name = filepath.Join(filepath.Dir(path), name)
		}
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, &trail.Error{Code: trail.EINVALID, Field: field, Message: "cannot read the file", Err: err}
		}
		b = bytes.TrimRight(b, "\r\n")
		if len(b) < min {
			return nil, trail.FieldError(field, "the file holds %d bytes, want at least %d", len(b), min)
		}
		return b, nil
	}
	if c.JWT != nil && c.JWT.HMACSecretFile != "" {
		if c.JWT.HMACSecret, err = read("jwt.hmac_secret_file", c.JWT.HMACSecretFile, minHMACSecret); err != nil {
			return Config{}, err
		}
	}
	if c.MaskKeyFile != "" {
		if c.MaskKey, err = read("mask_key_file", c.MaskKeyFile, mask.MinKeyLen); err != nil {
			return Config{}, err
		}
	}
	return c, nil
}

// minHMACSecret is the shortest HMAC secret accepted: 256 bits.
const minHMACSecret = 32

// Validate checks c and returns an EINVALID *trail.Error whose Field names
// the offending field and whose message states the rule. It does not check
// that MaskKey is present: New does, since it depends on the masking rules.
func (c *Config) Validate() error {
	if c.Capture != "" && c.Capture.level() < 0 {
		return trail.FieldError("capture", "%q is not one of none, metadata, request, request_response", c.Capture)
	}
	if err := checkBodyLimit("body_limit", c.BodyLimit); err != nil {
		return err
	}
	if h := c.RequestIDHeader; h != "" {
		if err := checkHeaderName("request_id_header", h); err != nil {
			return err
		}
	}
	if len(c.Routes) > MaxRoutes {
		return trail.FieldError("routes", "at most %d routes", MaxRoutes)
	}
	seen := map[string]int{}
	for i, r := range c.Routes {
		f := "routes[" + strconv.Itoa(i) + "]"
		if err := r.validate(f); err != nil {
			return err
		}
		t, _ := parseTemplate(r.Path)
		key := normMethod(r.Method) + " " + t.shape()
		if j, dup := seen[key]; dup {
			return trail.FieldError(f+".path", "%s %s matches the same requests as routes[%d]", methodLabel(r.Method), r.Path, j)
		}
		seen[key] = i
	}
	if c.JWT != nil {
		if err := c.JWT.validate(); err != nil {
			return err
		}
	}
	if len(c.APIKeyHeaders) > 16 {
		return trail.FieldError("api_key_headers", "at most 16 headers")
	}
	for i, h := range c.APIKeyHeaders {
		f := "api_key_headers[" + strconv.Itoa(i) + "]"
		if err := checkHeaderName(f, h); err != nil {
			return err
		}
		if strings.EqualFold(h, "Authorization") {
			return trail.FieldError(f, "Authorization is always read: bearer tokens that are not JWTs are recorded as API keys")
		}
	}
	if len(c.TrustedProxies) > 256 {
		return trail.FieldError("trusted_proxies", "at most 256 networks")
	}
	for i, p := range c.TrustedProxies {
		if _, err := parsePrefix(p); err != nil {
			return trail.FieldError("trusted_proxies["+strconv.Itoa(i)+"]", "%q is not an IP address or CIDR network", p)
		}
	}
	if err := c.RateLimits.Caller.validate("rate_limits.caller"); err != nil {
		return err
	}
	if err := c.RateLimits.IP.validate("rate_limits.ip"); err != nil {
		return err
	}
	if err := c.Masking.Validate(); err != nil {
		return err // fields are "masking.rules[i]…" already
	}
	return nil
}

func checkBodyLimit(field string, n int) error {
	if n < 0 || n > MaxBodyLimit {
		return trail.FieldError(field, "must be between 0 (the default, %d) and %d bytes", DefaultBodyLimit, MaxBodyLimit)
	}
	return nil
}

func checkHeaderName(field, h string) error {
	if h == "" || len(h) > maxHeaderNameLen {
		return trail.FieldError(field, "a header name of 1 to %d characters", maxHeaderNameLen)
	}
	for i := 0; i < len(h); i++ {
		if !isTokenChar(h[i]) {
			return trail.FieldError(field, "%q is not a valid header name", h)
		}
	}
	return nil
}

// isTokenChar reports whether c may appear in an HTTP token (RFC 9110).
func isTokenChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func normMethod(m string) string {
	if m == "" || m == "*" {
		return "*"
	}
	return m
}

func methodLabel(m string) string {
	if normMethod(m) == "*" {
		return "any method"
	}
	return m
}

func (r *Route) validate(f string) error {
	if m := r.Method; m != "" && m != "*" {
		if len(m) > 32 {
			return trail.FieldError(f+".method", "at most 32 characters")
		}
		for i := 0; i < len(m); i++ {
			if !isTokenChar(m[i]) {
				return trail.FieldError(f+".method", "%q is not an HTTP method", m)
			}
		}
		if m != strings.ToUpper(m) {
			return trail.FieldError(f+".method", "%q: write methods in upper case", m)
		}
	}
	if r.Path == "" {
		return trail.FieldError(f+".path", "required: a template such as /v1/projects/{id}")
	}
	if _, err := parseTemplate(r.Path); err != nil {
		return trail.FieldError(f+".path", "%s", err.Error())
	}
	if r.Action != "" {
		if err := checkAction(r.Action); err != nil {
			return trail.FieldError(f+".action", "%s", err.Error())
		}
	}
	if len(r.ResourceType) > 200 {
		return trail.FieldError(f+".resource_type", "at most 200 bytes")
	}
	if r.Capture != "" && r.Capture.level() < 0 {
		return trail.FieldError(f+".capture", "%q is not one of none, metadata, request, request_response", r.Capture)
	}
	return checkBodyLimit(f+".body_limit", r.BodyLimit)
}

// checkAction applies trail's rule for action names.
func checkAction(a string) error {
	if len(a) > maxActionLen {
		return fmt.Errorf("at most %d bytes", maxActionLen)
	}
	for i := 0; i < len(a); i++ {
		c := a[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._-:/", c) >= 0) {
			return fmt.Errorf("%q may hold only letters, digits and . _ - : /", a)
		}
	}
	return nil
}

// maxActionLen is trail's limit on action names.
const maxActionLen = 200

// asymmetricAlgs and symmetricAlgs are the algorithms allowed by default
// with a JWKS and with an HMAC secret.
func asymmetricAlgs() []string {
	return []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
}

func symmetricAlgs() []string { return []string{"HS256", "HS384", "HS512"} }

func (j *JWTConfig) validate() error {
	hmacSet := j.HMACSecretFile != "" || len(j.HMACSecret) > 0
	if j.JWKSURL != "" && hmacSet {
		return trail.FieldError("jwt", "set jwks_url or hmac_secret_file, not both")
	}
	if j.JWKSURL != "" {
		u, err := url.Parse(j.JWKSURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return trail.FieldError("jwt.jwks_url", "%q is not an http(s) URL", j.JWKSURL)
		}
	}
	if len(j.HMACSecret) > 0 && len(j.HMACSecret) < minHMACSecret {
		return trail.FieldError("jwt.hmac_secret_file", "the secret must be at least %d bytes", minHMACSecret)
	}
	if len(j.Audience) > 32 {
		return trail.FieldError("jwt.audience", "at most 32 values")
	}
	for i, a := range j.Audience {
		if a == "" {
			return trail.FieldError("jwt.audience["+strconv.Itoa(i)+"]", "must not be empty")
		}
	}
	allowed := asymmetricAlgs()
	if hmacSet {
		allowed = symmetricAlgs()
	}
	for i, a := range j.Algorithms {
		if !contains(allowed, a) {
			kind := "a JWKS"
			if hmacSet {
				kind = "an HMAC secret"
			}
			if j.JWKSURL == "" && !hmacSet {
				kind = "unverified tokens"
				if contains(symmetricAlgs(), a) {
					continue
				}
			}
			return trail.FieldError("jwt.algorithms["+strconv.Itoa(i)+"]", "%q is not allowed with %s; want one of %s", a, kind, strings.Join(allowed, ", "))
		}
	}
	if j.Leeway < 0 || time.Duration(j.Leeway) > time.Hour {
		return trail.FieldError("jwt.leeway", "must be between 0 and 1h")
	}
	if j.Refresh != 0 && (time.Duration(j.Refresh) < time.Second || time.Duration(j.Refresh) > 7*24*time.Hour) {
		return trail.FieldError("jwt.refresh", "must be between 1s and 168h")
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (r *Rate) validate(f string) error {
	if r == nil {
		return nil
	}
	if math.IsNaN(r.Rate) || math.IsInf(r.Rate, 0) || r.Rate <= 0 || r.Rate > 1e9 {
		return trail.FieldError(f+".rate", "requests per second: a number above 0 and at most 1e9")
	}
	if r.Burst < 0 || r.Burst > 1e9 {
		return trail.FieldError(f+".burst", "must be between 0 (the default: twice the rate) and 1e9")
	}
	return nil
}

func (r *Rate) burst() int {
	if r.Burst > 0 {
		return r.Burst
	}
	return max(int(r.Rate*2), 1)
}

// parsePrefix reads an address (a one-address network) or a CIDR network.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// canonicalHeader returns the canonical form of a header name.
func canonicalHeader(h string) string { return textproto.CanonicalMIMEHeaderKey(h) }
