package schema_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/trail-audit/trail"
	"github.com/trail-audit/trail/schema"
)

// wantError checks that err is a *trail.Error with code, field and a
// message containing substr.
func wantError(t *testing.T, err error, code, field, substr string) {
	t.Helper()
	var te *trail.Error
	if !errors.As(err, &te) {
		t.Fatalf("got %v, want a *trail.Error %s on %q", err, code, field)
	}
	if te.Code != code || te.Field != field || !strings.Contains(te.Message, substr) {
		t.Fatalf("got %s on %q: %q; want %s on %q containing %q", te.Code, te.Field, te.Message, code, field, substr)
	}
}

func TestCompileRejects(t *testing.T) {
	deep := strings.Repeat(`{"items":`, schema.MaxSchemaDepth+1) + `true` + strings.Repeat(`}`, schema.MaxSchemaDepth+1)
	// Each level refers twice to the next: 2^40 subschemas once expanded.
	var defs []string
	for i := range 40 {
		defs = append(defs, `"d`+itoa(i)+`":{"anyOf":[{"$ref":"#/$defs/d`+itoa(i+1)+`"},{"$ref":"#/$defs/d`+itoa(i+1)+`"}]}`)
	}
	defs = append(defs, `"d40":{"type":"string"}`)
	exponential := `{"$ref":"#/$defs/d0","$defs":{` + strings.Join(defs, ",") + `}}`

	tests := []struct {
		name, doc   string
		code, field string
		substr      string
	}{
		{"too large", `{"description":"` + strings.Repeat("x", schema.MaxSchemaBytes) + `"}`, trail.ETOOLARGE, "", "at most 65536 bytes"},
		{"too deep", deep, trail.EINVALID, strings.TrimSuffix(strings.Repeat("items.", schema.MaxSchemaDepth), "."), "deeper than"},
		{"not JSON", `{"type":`, trail.EINVALID, "", "one JSON document"},
		{"trailing data", `{} {}`, trail.EINVALID, "", "one JSON document"},
		{"an array", `[{"type":"string"}]`, trail.EINVALID, "", "object or a boolean"},
		{"draft 7", `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object"}`, trail.EINVALID, "$schema", "only JSON Schema draft 2020-12"},
		{"custom meta-schema", `{"$schema":"https://example.com/meta"}`, trail.EINVALID, "$schema", "only JSON Schema draft 2020-12"},
		{"embedded draft 7", `{"$ref":"https://x.test/a","$defs":{"a":{"$id":"https://x.test/a","$schema":"http://json-schema.org/draft-07/schema#"}}}`, trail.EINVALID, "$defs.a", "draft 7"},
		{"remote ref", `{"properties":{"a":{"$ref":"https://example.com/money.json"}}}`, trail.EINVALID, "$ref", "https://example.com/money.json is outside this schema"},
		{"file ref", `{"$ref":"file:///etc/passwd"}`, trail.EINVALID, "$ref", "file:///etc/passwd is outside this schema"},
		{"relative ref", `{"$ref":"money.json"}`, trail.EINVALID, "$ref", "is outside this schema"},
		{"relative to $id", `{"$id":"https://example.com/a.json","$ref":"b.json"}`, trail.EINVALID, "$ref", "https://example.com/b.json is outside this schema"},
		{"meta-schema ref", `{"properties":{"s":{"$ref":"https://json-schema.org/draft/2020-12/schema"}}}`, trail.EINVALID, "properties.s", "outside this schema"},
		{"missing pointer", `{"$ref":"#/$defs/nope"}`, trail.EINVALID, "$ref", "#/$defs/nope does not exist"},
		{"missing anchor", `{"$ref":"#nope"}`, trail.EINVALID, "$ref", "anchor"},
		{"unknown type", `{"properties":{"a":{"type":"objec"}}}`, trail.EINVALID, "properties.a.type", "not a valid draft 2020-12 schema"},
		{"keyword of the wrong type", `{"properties":{"amount":{"minimum":"0"}}}`, trail.EINVALID, "properties.amount.minimum", "type: must be number, not string"},
		{"required not an array", `{"required":"a"}`, trail.EINVALID, "required", "must be array"},
		{"bad regex", `{"properties":{"a":{"pattern":"(("}}}`, trail.EINVALID, "properties.a.pattern", "regex"},
		{"self loop", `{"$ref":"#"}`, trail.EINVALID, "", "refers back to itself"},
		{"loop through allOf", `{"$defs":{"a":{"allOf":[{"$ref":"#/$defs/b"}]},"b":{"anyOf":[{"$ref":"#/$defs/a"}]}},"$ref":"#/$defs/a"}`, trail.EINVALID, "$defs.a", "refers back to itself"},
		{"exponential", exponential, trail.EINVALID, "", "too complex"},
		// Each level of nesting tries the same schema three times: 3^32.
		{"recursive and branching", `{"$ref":"#/$defs/n","$defs":{"n":{"type":"object","additionalProperties":{"anyOf":[{"$ref":"#/$defs/n"},{"$ref":"#/$defs/n"},{"$ref":"#/$defs/n"}]}}}}`, trail.EINVALID, "", "too complex"},
		{"wide anyOf", `{"items":{"anyOf":[` + strings.TrimSuffix(strings.Repeat(`{"type":"string"},`, 1500), ",") + `]}}`, trail.EINVALID, "", "too complex"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := schema.Compile([]byte(tt.doc))
			if c != nil {
				t.Fatalf("compiled, want an error")
			}
			wantError(t, err, tt.code, tt.field, tt.substr)
		})
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestCompileAccepts(t *testing.T) {
	for name, doc := range map[string]string{
		"empty":            `{}`,
		"true":             `true`,
		"draft 2020-12":    `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object"}`,
		"draft with #":     `{"$schema":"https://json-schema.org/draft/2020-12/schema#"}`,
		"$defs":            `{"properties":{"price":{"$ref":"#/$defs/money"}},"$defs":{"money":{"type":"number","minimum":0}}}`,
		"anchor":           `{"properties":{"price":{"$ref":"#money"}},"$defs":{"m":{"$anchor":"money","type":"number"}}}`,
		"embedded $id":     `{"$id":"https://example.com/order.json","properties":{"a":{"$ref":"line.json"}},"$defs":{"l":{"$id":"line.json","type":"object"}}}`,
		"binary tree":      `{"$ref":"#/$defs/n","$defs":{"n":{"type":"object","properties":{"left":{"$ref":"#/$defs/n"},"right":{"$ref":"#/$defs/n"}}}}}`,
		"recursive tree":   `{"$ref":"#/$defs/node","$defs":{"node":{"type":"object","properties":{"children":{"type":"array","items":{"$ref":"#/$defs/node"}}}}}}`,
		"dynamic ref":      `{"$dynamicAnchor":"node","type":"object","properties":{"next":{"$dynamicRef":"#node"}}}`,
		"unknown keywords": `{"x-owner":"billing","type":"object"}`,
		"deep but allowed": strings.Repeat(`{"items":`, schema.MaxSchemaDepth) + `true` + strings.Repeat(`}`, schema.MaxSchemaDepth),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := schema.Compile([]byte(doc)); err != nil {
				t.Fatalf("Compile: %v", err)
			}
		})
	}
}

// order is the schema of the validation tests: nested objects, arrays,
// and most of the assertion keywords.
const order = `{
	"type": "object",
	"required": ["amount", "currency"],
	"additionalProperties": false,
	"properties": {
		"amount": {"type": "number", "minimum": 0},
		"currency": {"enum": ["EUR", "USD"]},
		"email": {"type": "string", "format": "email"},
		"code": {"type": "string", "pattern": "^[A-Z]{3}$", "maxLength": 3},
		"customer": {
			"type": "object",
			"required": ["id"],
			"properties": {
				"id": {"type": "string", "minLength": 2},
				"address": {"type": "object", "properties": {"zip": {"type": "string"}}}
			}
		},
		"lines": {
			"type": "array",
			"maxItems": 3,
			"items": {
				"type": "object",
				"required": ["sku"],
				"properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "exclusiveMinimum": 0}}
			}
		},
		"tags": {"type": "array", "uniqueItems": true},
		"ref": {"anyOf": [{"type": "string"}, {"type": "null"}]},
		"forbidden": false
	}
}`

func TestValidatePaths(t *testing.T) {
	c, err := schema.Compile([]byte(order))
	if err != nil {
		t.Fatal(err)
	}
	valid := func() map[string]any {
		return map[string]any{"amount": 12.5, "currency": "EUR"}
	}
	with := func(k string, v any) map[string]any {
		m := valid()
		m[k] = v
		return m
	}
	without := func(k string) map[string]any {
		m := valid()
		delete(m, k)
		return m
	}
	tests := []struct {
		name  string
		md    map[string]any
		field string
		msg   string
	}{
		{"minimum", with("amount", -1.0), "metadata.amount", "minimum: must be >= 0"},
		{"type", with("amount", "12"), "metadata.amount", "type: must be number, not string"},
		{"required", without("currency"), "metadata.currency", "required: missing property currency"},
		{"required two", map[string]any{}, "metadata.amount", "required: missing properties amount, currency"},
		{"enum", with("currency", "GBP"), "metadata.currency", `enum: must be one of ["EUR","USD"]`},
		{"format", with("email", "not-an-email"), "metadata.email", "format: must be a valid email"},
		{"pattern", with("code", "eu"), "metadata.code", "pattern: must match ^[A-Z]{3}$"},
		{"additional property", with("colour", "red"), "metadata.colour", "additionalProperties: property colour is not allowed"},
		{"false schema", with("forbidden", 1.0), "metadata.forbidden", "false: no value is allowed here"},
		{"nested required", with("customer", map[string]any{}), "metadata.customer.id", "required: missing property id"},
		{"nested minLength", with("customer", map[string]any{"id": "x"}), "metadata.customer.id", "minLength: must be at least 2 characters long"},
		{"deeply nested", with("customer", map[string]any{"id": "c1", "address": map[string]any{"zip": 75001.0}}), "metadata.customer.address.zip", "type: must be string, not number"},
		{"array item", with("lines", []any{map[string]any{"sku": "a"}, map[string]any{"sku": "b", "qty": 0.0}}), "metadata.lines[1].qty", "exclusiveMinimum: must be > 0"},
		{"array item required", with("lines", []any{map[string]any{"sku": "a"}, map[string]any{}}), "metadata.lines[1].sku", "required: missing property sku"},
		{"integer", with("lines", []any{map[string]any{"sku": "a", "qty": 1.5}}), "metadata.lines[0].qty", "type: must be integer, not number"},
		{"maxItems", with("lines", []any{map[string]any{"sku": "a"}, map[string]any{"sku": "a"}, map[string]any{"sku": "a"}, map[string]any{"sku": "a"}}), "metadata.lines", "maxItems: must have at most 3 items"},
		{"uniqueItems", with("tags", []any{"a", "b", "a"}), "metadata.tags", "uniqueItems: items 0 and 2 are equal"},
		{"anyOf", with("ref", 3.0), "metadata.ref", "anyOf: matches none of the alternatives (first: type: must be string, not number)"},
		{"json.Number", with("amount", json.Number("-3")), "metadata.amount", "minimum: must be >= 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, c.Validate("metadata", tt.md), trail.EINVALID, tt.field, tt.msg)
		})
	}
	t.Run("valid", func(t *testing.T) {
		md := with("lines", []any{map[string]any{"sku": "a", "qty": 2.0}})
		md["customer"] = map[string]any{"id": "c1", "address": map[string]any{"zip": "75001"}}
		md["email"] = "ada@example.com"
		md["ref"] = nil
		if err := c.Validate("metadata", md); err != nil {
			t.Fatalf("valid metadata: %v", err)
		}
	})
	// Metadata whose check could cost more than MaxChecks is refused
	// unchecked.
	t.Run("too costly", func(t *testing.T) {
		wide, err := schema.Compile([]byte(`{"properties":{"a":{"items":{"anyOf":[` + strings.TrimSuffix(strings.Repeat(`{"type":"string"},`, 900), ",") + `]}}}}`))
		if err != nil {
			t.Fatal(err)
		}
		arr := make([]any, 20000)
		for i := range arr {
			arr[i] = "x"
		}
		wantError(t, wide.Validate("metadata", map[string]any{"a": arr}), trail.ETOOLARGE, "metadata", "more than 50000 checks")
		if err := wide.Validate("metadata", map[string]any{"a": arr[:10]}); err != nil {
			t.Fatalf("10 items: %v", err)
		}
		var deep any = "x"
		for range 40 {
			deep = []any{deep}
		}
		wantError(t, c.Validate("metadata", map[string]any{"deep": deep}), trail.ETOOLARGE, "metadata", "too deeply nested")
	})
	// With several failures, the first by path is named, every time.
	for range 20 {
		md := map[string]any{"amount": -1.0, "currency": "GBP", "code": "x"}
		wantError(t, c.Validate("metadata", md), trail.EINVALID, "metadata.amount", "minimum")
	}
}
