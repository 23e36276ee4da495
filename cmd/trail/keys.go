package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// runKeys manages API keys: create, list, revoke, rotate.
func runKeys(ctx context.Context, args []string, e env) int {
	if len(args) == 0 {
		fmt.Fprintln(e.stderr, "usage: trail keys create|list|revoke|rotate [flags]")
		return exitUsage
	}
	sub := args[0]
	fs := newFlags("keys "+sub, e)
	co := addClientFlags(fs)
	name := fs.String("name", "", "create: key name")
	role := fs.String("role", "", "create: operator, admin, auditor, viewer or writer")
	keyTenant := fs.String("key-tenant", "", "create: tenant the key is scoped to (* = all)")
	expires := fs.Duration("expires-in", 0, "create: lifetime (0 = no expiry)")
	grace := fs.Duration("grace", 0, "rotate: how long the old secret stays valid")
	if err := parseFlags(fs, args[1:], e); err != nil {
		return exitUsage
	}
	c, err := newClient(co)
	if err != nil {
		fmt.Fprintln(e.stderr, "trail keys:", err)
		return exitUsage
	}
	var out any
	switch sub {
	case "create":
		body := map[string]any{"name": *name, "role": *role, "tenant": *keyTenant}
		if *expires > 0 {
			body["expires_at"] = time.Now().Add(*expires).UTC().Format(time.RFC3339)
		}
		err = c.sendJSON(ctx, http.MethodPost, "/v1/keys", body, &out)
	case "list":
		err = c.getJSON(ctx, "/v1/keys", nil, &out)
	case "revoke", "rotate":
		if fs.NArg() != 1 {
			fmt.Fprintf(e.stderr, "usage: trail keys %s [flags] KEY_ID\n", sub)
			return exitUsage
		}
		if sub == "revoke" {
			err = c.sendJSON(ctx, http.MethodDelete, "/v1/keys/"+fs.Arg(0), nil, &out)
		} else {
			err = c.sendJSON(ctx, http.MethodPost, "/v1/keys/"+fs.Arg(0)+"/rotate", map[string]any{"grace": grace.String()}, &out)
		}
	default:
		fmt.Fprintf(e.stderr, "trail keys: unknown subcommand %q\n", sub)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintln(e.stderr, "trail keys:", err)
		return exitFailure
	}
	return printJSON(e, out)
}

// runTenants lists or creates tenants.
func runTenants(ctx context.Context, args []string, e env) int {
	if len(args) == 0 {
		fmt.Fprintln(e.stderr, "usage: trail tenants list|create [flags] [NAME]")
		return exitUsage
	}
	sub := args[0]
	fs := newFlags("tenants "+sub, e)
	co := addClientFlags(fs)
	if err := parseFlags(fs, args[1:], e); err != nil {
		return exitUsage
	}
	c, err := newClient(co)
	if err != nil {
		fmt.Fprintln(e.stderr, "trail tenants:", err)
		return exitUsage
	}
	var out any
	switch sub {
	case "list":
		err = c.getJSON(ctx, "/v1/tenants", nil, &out)
	case "create":
		if fs.NArg() != 1 {
			fmt.Fprintln(e.stderr, "usage: trail tenants create [flags] NAME")
			return exitUsage
		}
		err = c.sendJSON(ctx, http.MethodPost, "/v1/tenants", map[string]string{"name": fs.Arg(0)}, &out)
	default:
		fmt.Fprintf(e.stderr, "trail tenants: unknown subcommand %q\n", sub)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintln(e.stderr, "trail tenants:", err)
		return exitFailure
	}
	return printJSON(e, out)
}

func printJSON(e env, v any) int {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return exitFailure
	}
	return exitOK
}
