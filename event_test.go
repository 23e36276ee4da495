package trail

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"time"
)

// Random events for property tests. Values come from small vocabularies so
// that random query terms often match them.

var (
	genActions  = []string{"user.login", "user.logout", "user.password.reset", "route.update", "route.delete", "key:rotate", "a/b", "x"}
	genOutcomes = []string{OutcomeSuccess, OutcomeFailure, OutcomeDenied, OutcomeError, OutcomeUnknown}
	genSeverity = []string{SeverityInfo, SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}
	genTypes    = []string{"", ActorUser, ActorService, ActorAPIKey, ActorSystem}
	genIPs      = []string{"", "10.1.2.3", "10.200.0.1", "192.168.1.1", "127.0.0.1", "::ffff:10.1.2.3", "2001:db8::7", "2001:db8:1::1", "fe80::1%eth0", "::1", "not-an-ip"}
	genStrings  = []string{
		"", "u_42", "u_7", "svc_deploy", "Ada Lovelace", "Payment failed: card declined",
		"payment FAILED again", "route", "r_9", "Müller ÄÖÜ Straße", "😀 emoji here", "line\u2028sep",
		`a"b\c`, "tab\there", "İstanbul", "ǅemal", "x",
		strings.Repeat("long", 40),                              // one 160-byte word: index keys truncate
		strings.Repeat("é", 70) + " " + strings.Repeat("ж", 50), // truncation inside a rune
	}
	genKeys = []string{"plan", "seats", "tags", "nested", "deep", "a.b", "", "Plan", "ключ"}
)

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// randScalar returns a random JSON scalar as encoding/json produces it
// (with and without UseNumber), or as a Go caller might pass it.
func randScalar(r *rand.Rand) any {
	switch r.IntN(9) {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2:
		return float64(r.IntN(20)) - 5
	case 3:
		return pick(r, []float64{0.1, 1e21, 1e-7, 5e-324, 123456789012345680000, 1.5, -0.25})
	case 4:
		return json.Number(pick(r, []string{"5", "1e21", "-0", "0.10", "1E-7", "42"}))
	case 5:
		return r.IntN(100)
	default:
		return pick(r, genStrings)
	}
}

func randValue(r *rand.Rand, depth int) any {
	if depth > 5 {
		return randScalar(r)
	}
	switch r.IntN(6) {
	case 0:
		n := r.IntN(4)
		a := make([]any, n)
		for i := range a {
			if r.IntN(4) == 0 {
				a[i] = randValue(r, depth+1)
			} else {
				a[i] = randScalar(r)
			}
		}
		return a
	case 1:
		return randObject(r, depth+1)
	default:
		return randScalar(r)
	}
}

func randObject(r *rand.Rand, depth int) map[string]any {
	n := r.IntN(4)
	m := make(map[string]any, n)
	for i := 0; i < n; i++ {
		m[pick(r, genKeys)] = randValue(r, depth)
	}
	return m
}

// randEvent returns a random normalised event. Most are valid.
func randEvent(r *rand.Rand) *Event {
	e := &Event{
		Action:   pick(r, genActions),
		Outcome:  pick(r, genOutcomes),
		Severity: pick(r, genSeverity),
		Actor:    Actor{ID: pick(r, genStrings[1:]), Name: pick(r, genStrings), Type: pick(r, genTypes)},
		Reason:   pick(r, genStrings),
	}
	if r.IntN(3) > 0 {
		e.Actor.Email = pick(r, []string{"", "ada@example.com", "ops+x@example.org"})
	}
	if r.IntN(3) > 0 {
		e.Resource = &Resource{Type: pick(r, []string{"", "route", "key", "user"}), ID: pick(r, genStrings), Name: pick(r, genStrings)}
	}
	if r.IntN(3) > 0 {
		e.Source = &Source{IP: pick(r, genIPs), UserAgent: pick(r, genStrings), Origin: pick(r, []string{"", "api", "dashboard"})}
		if e.Source.IP == "not-an-ip" {
			e.Source.IP = ""
		}
	}
	if r.IntN(3) > 0 {
		e.Request = &Request{ID: pick(r, []string{"", "req_1", "req_2"}), Method: pick(r, []string{"", "GET", "PUT"}),
			Path: pick(r, []string{"", "/routes/9", "/v1/keys"})}
		if r.IntN(2) == 0 {
			e.Request.Status = 100 + r.IntN(500)
		}
		if r.IntN(2) == 0 {
			d := pick(r, []float64{0, 12, 0.5, 1e21, 1e-7})
			e.Request.DurationMS = &d
		}
	}
	for i := r.IntN(3); i > 0; i-- {
		e.Changes = append(e.Changes, Change{Field: pick(r, []string{"upstream", "limits", "x"}), Old: randValue(r, 1), New: randValue(r, 1)})
	}
	if r.IntN(4) > 0 {
		e.Metadata = randObject(r, 0)
		if r.IntN(3) == 0 {
			// A path five keys deep: beyond what IndexTerms covers.
			e.Metadata["deep"] = map[string]any{"l1": map[string]any{"l2": map[string]any{"l3": map[string]any{"l4": randScalar(r)}, "x": randScalar(r)}}}
		}
	}
	if r.IntN(5) == 0 {
		e.Masked = []string{"metadata.card"}
	}
	if r.IntN(2) == 0 {
		e.ID = pick(r, []string{"evt_1", `id"with\quote`, "0190f7a8-1c2d-7e3f-8a9b-0c1d2e3f4a5b"})
	}
	e.Tenant = pick(r, []string{"", "acme", "t-1_x"})
	if r.IntN(2) == 0 {
		e.Time = time.Unix(r.Int64N(7e9), r.Int64N(1e9)).In(time.FixedZone("x", 3600*(r.IntN(25)-12)))
	}
	e.Normalize(time.Date(2026, 11, 22, 10, 4, 5, 123000000, time.UTC), func() string { return "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b" })
	return e
}
