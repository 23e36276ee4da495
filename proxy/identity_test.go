package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

var hmacSecret = []byte("a-shared-secret-of-64-bytes-so-that-HS512-is-usable-too-0123456789")

// sign returns a compact JWS of cl with key under alg, with kid when set.
func sign(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, cl any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(cl).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func std(sub string, now time.Time, exp time.Duration) jwt.Claims {
	return jwt.Claims{Subject: sub, Issuer: "https://idp.test/", Audience: jwt.Audience{"api"},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(exp))}
}

func bearer(method, target, tok string) *http.Request {
	r := newRequest(method, target, "")
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}

// TestActorFromHMACJWT checks each way a bearer JWT checked with an HMAC
// secret can turn out, against the injected clock.
func TestActorFromHMACJWT(t *testing.T) {
	f := newFixture(t, Config{JWT: &JWTConfig{HMACSecret: hmacSecret, Issuer: "https://idp.test/", Audience: []string{"api"}}})
	now := f.clock.Now()
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	type extra struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	}
	tests := []struct {
		name        string
		tok         string
		wantActor   string
		wantProblem string
	}{
		{"valid", sign(t, jose.HS256, hmacSecret, "", std("u_42", now, time.Hour)), "u_42", ""},
		{"valid HS512", sign(t, jose.HS512, hmacSecret, "", std("u_43", now, time.Hour)), "u_43", ""},
		{"expired", sign(t, jose.HS256, hmacSecret, "", std("u_42", now.Add(-2*time.Hour), time.Hour)), AnonymousActor, problemExpired},
		{"within leeway", sign(t, jose.HS256, hmacSecret, "", std("u_44", now.Add(-time.Hour-10*time.Second), time.Hour)), "u_44", ""},
		{"not yet valid", sign(t, jose.HS256, hmacSecret, "", std("u_42", now.Add(time.Hour), time.Hour)), AnonymousActor, problemNotYetValid},
		{"wrong secret", sign(t, jose.HS256, []byte("another-secret-of-at-least-32-bytes!!!"), "", std("admin", now, time.Hour)), AnonymousActor, problemBadSignature},
		{"wrong issuer", sign(t, jose.HS256, hmacSecret, "", jwt.Claims{Subject: "u_42", Issuer: "https://evil/", Audience: jwt.Audience{"api"}}), AnonymousActor, problemIssuer},
		{"wrong audience", sign(t, jose.HS256, hmacSecret, "", jwt.Claims{Subject: "u_42", Issuer: "https://idp.test/", Audience: jwt.Audience{"other"}}), AnonymousActor, problemAudience},
		{"asymmetric algorithm refused", sign(t, jose.RS256, rsaKey, "", std("admin", now, time.Hour)), AnonymousActor, problemAlgorithm},
		{"no subject", sign(t, jose.HS256, hmacSecret, "", std("", now, time.Hour)), AnonymousActor, problemNoSubject},
		{"alg none", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.", AnonymousActor, problemMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, e := f.do(t, okHandler, bearer("GET", "/v1/things", tt.tok))
			if e == nil {
				t.Fatal("no event")
			}
			if e.Actor.ID != tt.wantActor {
				t.Errorf("actor.id = %q, want %q", e.Actor.ID, tt.wantActor)
			}
			a := auth(e)
			if a["method"] != "jwt" {
				t.Errorf("auth.method = %v, want jwt", a["method"])
			}
			if tt.wantProblem == "" {
				if a["verified"] != true || e.Actor.Type != "user" {
					t.Errorf("auth = %v, actor.type %q; want verified user", a, e.Actor.Type)
				}
				return
			}
			if a["verified"] != false || a["jwt_problem"] != tt.wantProblem {
				t.Errorf("auth = %v, want verified false and jwt_problem %s", a, tt.wantProblem)
			}
		})
	}
	// A forged subject is kept for the record, never as the actor.
	_, e := f.do(t, okHandler, bearer("GET", "/", sign(t, jose.HS256, []byte("another-secret-of-at-least-32-bytes!!!"), "", std("root", now, time.Hour))))
	if got := auth(e)["jwt_claimed_subject"]; got != "root" {
		t.Errorf("jwt_claimed_subject = %v, want root", got)
	}
	// Name and e-mail come from a verified token.
	_, e = f.do(t, okHandler, bearer("GET", "/", sign(t, jose.HS256, hmacSecret, "", struct {
		jwt.Claims
		extra
	}{std("u_9", now, time.Hour), extra{"Ada", "ada@example.com"}})))
	if e.Actor.Name != "Ada" || e.Actor.Email != "ada@example.com" {
		t.Errorf("actor = %+v, want name Ada and e-mail ada@example.com (identity fields are not hashed)", e.Actor)
	}
}

// TestVerifiedTokenCache: a token verified once is not checked again on
// every call, but still expires on time and is checked again after
// verifiedTTL.
func TestVerifiedTokenCache(t *testing.T) {
	f := newFixture(t, Config{JWT: &JWTConfig{HMACSecret: hmacSecret}})
	tok := sign(t, jose.HS256, hmacSecret, "", std("u_42", f.clock.Now(), 10*time.Minute))
	for i := range 3 {
		if _, e := f.do(t, okHandler, bearer("GET", "/", tok)); e.Actor.ID != "u_42" || auth(e)["verified"] != true {
			t.Fatalf("call %d: actor %q auth %v", i, e.Actor.ID, auth(e))
		}
	}
	if n := len(f.a.jwt.cache.m); n != 1 {
		t.Errorf("%d cached tokens, want 1", n)
	}
	f.clock.Add(verifiedTTL)
	if _, e := f.do(t, okHandler, bearer("GET", "/", tok)); e.Actor.ID != "u_42" {
		t.Errorf("after the cache TTL: actor %q auth %v", e.Actor.ID, auth(e))
	}
	f.clock.Add(5*time.Minute + defaultLeeway + time.Second)
	if _, e := f.do(t, okHandler, bearer("GET", "/", tok)); e.Actor.ID != AnonymousActor || auth(e)["jwt_problem"] != problemExpired {
		t.Errorf("a cached token past exp: actor %q auth %v, want expired", e.Actor.ID, auth(e))
	}
}

// TestActorFromUnverifiedJWT: without a JWKS or secret the subject is
// recorded, marked unverified.
func TestActorFromUnverifiedJWT(t *testing.T) {
	f := newFixture(t, Config{})
	tok := sign(t, jose.HS256, hmacSecret, "", std("u_42", f.clock.Now(), time.Hour))
	_, e := f.do(t, okHandler, bearer("GET", "/", tok))
	if e.Actor.ID != "u_42" || auth(e)["verified"] != false || auth(e)["method"] != "jwt" {
		t.Errorf("actor %q auth %v, want u_42 recorded as unverified", e.Actor.ID, auth(e))
	}
	if strings.Contains(eventJSON(t, e), tok) {
		t.Error("the token itself is in the event")
	}
}

// jwksServer serves a JWKS that the test can change, counting fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	set     jose.JSONWebKeySet
	fetches atomic.Int64
	down    atomic.Bool
}

func newJWKSServer(t testing.TB) *jwksServer {
	s := &jwksServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		if s.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		json.NewEncoder(w).Encode(s.set)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) publish(keys ...jose.JSONWebKey) {
	s.mu.Lock()
	s.set = jose.JSONWebKeySet{Keys: keys}
	s.mu.Unlock()
}

// TestJWKSRotation verifies tokens against a JWKS fetched over HTTP: a
// new key id makes the proxy fetch the set again, a periodic refresh
// drops retired keys, and a JWKS that cannot be fetched leaves tokens
// unverified.
func TestJWKSRotation(t *testing.T) {
	js := newJWKSServer(t)
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := rsa.GenerateKey(rand.Reader, 2048)
	pub1 := jose.JSONWebKey{Key: &k1.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}
	pub2 := jose.JSONWebKey{Key: &k2.PublicKey, KeyID: "k2", Algorithm: "RS256", Use: "sig"}
	js.publish(pub1)
	f := newFixture(t, Config{JWT: &JWTConfig{JWKSURL: js.URL, Refresh: Duration(time.Hour)}})
	now := f.clock.Now()
	tok1 := sign(t, jose.ES256, k1, "k1", std("u_1", now, 24*time.Hour))
	tok2 := sign(t, jose.RS256, k2, "k2", std("u_2", now, 24*time.Hour))

	check := func(tok, wantActor, wantProblem string) {
		t.Helper()
		_, e := f.do(t, okHandler, bearer("GET", "/", tok))
		if e.Actor.ID != wantActor {
			t.Errorf("actor.id = %q, want %q (auth %v)", e.Actor.ID, wantActor, auth(e))
		}
		if p, _ := auth(e)["jwt_problem"].(string); p != wantProblem {
			t.Errorf("jwt_problem = %q, want %q", p, wantProblem)
		}
	}
	check(tok1, "u_1", "")
	check(tok1, "u_1", "")
	if n := js.fetches.Load(); n != 1 {
		t.Errorf("%d fetches for two tokens, want 1 (cached)", n)
	}
	// The provider rotates: k2 is added. A token with k2 within the
	// minimum interval is not verified yet; after it, the set is fetched
	// again at once.
	js.publish(pub1, pub2)
	check(tok2, AnonymousActor, problemUnknownKey)
	f.clock.Add(jwksMinInterval)
	check(tok2, "u_2", "")
	if n := js.fetches.Load(); n != 2 {
		t.Errorf("%d fetches, want 2", n)
	}
	// k1 is retired; once the set is older than the refresh interval it
	// is fetched again in the background and k1 stops verifying.
	js.publish(pub2)
	f.clock.Add(time.Hour)
	check(tok2, "u_2", "")
	waitFor(t, func() bool { return js.fetches.Load() == 3 })
	waitFor(t, func() bool {
		f.a.jwt.jwks.mu.Lock()
		defer f.a.jwt.jwks.mu.Unlock()
		return f.a.jwt.jwks.inflight == nil && len(f.a.jwt.jwks.set.Keys) == 1
	})
	check(tok1, AnonymousActor, problemUnknownKey)

	// A token whose key is in the set but whose signature is not its.
	forged := sign(t, jose.RS256, mustRSA(t), "k2", std("admin", now, time.Hour))
	check(forged, AnonymousActor, problemBadSignature)

	// An HMAC token is refused by algorithm with a JWKS: no confusion.
	check(sign(t, jose.HS256, hmacSecret, "k2", std("admin", now, time.Hour)), AnonymousActor, problemAlgorithm)

	// An identity provider that is down from the start.
	down := newJWKSServer(t)
	down.down.Store(true)
	g := newFixture(t, Config{JWT: &JWTConfig{JWKSURL: down.URL}})
	_, e := g.do(t, okHandler, bearer("GET", "/", tok1))
	if e.Actor.ID != AnonymousActor || auth(e)["jwt_problem"] != problemKeysDown {
		t.Errorf("with the JWKS down: actor %q auth %v, want anonymous and keys_unavailable", e.Actor.ID, auth(e))
	}
	// Calls do not each wait for a provider that is down: it is asked
	// again only after the minimum interval.
	n := down.fetches.Load()
	g.do(t, okHandler, bearer("GET", "/", tok1))
	g.do(t, okHandler, bearer("GET", "/", tok1))
	if got := down.fetches.Load(); got != n {
		t.Errorf("%d fetches of a JWKS that is down within %v, want none", got-n, jwksMinInterval)
	}
	down.down.Store(false)
	down.publish(pub1)
	g.clock.Add(jwksMinInterval)
	if _, e := g.do(t, okHandler, bearer("GET", "/", tok1)); e.Actor.ID != "u_1" {
		t.Errorf("once the provider is back: actor %q auth %v, want u_1", e.Actor.ID, auth(e))
	}
}

func mustRSA(t *testing.T) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 5s")
}

// TestActorFromAPIKey records an API key by its hashed id, never the key.
func TestActorFromAPIKey(t *testing.T) {
	f := newFixture(t, Config{APIKeyHeaders: []string{"X-Api-Key"}, Capture: CaptureRequestResponse})
	const key = "sk_live_0123456789abcdefghijklmnop"
	tests := []struct {
		name, header, value, wantHeader string
	}{
		{"configured header", "X-Api-Key", key, "X-Api-Key"},
		{"bearer that is not a JWT", "Authorization", "Bearer " + key, "Authorization"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRequest("POST", "/v1/things?x=1", `{"name":"a"}`)
			r.Header.Set(tt.header, tt.value)
			_, e := f.do(t, okHandler, r)
			if e.Actor.ID != APIKeyID(key) || e.Actor.Type != "api_key" {
				t.Errorf("actor = %+v, want %s of type api_key", e.Actor, APIKeyID(key))
			}
			if auth(e)["method"] != "api_key" || auth(e)["header"] != tt.wantHeader {
				t.Errorf("auth = %v", auth(e))
			}
			if js := eventJSON(t, e); strings.Contains(js, key) || strings.Contains(js, key[8:]) {
				t.Errorf("the key leaks into the event: %s", js)
			}
		})
	}
	if got, want := APIKeyID("abc"), "apikey_ba7816bf8f01cfea414140de5dae2223"; got != want {
		t.Errorf("APIKeyID(abc) = %s, want %s (sha256 prefix)", got, want)
	}
	// No credential at all.
	_, e := f.do(t, okHandler, newRequest("GET", "/", ""))
	if e.Actor.ID != AnonymousActor || auth(e)["method"] != "none" {
		t.Errorf("actor %q auth %v, want anonymous with method none", e.Actor.ID, auth(e))
	}
}

// TestActorFromClientCertificate runs a real TLS listener that asks for
// client certificates and records the verified subject.
func TestActorFromClientCertificate(t *testing.T) {
	ca, caKey := newCA(t)
	clientCert := issue(t, ca, caKey, pkix.Name{CommonName: "billing-service", Organization: []string{"Acme"}}, x509.ExtKeyUsageClientAuth)
	f := newFixture(t, Config{})
	srv := httptest.NewUnstartedServer(f.a.Wrap(okHandler))
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	srv.TLS = &tls.Config{ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool}
	srv.StartTLS()
	defer srv.Close()

	for i, tt := range []struct {
		name      string
		certs     []tls.Certificate
		wantActor string
	}{
		{"with a client certificate", []tls.Certificate{clientCert}, "CN=billing-service,O=Acme"},
		{"without", nil, AnonymousActor},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr := srv.Client().Transport.(*http.Transport).Clone()
			tr.TLSClientConfig.Certificates = tt.certs
			resp, err := (&http.Client{Transport: tr}).Get(srv.URL + "/v1/invoices")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			waitFor(t, func() bool { return len(f.rec.all()) == i+1 }) // recorded after the answer
			evs := f.rec.all()
			e := evs[len(evs)-1]
			if e.Actor.ID != tt.wantActor {
				t.Errorf("actor.id = %q, want %q", e.Actor.ID, tt.wantActor)
			}
			if tt.certs != nil && (e.Actor.Type != "service" || e.Actor.Name != "billing-service" || auth(&e)["method"] != "mtls") {
				t.Errorf("actor %+v auth %v, want the service billing-service by mtls", e.Actor, auth(&e))
			}
		})
	}
}

func newCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	return ca, key
}

func issue(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, subject pkix.Name, usage x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: subject, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{usage},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestClientIPTrustedHops uses X-Forwarded-For only through trusted
// proxies.
func TestClientIPTrustedHops(t *testing.T) {
	f := newFixture(t, Config{TrustedProxies: []string{"10.0.0.0/8", "192.0.2.1"}})
	tests := []struct {
		name   string
		peer   string
		xff    []string
		wantIP string
	}{
		{"no proxy", "198.51.100.9:1234", nil, "198.51.100.9"},
		{"untrusted peer's header is ignored", "198.51.100.9:1234", []string{"203.0.113.7"}, "198.51.100.9"},
		{"one trusted hop", "10.1.2.3:1234", []string{"203.0.113.7"}, "203.0.113.7"},
		{"spoofed left part is skipped", "10.1.2.3:1234", []string{"6.6.6.6, 203.0.113.7, 10.0.0.5"}, "203.0.113.7"},
		{"several headers", "192.0.2.1:1234", []string{"6.6.6.6", "203.0.113.8, 10.9.9.9"}, "203.0.113.8"},
		{"all hops trusted", "10.1.2.3:1234", []string{"10.0.0.7, 10.0.0.5"}, "10.0.0.7"},
		{"garbage hop stops the walk", "10.1.2.3:1234", []string{"203.0.113.7, garbage, 10.0.0.5"}, "10.0.0.5"},
		{"hop with port", "10.1.2.3:1234", []string{"[2001:db8::7]:443"}, "2001:db8::7"},
		{"mapped IPv4 peer", "[::ffff:10.1.2.3]:1234", []string{"203.0.113.9"}, "203.0.113.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRequest("GET", "/", "")
			r.RemoteAddr = tt.peer
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			_, e := f.do(t, okHandler, r)
			if e.Source.IP != tt.wantIP {
				t.Errorf("source.ip = %q, want %q", e.Source.IP, tt.wantIP)
			}
		})
	}
}
