// Command trail is the trail audit log service and its command-line
// client. Run "trail help" for the commands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes scripts can rely on.
const (
	exitOK       = 0
	exitFailure  = 1 // the operation failed (server error, I/O error)
	exitUsage    = 2 // bad flags or arguments
	exitTampered = 3 // verification found damage or an inconsistency
)

// env is the program's environment: arguments, streams and variables,
// injected so tests run commands in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	os.Exit(run(ctx, os.Args[1:], e))
}

// commands maps each subcommand to its implementation.
var commands = map[string]struct {
	run  func(ctx context.Context, args []string, e env) int
	help string
}{
	"serve":    {runServe, "run the trail server (embedded store in --data)"},
	"ingest":   {runIngest, "send events from a file or stdin (JSON, NDJSON, or Vault audit log lines with --format vault)"},
	"query":    {runQuery, "search events"},
	"tail":     {runTail, "follow events live"},
	"export":   {runExport, "export events as ndjson, csv or a verifiable bundle"},
	"verify":   {runVerify, "verify a data directory, a bundle, or a live server"},
	"keys":     {runKeys, "create, list, revoke and rotate API keys"},
	"tenants":  {runTenants, "list and create tenants"},
	"settings": {runSettings, "show or change a tenant's retention, legal hold and masking"},
	"schemas":  {runSchemas, "list, show and set the JSON Schemas that ingest enforces on each action's metadata"},
	"sinks":    {runSinks, "list, create, inspect, pause, resume, replay and delete sinks"},
	"alerts":   {runAlerts, "list, acknowledge and resolve alerts; list, create and delete alert rules"},
	"erase":    {runErase, "erase the content of events (by id, or an actor's), keeping proofs valid"},
	"proxy":    {runProxy, "put trail in front of an API: forward every call and record an audit event for it"},
	"bench":    {runBench, "measure ingest, queries, export and verification of either store (--store embedded|postgres) against a raw PostgreSQL baseline"},
}

func run(ctx context.Context, args []string, e env) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(e.stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "trail: unknown command %q\n", args[0])
		usage(e.stderr)
		return exitUsage
	}
	return c.run(ctx, args[1:], e)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: trail <command> [flags]\n\ncommands:")
	for _, name := range []string{"serve", "ingest", "query", "tail", "export", "verify", "keys", "tenants", "proxy", "bench"} {
		fmt.Fprintf(w, "  %-8s %s\n", name, commands[name].help)
	}
	fmt.Fprintln(w, "\nEvery flag has an environment twin: --addr is TRAIL_ADDR, --server TRAIL_SERVER, and so on.\nRun \"trail <command> -h\" for its flags.")
}
