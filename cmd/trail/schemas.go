package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// runSchemas manages a tenant's action schemas (JSON Schema draft 2020-12
// for the metadata of one action, enforced at ingest):
//
//	trail schemas list [--action A]          (--action: every version of A)
//	trail schemas get [--version N] ACTION
//	trail schemas put --file SCHEMA.json ACTION   (- for stdin)
func runSchemas(ctx context.Context, args []string, e env) int {
	s, ok := newAPISub("schemas", "list|get|put [flags] [ACTION]", args, e)
	if !ok {
		return exitUsage
	}
	action := s.fs.String("action", "", "list: list every version of this action")
	version := s.fs.Int("version", 0, "get: this version (default: the latest)")
	file := s.fs.String("file", "", "put: the schema as JSON (- for stdin)")
	c := s.client()
	if c == nil {
		return exitUsage
	}
	var out any
	var err error
	switch s.sub {
	case "list":
		q := url.Values{}
		if *action != "" {
			q.Set("action", *action)
		}
		err = c.getJSON(ctx, "/v1/schemas", q, &out)
	case "get":
		a, ok := s.arg("ACTION")
		if !ok {
			return exitUsage
		}
		q := url.Values{}
		if *version > 0 {
			q.Set("version", fmt.Sprint(*version))
		}
		err = c.getJSON(ctx, "/v1/schemas/"+a, q, &out)
	case "put":
		a, ok := s.arg("ACTION")
		if !ok {
			return exitUsage
		}
		doc, ok := s.jsonFile(*file)
		if !ok {
			return exitUsage
		}
		err = c.sendJSON(ctx, http.MethodPut, "/v1/schemas/"+a, doc, &out)
	default:
		return s.unknown()
	}
	return s.finish(out, err)
}
