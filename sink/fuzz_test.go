package sink_test

import (
	"encoding/json"
	"testing"

	trail "github.com/trail-audit/trail"
	"github.com/trail-audit/trail/sink"
)

// FuzzNormalize checks that any sink configuration either normalises, and
// then normalises again to the same thing, or fails with an EINVALID
// *trail.Error naming a field.
func FuzzNormalize(f *testing.F) {
	f.Add(`{"id":"s","tenant":"acme","name":"n","type":"webhook","url":"https://x/","secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}`)
	f.Add(`{"id":"s","tenant":"acme","name":"n","type":"syslog","address":"h:514","format":"cef","filter":"action:user.* OR ip:10.0.0.0/8"}`)
	f.Add(`{"id":"s","tenant":"acme","name":"n","type":"ocsf_http","url":"http://x","ocsf_version":"1.3.0","tls":{"ca":"x"}}`)
	f.Add(`{"id":"s","tenant":"acme","name":"n","type":"file","path":"a/b.ndjson","max_size":5000,"keep":2}`)
	f.Fuzz(func(t *testing.T, in string) {
		var s sink.Sink
		if json.Unmarshal([]byte(in), &s) != nil {
			return
		}
		err := s.Normalize()
		if err != nil {
			e, ok := err.(*trail.Error)
			if !ok || e.Code != trail.EINVALID || e.Field == "" {
				t.Fatalf("Normalize: %#v, want EINVALID with a field", err)
			}
			return
		}
		a, _ := json.Marshal(s)
		if err := s.Normalize(); err != nil {
			t.Fatalf("second Normalize: %v", err)
		}
		if b, _ := json.Marshal(s); string(a) != string(b) {
			t.Fatalf("Normalize is not idempotent:\n%s\n%s", a, b)
		}
		if r := s.Redacted(); (s.Token != "" && r.Token != "…") || (s.Secret != "" && r.Secret != "whsec_…") {
			t.Fatalf("Redacted leaks a credential: %+v", r)
		}
	})
}
