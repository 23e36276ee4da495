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
	if len(args) == 0 {
		fmt.Fprintln(e.stderr, "usage: trail schemas list|get|put [flags] [ACTION]")
		return exitUsage
	}
	sub := args[0]
	fs := newFlags("schemas "+sub, e)
	co := addClientFlags(fs)
	action := fs.String("action", "", "list: list every version of this action")
	version := fs.Int("version", 0, "get: this version (default: the latest)")
	file := fs.String("file", "", "put: the schema as JSON (- for stdin)")
	if err := parseFlags(fs, args[1:], e); err != nil {
		return exitUsage
	}
	c, err := newClient(co)
	if err != nil {
		fmt.Fprintln(e.stderr, "trail schemas:", err)
		return exitUsage
	}
	arg := func() (string, bool) {
		if fs.NArg() != 1 {
			fmt.Fprintf(e.stderr, "usage: trail schemas %s [flags] ACTION\n", sub)
			return "", false
		}
		return url.PathEscape(fs.Arg(0)), true
	}
	var out any
	switch sub {
	case "list":
		q := url.Values{}
		if *action != "" {
			q.Set("action", *action)
		}
		err = c.getJSON(ctx, "/v1/schemas", q, &out)
	case "get":
		a, ok := arg()
		if !ok {
			return exitUsage
		}
		q := url.Values{}
		if *version > 0 {
			q.Set("version", fmt.Sprint(*version))
		}
		err = c.getJSON(ctx, "/v1/schemas/"+a, q, &out)
	case "put":
		a, ok := arg()
		if !ok {
			return exitUsage
		}
		if *file == "" {
			fmt.Fprintln(e.stderr, "trail schemas put: --file is required (- for stdin)")
			return exitUsage
		}
		doc, ferr := readJSONFile(*file, e.stdin)
		if ferr != nil {
			fmt.Fprintln(e.stderr, "trail schemas:", ferr)
			return exitUsage
		}
		err = c.sendJSON(ctx, http.MethodPut, "/v1/schemas/"+a, doc, &out)
	default:
		fmt.Fprintf(e.stderr, "trail schemas: unknown subcommand %q\n", sub)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintln(e.stderr, "trail schemas:", err)
		return exitFailure
	}
	return printJSON(e, out)
}
