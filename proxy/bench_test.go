package proxy

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/trail-audit/trail"
)

// discardRecorder counts events and keeps none, so that a benchmark
// measures the middleware alone.
type discardRecorder struct{ n int }

func (d *discardRecorder) Send(context.Context, trail.Event) error { d.n++; return nil }

// BenchmarkMiddleware is the cost of auditing one call in-process: route,
// identity, request id, event, masking and validation.
func BenchmarkMiddleware(b *testing.B) {
	for _, capture := range []Capture{CaptureMetadata, CaptureRequestResponse} {
		b.Run(string(capture), func(b *testing.B) {
			rec := &discardRecorder{}
			a, err := New(Config{Capture: capture, MaskKey: testMaskKey, APIKeyHeaders: []string{"X-Api-Key"},
				Routes: []Route{{Method: "PUT", Path: "/v1/projects/{id}"}}}, Options{Recorder: rec})
			if err != nil {
				b.Fatal(err)
			}
			h := a.Wrap(okHandler)
			b.ReportAllocs()
			for b.Loop() {
				r := newRequest("PUT", "/v1/projects/p_7?x=1", `{"name":"a project","password":"x"}`)
				r.Header.Set("X-Api-Key", "key-1")
				r.Header.Set("Content-Type", "application/json")
				h.ServeHTTP(httptest.NewRecorder(), r)
			}
		})
	}
}

// BenchmarkReverseProxy is one call through the reverse proxy to an
// upstream on this machine, closed loop, against calling it directly.
func BenchmarkReverseProxy(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"ok":true}`) }))
	defer up.Close()
	a, err := New(Config{MaskKey: testMaskKey}, Options{Recorder: &discardRecorder{}})
	if err != nil {
		b.Fatal(err)
	}
	u, _ := url.Parse(up.URL)
	h, _ := NewReverseProxy(a, u, nil)
	px := httptest.NewServer(h)
	defer px.Close()
	hc := &http.Client{Transport: NewTransport()}
	for _, target := range []struct{ name, url string }{{"direct", up.URL}, {"proxied", px.URL}} {
		b.Run(target.name, func(b *testing.B) {
			for b.Loop() {
				resp, err := hc.Get(target.url + "/v1/x")
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}

// BenchmarkIdentifyJWT is the cost of finding the actor of a call that
// carries a bearer JWT, verified by algorithm.
func BenchmarkIdentifyJWT(b *testing.B) {
	js := newJWKSServer(b)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	js.publish(jose.JSONWebKey{Key: &ecKey.PublicKey, KeyID: "ec", Algorithm: "ES256"}, jose.JSONWebKey{Key: &rsaKey.PublicKey, KeyID: "rsa", Algorithm: "RS256"})
	now := time.Now()
	for _, tc := range []struct {
		name string
		jwt  *JWTConfig
		tok  string
	}{
		{"HS256", &JWTConfig{HMACSecret: hmacSecret}, sign(b, jose.HS256, hmacSecret, "", std("u_1", now, time.Hour))},
		{"RS256", &JWTConfig{JWKSURL: js.URL}, sign(b, jose.RS256, rsaKey, "rsa", std("u_1", now, time.Hour))},
		{"ES256", &JWTConfig{JWKSURL: js.URL}, sign(b, jose.ES256, ecKey, "ec", std("u_1", now, time.Hour))},
	} {
		b.Run(tc.name, func(b *testing.B) {
			a, err := New(Config{JWT: tc.jwt, MaskKey: testMaskKey}, Options{Recorder: &discardRecorder{}})
			if err != nil {
				b.Fatal(err)
			}
			r := bearer("GET", "/", tc.tok)
			if id := a.identify(context.Background(), r); id.actor.ID != "u_1" {
				b.Fatalf("actor %q %v", id.actor.ID, id.auth)
			}
			b.ReportAllocs()
			for b.Loop() {
				a.identify(context.Background(), r)
			}
		})
	}
}
