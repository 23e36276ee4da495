package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// runSettings shows or changes a tenant's settings (GET|PUT /v1/settings).
//
//	trail settings get [--tenant T]
//	trail settings set [--tenant T] [--retention-days N] [--legal-hold=true|false]
//	                   [--masking-defaults=true|false] [--rule path=P,action=A]… [--clear-rules]
//	trail settings set [--tenant T] --json -   (the body from stdin)
func runSettings(ctx context.Context, args []string, e env) int {
	if len(args) == 0 || (args[0] != "get" && args[0] != "set") {
		fmt.Fprintln(e.stderr, "usage: trail settings get|set [flags]")
		return exitUsage
	}
	sub := args[0]
	fs := newFlags("settings "+sub, e)
	co := addClientFlags(fs)
	retention := fs.Int("retention-days", -1, "set: days to keep event content (0 = forever)")
	hold := fs.String("legal-hold", "", "set: true or false; a legal hold stops retention")
	defaults := fs.String("masking-defaults", "", "set: true or false: the default masking detectors")
	var rules ruleFlags
	fs.Var(&rules, "rule", "set: a masking rule, path=P,action=A or detector=D,action=A (repeat; replaces the rules)")
	clearRules := fs.Bool("clear-rules", false, "set: remove every masking rule")
	jsonBody := fs.String("json", "", "set: the settings as JSON, or - to read them from stdin")
	if err := parseFlags(fs, args[1:], e); err != nil {
		return exitUsage
	}
	c, err := newClient(co)
	if err != nil {
		fmt.Fprintln(e.stderr, "trail settings:", err)
		return exitUsage
	}
	var out any
	if sub == "get" {
		err = c.getJSON(ctx, "/v1/settings", nil, &out)
	} else {
		var body map[string]any
		body, err = settingsBody(*jsonBody, e.stdin, *retention, *hold, *defaults, rules, *clearRules)
		if err != nil {
			fmt.Fprintln(e.stderr, "trail settings:", err)
			return exitUsage
		}
		err = c.sendJSON(ctx, http.MethodPut, "/v1/settings", body, &out)
	}
	if err != nil {
		fmt.Fprintln(e.stderr, "trail settings:", err)
		return exitFailure
	}
	return printJSON(e, out)
}

// settingsBody builds the PUT body: only the fields the flags set, so the
// server keeps the others.
func settingsBody(jsonArg string, stdin io.Reader, retention int, hold, defaults string, rules ruleFlags, clearRules bool) (map[string]any, error) {
	body := map[string]any{}
	if jsonArg != "" {
		var r io.Reader = strings.NewReader(jsonArg)
		if jsonArg == "-" {
			r = stdin
		}
		dec := json.NewDecoder(r)
		dec.UseNumber()
		if err := dec.Decode(&body); err != nil {
			return nil, fmt.Errorf("--json: %w", err)
		}
	}
	if retention >= 0 {
		body["retention_days"] = retention
	}
	boolFlag := func(name, v string) (any, error) {
		switch v {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fmt.Errorf("--%s: want true or false, got %q", name, v)
	}
	if hold != "" {
		v, err := boolFlag("legal-hold", hold)
		if err != nil {
			return nil, err
		}
		body["legal_hold"] = v
	}
	masking := map[string]any{}
	if m, ok := body["masking"].(map[string]any); ok {
		masking = m
	}
	if defaults != "" {
		v, err := boolFlag("masking-defaults", defaults)
		if err != nil {
			return nil, err
		}
		masking["defaults"] = v
	}
	if clearRules {
		masking["rules"] = []any{}
	}
	if len(rules) > 0 {
		masking["rules"] = []map[string]string(rules)
	}
	if len(masking) > 0 {
		body["masking"] = masking
	}
	if len(body) == 0 {
		return nil, fmt.Errorf("nothing to set: give --retention-days, --legal-hold, --masking-defaults, --rule, --clear-rules or --json")
	}
	return body, nil
}

// ruleFlags collects --rule values: key=value pairs separated by commas.
type ruleFlags []map[string]string

var _ flag.Value = (*ruleFlags)(nil)

func (r *ruleFlags) String() string { return fmt.Sprint([]map[string]string(*r)) }

func (r *ruleFlags) Set(v string) error {
	rule := map[string]string{}
	for part := range strings.SplitSeq(v, ",") {
		k, val, ok := strings.Cut(part, "=")
		switch {
		case !ok:
			return fmt.Errorf("%q: want key=value pairs such as path=metadata.card,action=partial", part)
		case k != "path" && k != "detector" && k != "action":
			return fmt.Errorf("%q: keys are path, detector and action", k)
		}
		rule[k] = val
	}
	*r = append(*r, rule)
	return nil
}
