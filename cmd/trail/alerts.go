package main

import (
	"context"
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
	s, ok := newAPISub("alerts", "list|ack|resolve|rules|rule-create|rule-delete [flags]", args, e)
	if !ok {
		return exitUsage
	}
	status := s.fs.String("status", "", "list: open, acknowledged or resolved")
	file := s.fs.String("file", "", "rule-create: the rule as JSON (- for stdin)")
	c := s.client()
	if c == nil {
		return exitUsage
	}
	var out any
	var err error
	switch s.sub {
	case "list":
		q := url.Values{}
		if *status != "" {
			q.Set("status", *status)
		}
		err = c.getJSON(ctx, "/v1/alerts", q, &out)
	case "ack", "resolve":
		id, ok := s.arg("ID")
		if !ok {
			return exitUsage
		}
		verb := map[string]string{"ack": "acknowledge", "resolve": "resolve"}[s.sub]
		err = c.sendJSON(ctx, http.MethodPost, "/v1/alerts/"+id+"/"+verb, nil, &out)
	case "rules":
		err = c.getJSON(ctx, "/v1/alert-rules", nil, &out)
	case "rule-create":
		rule, ok := s.jsonFile(*file)
		if !ok {
			return exitUsage
		}
		err = c.sendJSON(ctx, http.MethodPost, "/v1/alert-rules", rule, &out)
	case "rule-delete":
		id, ok := s.arg("ID")
		if !ok {
			return exitUsage
		}
		err = c.sendJSON(ctx, http.MethodDelete, "/v1/alert-rules/"+id, nil, &out)
	default:
		return s.unknown()
	}
	return s.finish(out, err)
}
