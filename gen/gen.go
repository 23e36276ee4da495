// Package gen generates realistic, deterministic audit events for tests,
// benchmarks and "trail bench". It imports only the root package and the
// standard library (never "testing"), so binaries may use it.
package gen

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/trail-audit/trail"
)

// Gen generates realistic audit events: a Zipf spread of tenants, about a
// thousand actors per tenant, some fifty actions, mostly successful
// outcomes, IPv4 and IPv6 sources from a few /16 (and /48) networks, user
// agents, request ids, resources, free-text reasons, metadata with two to
// five keys and changes on updates. A canonical leaf (with the server
// fields) is about 580 bytes on average.
//
// Gen is deterministic: the same seed yields the same events. It uses its
// own math/rand/v2 PCG source, never the global one. A Gen is not safe for
// concurrent use.
type Gen struct {
	rng     *rand.Rand
	tenants []string
	tenant  *rand.Zipf
	actor   *rand.Zipf
	action  *rand.Zipf
	word    *rand.Zipf
}

// New returns a generator seeded with seed whose events spread over
// tenants tenants named "t0000", "t0001", … with a Zipf distribution
// (s = 1.1): "t0000" gets the most. tenants is clamped to 1..10000.
func New(seed uint64, tenants int) *Gen {
	tenants = max(1, min(tenants, 10000))
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	g := &Gen{rng: rng, tenants: make([]string, tenants)}
	for i := range g.tenants {
		g.tenants[i] = fmt.Sprintf("t%04d", i)
	}
	g.tenant = rand.NewZipf(rng, 1.1, 1, uint64(tenants-1))
	g.actor = rand.NewZipf(rng, 1.05, 4, actorsPerTenant-1)
	g.action = rand.NewZipf(rng, 1.2, 3, uint64(len(genActions)-1))
	g.word = rand.NewZipf(rng, 1.1, 2, uint64(len(genWords)-1))
	return g
}

const actorsPerTenant = 1000

// Tenants returns the names of every tenant the generator may pick.
func (g *Gen) Tenants() []string { return append([]string(nil), g.tenants...) }

// Tenant picks a tenant name with the Zipf spread.
func (g *Gen) Tenant() string { return g.tenants[g.tenant.Uint64()] }

// TimeIn returns a time uniformly spread in [from, to), whole milliseconds.
// It returns from when the range is empty.
func (g *Gen) TimeIn(from, to time.Time) time.Time {
	span := to.Sub(from).Milliseconds()
	if span <= 0 {
		return from
	}
	return from.Add(time.Duration(g.rng.Int64N(span)) * time.Millisecond)
}

// Batch returns n events, each for a tenant picked by Tenant, with times
// spread over [from, to).
func (g *Gen) Batch(n int, from, to time.Time) []*trail.Event {
	out := make([]*trail.Event, n)
	for i := range out {
		out[i] = g.Event(g.Tenant(), g.TimeIn(from, to))
	}
	return out
}

// Event returns a new event for tenant at time t. A zero t leaves Time
// unset so that the store defaults it to the time of receipt. The event has
// no ID: the store assigns one. Metadata numbers are float64, as
// encoding/json decodes them, so an event compares equal to its decoded
// leaf.
func (g *Gen) Event(tenant string, t time.Time) *trail.Event {
	r := g.rng
	action := genActions[g.action.Uint64()]
	noun, verb := splitAction(action)
	login := action == "user.login" || action == "user.logout" || action == "token.issue"

	e := &trail.Event{Tenant: tenant, Action: action}
	if !t.IsZero() {
		e.Time = t.UTC()
	}
	e.Actor = g.genActor(tenant)

	// Outcome: logins fail more often; a few events leave it to the default.
	p := r.IntN(100)
	switch {
	case p < 3:
		// default "unknown"
	case login && p < 75, !login && p < 92:
		e.Outcome = trail.OutcomeSuccess
	case login && p < 93, !login && p < 95:
		e.Outcome = trail.OutcomeFailure
	case p < 98:
		e.Outcome = trail.OutcomeDenied
	default:
		e.Outcome = trail.OutcomeError
	}
	e.Severity = g.severity(verb, e.Outcome)

	if e.Actor.Type != trail.ActorSystem || r.IntN(4) == 0 {
		e.Source = &trail.Source{
			IP:        g.ip(),
			UserAgent: genUserAgents[r.IntN(len(genUserAgents))],
		}
		if r.IntN(2) == 0 {
			e.Source.Origin = genOrigins[r.IntN(len(genOrigins))]
		}
	}
	if !login && r.IntN(10) < 7 || login && r.IntN(5) == 0 {
		n := r.IntN(5000)
		e.Resource = &trail.Resource{Type: noun, ID: resourcePrefix(noun) + strconv.Itoa(n)}
		if r.IntN(2) == 0 {
			e.Resource.Name = genNames[n%len(genNames)] + "-" + genRegions[n%len(genRegions)]
		}
	}
	if r.IntN(2) == 0 {
		e.Request = g.request(noun, verb, e.Outcome, e.Resource)
	}
	if r.IntN(10) < 5 {
		e.Reason = g.reason()
	}
	e.Metadata = g.metadata()
	if verb == "update" || verb == "rotate" || verb == "change" || verb == "renew" {
		e.Changes = g.changes()
	}
	return e
}

func splitAction(action string) (noun, verb string) {
	i := strings.IndexByte(action, '.')
	j := strings.LastIndexByte(action, '.')
	return action[:i], action[j+1:]
}

func resourcePrefix(noun string) string {
	if len(noun) > 3 {
		noun = noun[:3]
	}
	return noun + "_"
}

func (g *Gen) genActor(tenant string) trail.Actor {
	n := int(g.actor.Uint64())
	// Mix the tenant in so that tenants have different populations.
	h := 0
	for i := 0; i < len(tenant); i++ {
		h = h*31 + int(tenant[i])
	}
	k := (n*7 + h) % actorsPerTenant
	first := genFirstNames[k%len(genFirstNames)]
	last := genLastNames[(k/len(genFirstNames))%len(genLastNames)]
	switch {
	case k%40 == 0:
		return trail.Actor{ID: "system", Type: trail.ActorSystem, Name: "trail scheduler"}
	case k%13 == 0:
		return trail.Actor{ID: "svc_" + strconv.Itoa(k), Type: trail.ActorService, Name: strings.ToLower(last) + "-worker"}
	case k%11 == 0:
		return trail.Actor{ID: "key_" + strconv.Itoa(k), Type: trail.ActorAPIKey, Name: "ci key " + strconv.Itoa(k%7)}
	}
	a := trail.Actor{ID: "u_" + strconv.Itoa(k), Type: trail.ActorUser, Name: first + " " + last}
	if k%2 == 0 { // half of the users sign in with SSO and carry an email
		a.Email = strings.ToLower(first) + "." + strings.ToLower(last) + "@example.com"
	}
	return a
}

func (g *Gen) severity(verb, outcome string) string {
	p := g.rng.IntN(100)
	switch {
	case p < 2:
		return trail.SeverityCritical
	case verb == "delete" || verb == "revoke" || verb == "disable":
		if p < 50 {
			return trail.SeverityHigh
		}
		return trail.SeverityMedium
	case outcome == trail.OutcomeFailure || outcome == trail.OutcomeDenied:
		if p < 40 {
			return trail.SeverityMedium
		}
		return trail.SeverityLow
	case p < 35:
		return "" // default "info"
	case p < 90:
		return trail.SeverityInfo
	}
	return trail.SeverityLow
}

// ip returns an address from one of a few IPv4 /16 and IPv6 /48 networks;
// the third IPv4 octet stays below 16 so that /24 queries have matches.
func (g *Gen) ip() string {
	r := g.rng
	if r.IntN(5) == 0 {
		return fmt.Sprintf("%s:%x:%x::%x", genNets6[r.IntN(len(genNets6))], r.IntN(8), r.IntN(0x10000), 1+r.IntN(0xfffe))
	}
	return fmt.Sprintf("%s.%d.%d", genNets4[r.IntN(len(genNets4))], r.IntN(16), 1+r.IntN(254))
}

func (g *Gen) request(noun, verb, outcome string, res *trail.Resource) *trail.Request {
	r := g.rng
	req := &trail.Request{ID: fmt.Sprintf("req_%016x", r.Uint64())}
	switch verb {
	case "create", "login", "logout", "issue", "upload", "add", "invite", "evaluate", "reset", "enable":
		req.Method = "POST"
	case "update", "change", "rotate", "renew":
		req.Method = []string{"PUT", "PATCH"}[r.IntN(2)]
	case "delete", "revoke", "remove", "disable":
		req.Method = "DELETE"
	default:
		req.Method = "GET"
	}
	req.Path = "/v1/" + noun + "s"
	if res != nil {
		req.Path += "/" + res.ID
	}
	switch outcome {
	case trail.OutcomeSuccess, "":
		req.Status = []int{200, 200, 201, 204}[r.IntN(4)]
	case trail.OutcomeFailure:
		req.Status = []int{400, 401, 409, 422}[r.IntN(4)]
	case trail.OutcomeDenied:
		req.Status = 403
	default:
		req.Status = []int{500, 502, 503}[r.IntN(3)]
	}
	d := float64(r.IntN(20000)) / 10
	req.DurationMS = &d
	return req
}

func (g *Gen) reason() string {
	r := g.rng
	s := genReasons[r.IntN(len(genReasons))]
	if strings.Contains(s, "%d") {
		s = fmt.Sprintf(s, 1000+r.IntN(9000))
	}
	words := []string{s}
	for n := r.IntN(3); n > 0; n-- {
		words = append(words, genWords[g.word.Uint64()])
	}
	return strings.Join(words, " ")
}

func (g *Gen) metadata() map[string]any {
	r := g.rng
	keys := r.Perm(8)[:2+min(r.IntN(4), r.IntN(4))] // 2..5 keys, fewer more often
	m := make(map[string]any, len(keys))
	for _, k := range keys {
		switch k {
		case 0:
			m["plan"] = genPlans[r.IntN(len(genPlans))]
		case 1:
			m["region"] = genRegions[r.IntN(len(genRegions))]
		case 2:
			m["count"] = float64(r.IntN(50))
		case 3:
			m["client"] = map[string]any{
				"os":      genOS[r.IntN(len(genOS))],
				"version": fmt.Sprintf("1.%d.%d", r.IntN(12), r.IntN(20)),
			}
		case 4:
			m["flags"] = []any{"beta", genPlans[r.IntN(len(genPlans))]}
		case 5:
			m["retries"] = float64(r.IntN(4))
		case 6:
			m["seats"] = float64(1 + r.IntN(500))
		case 7:
			m["sso"] = r.IntN(2) == 0
		}
	}
	return m
}

func (g *Gen) changes() []trail.Change {
	r := g.rng
	n := 1 + r.IntN(2)
	out := make([]trail.Change, n)
	for i := range out {
		c := trail.Change{Field: genChangeFields[r.IntN(len(genChangeFields))]}
		if r.IntN(2) == 0 {
			c.Old = fmt.Sprintf("%s:%d", genNames[r.IntN(len(genNames))], 80+r.IntN(9000))
			c.New = fmt.Sprintf("%s:%d", genNames[r.IntN(len(genNames))], 80+r.IntN(9000))
		} else {
			c.Old = float64(r.IntN(100))
			c.New = float64(r.IntN(100))
		}
		out[i] = c
	}
	return out
}

var genActions = []string{
	"user.login", "route.update", "user.logout", "key.create", "route.read", "policy.evaluate",
	"token.issue", "service.update", "upstream.update", "user.update", "key.rotate", "route.create",
	"settings.update", "consumer.update", "plugin.update", "export.create", "key.revoke",
	"user.password.reset", "user.create", "route.delete", "service.create", "billing.invoice.view",
	"consumer.create", "upstream.create", "plugin.enable", "plugin.disable", "webhook.create",
	"user.invite", "user.role.update", "user.mfa.enable", "user.mfa.disable", "certificate.upload",
	"certificate.renew", "policy.create", "policy.update", "org.update", "org.member.add",
	"org.member.remove", "export.download", "session.revoke", "service.delete", "upstream.delete",
	"consumer.delete", "certificate.delete", "policy.delete", "billing.plan.change",
	"billing.payment.update", "webhook.delete", "user.delete", "key.list",
}

var (
	genNets4      = []string{"10.1", "10.2", "172.16", "192.168", "198.51"}
	genNets6      = []string{"2001:db8:a", "2001:db8:b", "2001:db8:c"}
	genOrigins    = []string{"dashboard", "api", "api", "api", "cli", "gateway", "sdk"}
	genPlans      = []string{"free", "free", "pro", "pro", "team", "enterprise"}
	genRegions    = []string{"eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-south-1"}
	genOS         = []string{"linux", "linux", "macos", "windows"}
	genFirstNames = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken",
		"Margaret", "Dennis", "Radia", "Leslie", "Niklaus", "Shafi", "Tony", "Hedy", "Linus", "Sophie",
		"Whitfield", "Anita", "John", "Katherine", "Robin", "Tim", "Jean"}
	genLastNames = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen",
		"Thompson", "Hamilton", "Ritchie", "Perlman", "Lamport", "Wirth", "Goldwasser", "Hoare",
		"Lamarr", "Torvalds", "Wilson", "Diffie", "Borg", "McCarthy", "Johnson", "Milner", "Berners-Lee",
		"Sammet", "Cerf", "Kahn", "Backus", "Naur", "Rivest", "Shamir", "Adleman", "Pike", "Kernighan",
		"Stroustrup", "Gosling", "Wall", "Matsumoto", "Rossum", "Eich"}
	genNames = []string{"payments", "checkout", "inventory", "search", "auth", "billing", "reports",
		"gateway", "profile", "catalog", "orders", "shipping", "notifications", "analytics", "admin"}
	genUserAgents = []string{
		"Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) Safari/605.1.15",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Firefox/133.0",
		"trail-sdk-go/1.4.2 (linux; amd64)",
		"curl/8.5.0",
		"terraform-provider-trail/0.9.1",
		"kubectl/v1.31.2 (linux/amd64)",
		"python-requests/2.32.3",
	}
	genReasons = []string{
		"scheduled key rotation",
		"requested by the security team",
		"customer support ticket %d",
		"automated cleanup of stale sessions",
		"manual override approved by on call engineer",
		"suspicious login from a new device",
		"password reset after account lockout",
		"quota exceeded on current plan",
		"migrated to the new region",
		"deploy pipeline run %d",
		"incident response for ticket %d",
		"routine access review",
	}
	genWords = []string{"the", "and", "for", "config", "change", "review", "approved", "deploy",
		"rollback", "traffic", "canary", "latency", "error", "budget", "policy", "audit", "compliance",
		"quarterly", "access", "token", "expired", "renewal", "customer", "request", "incident",
		"postmortem", "capacity", "upgrade", "downgrade", "migration", "backup", "restore",
		"certificate", "firewall", "rule", "gateway", "upstream", "timeout", "retry", "limit",
		"throttle", "billing", "invoice", "refund", "trial", "onboarding", "offboarding", "contractor",
		"vendor", "integration", "webhook", "signature", "rotation", "emergency", "maintenance",
		"window", "weekend", "staging", "production", "sandbox"}
	genChangeFields = []string{"upstream", "timeout_ms", "retries", "plan", "role", "enabled",
		"rate_limit", "strip_path", "hosts", "expires_at"}
)
