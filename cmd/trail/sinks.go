package main

import (
	"context"
	"fmt"
	"net/http"
)

// runSinks manages a tenant's sinks:
//
//	trail sinks list
//	trail sinks create --file SINK.json   (- for stdin)
//	trail sinks status|pause|resume|delete SINK_ID
//	trail sinks replay --seq N SINK_ID
func runSinks(ctx context.Context, args []string, e env) int {
	s, ok := newAPISub("sinks", "list|create|status|pause|resume|replay|delete [flags]", args, e)
	if !ok {
		return exitUsage
	}
	file := s.fs.String("file", "", "create: the sink as JSON (- for stdin)")
	seq := s.fs.Int64("seq", -1, "replay: deliver again from this seq")
	c := s.client()
	if c == nil {
		return exitUsage
	}
	var out any
	var err error
	switch s.sub {
	case "list":
		err = c.getJSON(ctx, "/v1/sinks", nil, &out)
	case "create":
		body, ok := s.jsonFile(*file)
		if !ok {
			return exitUsage
		}
		err = c.sendJSON(ctx, http.MethodPost, "/v1/sinks", body, &out)
	case "status", "pause", "resume", "delete", "replay":
		sid, ok := s.arg("SINK_ID")
		if !ok {
			return exitUsage
		}
		switch s.sub {
		case "status":
			err = c.getJSON(ctx, "/v1/sinks/"+sid, nil, &out)
		case "delete":
			err = c.sendJSON(ctx, http.MethodDelete, "/v1/sinks/"+sid, nil, &out)
		case "replay":
			if *seq < 0 {
				fmt.Fprintln(e.stderr, "trail sinks replay: --seq is required")
				return exitUsage
			}
			err = c.sendJSON(ctx, http.MethodPost, "/v1/sinks/"+sid+"/replay", map[string]int64{"seq": *seq}, &out)
		default:
			err = c.sendJSON(ctx, http.MethodPost, "/v1/sinks/"+sid+"/"+s.sub, nil, &out)
		}
	default:
		return s.unknown()
	}
	return s.finish(out, err)
}
