package proxy

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trail-audit/trail"
)

const exampleConfig = `{
  "capture": "metadata",
  "body_limit": 8192,
  "request_id_header": "X-Request-Id",
  "routes": [
    {"method": "PUT", "path": "/v1/projects/{id}", "capture": "request"},
    {"method": "POST", "path": "/v1/login", "action": "user.login", "capture": "request"},
    {"path": "/healthz", "capture": "none"}
  ],
  "jwt": {"jwks_url": "https://idp.example.com/.well-known/jwks.json", "issuer": "https://idp.example.com/",
          "audience": ["api"], "algorithms": ["RS256", "ES256"], "leeway": "30s", "refresh": "15m"},
  "api_key_headers": ["X-Api-Key"],
  "trusted_proxies": ["10.0.0.0/8", "192.0.2.1"],
  "rate_limits": {"caller": {"rate": 10, "burst": 20}, "ip": {"rate": 50}},
  "masking": {"defaults": true, "rules": [{"path": "metadata.request_body.ssn", "action": "redact"}]},
  "mask_key_file": "mask.key"
}`

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig([]byte(exampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Routes) != 3 || c.Routes[1].Action != "user.login" || time.Duration(c.JWT.Leeway) != 30*time.Second ||
		c.RateLimits.IP.Rate != 50 || c.RateLimits.IP.burst() != 100 || len(c.Masking.Rules) != 1 {
		t.Errorf("parsed %+v", c)
	}
	// It round-trips.
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := ParseConfig(b)
	if err != nil {
		t.Fatalf("re-parse of %s: %v", b, err)
	}
	if b2, _ := json.Marshal(c2); string(b2) != string(b) {
		t.Errorf("round trip changed the config:\n%s\n%s", b, b2)
	}
	if _, err := ParseConfig([]byte(`{}`)); err != nil {
		t.Errorf("empty config: %v", err)
	}
}

// TestConfigErrors names the field and the rule of each mistake.
func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name, json, field, rule string
	}{
		{"unknown field", `{"rout":[]}`, "rout", "unknown field"},
		{"wrong type", `{"body_limit":"big"}`, "body_limit", "want a JSON int"},
		{"bad capture", `{"capture":"all"}`, "capture", "not one of none, metadata"},
		{"body limit", `{"body_limit":100000}`, "body_limit", "between 0"},
		{"route path missing", `{"routes":[{"method":"GET"}]}`, "routes[0].path", "required"},
		{"route path relative", `{"routes":[{"path":"v1/x"}]}`, "routes[0].path", "must start with /"},
		{"route empty segment", `{"routes":[{"path":"/v1//x"}]}`, "routes[0].path", "empty segment"},
		{"route param syntax", `{"routes":[{"path":"/v1/x{id}"}]}`, "routes[0].path", "whole segment"},
		{"route wildcard not last", `{"routes":[{"path":"/v1/{rest...}/x"}]}`, "routes[0].path", "last segment"},
		{"route param twice", `{"routes":[{"path":"/{id}/{id}"}]}`, "routes[0].path", "appears twice"},
		{"route duplicate", `{"routes":[{"method":"GET","path":"/a/{x}"},{"method":"GET","path":"/a/{y}"}]}`, "routes[1].path", "same requests as routes[0]"},
		{"route method case", `{"routes":[{"method":"get","path":"/a"}]}`, "routes[0].method", "upper case"},
		{"route action", `{"routes":[{"path":"/a","action":"a b"}]}`, "routes[0].action", "may hold only"},
		{"route capture", `{"routes":[{"path":"/a","capture":"bodies"}]}`, "routes[0].capture", "not one of"},
		{"jwt both", `{"jwt":{"jwks_url":"https://x/j","hmac_secret_file":"s"}}`, "jwt", "not both"},
		{"jwks url", `{"jwt":{"jwks_url":"ftp://x/j"}}`, "jwt.jwks_url", "http(s) URL"},
		{"jwt alg none", `{"jwt":{"jwks_url":"https://x/j","algorithms":["none"]}}`, "jwt.algorithms[0]", "not allowed"},
		{"jwt alg confusion", `{"jwt":{"jwks_url":"https://x/j","algorithms":["HS256"]}}`, "jwt.algorithms[0]", "not allowed with a JWKS"},
		{"jwt hmac with RS", `{"jwt":{"hmac_secret_file":"s","algorithms":["RS256"]}}`, "jwt.algorithms[0]", "not allowed with an HMAC secret"},
		{"jwt leeway", `{"jwt":{"leeway":"2h"}}`, "jwt.leeway", "between 0 and 1h"},
		{"jwt leeway syntax", `{"jwt":{"leeway":"soon"}}`, "", "not a duration"},
		{"api key header", `{"api_key_headers":["X Api"]}`, "api_key_headers[0]", "not a valid header name"},
		{"api key authorization", `{"api_key_headers":["authorization"]}`, "api_key_headers[0]", "always read"},
		{"trusted proxy", `{"trusted_proxies":["10.0.0.0/33"]}`, "trusted_proxies[0]", "CIDR"},
		{"rate", `{"rate_limits":{"ip":{"rate":0}}}`, "rate_limits.ip.rate", "above 0"},
		{"burst", `{"rate_limits":{"caller":{"rate":1,"burst":-1}}}`, "rate_limits.caller.burst", "between 0"},
		{"masking", `{"masking":{"rules":[{"detector":"dna","action":"redact"}]}}`, "masking.rules[0].detector", "not a detector"},
		{"trailing data", `{} {}`, "", "more follows"},
		{"not json", `{`, "", "unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.json))
			var te *trail.Error
			if !errors.As(err, &te) || te.Code != trail.EINVALID {
				t.Fatalf("err = %v, want an EINVALID *trail.Error", err)
			}
			if te.Field != tt.field || !strings.Contains(te.Message, tt.rule) {
				t.Errorf("got field %q message %q, want field %q and %q", te.Field, te.Message, tt.field, tt.rule)
			}
		})
	}
}

// TestLoadConfig reads the secret files relative to the config file.
func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("jwt.secret", string(hmacSecret)+"\n")
	write("mask.key", "0123456789abcdef0123\n")
	p := write("proxy.json", `{"jwt":{"hmac_secret_file":"jwt.secret"},"mask_key_file":"mask.key"}`)
	c, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(c.JWT.HMACSecret) != string(hmacSecret) || string(c.MaskKey) != "0123456789abcdef0123" {
		t.Errorf("secrets %q %q", c.JWT.HMACSecret, c.MaskKey)
	}
	write("short.secret", "short")
	p = write("bad.json", `{"jwt":{"hmac_secret_file":"short.secret"}}`)
	var te *trail.Error
	if _, err := LoadConfig(p); !errors.As(err, &te) || te.Field != "jwt.hmac_secret_file" {
		t.Errorf("short secret: %v, want an error naming jwt.hmac_secret_file", err)
	}
	p = write("missing.json", `{"mask_key_file":"nope"}`)
	if _, err := LoadConfig(p); !errors.As(err, &te) || te.Field != "mask_key_file" {
		t.Errorf("missing file: %v, want an error naming mask_key_file", err)
	}
}

// FuzzParseConfig: the parser never panics; what it accepts is valid,
// builds an Auditor, and survives a round trip.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(exampleConfig))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"routes":[{"path":"/{a}/{b...}"},{"method":"GET","path":"/"}]}`))
	f.Add([]byte(`{"jwt":{"hmac_secret_file":"x","algorithms":["HS256"]},"rate_limits":{"ip":{"rate":1e-9}}}`))
	f.Add([]byte(`{"trusted_proxies":["::1","fe80::/10"],"api_key_headers":["x-key"],"capture":"none"}`))
	// Accepted configurations fetch their JWKS from here, never from the
	// hosts the fuzzer makes up.
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"keys":[]}`) }))
	defer jwks.Close()
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			var te *trail.Error
			if !errors.As(err, &te) || te.Code != trail.EINVALID {
				t.Fatalf("error %v is not an EINVALID *trail.Error", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted config fails Validate: %v", err)
		}
		c.MaskKey = testMaskKey
		if c.JWT != nil && c.JWT.HMACSecretFile != "" {
			c.JWT.HMACSecret = hmacSecret
		}
		if c.JWT != nil && c.JWT.JWKSURL != "" {
			c.JWT.JWKSURL = jwks.URL
		}
		if _, err := New(c, Options{Recorder: &memRecorder{}}); err != nil {
			t.Fatalf("accepted config does not build an Auditor: %v", err)
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseConfig(b); err != nil {
			t.Fatalf("round trip of %s: %v", b, err)
		}
	})
}
