package sink_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/sink"
)

func TestNormalizeErrors(t *testing.T) {
	secret := sink.SecretPrefix + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	ok := sink.Sink{ID: "s1", Tenant: "acme", Name: "n", Type: sink.TypeWebhook, URL: "https://example.com/hook", Secret: secret}
	tests := []struct {
		name  string
		edit  func(s *sink.Sink)
		field string // "" means valid
	}{
		{"valid webhook", func(s *sink.Sink) {}, ""},
		{"bad id", func(s *sink.Sink) { s.ID = "a/b" }, "id"},
		{"bad tenant", func(s *sink.Sink) { s.Tenant = "Acme!" }, "tenant"},
		{"no name", func(s *sink.Sink) { s.Name = " " }, "name"},
		{"bad type", func(s *sink.Sink) { s.Type = "kafka" }, "type"},
		{"bad filter", func(s *sink.Sink) { s.Filter = "actr:x" }, "filter"},
		{"good filter", func(s *sink.Sink) { s.Filter = "action:user.* -outcome:success" }, ""},
		{"relative url", func(s *sink.Sink) { s.URL = "/hook" }, "url"},
		{"ftp url", func(s *sink.Sink) { s.URL = "ftp://x/" }, "url"},
		{"url with password", func(s *sink.Sink) { s.URL = "https://u:p@x/" }, "url"},
		{"no secret", func(s *sink.Sink) { s.Secret = "" }, "secret"},
		{"short secret", func(s *sink.Sink) { s.Secret = "whsec_c2hvcnQ=" }, "secret"},
		{"cef on webhook", func(s *sink.Sink) { s.Format = sink.FormatCEF }, "format"},
		{"batch too big", func(s *sink.Sink) { s.BatchSize = sink.MaxBatchSize + 1 }, "batch_size"},
		{"bad ca", func(s *sink.Sink) { s.TLS = &sink.TLS{CA: "nope"} }, "tls.ca"},
		{"cert without key", func(s *sink.Sink) { s.TLS = &sink.TLS{Cert: "x"} }, "tls.cert"},
		{"syslog", func(s *sink.Sink) {
			*s = sink.Sink{ID: "s", Tenant: "acme", Name: "n", Type: sink.TypeSyslog, Address: "logs:6514", Format: sink.FormatCEF}
		}, ""},
		{"syslog no port", func(s *sink.Sink) {
			*s = sink.Sink{ID: "s", Tenant: "acme", Name: "n", Type: sink.TypeSyslog, Address: "logs"}
		}, "address"},
		{"syslog ocsf", func(s *sink.Sink) {
			*s = sink.Sink{ID: "s", Tenant: "acme", Name: "n", Type: sink.TypeSyslog, Address: "logs:514", Format: sink.FormatOCSF}
		}, "format"},
		{"syslog hostname", func(s *sink.Sink) {
			*s = sink.Sink{ID: "s", Tenant: "acme", Name: "n", Type: sink.TypeSyslog, Address: "logs:514", Hostname: "a b"}
		}, "hostname"},
		{"hec without token", func(s *sink.Sink) {
			*s = sink.Sink{ID: "s", Tenant: "acme", Name: "n", Type: sink.TypeSplunkHEC, URL: "https://splunk:8088"}
		}, "token"},
		{"ocsf version", func(s *sink.Sink) {
			*s = sink.Sink{ID: "s", Tenant: "acme", Name: "n", Type: sink.TypeOCSFHTTP, URL: "https://lake/", OCSFVersion: "2"}
		}, "ocsf_version"},
		{"file escapes", func(s *sink.Sink) {
			*s = sink.Sink{ID: "s", Tenant: "acme", Name: "n", Type: sink.TypeFile, Path: "../x"}
		}, "path"},
		{"file tiny", func(s *sink.Sink) {
			*s = sink.Sink{ID: "s", Tenant: "acme", Name: "n", Type: sink.TypeFile, Path: "x", MaxSize: 10}
		}, "max_size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			tt.edit(&s)
			err := s.Normalize()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("got %v, want valid", err)
				}
				return
			}
			var e *trail.Error
			if !errors.As(err, &e) || e.Code != trail.EINVALID || e.Field != tt.field {
				t.Fatalf("got %#v, want EINVALID on %q", err, tt.field)
			}
		})
	}
}

func TestNormalizeDefaults(t *testing.T) {
	s := sink.Sink{ID: "s", Tenant: "acme", Name: "n", Type: sink.TypeOCSFHTTP, URL: "https://lake/"}
	if err := s.Normalize(); err != nil {
		t.Fatal(err)
	}
	if s.Format != sink.FormatOCSF || s.OCSFVersion != sink.DefaultOCSFVersion || s.BatchSize != sink.DefaultBatchSize {
		t.Errorf("defaults: format %q version %q batch %d", s.Format, s.OCSFVersion, s.BatchSize)
	}
}

func TestRedacted(t *testing.T) {
	s := sink.Sink{ID: "s", Secret: "whsec_abc", Token: "tok", TLS: &sink.TLS{Key: "KEY"}}
	r := s.Redacted()
	if strings.Contains(r.Secret+r.Token+r.TLS.Key, "abc") || r.Token == "tok" || r.TLS.Key == "KEY" || s.TLS.Key != "KEY" {
		t.Errorf("Redacted: %+v (original %+v)", r, s)
	}
}

func TestNewSecret(t *testing.T) {
	s, err := sink.NewSecret(bytes.NewReader(make([]byte, 32)))
	if err != nil || s != "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" {
		t.Errorf("NewSecret = %q, %v", s, err)
	}
}

func TestFileCursors(t *testing.T) {
	ctx := context.Background()
	c := &sink.FileCursors{Dir: t.TempDir()}
	if _, ok, err := c.Load(ctx, "a"); ok || err != nil {
		t.Fatalf("Load of a new sink: ok %v, err %v", ok, err)
	}
	for _, seq := range []int64{5, 0, 123456789} {
		if err := c.Save(ctx, "a", seq); err != nil {
			t.Fatal(err)
		}
		if got, ok, err := (&sink.FileCursors{Dir: c.Dir}).Load(ctx, "a"); got != seq || !ok || err != nil {
			t.Errorf("Load after Save(%d) = %d, %v, %v", seq, got, ok, err)
		}
	}
	if err := c.Save(ctx, "../a", 1); err == nil {
		t.Error("Save accepted a sink id with a path in it")
	}
	if err := c.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.Load(ctx, "a"); ok {
		t.Error("cursor still there after Delete")
	}
}
