package mask

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/trail-audit/trail"
)

// FuzzMask masks events built from arbitrary JSON metadata and strings
// under every action. It must never panic; a valid event must stay valid
// and encode canonically; and masking must be idempotent.
func FuzzMask(f *testing.F) {
	f.Add([]byte(`{"password":"x","card":4111111111111111,"list":["a@b.co",{"token":1}]}`), "Bearer abcdefgh12345678 ada@example.com", uint8(0))
	f.Add([]byte(`{"a":{"b":{"c":"postgres://u:p@h/db"}}}`), "4111 1111 1111 1111 -----BEGIN PRIVATE KEY-----x", uint8(1))
	f.Add([]byte(`{"k":"AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}`), "password=hunter2&token=abc", uint8(2))
	f.Add([]byte(`[1,2]`), "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig 10.0.0.1 ::1", uint8(3))
	f.Add([]byte(`{"":{"x.y":["ghp_abcdefghijklmnopqrstuvwxyz0123456789"]}}`), `{"api_key":"\"abc"}`, uint8(4))
	ms := make([]*Masker, 5)
	for i, a := range []Action{ActionRedact, ActionPartial, ActionHMAC, ActionDrop} {
		cfg := Config{Rules: []Rule{{Path: "metadata.*.x", Action: a}, {Path: "changes.new", Action: ActionKeep}}}
		for _, d := range Detectors() {
			cfg.Rules = append(cfg.Rules, Rule{Detector: d, Action: a})
		}
		ms[i] = mustNew(f, cfg)
	}
	ms[4] = mustNew(f, DefaultConfig())
	now := time.Date(2026, 11, 22, 10, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, metadata []byte, s string, which uint8) {
		m := ms[int(which)%len(ms)]
		var meta map[string]any
		dec := json.NewDecoder(bytes.NewReader(metadata))
		if which&8 != 0 {
			dec.UseNumber()
		}
		_ = dec.Decode(&meta)
		var anyValue any
		_ = json.Unmarshal(metadata, &anyValue)
		e := &trail.Event{Action: "fuzz.test", Actor: trail.Actor{ID: "u_" + s, Name: s, Email: s},
			Resource: &trail.Resource{Type: "t", ID: s, Name: s}, Source: &trail.Source{IP: "203.0.113.9", UserAgent: s},
			Request: &trail.Request{ID: s, Path: "/x?" + s}, Reason: s, Metadata: meta,
			Changes: []trail.Change{{Field: "f", Old: s, New: anyValue}, {Field: s, Old: anyValue}}}
		e.Normalize(now, func() string { return "id" })
		valid := e.Validate(trail.Limits{}) == nil
		m.Apply(e)
		if !valid {
			return
		}
		if err := e.Validate(trail.Limits{}); err != nil {
			t.Fatalf("masked event does not validate: %v", err)
		}
		once, err := e.AppendCanonical(nil)
		if err != nil {
			t.Fatalf("masked event does not encode: %v", err)
		}
		// Mask the stored form again: nothing changes.
		var again trail.Event
		if err := json.Unmarshal(once, &again); err != nil {
			t.Fatalf("decode leaf: %v", err)
		}
		m.Apply(&again)
		twice, err := again.AppendCanonical(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(once, twice) {
			t.Fatalf("masking twice differs:\n%s\n%s", once, twice)
		}
	})
}
