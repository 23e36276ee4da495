package sink_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/egress"
	"github.com/trail-audit/trail/sink"
)

// TestEgressRefusesLiteralAddresses: a sink whose URL or address is a
// literal address the policy refuses does not open, and the error names
// the field.
func TestEgressRefusesLiteralAddresses(t *testing.T) {
	env := sink.Env{Egress: egress.NewPolicy(nil, nil)}
	cases := []sink.Sink{
		{ID: "w", Tenant: "acme", Name: "metadata", Type: sink.TypeWebhook, URL: "http://169.254.169.254/latest/meta-data/", Secret: newSecret(t)},
		{ID: "h", Tenant: "acme", Name: "loopback", Type: sink.TypeSplunkHEC, URL: "https://127.0.0.1:8088/services/collector", Token: "t"},
		{ID: "o", Tenant: "acme", Name: "localhost", Type: sink.TypeOCSFHTTP, URL: "http://localhost:8080/v1/events"},
		{ID: "s", Tenant: "acme", Name: "syslog", Type: sink.TypeSyslog, Address: "[::1]:514"},
	}
	for _, c := range cases {
		_, err := sink.Open(&c, env)
		var te *trail.Error
		if !errors.As(err, &te) || te.Code != trail.EINVALID {
			t.Errorf("%s: Open = %v, want an EINVALID error", c.Name, err)
			continue
		}
		want := "url"
		if c.Type == sink.TypeSyslog {
			want = "address"
		}
		if te.Field != want {
			t.Errorf("%s: field %q, want %q", c.Name, te.Field, want)
		}
	}
	// A private address is allowed by default: an internal SIEM.
	ok := sink.Sink{ID: "p", Tenant: "acme", Name: "siem", Type: sink.TypeSyslog, Address: "10.1.2.3:6514"}
	if _, err := sink.Open(&ok, env); err != nil {
		t.Errorf("private address refused: %v", err)
	}
}

// TestEgressChecksEveryConnection: a webhook on an allowed address that
// redirects to a refused one never reaches it, because the check runs on
// every connection the client makes (in the dialer, on the address it
// connects to), not only on the configured URL.
func TestEgressChecksEveryConnection(t *testing.T) {
	var reached atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.2:0") // loopback, but not the allowed 127.0.0.1
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	inner := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1) }))
	inner.Listener.Close()
	inner.Listener = ln
	inner.Start()
	defer inner.Close()
	outer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, inner.URL+"/", http.StatusTemporaryRedirect)
	}))
	defer outer.Close()

	allow, err := egress.ParsePrefixes("allow", "127.0.0.1/32")
	if err != nil {
		t.Fatal(err)
	}
	policy := egress.NewPolicy(allow, nil)
	cfg := sink.Sink{ID: "w", Tenant: "acme", Name: "hook", Type: sink.TypeWebhook, URL: outer.URL, Secret: newSecret(t)}
	d, err := sink.Open(&cfg, sink.Env{Egress: policy})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	err = d.Deliver(context.Background(), &sink.Batch{Tenant: "acme", ID: "w_0-0", Items: []sink.Item{{Seq: 0, Leaf: []byte(`{}`), Event: &trail.Event{Action: "a.b"}}}})
	var be *egress.BlockedError
	if !errors.As(err, &be) && (err == nil || !strings.Contains(err.Error(), "outbound connections may not reach")) {
		t.Fatalf("Deliver through a redirect to localhost = %v, want the egress refusal", err)
	}
	if reached.Load() != 0 {
		t.Fatal("the refused address was reached")
	}

	// The same destination without a policy delivers (the redirect is
	// followed): the refusal above came from the policy.
	d2, err := sink.Open(&cfg, sink.Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if err := d2.Deliver(context.Background(), &sink.Batch{Tenant: "acme", ID: "w_0-0", Items: []sink.Item{{Seq: 0, Leaf: []byte(`{}`), Event: &trail.Event{Action: "a.b"}}}}); err != nil {
		t.Fatalf("Deliver without a policy: %v", err)
	}
	if reached.Load() != 1 {
		t.Fatalf("inner reached %d times, want 1", reached.Load())
	}
}
