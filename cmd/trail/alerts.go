package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// runAlerts lists and handles alerts and manages alert rules:
//
//	trail alerts list [--status open|acknowledged|resolved]
//	trail alerts ack|resolve ALERT_ID
//	trail alerts rules
//	trail alerts rule-create --file RULE.json   (- for stdin)
//	trail alerts rule-delete RULE_ID
func runAlerts(ctx context.Context, args []string, e env) int {
	if len(args) == 0 {
		fmt.Fprintln(e.stderr, "usage: trail alerts list|ack|resolve|rules|rule-create|rule-delete [flags]")
		return exitUsage
	}
	sub := args[0]
	fs := newFlags("alerts "+sub, e)
	co := addClientFlags(fs)
	status := fs.String("status", "", "list: open, acknowledged or resolved")
	file := fs.String("file", "", "rule-create: the rule as JSON (- for stdin)")
	if err := parseFlags(fs, args[1:], e); err != nil {
		return exitUsage
	}
	c, err := newClient(co)
	if err != nil {
		fmt.Fprintln(e.stderr, "trail alerts:", err)
		return exitUsage
	}
	oneArg := func() (string, bool) {
		if fs.NArg() != 1 {
			fmt.Fprintf(e.stderr, "usage: trail alerts %s [flags] ID\n", sub)
			return "", false
		}
		return url.PathEscape(fs.Arg(0)), true
	}
	var out any
	switch sub {
	case "list":
		q := url.Values{}
		if *status != "" {
			q.Set("status", *status)
		}
		err = c.getJSON(ctx, "/v1/alerts", q, &out)
	case "ack", "resolve":
		id, ok := oneArg()
		if !ok {
			return exitUsage
		}
		verb := map[string]string{"ack": "acknowledge", "resolve": "resolve"}[sub]
		err = c.sendJSON(ctx, http.MethodPost, "/v1/alerts/"+id+"/"+verb, nil, &out)
	case "rules":
		err = c.getJSON(ctx, "/v1/alert-rules", nil, &out)
	case "rule-create":
		if *file == "" {
			fmt.Fprintln(e.stderr, "trail alerts rule-create: --file is required (- for stdin)")
			return exitUsage
		}
		rule, ferr := readJSONFile(*file, e.stdin)
		if ferr != nil {
			fmt.Fprintln(e.stderr, "trail alerts:", ferr)
			return exitUsage
		}
		err = c.sendJSON(ctx, http.MethodPost, "/v1/alert-rules", rule, &out)
	case "rule-delete":
		id, ok := oneArg()
		if !ok {
			return exitUsage
		}
		err = c.sendJSON(ctx, http.MethodDelete, "/v1/alert-rules/"+id, nil, &out)
	default:
		fmt.Fprintf(e.stderr, "trail alerts: unknown subcommand %q\n", sub)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintln(e.stderr, "trail alerts:", err)
		return exitFailure
	}
	return printJSON(e, out)
}
