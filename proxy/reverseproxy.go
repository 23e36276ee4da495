package proxy

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"
)

// NewReverseProxy returns the handler of "trail proxy": an
// httputil.ReverseProxy to upstream wrapped by a.Wrap, so that every call
// is forwarded and audited exactly as the middleware audits it.
//
// The upstream sees the request id header, X-Forwarded-Host,
// X-Forwarded-Proto and X-Forwarded-For; the client's own
// X-Forwarded-For is passed on (with the peer appended) only when the
// peer is a trusted proxy. When upstream cannot be reached the client
// gets 502 in trail's error shape and the call is recorded with status
// 502. transport may be nil for a transport tuned for one busy upstream.
func NewReverseProxy(a *Auditor, upstream *url.URL, transport http.RoundTripper) (http.Handler, error) {
	if upstream == nil || (upstream.Scheme != "http" && upstream.Scheme != "https") || upstream.Host == "" {
		return nil, fmt.Errorf("proxy: upstream %v is not an http(s) URL", upstream)
	}
	if transport == nil {
		transport = NewTransport()
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			if peer, ok := remoteAddr(pr.In.RemoteAddr); ok && a.trusted(peer) {
				pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
			}
			pr.SetXForwarded()
		},
		Transport:  transport,
		BufferPool: &bufferPool{},
		// FlushInterval stays 0: streaming responses (no Content-Length,
		// text/event-stream) are flushed on every write by ReverseProxy
		// itself, and the middleware flushes the others once complete,
		// before it records the event.
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			status := http.StatusBadGateway
			msg := "the upstream could not be reached"
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				status, msg = http.StatusGatewayTimeout, "the upstream did not answer in time"
			}
			if r.Context().Err() == nil {
				a.log.Warn("proxy: upstream failed", "upstream", upstream.Host, "request_id", r.Header.Get(a.requestIDHdr), "err", err)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":{"code":"unavailable","message":%q}}`, msg)
		},
		ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	return a.Wrap(rp), nil
}

// NewTransport returns the transport NewReverseProxy uses by default: the
// default transport with enough idle connections per host that a busy
// upstream does not pay for new connections.
func NewTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 1024
	t.IdleConnTimeout = 90 * time.Second
	t.ResponseHeaderTimeout = 0
	// Bodies pass through as the upstream encoded them: no gzip added
	// behind the client's back and decoded again.
	t.DisableCompression = true
	return t
}

// bufferPool lends the 32 KiB copy buffers of the reverse proxy, which
// would otherwise allocate one per call.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }
