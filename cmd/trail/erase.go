package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// runErase asks the server to erase events' content (POST /v1/erasures):
// by id, or every event of an actor in a time range. Proofs stay valid;
// the erasure is recorded in the tenant's log.
//
//	trail erase --reason R --ids ID[,ID…]
//	trail erase --reason R --actor ACTOR [--from T] [--to T]
func runErase(ctx context.Context, args []string, e env) int {
	fs := newFlags("erase", e)
	co := addClientFlags(fs)
	ids := fs.String("ids", "", "comma-separated event ids to erase")
	actor := fs.String("actor", "", "erase every event of this actor id")
	from := fs.String("from", "", "with --actor: events at or after this RFC 3339 time")
	to := fs.String("to", "", "with --actor: events before this RFC 3339 time")
	reason := fs.String("reason", "", "why (recorded with the erasure), e.g. the request it answers")
	if err := parseFlags(fs, args, e); err != nil {
		return exitUsage
	}
	body := map[string]any{"reason": *reason}
	switch {
	case (*ids == "") == (*actor == ""):
		fmt.Fprintln(e.stderr, "trail erase: give --ids or --actor")
		return exitUsage
	case *ids != "":
		list := strings.Split(*ids, ",")
		for i := range list {
			list[i] = strings.TrimSpace(list[i])
		}
		body["ids"] = list
	default:
		body["actor_id"] = *actor
		for name, v := range map[string]string{"from": *from, "to": *to} {
			if v == "" {
				continue
			}
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				fmt.Fprintf(e.stderr, "trail erase: --%s: want an RFC 3339 time such as 2026-01-02T03:04:05Z\n", name)
				return exitUsage
			}
			body[name] = t.UTC().Format(time.RFC3339Nano)
		}
	}
	c, err := newClient(co)
	if err != nil {
		fmt.Fprintln(e.stderr, "trail erase:", err)
		return exitUsage
	}
	var out any
	if err := c.sendJSON(ctx, http.MethodPost, "/v1/erasures", body, &out); err != nil {
		fmt.Fprintln(e.stderr, "trail erase:", err)
		return exitFailure
	}
	return printJSON(e, out)
}
