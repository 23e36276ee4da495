package schema_test

import (
	"testing"

	"github.com/trail-audit/trail"
	"github.com/trail-audit/trail/schema"
)

// FuzzCompile: whatever the document, Compile returns a schema or a
// *trail.Error, never panics, and a compiled schema validates sample
// metadata without panicking.
func FuzzCompile(f *testing.F) {
	for _, seed := range []string{
		order, `{}`, `true`, `false`, `[]`, `null`, `"x"`, `{"$ref":"#"}`, `{"$ref":"#/$defs/a","$defs":{"a":{"type":"string"}}}`,
		`{"$ref":"https://example.com/x"}`, `{"$schema":"http://json-schema.org/draft-04/schema#"}`,
		`{"$dynamicAnchor":"n","properties":{"a":{"$dynamicRef":"#n"}}}`, `{"$id":"a.json","$ref":"b.json"}`,
		`{"pattern":"(?i)x"}`, `{"format":"regex"}`, `{"multipleOf":1e-300}`, `{"minimum":1e400}`,
		`{"properties":{"a":{"contentSchema":{"$ref":"#"},"contentMediaType":"application/json"}}}`,
		`{"unevaluatedProperties":false,"allOf":[{"properties":{"a":true}}]}`, `{"enum":[{"$ref":"x"}]}`,
	} {
		f.Add([]byte(seed))
	}
	samples := []any{
		map[string]any{},
		map[string]any{"amount": -1.0, "currency": "GBP", "a": []any{1.0, "x", nil, true, map[string]any{"b": 2.0}}},
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		c, err := schema.Compile(doc)
		if err != nil {
			if _, ok := err.(*trail.Error); !ok {
				t.Fatalf("Compile error %T %v, want a *trail.Error", err, err)
			}
			if c != nil {
				t.Fatal("Compile returned a schema and an error")
			}
			return
		}
		for _, md := range samples {
			if err := c.Validate("metadata", md); err != nil {
				if te, ok := err.(*trail.Error); !ok || te.Code != trail.EINVALID {
					t.Fatalf("Validate: %v, want nil or EINVALID", err)
				}
			}
		}
	})
}
