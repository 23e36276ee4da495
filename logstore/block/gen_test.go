package block

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/trail-audit/trail"
)

// row is one input row of a test block.
type row struct {
	data   []byte
	time   int64
	erased bool
	terms  [][2]string // (field, key), possibly repeated
}

func (r row) add(w *Writer) error {
	if r.erased {
		return w.AddErased(r.time)
	}
	return w.Add(r.data, r.time, func(add func(field, key string)) {
		for _, t := range r.terms {
			add(t[0], t[1])
		}
	})
}

// generator makes realistic audit events of one tenant: ~50 actions, ~1000
// actors with a few IPs each, user agents, unique request ids and UUIDv7
// ids, metadata with a few keys, and canonical JSON leaves of ~550 bytes.
type generator struct {
	rng     *rand.Rand
	now     time.Time
	seq     int64
	tenant  string
	actions []string
	actors  []trail.Actor
	ips     [][]string
	agents  []string
}

var (
	genVerbs     = []string{"create", "update", "delete", "read", "list"}
	genResources = []string{"route", "service", "consumer", "plugin", "certificate", "upstream", "key", "team", "project", "webhook"}
	genFirst     = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Dennis", "Linus", "Margaret", "Donald", "Radia", "Frances"}
	genLast      = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Ritchie", "Torvalds", "Hamilton", "Knuth", "Perlman", "Allen"}
	genPlans     = []string{"free", "pro", "team", "enterprise"}
	genRegions   = []string{"eu-west-1", "us-east-1", "us-west-2", "ap-south-1"}
	genOrigins   = []string{"dashboard", "api", "cli", "gateway", "sdk"}
	genReasons   = []string{"scheduled rotation", "incident response", "customer request", "migration to new cluster"}
)

func newGenerator(seed uint64, tenant string) *generator {
	g := &generator{
		rng:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		now:    time.Date(2026, 11, 22, 10, 4, 5, 0, time.UTC),
		tenant: tenant,
	}
	g.actions = append(g.actions, "user.login", "user.logout", "user.login_failed", "user.password_reset", "user.mfa_enabled")
	for _, r := range genResources[:9] {
		for _, v := range genVerbs {
			g.actions = append(g.actions, r+"."+v)
		}
	}
	for i := 0; i < 1000; i++ {
		f, l := genFirst[g.rng.IntN(len(genFirst))], genLast[g.rng.IntN(len(genLast))]
		typ := trail.ActorUser
		if i%10 == 0 {
			typ = trail.ActorService
		} else if i%17 == 0 {
			typ = trail.ActorAPIKey
		}
		a := trail.Actor{ID: fmt.Sprintf("u_%d", 1000+i), Name: f + " " + l, Type: typ}
		if typ == trail.ActorUser {
			a.Email = fmt.Sprintf("%s.%s%d@example.com", lower(f), lower(l), i)
		}
		g.actors = append(g.actors, a)
		var ips []string
		for j := 0; j < 1+g.rng.IntN(3); j++ {
			if g.rng.IntN(2) == 0 {
				ips = append(ips, fmt.Sprintf("10.%d.%d.%d", g.rng.IntN(256), g.rng.IntN(256), 1+g.rng.IntN(254)))
			} else {
				ips = append(ips, fmt.Sprintf("%d.%d.%d.%d", 1+g.rng.IntN(223), g.rng.IntN(256), g.rng.IntN(256), 1+g.rng.IntN(254)))
			}
		}
		g.ips = append(g.ips, ips)
	}
	for i := 0; i < 8; i++ {
		g.agents = append(g.agents, fmt.Sprintf("Mozilla/5.0 (%s) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0.%d.%d Safari/537.36",
			[]string{"Windows NT 10.0; Win64; x64", "Macintosh; Intel Mac OS X 10_15_7", "X11; Linux x86_64"}[i%3], 120+i, 6000+i*7, i*13))
	}
	g.agents = append(g.agents, "trail-sdk-go/1.4.2", "curl/8.5.0", "kong-gateway/3.6", "python-requests/2.31.0",
		"terraform-provider-trail/0.9.1", "trail-cli/1.4.2", "okhttp/4.12.0", "Go-http-client/2.0")
	return g
}

func lower(s string) string {
	b := []byte(s)
	if b[0] >= 'A' && b[0] <= 'Z' {
		b[0] += 'a' - 'A'
	}
	return string(b)
}

func (g *generator) hex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[g.rng.IntN(16)]
	}
	return string(b)
}

// event returns the next event, its leaf and its index terms.
func (g *generator) event() (*trail.Event, row) {
	g.now = g.now.Add(time.Duration(g.rng.IntN(2000)) * time.Millisecond)
	// Skewed actor choice: a few actors are very busy.
	ai := int(float64(len(g.actors)) * g.rng.Float64() * g.rng.Float64())
	action := g.actions[int(float64(len(g.actions))*g.rng.Float64()*g.rng.Float64())]
	id, _ := trail.NewUUIDv7(g.now, g)
	e := &trail.Event{
		ID: id, Seq: g.seq, Tenant: g.tenant, Time: g.now, ReceivedAt: g.now.Add(time.Duration(g.rng.IntN(50)) * time.Millisecond),
		Action: action, Outcome: trail.OutcomeSuccess, Severity: trail.SeverityInfo, Actor: g.actors[ai],
		Source: &trail.Source{IP: g.ips[ai][g.rng.IntN(len(g.ips[ai]))], UserAgent: g.agents[(ai+g.rng.IntN(2))%len(g.agents)],
			Origin: genOrigins[g.rng.IntN(len(genOrigins))]},
	}
	g.seq++
	if g.rng.IntN(20) == 0 {
		e.Outcome, e.Severity = trail.OutcomeFailure, trail.SeverityMedium
	}
	typ := "user"
	for i := 0; i < len(action); i++ {
		if action[i] == '.' {
			typ = action[:i]
			break
		}
	}
	rid := fmt.Sprintf("%s_%d", typ[:1], g.rng.IntN(5000))
	e.Resource = &trail.Resource{Type: typ, ID: rid}
	dur := float64(g.rng.IntN(5000)) / 10
	method := []string{"GET", "POST", "PUT", "PATCH", "DELETE"}[g.rng.IntN(5)]
	e.Request = &trail.Request{ID: "req_" + g.hex(20), Method: method, Path: "/v1/" + typ + "s/" + rid,
		Status: []int{200, 200, 200, 201, 204, 400, 403, 404}[g.rng.IntN(8)], DurationMS: &dur}
	e.Metadata = map[string]any{
		"plan":   genPlans[ai%len(genPlans)],
		"region": genRegions[g.rng.IntN(len(genRegions))],
		"mfa":    g.rng.IntN(3) > 0,
	}
	if len(action) > 7 && action[len(action)-7:] == ".update" {
		e.Changes = []trail.Change{{Field: "upstream", Old: fmt.Sprintf("10.0.%d.%d:80", g.rng.IntN(256), g.rng.IntN(256)),
			New: fmt.Sprintf("10.0.%d.%d:8080", g.rng.IntN(256), g.rng.IntN(256))}}
	}
	if g.rng.IntN(10) == 0 {
		e.Reason = genReasons[g.rng.IntN(len(genReasons))]
	}
	leaf, err := e.AppendCanonical(nil)
	if err != nil {
		panic(err)
	}
	r := row{data: leaf, time: e.Time.UnixNano()}
	trail.IndexTerms(e, func(field, key string) { r.terms = append(r.terms, [2]string{field, key}) })
	return e, r
}

// Read makes the generator an io.Reader of random bytes for UUIDs.
func (g *generator) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(g.rng.Uint32())
	}
	return len(p), nil
}

func genRows(seed uint64, n int) []row {
	g := newGenerator(seed, "acme")
	rows := make([]row, n)
	for i := range rows {
		_, rows[i] = g.event()
	}
	return rows
}

var (
	bigRowsOnce sync.Once
	bigRows     []row
)

// realisticRows returns 100 000 generated rows, made once.
func realisticRows() []row {
	bigRowsOnce.Do(func() { bigRows = genRows(1, 100_000) })
	return bigRows
}

func TestGeneratorShape(t *testing.T) {
	rows := genRows(7, 2000)
	total := 0
	for _, r := range rows {
		total += len(r.data)
	}
	avg := total / len(rows)
	if avg < 450 || avg > 700 {
		t.Errorf("average leaf is %d bytes, want about 550", avg)
	}
	t.Logf("average leaf %d bytes; example: %s", avg, rows[0].data)
}
