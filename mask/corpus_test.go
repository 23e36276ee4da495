package mask

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/trail-audit/trail"
)

// corpusEntry is one line of testdata/secrets.jsonl or lookalikes.jsonl,
// written by testdata/corpusgen: an event, and the secret it holds (or the
// look-alike value, which must survive).
type corpusEntry struct {
	Name   string          `json:"name"`
	Secret string          `json:"secret"`
	Value  string          `json:"value"`
	Event  json.RawMessage `json:"event"`
}

func loadCorpus(t testing.TB, name string) []corpusEntry {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []corpusEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e corpusEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

var testKey = []byte("0123456789abcdef0123456789abcdef")

// decodeEvent decodes a corpus event as ingest would: normalised and valid.
func decodeEvent(t testing.TB, raw []byte) *trail.Event {
	t.Helper()
	var e trail.Event
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	e.Normalize(time.Date(2026, 11, 22, 10, 4, 5, 0, time.UTC), func() string { return "0193f5e2-0000-7000-8000-000000000001" })
	if err := e.Validate(trail.Limits{}); err != nil {
		t.Fatalf("corpus event does not validate: %v\n%s", err, raw)
	}
	return &e
}

func canonical(t testing.TB, e *trail.Event) []byte {
	t.Helper()
	b, err := e.AppendCanonical(nil)
	if err != nil {
		t.Fatalf("canonical: %v", err)
	}
	return b
}

// leaks reports whether secret appears in the canonical JSON, raw or as
// JSON escapes it.
func leaks(leaf []byte, secret string) bool {
	esc, _ := json.Marshal(secret)
	return bytes.Contains(leaf, []byte(secret)) || bytes.Contains(leaf, esc[1:len(esc)-1])
}

// TestCorpus masks every corpus event with the default configuration and
// measures recall (secrets that no longer appear in the leaf) and
// precision (how many of the changed events held a secret).
func TestCorpus(t *testing.T) {
	m, err := New(DefaultConfig(), testKey)
	if err != nil {
		t.Fatal(err)
	}
	secrets := loadCorpus(t, "secrets.jsonl")
	looks := loadCorpus(t, "lookalikes.jsonl")
	if len(secrets) < 200 || len(looks) < 200 {
		t.Fatalf("corpus has %d secrets and %d look-alikes, want at least 200 of each", len(secrets), len(looks))
	}
	found := 0
	for _, c := range secrets {
		if !strings.Contains(string(c.Event), c.Secret) && !leaks(c.Event, c.Secret) {
			t.Fatalf("%s: secret %q is not in its event", c.Name, c.Secret)
		}
		e := decodeEvent(t, c.Event)
		m.Apply(e)
		leaf := canonical(t, e)
		if leaks(leaf, c.Secret) {
			t.Errorf("missed %s: %q survives in %s", c.Name, c.Secret, leaf)
			continue
		}
		if len(e.Masked) == 0 {
			t.Errorf("%s: secret removed but Masked is empty", c.Name)
		}
		found++
	}
	falsePositives := 0
	for _, c := range looks {
		e := decodeEvent(t, c.Event)
		before := canonical(t, e)
		m.Apply(e)
		if after := canonical(t, e); !bytes.Equal(before, after) {
			falsePositives++
			t.Logf("false positive %s (%q): %s", c.Name, c.Value, after)
		}
	}
	recall := float64(found) / float64(len(secrets))
	precision := float64(found) / float64(found+falsePositives)
	t.Logf("recall %.1f%% (%d/%d secrets), precision %.1f%% (%d false positives in %d look-alikes)",
		100*recall, found, len(secrets), 100*precision, falsePositives, len(looks))
	if recall < 1 {
		t.Errorf("recall %.3f, want 1", recall)
	}
	if precision < 0.95 {
		t.Errorf("precision %.3f, want >= 0.95", precision)
	}
}

// TestCorpusNoSecretSurvives puts every corpus secret in one event's
// reason, metadata and changes and checks that none of them appears
// anywhere in its canonical JSON after masking, under every action.
func TestCorpusNoSecretSurvives(t *testing.T) {
	secrets := loadCorpus(t, "secrets.jsonl")
	for _, a := range []Action{ActionRedact, ActionPartial, ActionHMAC, ActionDrop} {
		t.Run(string(a), func(t *testing.T) {
			cfg := Config{}
			for _, d := range Detectors() {
				if d != DetectorIP {
					cfg.Rules = append(cfg.Rules, Rule{Detector: d, Action: a})
				}
			}
			m, err := New(cfg, testKey)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range secrets {
				e := decodeEvent(t, c.Event)
				m.Apply(e)
				if leaf := canonical(t, e); leaks(leaf, c.Secret) {
					t.Errorf("%s: %q survives %s in %s", c.Name, c.Secret, a, leaf)
				}
				if err := e.Validate(trail.Limits{}); err != nil {
					t.Errorf("%s: masked event does not validate: %v", c.Name, err)
				}
			}
		})
	}
}
