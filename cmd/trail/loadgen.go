package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// loadPool is trail bench's load generator for ingest: keep-alive
// HTTP/1.1 connections that each send one request and read its answer at
// a time, in the caller's goroutine.
//
// net/http's client spends two goroutines, several channel hand-offs and
// a dozen allocations per request; on the 2-core machine the bench
// shares with the server under test that was a quarter of a
// single-event run's CPU, charged to the server's figures. loadPool
// writes a request with one write and parses the answer from one
// buffered reader, like the load generators (wrk, h2load) a reader would
// run against a server by hand. It speaks only what trail serve answers
// on plain HTTP: a status line, headers, and a body framed by
// Content-Length or chunked transfer coding.
type loadPool struct {
	addr string // host:port
	host string // Host header
	auth string // Authorization header value
	idle chan *loadConn
	mu   sync.Mutex
	all  map[*loadConn]bool // every open connection, closed by Close
	// maxIdle is how long a connection may sit idle and still be used:
	// the server closes keep-alive connections idle for its IdleTimeout
	// (trail serve: 2 minutes), and a request written to one it closed
	// gets no answer. Between the ingest phases of a 10M-event run, the
	// queries and the export take longer than that.
	maxIdle time.Duration
}

// loadMaxIdle is a loadPool's maxIdle: well under trail serve's
// IdleTimeout.
const loadMaxIdle = 30 * time.Second

// newLoadPool returns a pool for base, an http:// URL, that keeps up to
// conns idle connections and authenticates with the bearer token key.
func newLoadPool(base, key string, conns int) (*loadPool, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("load generator: %q is not an http:// URL", base)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	return &loadPool{addr: addr, host: u.Host, auth: "Bearer " + key, idle: make(chan *loadConn, conns), all: map[*loadConn]bool{}, maxIdle: loadMaxIdle}, nil
}

// loadConn is one connection of a loadPool.
type loadConn struct {
	nc        net.Conn
	br        *bufio.Reader
	req       []byte    // the request being written, reused
	idleSince time.Time // when it went back to the pool
}

// post sends body to path (with its query) as Content-Type ctype and
// returns the answer's body when its status is 2xx. Any other status is
// returned as the server's error (an *apiError, as client.send does). The
// returned slice is the caller's.
func (p *loadPool) post(ctx context.Context, pathQuery string, body []byte, ctype string) ([]byte, error) {
	c, err := p.get(ctx)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { c.nc.Close() })
	status, data, keep, err := c.roundTrip(p, pathQuery, body, ctype)
	if !stop() {
		keep = false // ctx ended: the connection was closed under the request
		if err == nil {
			err = ctx.Err()
		}
	}
	if err != nil || !keep {
		p.discard(c)
	} else {
		p.put(c)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("POST %s: %w", pathQuery, err)
	}
	if status/100 != 2 {
		return nil, decodeAPIError(status, data)
	}
	return data, nil
}

// decodeAPIError turns a non-2xx answer into the server's error.
func decodeAPIError(status int, data []byte) error {
	var eb struct {
		Error apiError `json:"error"`
	}
	if json.Unmarshal(data, &eb) != nil || eb.Error.Code == "" {
		return &apiError{Status: status, Code: "http", Message: strings.TrimSpace(string(data))}
	}
	eb.Error.Status = status
	return &eb.Error
}

// get returns an idle connection that has not been idle longer than
// maxIdle (older ones are closed), or a new one.
func (p *loadPool) get(ctx context.Context) (*loadConn, error) {
	for len(p.idle) > 0 {
		select {
		case c := <-p.idle:
			if time.Since(c.idleSince) <= p.maxIdle {
				return c, nil
			}
			p.discard(c)
		default: // another caller took it
		}
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	c := &loadConn{nc: nc, br: bufio.NewReaderSize(nc, 64<<10)}
	p.mu.Lock()
	p.all[c] = true
	p.mu.Unlock()
	return c, nil
}

func (p *loadPool) put(c *loadConn) {
	c.idleSince = time.Now()
	select {
	case p.idle <- c:
	default:
		p.discard(c)
	}
}

func (p *loadPool) discard(c *loadConn) {
	c.nc.Close()
	p.mu.Lock()
	delete(p.all, c)
	p.mu.Unlock()
}

// Close closes every connection of the pool.
func (p *loadPool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.all {
		c.nc.Close()
	}
	clear(p.all)
}

// roundTrip writes one request and reads its answer. keep is false when
// the connection cannot carry another request.
func (c *loadConn) roundTrip(p *loadPool, pathQuery string, body []byte, ctype string) (status int, data []byte, keep bool, err error) {
	r := c.req[:0]
	r = append(r, "POST "...)
	r = append(r, pathQuery...)
	r = append(r, " HTTP/1.1\r\nHost: "...)
	r = append(r, p.host...)
	r = append(r, "\r\nAuthorization: "...)
	r = append(r, p.auth...)
	r = append(r, "\r\nUser-Agent: trail-bench\r\nContent-Type: "...)
	r = append(r, ctype...)
	r = append(r, "\r\nContent-Length: "...)
	r = strconv.AppendInt(r, int64(len(body)), 10)
	r = append(r, "\r\n\r\n"...)
	c.req = r
	if len(r)+len(body) <= 64<<10 {
		// One write for a small request: a single event is one segment.
		r = append(r, body...)
		c.req = r
		_, err = c.nc.Write(r)
	} else {
		bufs := net.Buffers{r, body}
		_, err = bufs.WriteTo(c.nc)
	}
	if err != nil {
		return 0, nil, false, err
	}
	return readAnswer(c.br)
}

// errMalformed is an answer loadConn cannot parse.
var errMalformed = errors.New("malformed HTTP answer")

// readAnswer reads one HTTP/1.1 answer from br: its status, its body
// (framed by Content-Length or chunked coding) and whether the connection
// may carry another request.
func readAnswer(br *bufio.Reader) (status int, body []byte, keep bool, err error) {
	line, err := readLine(br)
	if err != nil {
		return 0, nil, false, err
	}
	// HTTP/1.1 200 OK
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, nil, false, fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil || status < 100 {
		return 0, nil, false, fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	keep = line[7] == '1'
	length, chunked := int64(-1), false
	for {
		h, err := readLine(br)
		if err != nil {
			return 0, nil, false, err
		}
		if len(h) == 0 {
			break
		}
		colon := bytes.IndexByte(h, ':')
		if colon <= 0 {
			return 0, nil, false, fmt.Errorf("%w: header %q", errMalformed, h)
		}
		name, value := h[:colon], bytes.TrimSpace(h[colon+1:])
		switch {
		case asciiEqualFold(name, "content-length"):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 {
				return 0, nil, false, fmt.Errorf("%w: Content-Length %q", errMalformed, value)
			}
			length = n
		case asciiEqualFold(name, "transfer-encoding"):
			chunked = asciiEqualFold(value, "chunked")
			if !chunked {
				return 0, nil, false, fmt.Errorf("%w: Transfer-Encoding %q", errMalformed, value)
			}
		case asciiEqualFold(name, "connection"):
			if asciiEqualFold(value, "close") {
				keep = false
			}
		}
	}
	switch {
	case chunked:
		body, err = readChunked(br)
	case length >= 0:
		body = make([]byte, length)
		_, err = io.ReadFull(br, body)
	case status == 204 || status == 304 || status < 200:
	default:
		// No framing: the body runs to the end of the connection.
		body, err = io.ReadAll(br)
		keep = false
	}
	if err != nil {
		return 0, nil, false, err
	}
	return status, body, keep, nil
}

// readChunked reads a chunked body and its trailer.
func readChunked(br *bufio.Reader) ([]byte, error) {
	var body []byte
	for {
		line, err := readLine(br)
		if err != nil {
			return nil, err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil || n < 0 || n > 1<<30 {
			return nil, fmt.Errorf("%w: chunk size %q", errMalformed, line)
		}
		if n == 0 {
			for { // trailer
				t, err := readLine(br)
				if err != nil {
					return nil, err
				}
				if len(t) == 0 {
					return body, nil
				}
			}
		}
		start := len(body)
		body = append(body, make([]byte, n)...)
		if _, err := io.ReadFull(br, body[start:]); err != nil {
			return nil, err
		}
		if crlf, err := readLine(br); err != nil || len(crlf) != 0 {
			return nil, fmt.Errorf("%w: chunk not followed by CRLF", errMalformed)
		}
	}
}

// readLine returns the next CRLF- (or LF-) terminated line without its
// terminator. The slice is valid until the next read of br.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, fmt.Errorf("%w: line longer than %d bytes", errMalformed, br.Size())
	}
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// asciiEqualFold reports whether b equals the lower-case ASCII s, ignoring
// ASCII case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
