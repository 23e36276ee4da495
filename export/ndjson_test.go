package export_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/export"
	"github.com/trail-audit/trail/merkle"
)

func writeNDJSON(t testing.TB, evs []*trail.Event) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := export.NewNDJSON(&buf)
	for _, e := range evs {
		if err := w.Write(e); err != nil {
			t.Fatalf("Write(seq %d): %v", e.Seq, err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestNDJSONGolden(t *testing.T) {
	checkGolden(t, "events.ndjson.golden", writeNDJSON(t, goldenEvents(t)))
}

// TestNDJSONLineIsLeaf checks the property the format exists for: every line
// is the event's leaf, so SHA-256(0x00‖line) is its leaf hash, and an erased
// event's stub carries that hash.
func TestNDJSONLineIsLeaf(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	evs := goldenEvents(t)
	for i := range 500 {
		evs = append(evs, randomEvent(rng, int64(len(evs)+i)))
	}
	want := make([]trail.Hash, len(evs))
	for i, e := range evs {
		if e.Erased {
			want[i] = *e.LeafHash
		} else {
			want[i] = leafHash(t, e)
		}
	}
	// Half of them with LeafHash set, as read from a store: it is checked.
	for i, e := range evs {
		if i%2 == 0 && !e.Erased {
			e.LeafHash = &want[i]
		}
	}
	out := writeNDJSON(t, evs)
	if !bytes.HasSuffix(out, []byte("\n")) {
		t.Fatal("output does not end with a newline")
	}
	lines := bytes.Split(out[:len(out)-1], []byte("\n"))
	if len(lines) != len(evs) {
		t.Fatalf("got %d lines, want %d", len(lines), len(evs))
	}
	for i, line := range lines {
		e := evs[i]
		if e.Erased {
			var stub struct {
				Erased   bool       `json:"erased"`
				Seq      int64      `json:"seq"`
				LeafHash trail.Hash `json:"leaf_hash"`
			}
			if err := json.Unmarshal(line, &stub); err != nil || !stub.Erased || stub.Seq != e.Seq || stub.LeafHash != want[i] {
				t.Errorf("line %d: stub %s = %+v, %v; want erased seq %d leaf hash %v", i+1, line, stub, err, e.Seq, want[i])
			}
			continue
		}
		if got := trail.Hash(merkle.LeafHash(line)); got != want[i] {
			t.Errorf("line %d: SHA-256(0x00‖line) = %v, want leaf hash %v", i+1, got, want[i])
		}
		// The line decodes to the same event.
		d, err := trail.DecodeEvent(line)
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if got := leafHash(t, d); got != want[i] {
			t.Errorf("line %d: decoded event has leaf hash %v, want %v", i+1, got, want[i])
		}
	}
}

func randomEvent(rng *rand.Rand, seq int64) *trail.Event {
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	text := func() string {
		const alphabet = "ab=+-@\t\r\n\"\\,' é日😀\u2028\x01"
		r := []rune(alphabet)
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteRune(r[rng.IntN(len(r))])
		}
		return b.String()
	}
	e := &trail.Event{
		ID: fmt.Sprintf("id-%d", seq), Seq: seq, Tenant: "acme",
		Time:       t0.Add(time.Duration(rng.Int64N(1e12))),
		ReceivedAt: t0.Add(time.Duration(rng.Int64N(1e12))),
		Action:     pick("user.login", "route.update", "=x"),
		Outcome:    pick(trail.OutcomeSuccess, trail.OutcomeFailure),
		Severity:   pick(trail.SeverityInfo, trail.SeverityHigh),
		Actor:      trail.Actor{ID: text() + "x", Name: text()},
		Reason:     text(),
	}
	if rng.IntN(2) == 0 {
		e.Resource = &trail.Resource{Type: text(), ID: text(), Name: text()}
	}
	if rng.IntN(2) == 0 {
		e.Request = &trail.Request{ID: text(), Status: rng.IntN(600), DurationMS: ms(rng.Float64() * 1000)}
	}
	if rng.IntN(2) == 0 {
		e.Changes = []trail.Change{{Field: text(), Old: rng.NormFloat64() * 1e10, New: text()}}
	}
	if rng.IntN(2) == 0 {
		e.Metadata = map[string]any{text(): text(), text(): []any{rng.Float64(), true, nil}, "n": rng.NormFloat64() * 1e-8}
	}
	return e
}

func TestNDJSONRejects(t *testing.T) {
	wrong := trail.Hash{1}
	tests := []struct {
		name   string
		e      *trail.Event
		tamper bool
	}{
		{"erased without leaf hash", &trail.Event{Seq: 3, Erased: true}, false},
		{"leaf hash mismatch", &trail.Event{Action: "a", Actor: trail.Actor{ID: "u"}, LeafHash: &wrong}, true},
		{"unsupported metadata value", &trail.Event{Action: "a", Metadata: map[string]any{"x": struct{}{}}}, false},
		{"invalid UTF-8", &trail.Event{Action: "a\xff"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := export.NewNDJSON(&buf)
			err := w.Write(tt.e)
			if err == nil {
				t.Fatal("Write succeeded, want an error")
			}
			var te *trail.TamperError
			if got := errors.As(err, &te); got != tt.tamper {
				t.Errorf("Write: %v; TamperError %v, want %v", err, got, tt.tamper)
			}
			if err := w.Flush(); err != nil || buf.Len() != 0 {
				t.Errorf("after a failed Write: wrote %q, %v; want nothing", buf.Bytes(), err)
			}
		})
	}
}
