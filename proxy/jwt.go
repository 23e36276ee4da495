package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Defaults of JWTConfig.
const (
	defaultLeeway  = 30 * time.Second
	defaultRefresh = 15 * time.Minute
	// jwksMinInterval is the least time between two fetches of the JWKS
	// that unknown key ids cause, so that tokens with made-up key ids do
	// not make the proxy hammer the identity provider.
	jwksMinInterval = 10 * time.Second
	jwksMaxBytes    = 1 << 20
	jwksTimeout     = 10 * time.Second
	maxTokenLen     = 16 << 10
)

// jwtResult is what the proxy learnt from a bearer JWT.
type jwtResult struct {
	Subject  string
	Name     string
	Email    string
	Issuer   string
	Verified bool
	// Problem says why the token is not verified: "unverified" when no
	// key is configured, otherwise the failed check ("expired",
	// "bad_signature", …). Empty when Verified.
	Problem string
}

// Problems a token can have.
const (
	problemUnverified   = "unverified" // no JWKS or secret configured
	problemMalformed    = "malformed"
	problemAlgorithm    = "algorithm_not_allowed"
	problemUnknownKey   = "unknown_key"
	problemKeysDown     = "keys_unavailable"
	problemBadSignature = "bad_signature"
	problemExpired      = "expired"
	problemNotYetValid  = "not_yet_valid"
	problemIssuedFuture = "issued_in_future"
	problemIssuer       = "wrong_issuer"
	problemAudience     = "wrong_audience"
	problemNoSubject    = "no_subject"
)

// claims are the claims the proxy reads.
type claims struct {
	jwt.Claims
	Name  string `json:"name"`
	Email string `json:"email"`
}

// jwtVerifier checks bearer JWTs against an HMAC secret or a JWKS. It is
// safe for concurrent use.
type jwtVerifier struct {
	algs     []jose.SignatureAlgorithm
	allAlgs  []jose.SignatureAlgorithm // for parsing unverified tokens
	secret   []byte
	jwks     *jwksCache
	expected jwt.Expected
	leeway   time.Duration
	now      func() time.Time
	cache    verifiedCache
}

func newJWTVerifier(c *JWTConfig, hc *http.Client, now func() time.Time, log *slog.Logger) *jwtVerifier {
	v := &jwtVerifier{now: now, leeway: defaultLeeway}
	for _, a := range append(asymmetricAlgs(), symmetricAlgs()...) {
		v.allAlgs = append(v.allAlgs, jose.SignatureAlgorithm(a))
	}
	if c == nil {
		return v
	}
	if c.Leeway != 0 {
		v.leeway = time.Duration(c.Leeway)
	}
	v.expected = jwt.Expected{Issuer: c.Issuer, AnyAudience: jwt.Audience(c.Audience)}
	algs := c.Algorithms
	switch {
	case len(c.HMACSecret) > 0:
		v.secret = append([]byte(nil), c.HMACSecret...)
		if len(algs) == 0 {
			algs = symmetricAlgs()
		}
	case c.JWKSURL != "":
		refresh := defaultRefresh
		if c.Refresh != 0 {
			refresh = time.Duration(c.Refresh)
		}
		v.jwks = &jwksCache{url: c.JWKSURL, hc: hc, now: now, refresh: refresh, log: log}
		if len(algs) == 0 {
			algs = asymmetricAlgs()
		}
	}
	for _, a := range algs {
		v.algs = append(v.algs, jose.SignatureAlgorithm(a))
	}
	return v
}

// verifies reports whether v checks signatures.
func (v *jwtVerifier) verifies() bool { return v.secret != nil || v.jwks != nil }

// looksLikeJWT reports whether a bearer token has the compact JWS shape:
// three base64url parts, the first starting with "eyJ" ({").
func looksLikeJWT(tok string) bool {
	return strings.HasPrefix(tok, "eyJ") && strings.Count(tok, ".") == 2
}

// check reads a compact JWS. Without a secret or JWKS it reads the claims
// without verifying them and reports Problem "unverified". Otherwise it
// verifies the signature with an allowed algorithm and the claims (exp,
// nbf and iat against the injected clock with the leeway, iss, aud), and
// reports Verified or the first problem found. The subject of a token
// that failed verification is still returned, for the record.
func (v *jwtVerifier) check(ctx context.Context, raw string) jwtResult {
	if len(raw) > maxTokenLen {
		return jwtResult{Problem: problemMalformed}
	}
	if !v.verifies() {
		tok, err := jwt.ParseSigned(raw, v.allAlgs)
		if err != nil {
			return jwtResult{Problem: problemMalformed}
		}
		var c claims
		if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
			return jwtResult{Problem: problemMalformed}
		}
		return jwtResult{Subject: c.Subject, Name: c.Name, Email: c.Email, Issuer: c.Issuer, Problem: problemUnverified}
	}
	now := v.now()
	key := sha256.Sum256([]byte(raw))
	if r, ok := v.cache.get(key, now, v); ok {
		return r
	}
	tok, err := jwt.ParseSigned(raw, v.algs)
	if err != nil {
		if _, err2 := jwt.ParseSigned(raw, v.allAlgs); err2 == nil {
			return v.unverified(raw, problemAlgorithm)
		}
		return jwtResult{Problem: problemMalformed}
	}
	if len(tok.Headers) != 1 {
		return jwtResult{Problem: problemMalformed}
	}
	h := tok.Headers[0]
	var c claims
	switch {
	case v.secret != nil:
		if err := tok.Claims(v.secret, &c); err != nil {
			return v.unverified(raw, problemBadSignature)
		}
	default:
		keys, err := v.jwks.keysFor(ctx, h.KeyID)
		if err != nil {
			return v.unverified(raw, problemKeysDown)
		}
		ok, known := false, false
		for _, k := range keys {
			if _, symmetric := k.Key.([]byte); symmetric || k.Use == "enc" || k.Algorithm != "" && k.Algorithm != h.Algorithm {
				continue // an HMAC key in a JWKS would allow algorithm confusion
			}
			pub := k.Public()
			if pub.Key == nil {
				continue
			}
			known = true
			if tok.Claims(pub.Key, &c) == nil {
				ok = true
				break
			}
		}
		if !ok {
			if !known {
				return v.unverified(raw, problemUnknownKey)
			}
			return v.unverified(raw, problemBadSignature)
		}
	}
	r := jwtResult{Subject: c.Subject, Name: c.Name, Email: c.Email, Issuer: c.Issuer}
	r = v.validate(r, c.Claims, now)
	if r.Verified {
		v.cache.put(key, r, c.Claims, now)
	}
	return r
}

// validate checks the claims of a token whose signature verified, at now.
func (v *jwtVerifier) validate(r jwtResult, c jwt.Claims, now time.Time) jwtResult {
	if err := c.ValidateWithLeeway(v.expected.WithTime(now), v.leeway); err != nil {
		r.Verified, r.Problem = false, claimProblem(err)
		return r
	}
	if c.Subject == "" {
		r.Verified, r.Problem = false, problemNoSubject
		return r
	}
	r.Verified, r.Problem = true, ""
	return r
}

// Bounds of the cache of verified tokens.
const (
	verifiedTTL = 5 * time.Minute
	maxVerified = 10000
)

// verifiedCache remembers tokens whose signature verified, by SHA-256, so
// that a client sending the same token on every call costs one signature
// check per verifiedTTL (an ES256 check is about 100 µs), not one per
// call. Claims are checked again on every hit with the current time, so
// a token still expires on time; a key withdrawn from the JWKS stops
// verifying its cached tokens within verifiedTTL. It holds at most
// maxVerified tokens. It is safe for concurrent use.
type verifiedCache struct {
	mu sync.Mutex
	m  map[[32]byte]verifiedToken
}

type verifiedToken struct {
	res    jwtResult
	claims jwt.Claims
	until  time.Time
}

func (vc *verifiedCache) get(key [32]byte, now time.Time, v *jwtVerifier) (jwtResult, bool) {
	vc.mu.Lock()
	t, ok := vc.m[key]
	if ok && !now.Before(t.until) {
		delete(vc.m, key)
		ok = false
	}
	vc.mu.Unlock()
	if !ok {
		return jwtResult{}, false
	}
	return v.validate(t.res, t.claims, now), true
}

func (vc *verifiedCache) put(key [32]byte, r jwtResult, c jwt.Claims, now time.Time) {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	if vc.m == nil {
		vc.m = map[[32]byte]verifiedToken{}
	}
	if len(vc.m) >= maxVerified {
		for k := range vc.m { // drop any one
			delete(vc.m, k)
			break
		}
	}
	vc.m[key] = verifiedToken{res: r, claims: c, until: now.Add(verifiedTTL)}
}

// unverified reads the claims of a token that failed verification.
func (v *jwtVerifier) unverified(raw, problem string) jwtResult {
	r := jwtResult{Problem: problem}
	tok, err := jwt.ParseSigned(raw, v.allAlgs)
	if err != nil {
		return r
	}
	var c claims
	if tok.UnsafeClaimsWithoutVerification(&c) == nil {
		r.Subject, r.Issuer = c.Subject, c.Issuer
	}
	return r
}

func claimProblem(err error) string {
	switch {
	case errors.Is(err, jwt.ErrExpired):
		return problemExpired
	case errors.Is(err, jwt.ErrNotValidYet):
		return problemNotYetValid
	case errors.Is(err, jwt.ErrIssuedInTheFuture):
		return problemIssuedFuture
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return problemIssuer
	case errors.Is(err, jwt.ErrInvalidAudience):
		return problemAudience
	}
	return problemMalformed
}

// jwksCache holds the keys of a JWKS URL. It fetches them on first use,
// again in the background once they are older than refresh (serving the
// old keys meanwhile), and at once when a token names a key id it does not
// hold, at most every jwksMinInterval. A failed fetch keeps the keys it
// had. It is safe for concurrent use; concurrent fetches are merged.
type jwksCache struct {
	url     string
	hc      *http.Client
	now     func() time.Time
	refresh time.Duration
	log     *slog.Logger

	mu          sync.Mutex
	set         *jose.JSONWebKeySet
	fetchedAt   time.Time // of set
	lastAttempt time.Time
	inflight    chan struct{} // closed when the running fetch ends
	lastErr     error
}

// keysFor returns the keys with key id kid (every key when kid is
// empty), fetching the set as described on jwksCache. It fails only when
// no set could ever be fetched; after a failed first fetch it fails at
// once, without fetching, for jwksMinInterval.
func (c *jwksCache) keysFor(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	c.mu.Lock()
	set, fetchedAt, last, inflight, lastErr := c.set, c.fetchedAt, c.lastAttempt, c.inflight, c.lastErr
	c.mu.Unlock()
	now := c.now()
	if set == nil {
		if inflight == nil && lastErr != nil && now.Sub(last) < jwksMinInterval {
			return nil, lastErr // do not make every call wait for an identity provider that is down
		}
		if err := c.fetch(ctx); err != nil {
			return nil, err
		}
		c.mu.Lock()
		set = c.set
		c.mu.Unlock()
	} else if now.Sub(fetchedAt) >= c.refresh && now.Sub(last) >= jwksMinInterval && c.claimRefresh(now) {
		go func() {
			fctx, cancel := context.WithTimeout(context.Background(), jwksTimeout)
			defer cancel()
			c.fetch(fctx)
		}()
	}
	keys := find(set, kid)
	if len(keys) == 0 && kid != "" && now.Sub(last) >= jwksMinInterval {
		if c.fetch(ctx) == nil {
			c.mu.Lock()
			set = c.set
			c.mu.Unlock()
			keys = find(set, kid)
		}
	}
	return keys, nil
}

// claimRefresh reports whether the caller is the one to start the
// background refresh that the keys' age calls for: the first caller to
// see them stale, while no fetch runs and none started within
// jwksMinInterval. The others keep using the keys held.
func (c *jwksCache) claimRefresh(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inflight != nil || now.Sub(c.lastAttempt) < jwksMinInterval {
		return false
	}
	c.lastAttempt = now
	return true
}

func find(set *jose.JSONWebKeySet, kid string) []jose.JSONWebKey {
	if set == nil {
		return nil
	}
	if kid == "" {
		return set.Keys
	}
	return set.Key(kid)
}

// fetch fetches the set once, or waits for the fetch already running.
func (c *jwksCache) fetch(ctx context.Context) error {
	c.mu.Lock()
	if ch := c.inflight; ch != nil {
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.mu.Lock()
		err := c.lastErr
		if c.set != nil {
			err = nil
		}
		c.mu.Unlock()
		return err
	}
	ch := make(chan struct{})
	c.inflight = ch
	c.lastAttempt = c.now()
	c.mu.Unlock()

	set, err := c.get(context.WithoutCancel(ctx)) // shared by every waiter: not cancelled by the first one's client

	c.mu.Lock()
	if err == nil {
		c.set, c.fetchedAt = set, c.now()
	} else if c.log != nil {
		c.log.Warn("jwks fetch failed; keeping the keys held", "url", c.url, "err", err)
	}
	c.lastErr = err
	c.inflight = nil
	close(ch)
	c.mu.Unlock()
	return err
}

func (c *jwksCache) get(ctx context.Context) (*jose.JSONWebKeySet, error) {
	ctx, cancel := context.WithTimeout(ctx, jwksTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks: %s answered %s", c.url, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	if len(data) > jwksMaxBytes {
		return nil, fmt.Errorf("jwks: larger than %d bytes", jwksMaxBytes)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	return &set, nil
}
