// Package api is trail's HTTP API (DESIGN.md §6): ingest, query, get with
// proof, stats, export, live tail over Server-Sent Events, checkpoints and
// proofs, keys and tenants, health and metrics. It authenticates every
// request with an API key (package auth), authorises it by role and tenant,
// applies rate limits (package limit), and records every read, export,
// stream, stats call, key change and failed authentication as an event in
// the log it concerns (the log audits itself).
//
// Errors are JSON objects
//
//	{"error":{"code":"invalid","message":"…","field":"events[3].actor.id"}}
//
// whose code maps to exactly one HTTP status (see Status). Internal details
// are logged, never sent.
package api
