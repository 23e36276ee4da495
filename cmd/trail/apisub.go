package main

import (
	"flag"
	"fmt"
	"net/url"
)

// apiSub is one call of a command that drives an API resource through
// subcommands, "trail NAME SUB [flags] [ARG]" (alerts, schemas, sinks):
// the flags, the client they make, and the usage and error reports all
// such commands share. Declare the subcommand's own flags on fs between
// newAPISub and client.
type apiSub struct {
	name, sub string
	rest      []string // the arguments after SUB
	fs        *flag.FlagSet
	co        *clientOpts
	e         env
}

// newAPISub starts a call of command name; ok is false, with usage
// printed, when args names no subcommand.
func newAPISub(name, usage string, args []string, e env) (s *apiSub, ok bool) {
	if len(args) == 0 {
		fmt.Fprintf(e.stderr, "usage: trail %s %s\n", name, usage)
		return nil, false
	}
	s = &apiSub{name: name, sub: args[0], rest: args[1:], e: e}
	s.fs = newFlags(name+" "+s.sub, e)
	s.co = addClientFlags(s.fs)
	return s, true
}

// client parses the flags and returns the API client, or nil after
// reporting what is wrong.
func (s *apiSub) client() *client {
	if err := parseFlags(s.fs, s.rest, s.e); err != nil {
		return nil
	}
	c, err := newClient(s.co)
	if err != nil {
		fmt.Fprintf(s.e.stderr, "trail %s: %v\n", s.name, err)
		return nil
	}
	return c
}

// arg returns the one positional argument, escaped for a URL path; ok is
// false, with usage naming what, when there is not exactly one.
func (s *apiSub) arg(what string) (string, bool) {
	if s.fs.NArg() != 1 {
		fmt.Fprintf(s.e.stderr, "usage: trail %s %s [flags] %s\n", s.name, s.sub, what)
		return "", false
	}
	return url.PathEscape(s.fs.Arg(0)), true
}

// jsonFile reads the JSON document of a --file flag (- for stdin); ok is
// false, with the reason printed, when it is missing or unreadable.
func (s *apiSub) jsonFile(file string) (any, bool) {
	if file == "" {
		fmt.Fprintf(s.e.stderr, "trail %s %s: --file is required (- for stdin)\n", s.name, s.sub)
		return nil, false
	}
	v, err := readJSONFile(file, s.e.stdin)
	if err != nil {
		fmt.Fprintf(s.e.stderr, "trail %s: %v\n", s.name, err)
		return nil, false
	}
	return v, true
}

// unknown reports a subcommand the command does not have.
func (s *apiSub) unknown() int {
	fmt.Fprintf(s.e.stderr, "trail %s: unknown subcommand %q\n", s.name, s.sub)
	return exitUsage
}

// finish prints out, or reports err as a failure.
func (s *apiSub) finish(out any, err error) int {
	if err != nil {
		fmt.Fprintf(s.e.stderr, "trail %s: %v\n", s.name, err)
		return exitFailure
	}
	return printJSON(s.e, out)
}
