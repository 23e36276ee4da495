package sink

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	trail "github.com/trail-audit/trail"
)

// httpClient returns the client of an HTTP destination: Env.HTTPClient when
// set, otherwise one with s.TLS and a 30 s timeout whose connections (and
// redirects) Env.Egress checks. A URL whose host is a literal address the
// policy refuses is an EINVALID error naming "url".
func httpClient(s *Sink, env Env) (*http.Client, error) {
	u, err := url.Parse(s.URL)
	if err != nil {
		return nil, err
	}
	if err := env.Egress.CheckHost(u.Hostname()); err != nil {
		return nil, trail.FieldError("url", "%v", err)
	}
	if env.HTTPClient != nil {
		return env.HTTPClient, nil
	}
	tc, err := s.TLS.config(u.Hostname())
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.Proxy = nil
	tr.DialContext = env.Egress.Dialer(net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}

// StatusError is a non-2xx answer of an HTTP destination.
type StatusError struct {
	StatusCode int
	Body       string // the first bytes of the response body
}

func (e *StatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("status %d", e.StatusCode)
	}
	return fmt.Sprintf("status %d: %s", e.StatusCode, e.Body)
}

// post sends body and returns nil on a 2xx answer. The body of the answer
// is read (up to 64 KiB) and returned so that callers can check it.
func post(ctx context.Context, c *http.Client, u string, header http.Header, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := strings.ToValidUTF8(string(b[:min(len(b), 200)]), "?")
		return nil, &StatusError{StatusCode: resp.StatusCode, Body: strings.TrimSpace(msg)}
	}
	return b, nil
}
