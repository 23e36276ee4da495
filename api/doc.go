// Package api is trail's HTTP API (DESIGN.md §6): ingest (events and the
// Kubernetes audit webhook), query, get with proof, stats, export, live
// tail over Server-Sent Events, checkpoints and proofs, keys, viewer
// tokens, tenants, settings, schemas, erasures, alerts, sinks, dashboard
// sessions and OIDC sign-in, health and metrics. It authenticates every
// request by a bearer token (an API key, package auth, or a viewer token,
// package viewtoken) or by a dashboard session cookie (package session;
// state-changing requests then need the session's CSRF token), authorises
// it by role and tenant, applies rate limits (package limit), and records
// every read, export, stream, stats call, sign-in, key change and failed
// authentication as an event in the log it concerns (the log audits
// itself).
//
// Errors are JSON objects
//
//	{"error":{"code":"invalid","message":"…","field":"events[3].actor.id"}}
//
// whose code maps to exactly one HTTP status (see Status). Internal details
// are logged, never sent.
package api
