package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/trail-audit/trail"
)

// AnonymousActor is the actor id of calls that carry no credential the
// proxy recognises, or only a JWT that failed verification.
const AnonymousActor = "anonymous"

// identity is who made a call, as far as the proxy can tell.
type identity struct {
	actor trail.Actor
	auth  map[string]any // metadata.authn
	// caller is the key of the per-caller rate limit; "" for anonymous
	// calls, which only the per-IP limit applies to.
	caller string
}

// APIKeyID returns the id under which the proxy records an API key:
// "apikey_" and the first 32 hex digits of the key's SHA-256, so that the
// key itself never leaves the proxy while its owner can still tell which
// key made a call:
//
//	printf %s "$KEY" | sha256sum | cut -c1-32
func APIKeyID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "apikey_" + hex.EncodeToString(sum[:16])
}

// identify finds the actor of r. In order of precedence: a bearer JWT
// that verified (or any bearer JWT when no key is configured to verify
// them, recorded with "verified": false); a verified TLS client
// certificate; an API key in a configured header or as a bearer token
// that is not a JWT; otherwise AnonymousActor. A JWT that failed
// verification never names the actor: its claimed subject and the failed
// check are kept in metadata.authn.
func (a *Auditor) identify(ctx context.Context, r *http.Request) identity {
	var jwtRes *jwtResult
	var bearerKey string
	if authz := r.Header.Get("Authorization"); authz != "" {
		scheme, tok, ok := strings.Cut(authz, " ")
		tok = strings.TrimSpace(tok)
		if ok && strings.EqualFold(scheme, "Bearer") && tok != "" {
			if looksLikeJWT(tok) {
				res := a.jwt.check(ctx, tok)
				jwtRes = &res
			} else {
				bearerKey = tok
			}
		}
	}
	if jwtRes != nil && (jwtRes.Verified || jwtRes.Problem == problemUnverified) && jwtRes.Subject != "" {
		auth := map[string]any{"method": "jwt", "verified": jwtRes.Verified}
		if jwtRes.Issuer != "" {
			auth["issuer"] = clean(jwtRes.Issuer, 1024)
		}
		caller := "jwt:" + jwtRes.Subject
		if !jwtRes.Verified {
			caller = "jwt-unverified:" + jwtRes.Subject
		}
		return identity{
			actor:  trail.Actor{ID: clean(jwtRes.Subject, 1024), Name: clean(jwtRes.Name, 1024), Email: clean(jwtRes.Email, 1024), Type: trail.ActorUser},
			auth:   auth,
			caller: caller,
		}
	}
	failed := func(auth map[string]any) map[string]any {
		if jwtRes != nil {
			auth["jwt_problem"] = jwtRes.Problem
			if jwtRes.Subject != "" {
				auth["jwt_claimed_subject"] = clean(jwtRes.Subject, 1024)
			}
		}
		return auth
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		cert := r.TLS.VerifiedChains[0][0]
		subject := cert.Subject.String()
		if subject != "" {
			return identity{
				actor:  trail.Actor{ID: clean(subject, 1024), Name: clean(cert.Subject.CommonName, 1024), Type: trail.ActorService},
				auth:   failed(map[string]any{"method": "mtls", "issuer": clean(cert.Issuer.String(), 1024), "serial": cert.SerialNumber.Text(16)}),
				caller: "mtls:" + subject,
			}
		}
	}
	header, key := "", ""
	for _, h := range a.apiKeyHeaders {
		if v := strings.TrimSpace(r.Header.Get(h)); v != "" {
			header, key = h, v
			break
		}
	}
	if key == "" && bearerKey != "" {
		header, key = "Authorization", bearerKey
	}
	if key != "" {
		id := APIKeyID(key)
		return identity{
			actor:  trail.Actor{ID: id, Type: trail.ActorAPIKey},
			auth:   failed(map[string]any{"method": "api_key", "header": header}),
			caller: id,
		}
	}
	if jwtRes != nil {
		return identity{actor: trail.Actor{ID: AnonymousActor}, auth: failed(map[string]any{"method": "jwt", "verified": false})}
	}
	return identity{actor: trail.Actor{ID: AnonymousActor}, auth: map[string]any{"method": "none"}}
}

// clientIP returns the address of the client that made r: the peer's
// address, or, when the peer is a trusted proxy, the address found by
// walking X-Forwarded-For from the right past every trusted hop. The
// first hop that is not trusted is the client; an unparsable hop stops
// the walk at the last address known. Addresses that the client itself
// wrote (left of the first untrusted hop) are never used.
func (a *Auditor) clientIP(r *http.Request) (netip.Addr, bool) {
	peer, ok := remoteAddr(r.RemoteAddr)
	if !ok {
		return netip.Addr{}, false
	}
	if !a.trusted(peer) {
		return peer, true
	}
	addr := peer
	vals := r.Header.Values("X-Forwarded-For")
	for i := len(vals) - 1; i >= 0; i-- {
		hops := vals[i]
		for hops != "" {
			var hop string
			if j := strings.LastIndexByte(hops, ','); j >= 0 {
				hop, hops = hops[j+1:], hops[:j]
			} else {
				hop, hops = hops, ""
			}
			h, ok := hopAddr(strings.TrimSpace(hop))
			if !ok {
				return addr, true
			}
			addr = h
			if !a.trusted(h) {
				return h, true
			}
		}
	}
	return addr, true
}

func (a *Auditor) trusted(addr netip.Addr) bool {
	for _, p := range a.trustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// remoteAddr parses http.Request.RemoteAddr ("ip:port").
func remoteAddr(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		host = s
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// hopAddr parses one X-Forwarded-For entry: an address, optionally with
// a port ("203.0.113.7:4711", "[2001:db8::1]:443").
func hopAddr(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}
