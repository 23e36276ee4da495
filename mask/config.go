package mask

import (
	"strconv"
	"strings"

	"github.com/trail-audit/trail"
)

// Action says what masking does to a value a rule matched.
type Action string

// Actions. Keep is an extension of the settings shape of DESIGN.md §7: it
// exempts a path from every detector, or turns a default detector off.
const (
	// ActionRedact replaces the value, or the matched part of a free-text
	// string, with Redacted.
	ActionRedact Action = "redact"
	// ActionPartial keeps the last four characters after PartialPrefix
	// ("****1111") when the value has at least 12 characters, and leaves
	// only PartialPrefix otherwise, so that a short secret shows at most a
	// third of itself. For the ip detector it truncates the address to its
	// /24 (IPv4) or /48 (IPv6) network instead.
	ActionPartial Action = "partial"
	// ActionHMAC replaces the value with HMAC(tenantKey, value): "hmac:"
	// and the unpadded base64url encoding of the first 16 bytes of
	// HMAC-SHA256. Equal values give equal hashes within a tenant, so
	// equality search still works (see Masker.SearchValue).
	ActionHMAC Action = "hmac"
	// ActionDrop removes the value: an object key is deleted, an array
	// element removed, a change's old or new value omitted, a string field
	// of the event emptied; inside free text only the matched part is
	// removed.
	ActionDrop Action = "drop"
	// ActionKeep leaves the value as it is. On a path it exempts the value
	// (and everything inside it) from every detector; on a detector it
	// turns the detector off.
	ActionKeep Action = "keep"
)

// Redacted is what ActionRedact writes.
const Redacted = "[REDACTED]"

// PartialPrefix starts what ActionPartial writes.
const PartialPrefix = "****"

// Detector names a kind of secret that masking finds by itself.
type Detector string

// Detectors. Each is described in the package documentation.
const (
	DetectorKeyName     Detector = "key_name"     // values under secret-looking keys (password, api_key, …)
	DetectorEmail       Detector = "email"        // e-mail addresses
	DetectorCard        Detector = "card"         // Luhn-valid payment card numbers
	DetectorJWT         Detector = "jwt"          // JSON Web Tokens (JWS and JWE compact form)
	DetectorBearer      Detector = "bearer"       // "Bearer <token>" and "Basic <base64 user:pass>"
	DetectorAccessKey   Detector = "access_key"   // cloud, code-host and SaaS access keys
	DetectorPrivateKey  Detector = "private_key"  // PEM private-key blocks
	DetectorURLPassword Detector = "url_password" // the password in scheme://user:password@host
	DetectorIP          Detector = "ip"           // IPv4 and IPv6 addresses; off by default
)

// detector indexes.
const (
	dKeyName = iota
	dEmail
	dCard
	dJWT
	dBearer
	dAccessKey
	dPrivateKey
	dURLPassword
	dIP
	numDetectors
)

var detectorNames = [numDetectors]Detector{DetectorKeyName, DetectorEmail, DetectorCard, DetectorJWT,
	DetectorBearer, DetectorAccessKey, DetectorPrivateKey, DetectorURLPassword, DetectorIP}

// defaultActions are the detectors on when Config.Defaults is on, with
// their actions. The ip detector is not among them.
var defaultActions = map[Detector]Action{
	DetectorKeyName:     ActionRedact,
	DetectorEmail:       ActionHMAC,
	DetectorCard:        ActionPartial,
	DetectorJWT:         ActionRedact,
	DetectorBearer:      ActionRedact,
	DetectorAccessKey:   ActionRedact,
	DetectorPrivateKey:  ActionRedact,
	DetectorURLPassword: ActionRedact,
}

// DefaultAction returns the action of detector d when defaults are on, and
// false when d is not a default detector (ip) or not a detector at all.
func DefaultAction(d Detector) (Action, bool) {
	a, ok := defaultActions[d]
	return a, ok
}

// Detectors returns the names of every detector, in a fixed order.
func Detectors() []Detector { return append([]Detector(nil), detectorNames[:]...) }

// Config is a tenant's masking settings, the "masking" object of the
// settings API (DESIGN.md §7):
//
//	{"defaults": true,
//	 "rules": [{"path": "metadata.card.number", "action": "partial"},
//	           {"detector": "ip", "action": "partial"},
//	           {"detector": "email", "action": "keep"}]}
//
// Defaults nil or true turns on the default detectors (see DefaultAction);
// false turns them all off, so that only Rules apply. The zero Config is
// therefore the safe default. A detector rule sets the action of that
// detector (turning it on, or off with "keep"); a path rule masks the whole
// value at a path, whatever it holds, and takes precedence over detectors.
type Config struct {
	Defaults *bool  `json:"defaults,omitempty"`
	Rules    []Rule `json:"rules,omitempty"`
}

// Rule is one masking rule: exactly one of Path and Detector, and Action.
type Rule struct {
	Path     string   `json:"path,omitempty"`
	Detector Detector `json:"detector,omitempty"`
	Action   Action   `json:"action"`
}

// DefaultConfig returns the configuration of a new tenant: defaults on, no
// rules.
func DefaultConfig() Config {
	on := true
	return Config{Defaults: &on}
}

// DefaultsOn reports whether the default detectors are on.
func (c Config) DefaultsOn() bool { return c.Defaults == nil || *c.Defaults }

// Limits on a Config.
const (
	MaxRules     = 256 // rules in a Config
	MaxPathRules = 64  // path rules in a Config
	maxRulePath  = 512 // bytes of a rule's path
)

// Validate checks c and returns an EINVALID *trail.Error whose Field names
// the offending rule, as in "masking.rules[2].action". It checks that each
// rule has exactly one of path and detector, a known action, a known
// detector, a path of the syntax described in the package documentation,
// and that no detector or path appears twice.
func (c Config) Validate() error {
	_, err := compileRules(c)
	return err
}

// pathRule is a compiled path rule.
type pathRule struct {
	segs []string
	act  act
}

// act is an Action as a small integer; actNone means "no rule".
type act uint8

const (
	actNone act = iota
	actKeep
	actPartial
	actHMAC
	actRedact
	actDrop
)

// strength orders actions for overlapping matches: the more protective wins.
func (a act) stronger(b act) bool { return a > b }

func parseAction(a Action) (act, bool) {
	switch a {
	case ActionRedact:
		return actRedact, true
	case ActionPartial:
		return actPartial, true
	case ActionHMAC:
		return actHMAC, true
	case ActionDrop:
		return actDrop, true
	case ActionKeep:
		return actKeep, true
	}
	return actNone, false
}

func detectorIndex(d Detector) int {
	for i, n := range detectorNames {
		if n == d {
			return i
		}
	}
	return -1
}

// compiled is what compileRules makes of a Config.
type compiled struct {
	det   [numDetectors]act
	paths []pathRule
}

func compileRules(c Config) (compiled, error) {
	var out compiled
	if c.DefaultsOn() {
		for d, a := range defaultActions {
			out.det[detectorIndex(d)], _ = parseAction(a)
		}
	}
	if len(c.Rules) > MaxRules {
		return out, trail.FieldError("masking.rules", "at most %d rules", MaxRules)
	}
	detSet := map[Detector]int{}
	pathSet := map[string]int{}
	for i, r := range c.Rules {
		f := "masking.rules[" + strconv.Itoa(i) + "]"
		a, ok := parseAction(r.Action)
		if !ok {
			if r.Action == "" {
				return out, trail.FieldError(f+".action", "required: one of redact, partial, hmac, drop, keep")
			}
			return out, trail.FieldError(f+".action", "%q is not one of redact, partial, hmac, drop, keep", r.Action)
		}
		switch {
		case r.Path != "" && r.Detector != "":
			return out, trail.FieldError(f, "set path or detector, not both")
		case r.Path == "" && r.Detector == "":
			return out, trail.FieldError(f, "set path or detector")
		case r.Detector != "":
			d := detectorIndex(r.Detector)
			if d < 0 {
				return out, trail.FieldError(f+".detector", "%q is not a detector; want one of %s", r.Detector, detectorList())
			}
			if j, dup := detSet[r.Detector]; dup {
				return out, trail.FieldError(f+".detector", "%s is already set by rules[%d]", r.Detector, j)
			}
			detSet[r.Detector] = i
			if a == actKeep {
				a = actNone
			}
			out.det[d] = a
		default:
			segs, err := parsePathRule(r.Path)
			if err != nil {
				return out, trail.FieldError(f+".path", "%s", err.Error())
			}
			if j, dup := pathSet[r.Path]; dup {
				return out, trail.FieldError(f+".path", "%s is already set by rules[%d]", r.Path, j)
			}
			pathSet[r.Path] = i
			if len(out.paths) == MaxPathRules {
				return out, trail.FieldError(f+".path", "at most %d path rules", MaxPathRules)
			}
			out.paths = append(out.paths, pathRule{segs: segs, act: a})
		}
	}
	return out, nil
}

func detectorList() string {
	s := make([]string, len(detectorNames))
	for i, d := range detectorNames {
		s[i] = string(d)
	}
	return strings.Join(s, ", ")
}

// ruleError is a path syntax error; its text becomes a FieldError message.
type ruleError string

func (e ruleError) Error() string { return string(e) }

// parsePathRule splits a rule path into segments and checks it names a
// maskable place: see the package documentation.
func parsePathRule(p string) ([]string, error) {
	if len(p) > maxRulePath {
		return nil, ruleError("at most " + strconv.Itoa(maxRulePath) + " bytes")
	}
	if strings.ContainsAny(p, "[]\"") {
		return nil, ruleError("use dotted keys without indexes: arrays are traversed transparently (" + strconv.Quote(p) + ")")
	}
	segs := strings.Split(p, ".")
	for _, s := range segs {
		if s == "" {
			return nil, ruleError("empty segment in " + strconv.Quote(p))
		}
	}
	bad := func(want string) error {
		return ruleError(strconv.Quote(p) + " does not name a maskable field; want " + want)
	}
	switch segs[0] {
	case "metadata":
		if len(segs) < 2 {
			return nil, bad("metadata.<key>[.<key>…]")
		}
	case "changes":
		if len(segs) < 2 || segs[1] != "old" && segs[1] != "new" && segs[1] != "*" {
			return nil, bad("changes.old, changes.new or changes.* [.<key>…]")
		}
	case "reason":
		if len(segs) != 1 {
			return nil, bad("reason")
		}
	case "actor":
		if len(segs) != 2 || segs[1] != "id" && segs[1] != "name" && segs[1] != "email" {
			return nil, bad("actor.id, actor.name or actor.email")
		}
	case "resource":
		if len(segs) != 2 || segs[1] != "id" && segs[1] != "name" {
			return nil, bad("resource.id or resource.name")
		}
	case "source":
		if len(segs) != 2 || segs[1] != "ip" && segs[1] != "user_agent" {
			return nil, bad("source.ip or source.user_agent")
		}
	case "request":
		if len(segs) != 2 || segs[1] != "path" && segs[1] != "id" {
			return nil, bad("request.path or request.id")
		}
	default:
		return nil, bad("a path under metadata, changes, reason, actor, resource, source or request")
	}
	return segs, nil
}
