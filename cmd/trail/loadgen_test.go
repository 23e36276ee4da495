package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestLoadPoolPost drives the load generator against net/http's server:
// the request it writes is what the server expects, answers framed by
// Content-Length and by chunked coding are read whole, connections are
// reused, a "Connection: close" answer is honoured, and an error answer
// comes back as the server's error.
func TestLoadPoolPost(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("server read: %v", err)
		}
		if got := r.Header.Get("Authorization"); got != "Bearer k1" {
			t.Errorf("Authorization = %q", got)
		}
		if got := r.Header.Get("Content-Type"); got != "application/json" {
			t.Errorf("Content-Type = %q", got)
		}
		switch r.URL.Query().Get("mode") {
		case "chunked":
			w.WriteHeader(http.StatusCreated)
			for i := range 3 { // three flushed writes: chunked coding
				io.WriteString(w, strings.Repeat(strconv.Itoa(i), 5000))
				w.(http.Flusher).Flush()
			}
		case "close":
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusCreated)
			w.Write(body)
		case "error":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":{"code":"invalid","message":"actor.id is required","field":"events[0].actor.id"}}`)
		default:
			w.WriteHeader(http.StatusCreated)
			w.Write(body)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	p, err := newLoadPool(srv.URL, "k1", 4)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()

	for i := range 5 {
		body := []byte(`{"n":` + strconv.Itoa(i) + `}`)
		got, err := p.post(ctx, "/v1/events", body, "application/json")
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(body) {
			t.Fatalf("echo %d = %q, want %q", i, got, body)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("5 sequential requests used %d connections, want 1", n)
	}

	big := []byte(strings.Repeat("x", 200<<10)) // written as two buffers
	if got, err := p.post(ctx, "/v1/events", big, "application/json"); err != nil || len(got) != len(big) {
		t.Fatalf("large body: %d bytes back, err %v", len(got), err)
	}

	got, err := p.post(ctx, "/v1/events?mode=chunked", []byte("{}"), "application/json")
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Repeat("0", 5000) + strings.Repeat("1", 5000) + strings.Repeat("2", 5000); string(got) != want {
		t.Fatalf("chunked body: %d bytes, want %d", len(got), len(want))
	}

	before := conns.Load()
	if _, err := p.post(ctx, "/v1/events?mode=close", []byte("{}"), "application/json"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.post(ctx, "/v1/events", []byte("{}"), "application/json"); err != nil {
		t.Fatal(err)
	}
	if n := conns.Load() - before; n != 1 {
		t.Fatalf("after Connection: close the pool opened %d connections, want 1", n)
	}

	_, err = p.post(ctx, "/v1/events?mode=error", []byte("{}"), "application/json")
	var ae *apiError
	if !errors.As(err, &ae) || ae.Status != 400 || ae.Code != "invalid" || ae.Field != "events[0].actor.id" {
		t.Fatalf("error answer: %#v (%v)", ae, err)
	}
	// The error answer left the connection usable.
	if _, err := p.post(ctx, "/v1/events", []byte("{}"), "application/json"); err != nil {
		t.Fatal(err)
	}
}

// TestLoadPoolCancel shows a request whose context ends returns at once
// with the context's error, and the pool goes on with a new connection.
// TestLoadPoolIdleTimeout checks that a connection the server may have
// closed for idleness is not used again: a server that closes idle
// connections after 200 ms, and a pool that keeps them for 100 ms, with a
// pause of 400 ms between two posts.
func TestLoadPoolIdleTimeout(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte("ok"))
	}))
	srv.Config.IdleTimeout = 200 * time.Millisecond
	srv.Start()
	defer srv.Close()
	p, err := newLoadPool(srv.URL, "k1", 2)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.maxIdle = 100 * time.Millisecond
	ctx := context.Background()
	for i := range 2 {
		if i > 0 {
			time.Sleep(400 * time.Millisecond)
		}
		if _, err := p.post(ctx, "/v1/events", []byte("{}"), "application/json"); err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
	}
}

func TestLoadPoolCancel(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("hang") != "" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	defer close(release)
	p, err := newLoadPool(srv.URL, "k", 2)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := p.post(ctx, "/?hang=1", []byte("{}"), "application/json"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("cancelled request returned after %v", d)
	}
	if _, err := p.post(context.Background(), "/", []byte("{}"), "application/json"); err != nil {
		t.Fatalf("after a cancelled request: %v", err)
	}
}

func TestNewLoadPoolRejectsURL(t *testing.T) {
	for _, base := range []string{"https://x:1", "x:1", "http://", "::"} {
		if _, err := newLoadPool(base, "k", 1); err == nil || !strings.Contains(err.Error(), "http:// URL") {
			t.Errorf("newLoadPool(%q) err = %v", base, err)
		}
	}
}

// TestReadAnswer covers the answers readAnswer accepts and refuses.
func TestReadAnswer(t *testing.T) {
	for _, tc := range []struct {
		name, raw  string
		status     int
		body       string
		keep, fail bool
	}{
		{name: "length", raw: "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}", status: 201, body: "{}", keep: true},
		{name: "lf only", raw: "HTTP/1.1 200 OK\nContent-Length: 3\n\nabc", status: 200, body: "abc", keep: true},
		{name: "header case", raw: "HTTP/1.1 200 OK\r\ncOnTeNt-LeNgTh: 1\r\nCONNECTION: Close\r\n\r\nz", status: 200, body: "z"},
		{name: "http/1.0", raw: "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", status: 200},
		{name: "chunked", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n1\r\nd\r\n0\r\nX-T: 1\r\n\r\n", status: 200, body: "abcd", keep: true},
		{name: "no framing", raw: "HTTP/1.1 200 OK\r\n\r\nto the end", status: 200, body: "to the end"},
		{name: "no content", raw: "HTTP/1.1 204 No Content\r\n\r\n", status: 204, keep: true},
		{name: "empty", raw: "", fail: true},
		{name: "bad status", raw: "HTTP/1.1 2x1 Created\r\n\r\n", fail: true},
		{name: "not http", raw: "SMTP/1.1 200 OK\r\n\r\n", fail: true},
		{name: "bad header", raw: "HTTP/1.1 200 OK\r\nno colon\r\n\r\n", fail: true},
		{name: "bad length", raw: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", fail: true},
		{name: "short body", raw: "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", fail: true},
		{name: "bad chunk size", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", fail: true},
		{name: "chunk without crlf", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naX\r\n0\r\n\r\n", fail: true},
		{name: "gzip coding", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", fail: true},
		{name: "headers cut", raw: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", fail: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, keep, err := readAnswer(bufio.NewReader(strings.NewReader(tc.raw)))
			if tc.fail {
				if err == nil {
					t.Fatalf("accepted: status %d body %q", status, body)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if status != tc.status || string(body) != tc.body || keep != tc.keep {
				t.Fatalf("got %d %q keep=%v, want %d %q keep=%v", status, body, keep, tc.status, tc.body, tc.keep)
			}
		})
	}
}

// FuzzReadAnswer feeds arbitrary bytes to the answer parser: it never
// panics, and an accepted answer with a Content-Length has a body of
// that length.
func FuzzReadAnswer(f *testing.F) {
	f.Add([]byte("HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"))
	f.Add([]byte("HTTP/1.0 500 x\r\nConnection: close\r\n\r\nboom"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		status, body, _, err := readAnswer(bufio.NewReaderSize(strings.NewReader(string(raw)), 64))
		if err != nil {
			return
		}
		if status < 100 || status > 999 {
			t.Fatalf("status %d accepted", status)
		}
		if len(body) > len(raw) {
			t.Fatalf("body of %d bytes from %d bytes of input", len(body), len(raw))
		}
	})
}
