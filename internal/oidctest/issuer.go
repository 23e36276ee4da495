// Package oidctest is a real OpenID Connect issuer for tests: discovery,
// JWKS, an authorisation endpoint that signs in one configured user
// without asking, and a token endpoint that checks the client, the
// redirect URI and the PKCE code_verifier (S256) and returns an ID token
// signed with go-jose (RS256). Knobs make it misbehave in the ways a
// relying party must notice: a wrong nonce, audience or issuer, an expired
// token, a signature by another key, a recorded code challenge that does
// not match. It is an httptest.Server; nothing in it is a mock of the
// relying party under test.
package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Faults make the issuer misbehave.
type Faults struct {
	WrongNonce      bool   // the ID token's nonce is not the one asked for
	Audience        string // the ID token's aud instead of the client id
	Issuer          string // the ID token's iss instead of the issuer URL
	Expired         bool   // the ID token expired an hour ago
	ForeignKey      bool   // signed by a key not in the JWKS
	ChallengeTamper bool   // the code remembers another code_challenge, so the verifier fails
	NoIDToken       bool   // the token response has no id_token
	DenyAuthorize   string // the authorize endpoint answers with this error
}

// Issuer is a running OIDC issuer.
type Issuer struct {
	*httptest.Server
	ClientID, ClientSecret string

	key, foreign *rsa.PrivateKey
	now          func() time.Time

	mu     sync.Mutex
	claims map[string]any // the signed-in user's claims (sub and the rest)
	faults Faults
	codes  map[string]grant
	// Verifiers records every code_verifier the token endpoint received.
	verifiers []string
}

type grant struct {
	challenge, nonce, redirectURI string
	claims                        map[string]any
}

// New starts an issuer for one client whose signed-in user has claims
// (which must include "sub"). now is its clock; nil: time.Now.
func New(clientID, clientSecret string, claims map[string]any, now func() time.Time) (*Issuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	foreign, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	iss := &Issuer{ClientID: clientID, ClientSecret: clientSecret, key: key, foreign: foreign, now: now, claims: claims, codes: map[string]grant{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", iss.discovery)
	mux.HandleFunc("GET /jwks", iss.jwks)
	mux.HandleFunc("GET /authorize", iss.authorize)
	mux.HandleFunc("POST /token", iss.token)
	iss.Server = httptest.NewServer(mux)
	return iss, nil
}

// SetUser replaces the signed-in user's claims.
func (i *Issuer) SetUser(claims map[string]any) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.claims = claims
}

// SetFaults replaces the faults.
func (i *Issuer) SetFaults(f Faults) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.faults = f
}

// Verifiers returns the code_verifiers the token endpoint received.
func (i *Issuer) Verifiers() []string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]string(nil), i.verifiers...)
}

func (i *Issuer) discovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, map[string]any{
		"issuer":                                i.URL,
		"authorization_endpoint":                i.URL + "/authorize",
		"token_endpoint":                        i.URL + "/token",
		"jwks_uri":                              i.URL + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
	})
}

func (i *Issuer) jwks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &i.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
}

func (i *Issuer) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	i.mu.Lock()
	f, claims := i.faults, i.claims
	i.mu.Unlock()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	switch {
	case q.Get("client_id") != i.ClientID:
		http.Error(w, "unknown client", 400)
		return
	case err != nil || q.Get("redirect_uri") == "":
		http.Error(w, "bad redirect_uri", 400)
		return
	case q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" || q.Get("nonce") == "":
		http.Error(w, "want response_type=code, S256 PKCE, state and nonce", 400)
		return
	}
	back := redirect.Query()
	back.Set("state", q.Get("state"))
	if f.DenyAuthorize != "" {
		back.Set("error", f.DenyAuthorize)
	} else {
		code := random()
		challenge := q.Get("code_challenge")
		if f.ChallengeTamper {
			challenge = s256(random())
		}
		i.mu.Lock()
		i.codes[code] = grant{challenge: challenge, nonce: q.Get("nonce"), redirectURI: q.Get("redirect_uri"), claims: claims}
		i.mu.Unlock()
		back.Set("code", code)
	}
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func (i *Issuer) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		tokenError(w, "invalid_request")
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != i.ClientID || secret != i.ClientSecret {
		tokenError(w, "invalid_client")
		return
	}
	code, verifier := r.PostForm.Get("code"), r.PostForm.Get("code_verifier")
	i.mu.Lock()
	g, found := i.codes[code]
	delete(i.codes, code) // single use
	f := i.faults
	i.verifiers = append(i.verifiers, verifier)
	i.mu.Unlock()
	switch {
	case r.PostForm.Get("grant_type") != "authorization_code" || !found:
		tokenError(w, "invalid_grant")
		return
	case g.redirectURI != r.PostForm.Get("redirect_uri"):
		tokenError(w, "invalid_grant")
		return
	case s256(verifier) != g.challenge:
		tokenError(w, "invalid_grant") // PKCE: the verifier does not match the challenge
		return
	}
	now := i.now()
	claims := map[string]any{}
	for k, v := range g.claims {
		claims[k] = v
	}
	claims["iss"], claims["aud"], claims["iat"], claims["exp"], claims["nonce"] = i.URL, i.ClientID, now.Unix(), now.Add(5*time.Minute).Unix(), g.nonce
	if f.WrongNonce {
		claims["nonce"] = random()
	}
	if f.Audience != "" {
		claims["aud"] = f.Audience
	}
	if f.Issuer != "" {
		claims["iss"] = f.Issuer
	}
	if f.Expired {
		claims["iat"], claims["exp"] = now.Add(-2*time.Hour).Unix(), now.Add(-time.Hour).Unix()
	}
	key := i.key
	if f.ForeignKey {
		key = i.foreign
	}
	idt, err := sign(key, claims)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	out := map[string]any{"access_token": random(), "token_type": "Bearer", "expires_in": 300}
	if !f.NoIDToken {
		out["id_token"] = idt
	}
	writeJSON(w, 200, out)
}

func sign(key *rsa.PrivateKey, claims map[string]any) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

func tokenError(w http.ResponseWriter, code string) {
	writeJSON(w, 400, map[string]string{"error": code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func random() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprint("oidctest: random: ", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
