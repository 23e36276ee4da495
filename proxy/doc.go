// Package proxy records an audit event for every HTTP call to an API: as
// net/http middleware inside a Go program (Auditor.Wrap), or in front of
// any API as the reverse proxy of "trail proxy" (NewReverseProxy, which
// is the same middleware around an httputil.ReverseProxy). DESIGN.md §10.
//
// # Model
//
// An Auditor is built once from a Config (a JSON file, see ParseConfig)
// and Options (the Recorder that sends events, usually the trail Go SDK's
// client, and the injected clock and randomness). For each call it:
//
//  1. finds the route: the most specific configured template that matches
//     the method and path ("/v1/projects/{id}"), which gives the action,
//     the resource and the capture level;
//  2. makes sure the call has a request id: a valid one from the client
//     (header X-Request-Id by default) is kept, otherwise a UUIDv7 is
//     generated; either way it is passed to the handler (and so upstream)
//     in the request header and returned in the response header;
//  3. finds the client address: the peer, or, when the peer is a trusted
//     proxy, the first untrusted hop of X-Forwarded-For from the right;
//  4. finds the actor: a bearer JWT's subject (verified against a JWKS or
//     an HMAC secret when one is configured, else recorded with
//     "verified": false), a verified TLS client certificate's subject, or
//     an API key (from configured headers or a bearer token that is not
//     a JWT) recorded by APIKeyID, never the key;
//  5. applies the per-IP and per-caller token buckets: a refused call is
//     answered 429 with Retry-After and recorded with outcome "denied";
//  6. calls the handler, capturing the request and response bodies up to
//     the body limit when the capture level asks for them;
//  7. builds the event, masks it with the configured masking rules (the
//     mask package; defaults on), validates it as trail will, and hands
//     it to the Recorder.
//
// # The event
//
//	{"action": "project.update",             // route action, or derived (below)
//	 "outcome": "success",                   // 2xx/3xx success; 401, 403, 429 denied; 4xx failure; 5xx error
//	 "actor": {"id": "u_42", "type": "user"},
//	 "resource": {"type": "project", "id": "p_7"},
//	 "source": {"ip": "203.0.113.7", "user_agent": "…", "origin": "gateway"},
//	 "request": {"id": "…", "method": "PUT", "path": "/v1/projects/p_7", "status": 200, "duration_ms": 3.2},
//	 "metadata": {"route": "/v1/projects/{id}", "params": {"id": "p_7"}, "capture": "request",
//	              "authn": {"method": "jwt", "verified": true, "issuer": "…"},
//	              "query": {…}, "request_body": {…}, "request_body_bytes": 120,
//	              "response_body": {…}, "response_body_bytes": 64,
//	              "rate_limited": "ip", "masked": ["metadata.request_body.password"]}}
//
// request.duration_ms is the time from the call's arrival to the handler's
// return, which for the reverse proxy includes the upstream's time.
//
// # Action names
//
// A route's "action" is used as given. Otherwise the resource is the last
// literal segment of the template that is not an API prefix ("api",
// "v1"), made singular, and the verb follows the method: GET and HEAD
// "read" on a template ending in a parameter and "list" otherwise, POST
// "create", PUT and PATCH "update", DELETE "delete", others the method in
// lower case. A final literal after a parameter is a verb of its own:
// POST /v1/projects/{id}/archive is "project.archive". Calls that match no
// route are "http.get", "http.post" and so on.
//
// # Capture levels
//
// As in a Kubernetes audit policy, per route with a default: "none" (no
// event; rate limits still apply), "metadata" (the default), "request"
// (adds the query string and the request body) and "request_response"
// (adds the response body). Bodies are capped at the body limit (4 KiB by
// default, 16 KiB at most) and never delay the call: they are copied as
// they stream. JSON and form bodies are kept as objects, so that masking
// finds secrets by key name ("password", "token", …); other text is kept
// as a string; binary bodies only by size.
package proxy
