package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// runSinks manages a tenant's sinks:
//
//	trail sinks list
//	trail sinks create --file SINK.json   (- for stdin)
//	trail sinks status|pause|resume|delete SINK_ID
//	trail sinks replay --seq N SINK_ID
func runSinks(ctx context.Context, args []string, e env) int {
	if len(args) == 0 {
		fmt.Fprintln(e.stderr, "usage: trail sinks list|create|status|pause|resume|replay|delete [flags]")
		return exitUsage
	}
	sub := args[0]
	fs := newFlags("sinks "+sub, e)
	co := addClientFlags(fs)
	file := fs.String("file", "", "create: the sink as JSON (- for stdin)")
	seq := fs.Int64("seq", -1, "replay: deliver again from this seq")
	if err := parseFlags(fs, args[1:], e); err != nil {
		return exitUsage
	}
	c, err := newClient(co)
	if err != nil {
		fmt.Fprintln(e.stderr, "trail sinks:", err)
		return exitUsage
	}
	id := func() (string, bool) {
		if fs.NArg() != 1 {
			fmt.Fprintf(e.stderr, "usage: trail sinks %s [flags] SINK_ID\n", sub)
			return "", false
		}
		return url.PathEscape(fs.Arg(0)), true
	}
	var out any
	switch sub {
	case "list":
		err = c.getJSON(ctx, "/v1/sinks", nil, &out)
	case "create":
		if *file == "" {
			fmt.Fprintln(e.stderr, "trail sinks create: --file is required (- for stdin)")
			return exitUsage
		}
		body, ferr := readJSONFile(*file, e.stdin)
		if ferr != nil {
			fmt.Fprintln(e.stderr, "trail sinks:", ferr)
			return exitUsage
		}
		err = c.sendJSON(ctx, http.MethodPost, "/v1/sinks", body, &out)
	case "status", "pause", "resume", "delete", "replay":
		sid, ok := id()
		if !ok {
			return exitUsage
		}
		switch sub {
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
			err = c.sendJSON(ctx, http.MethodPost, "/v1/sinks/"+sid+"/"+sub, nil, &out)
		}
	default:
		fmt.Fprintf(e.stderr, "trail sinks: unknown subcommand %q\n", sub)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintln(e.stderr, "trail sinks:", err)
		return exitFailure
	}
	return printJSON(e, out)
}
