package main

import (
	"flag"
	"fmt"
	"strings"
)

// newFlags returns a flag set for a subcommand that reports errors on
// e.stderr instead of exiting.
func newFlags(name string, e env) *flag.FlagSet {
	fs := flag.NewFlagSet("trail "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}

// envName is the environment twin of a flag: --tls-cert → TRAIL_TLS_CERT.
func envName(flagName string) string {
	return "TRAIL_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags parses args, then sets every flag not given on the command
// line from its environment twin. Errors name the variable.
func parseFlags(fs *flag.FlagSet, args []string, e env) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		if v := e.getenv(envName(f.Name)); v != "" {
			if e2 := fs.Set(f.Name, v); e2 != nil {
				err = fmt.Errorf("%s: %v", envName(f.Name), e2)
			}
		}
	})
	return err
}
