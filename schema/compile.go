package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/trail-audit/trail"
)

// Limits on a schema document.
const (
	// MaxSchemaBytes bounds the size of a schema document.
	MaxSchemaBytes = 64 << 10
	// MaxSchemaDepth bounds how deeply objects and arrays nest in a
	// schema document: enough for metadata nested as deeply as an event
	// allows (32 levels, two levels each in a schema: properties, name).
	MaxSchemaDepth = 72
	// MaxComplexity bounds the number of subschemas one value of an
	// event can be checked against, with every $ref followed, so that a
	// small document of references to references, or a recursive schema
	// that branches, cannot make validation exponentially slow.
	MaxComplexity = 1000
	// MaxChecks bounds the work of validating one event's metadata: the
	// sum over its values of the subschemas that may apply to each. Above
	// it the event is refused (ETOOLARGE) rather than checked, since the
	// cost of a check, mostly of failures, is a few microseconds.
	MaxChecks = 50000
)

// Draft2020 is the only $schema a document may name (or it names none).
const Draft2020 = "https://json-schema.org/draft/2020-12/schema"

// baseURL is the location every document is compiled at. Nothing is ever
// loaded from it: the document is added as a resource under this name.
const baseURL = "trail:///schema.json"

// Compiled is a compiled schema. It is safe for concurrent use.
type Compiled struct {
	s *jsonschema.Schema
	// checks[d] bounds the subschemas applied to one value at depth d.
	checks [maxValueDepth + 1]int
}

// refuseLoader is the URL loader of the compiler: it loads nothing, so a
// schema can neither reach the network nor the file system.
type refuseLoader struct{}

var errExternalRef = errors.New("external references are disabled")

func (refuseLoader) Load(string) (any, error) { return nil, errExternalRef }

// Compile checks and compiles a schema document: JSON Schema draft
// 2020-12 (a document naming another $schema is refused), at most
// MaxSchemaBytes, nested at most MaxSchemaDepth deep, and self-contained:
// a $ref or $dynamicRef may only point into the document itself (its
// $defs, anchors or embedded $id resources); anything else, the
// meta-schemas included, is refused rather than loaded. "format" is an
// assertion (an email must be an email).
//
// Errors are *trail.Error: ETOOLARGE for an oversized document, else
// EINVALID with Field the dotted path of the problem inside the document
// (e.g. "properties.amount.minimum") and a message that names the rule.
// Compile never panics, whatever the input.
func Compile(doc []byte) (c *Compiled, err error) {
	defer func() {
		if p := recover(); p != nil {
			c, err = nil, trail.FieldError("", "schema cannot be compiled: %v", p)
		}
	}()
	if len(doc) > MaxSchemaBytes {
		return nil, &trail.Error{Code: trail.ETOOLARGE, Message: "a schema is at most " + strconv.Itoa(MaxSchemaBytes) + " bytes"}
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, trail.FieldError("", "a schema must be one JSON document: %v", err)
	}
	if err := checkDepth(v, nil, 1); err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case bool:
	case map[string]any:
		if s, ok := x["$schema"]; ok && s != Draft2020 && s != Draft2020+"#" {
			return nil, trail.FieldError("$schema", "only JSON Schema draft 2020-12 is supported: omit $schema or set it to %s", Draft2020)
		}
	default:
		return nil, trail.FieldError("", "a schema must be a JSON object or a boolean")
	}
	comp := jsonschema.NewCompiler()
	comp.DefaultDraft(jsonschema.Draft2020)
	comp.AssertFormat()
	comp.UseLoader(refuseLoader{})
	if err := comp.AddResource(baseURL, v); err != nil {
		return nil, trail.FieldError("", "invalid schema: %s", cleanMessage(err.Error()))
	}
	s, err := comp.Compile(baseURL)
	if err != nil {
		return nil, compileError(err, v)
	}
	if err := checkGraph(s); err != nil {
		return nil, err
	}
	c = &Compiled{s: s}
	c.checks = complexity(s, MaxComplexity)
	return c, nil
}

// checkDepth refuses documents nested deeper than MaxSchemaDepth.
// depth is the number of objects and arrays around v, itself included.
func checkDepth(v any, path []string, depth int) error {
	switch v.(type) {
	case map[string]any, []any:
		if depth > MaxSchemaDepth {
			return trail.FieldError(dotted(path), "objects and arrays nest deeper than %d levels", MaxSchemaDepth)
		}
	}
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if err := checkDepth(c, append(path, k), depth+1); err != nil {
				return err
			}
		}
	case []any:
		for i, c := range x {
			if err := checkDepth(c, append(path, strconv.Itoa(i)), depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// compileError turns an error of the compiler into an EINVALID error
// naming the place in the document.
func compileError(err error, doc any) error {
	var sve *jsonschema.SchemaValidationError
	if errors.As(err, &sve) {
		var ve *jsonschema.ValidationError
		if errors.As(sve.Err, &ve) {
			field, msg := describe(leaf(ve), doc)
			return trail.FieldError(field, "not a valid draft 2020-12 schema: %s", msg)
		}
	}
	var le *jsonschema.LoadURLError
	if errors.As(err, &le) {
		return trail.FieldError("$ref", "%s is outside this schema: a schema may only refer to itself (#/$defs/…, anchors, embedded $id); nothing is loaded from the network or from files", cleanMessage(le.URL))
	}
	var pe *jsonschema.JSONPointerNotFoundError
	if errors.As(err, &pe) {
		return trail.FieldError("$ref", "%s does not exist in this schema", cleanMessage(pe.URL))
	}
	var ae *jsonschema.AnchorNotFoundError
	if errors.As(err, &ae) {
		return trail.FieldError("$ref", "anchor %s does not exist in this schema", cleanMessage(ae.Reference))
	}
	var re *jsonschema.InvalidRegexError
	if errors.As(err, &re) {
		return trail.FieldError(pointerField(re.URL), "pattern %q is not a valid regular expression (RE2 syntax): %v", re.Regex, re.Err)
	}
	return trail.FieldError("", "invalid schema: %s", cleanMessage(err.Error()))
}

// cleanMessage shortens the compiler's messages: the document's internal
// location becomes "#".
func cleanMessage(s string) string {
	s = strings.TrimPrefix(s, "jsonschema: ")
	return strings.ReplaceAll(s, baseURL, "")
}

// pointerField turns a location of the document ("trail:///schema.json#/a/b")
// into a dotted field ("a.b").
func pointerField(loc string) string {
	_, frag, _ := strings.Cut(loc, "#")
	if frag == "" {
		return ""
	}
	if u, err := url.PathUnescape(frag); err == nil {
		frag = u
	}
	var toks []string
	for _, t := range strings.Split(strings.TrimPrefix(frag, "/"), "/") {
		toks = append(toks, strings.NewReplacer("~1", "/", "~0", "~").Replace(t))
	}
	return dotted(toks)
}

func dotted(toks []string) string { return strings.Join(toks, ".") }

// checkGraph walks the compiled schema: every reference must stay inside
// the document, every subschema must be draft 2020-12, no chain of
// references and applicators may loop back to itself on the same value,
// and the expanded size must stay within MaxComplexity.
func checkGraph(root *jsonschema.Schema) error {
	seen := map[*jsonschema.Schema]bool{}
	var walk func(s *jsonschema.Schema) error
	walk = func(s *jsonschema.Schema) error {
		if s == nil || seen[s] {
			return nil
		}
		seen[s] = true
		if isMeta(s.Location) {
			return nil // reported by the referrer
		}
		if s.DraftVersion != 2020 {
			return trail.FieldError(pointerField(s.Location), "only JSON Schema draft 2020-12 is supported (this subschema is draft %d)", s.DraftVersion)
		}
		for _, r := range refs(s) {
			if isMeta(r.Location) {
				return trail.FieldError(pointerField(s.Location), "$ref to %s is outside this schema: a schema may only refer to itself", r.Location)
			}
		}
		for _, c := range children(s, true) {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root); err != nil {
		return err
	}
	if loc := inPlaceCycle(root); loc != "" {
		return trail.FieldError(pointerField(loc), "this subschema refers back to itself without descending into the value: validation would never end")
	}
	if checks := complexity(root, MaxComplexity); slices.Max(checks[:]) > MaxComplexity {
		return trail.FieldError("", "the schema is too complex: with its references followed, one value could be checked against more than %d subschemas", MaxComplexity)
	}
	return nil
}

func isMeta(loc string) bool {
	return strings.HasPrefix(loc, "https://json-schema.org/") || strings.HasPrefix(loc, "http://json-schema.org/")
}

// refs returns the targets of s's references.
func refs(s *jsonschema.Schema) []*jsonschema.Schema {
	var out []*jsonschema.Schema
	if s.Ref != nil {
		out = append(out, s.Ref)
	}
	if s.RecursiveRef != nil {
		out = append(out, s.RecursiveRef)
	}
	if s.DynamicRef != nil && s.DynamicRef.Ref != nil {
		out = append(out, s.DynamicRef.Ref)
	}
	return out
}

// children returns the subschemas s applies: with inner, also those that
// apply to values inside the value (properties, items, …); without, only
// those that apply to the value itself (references, allOf, if, …).
func children(s *jsonschema.Schema, inner bool) []*jsonschema.Schema {
	out := refs(s)
	out = append(out, s.AllOf...)
	out = append(out, s.AnyOf...)
	out = append(out, s.OneOf...)
	out = append(out, s.Not, s.If, s.Then, s.Else)
	for _, k := range sortedKeys(s.DependentSchemas) {
		out = append(out, s.DependentSchemas[k])
	}
	for _, k := range sortedKeys(s.Dependencies) {
		if d, ok := s.Dependencies[k].(*jsonschema.Schema); ok {
			out = append(out, d)
		}
	}
	if !inner {
		return out
	}
	for _, k := range sortedKeys(s.Properties) {
		out = append(out, s.Properties[k])
	}
	return append(out, anyChildValue(s)...)
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// inPlaceCycle returns the location of a subschema that reaches itself
// through references and in-place applicators only, or "".
func inPlaceCycle(root *jsonschema.Schema) string {
	const (
		white = iota
		grey
		black
	)
	color := map[*jsonschema.Schema]int{}
	var found string
	var visit func(s *jsonschema.Schema)
	visit = func(s *jsonschema.Schema) {
		color[s] = grey
		for _, c := range children(s, false) {
			if c == nil || found != "" {
				continue
			}
			switch color[c] {
			case grey:
				found = c.Location
			case white:
				visit(c)
			}
		}
		color[s] = black
	}
	all := map[*jsonschema.Schema]bool{}
	var collect func(s *jsonschema.Schema)
	collect = func(s *jsonschema.Schema) {
		if s == nil || all[s] {
			return
		}
		all[s] = true
		for _, c := range children(s, true) {
			collect(c)
		}
	}
	collect(root)
	order := make([]*jsonschema.Schema, 0, len(all))
	for s := range all {
		order = append(order, s)
	}
	slices.SortFunc(order, func(a, b *jsonschema.Schema) int { return strings.Compare(a.Location, b.Location) })
	for _, s := range order {
		if color[s] == white && found == "" {
			visit(s)
		}
	}
	return found
}

// maxValueDepth is how deeply an event's values may nest (trail's limit),
// so how far a recursive schema can descend.
const maxValueDepth = 32

// complexity bounds, for each depth d up to maxValueDepth, the number of
// subschemas that can be applied to any one value at depth d of an
// instance when root is applied to the instance: subschemas applied to the same value
// (references, allOf, anyOf, …) add up, and so do those applied to the
// same child value (items, additionalProperties, patternProperties),
// while properties of different names apply to different values. It
// stops counting above limit. In-place cycles must have been refused.
func complexity(root *jsonschema.Schema, limit int) (checks [maxValueDepth + 1]int) {
	type key struct {
		s *jsonschema.Schema
		d int
	}
	memo := map[key]int{}
	var w func(s *jsonschema.Schema, d int) int
	w = func(s *jsonschema.Schema, d int) int {
		if s == nil || d < 0 {
			return 0
		}
		k := key{s, d}
		if n, ok := memo[k]; ok {
			return n
		}
		n := 0
		if d == 0 {
			n = 1
		}
		for _, c := range children(s, false) {
			n = min(n+w(c, d), limit+1)
		}
		if d > 0 {
			for _, c := range anyChildValue(s) {
				n = min(n+w(c, d-1), limit+1)
			}
			most := 0
			for _, p := range s.Properties {
				most = max(most, w(p, d-1))
			}
			n = min(n+most, limit+1)
		}
		memo[k] = n
		return n
	}
	for d := range checks {
		checks[d] = w(root, d)
		if checks[d] > limit {
			break
		}
	}
	return checks
}

// anyChildValue returns the subschemas of s that may apply to any one
// value inside the value (all of them to the same one, at worst).
func anyChildValue(s *jsonschema.Schema) []*jsonschema.Schema {
	var out []*jsonschema.Schema
	for _, p := range s.PatternProperties {
		out = append(out, p)
	}
	if a, ok := s.AdditionalProperties.(*jsonschema.Schema); ok {
		out = append(out, a)
	}
	out = append(out, s.PropertyNames, s.UnevaluatedProperties, s.Contains, s.Items2020, s.UnevaluatedItems, s.ContentSchema)
	out = append(out, s.PrefixItems...)
	switch it := s.Items.(type) {
	case *jsonschema.Schema:
		out = append(out, it)
	case []*jsonschema.Schema:
		out = append(out, it...)
	}
	if a, ok := s.AdditionalItems.(*jsonschema.Schema); ok {
		out = append(out, a)
	}
	return out
}

// Validate checks v, the value at path root of an event (e.g.
// "metadata"), and returns nil or an EINVALID *trail.Error whose Field is
// the path of the failing value, such as "metadata.amount" or
// "metadata.items[2].sku", and whose message names the rule, such as
// "minimum: must be >= 0". When several values fail, the error names the
// first by path. A value that could take more than MaxChecks checks, or
// nests deeper than 32 levels, is refused unchecked with ETOOLARGE. It is
// safe to call concurrently.
func (c *Compiled) Validate(root string, v any) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &trail.Error{Code: trail.EINTERNAL, Message: "schema validation failed", Err: fmt.Errorf("schema: panic: %v", p)}
		}
	}()
	if n := c.cost(v, 0, 0); n > MaxChecks {
		return &trail.Error{Code: trail.ETOOLARGE, Field: root, Message: fmt.Sprintf("too large or too deeply nested to check against its schema (more than %d checks)", MaxChecks)}
	}
	verr := c.s.Validate(v)
	if verr == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(verr, &ve) {
		return &trail.Error{Code: trail.EINTERNAL, Message: "schema validation failed", Err: verr}
	}
	field, msg := describe(leaf(ve), v)
	if field == "" {
		field = root
	} else if !strings.HasPrefix(field, "[") {
		field = root + "." + field
	} else {
		field = root + field
	}
	return trail.FieldError(field, "%s", msg)
}

// cost bounds the number of subschemas applied to v, at depth d, and to
// the values inside it, adding to n and stopping above MaxChecks.
func (c *Compiled) cost(v any, d, n int) int {
	if d > maxValueDepth {
		return MaxChecks + 1
	}
	n += c.checks[d]
	switch x := v.(type) {
	case map[string]any:
		for _, y := range x {
			if n = c.cost(y, d+1, n); n > MaxChecks {
				return n
			}
		}
	case []any:
		for _, y := range x {
			if n = c.cost(y, d+1, n); n > MaxChecks {
				return n
			}
		}
	}
	return n
}

// leaf returns the error that best explains e: the first, by instance
// location and keyword, of the errors that are not mere groups of others.
func leaf(e *jsonschema.ValidationError) *jsonschema.ValidationError {
	var all []*jsonschema.ValidationError
	var collect func(e *jsonschema.ValidationError)
	collect = func(e *jsonschema.ValidationError) {
		switch e.ErrorKind.(type) {
		case *kind.Schema, *kind.Reference, *kind.Group, *kind.AllOf:
			if len(e.Causes) > 0 {
				for _, c := range e.Causes {
					collect(c)
				}
				return
			}
		}
		all = append(all, e)
	}
	collect(e)
	return slices.MinFunc(all, func(a, b *jsonschema.ValidationError) int {
		if c := slices.Compare(a.InstanceLocation, b.InstanceLocation); c != 0 {
			return c
		}
		return slices.Compare(a.ErrorKind.KeywordPath(), b.ErrorKind.KeywordPath())
	})
}

var printer = message.NewPrinter(language.English)

// describe returns the path (relative to the validated value, in
// trail's dotted form) and the message of a validation error. instance,
// when not nil, is the validated value, which tells array indexes from
// object keys.
func describe(e *jsonschema.ValidationError, instance any) (field, msg string) {
	field = instancePath(instance, e.InstanceLocation)
	join := func(name string) string {
		if field == "" {
			return name
		}
		return field + "." + name
	}
	switch k := e.ErrorKind.(type) {
	case *kind.Type:
		return field, fmt.Sprintf("type: must be %s, not %s", strings.Join(k.Want, " or "), k.Got)
	case *kind.Required:
		if len(k.Missing) == 1 {
			return join(k.Missing[0]), "required: missing property " + k.Missing[0]
		}
		return join(k.Missing[0]), "required: missing properties " + strings.Join(k.Missing, ", ")
	case *kind.DependentRequired:
		return join(k.Missing[0]), fmt.Sprintf("dependentRequired: %s requires %s", k.Prop, strings.Join(k.Missing, ", "))
	case *kind.AdditionalProperties:
		ps := slices.Sorted(slices.Values(k.Properties))
		if len(ps) == 1 {
			return join(ps[0]), "additionalProperties: property " + ps[0] + " is not allowed"
		}
		return join(ps[0]), "additionalProperties: properties " + strings.Join(ps, ", ") + " are not allowed"
	case *kind.PropertyNames:
		return join(k.Property), fmt.Sprintf("propertyNames: the name %q is not allowed", k.Property)
	case *kind.Minimum:
		return field, "minimum: must be >= " + ratString(k.Want)
	case *kind.Maximum:
		return field, "maximum: must be <= " + ratString(k.Want)
	case *kind.ExclusiveMinimum:
		return field, "exclusiveMinimum: must be > " + ratString(k.Want)
	case *kind.ExclusiveMaximum:
		return field, "exclusiveMaximum: must be < " + ratString(k.Want)
	case *kind.MultipleOf:
		return field, "multipleOf: must be a multiple of " + ratString(k.Want)
	case *kind.MinLength:
		return field, fmt.Sprintf("minLength: must be at least %d characters long", k.Want)
	case *kind.MaxLength:
		return field, fmt.Sprintf("maxLength: must be at most %d characters long", k.Want)
	case *kind.Pattern:
		return field, fmt.Sprintf("pattern: must match %s", k.Want)
	case *kind.Format:
		return field, fmt.Sprintf("format: must be a valid %s", k.Want)
	case *kind.Enum:
		return field, "enum: must be one of " + shortJSON(k.Want)
	case *kind.Const:
		return field, "const: must be " + shortJSON(k.Want)
	case *kind.MinItems:
		return field, fmt.Sprintf("minItems: must have at least %d items", k.Want)
	case *kind.MaxItems:
		return field, fmt.Sprintf("maxItems: must have at most %d items", k.Want)
	case *kind.UniqueItems:
		return field, fmt.Sprintf("uniqueItems: items %d and %d are equal", k.Duplicates[0], k.Duplicates[1])
	case *kind.MinProperties:
		return field, fmt.Sprintf("minProperties: must have at least %d properties", k.Want)
	case *kind.MaxProperties:
		return field, fmt.Sprintf("maxProperties: must have at most %d properties", k.Want)
	case *kind.FalseSchema:
		return field, "false: no value is allowed here"
	case *kind.Not:
		return field, "not: must not match the schema under not"
	case *kind.AnyOf:
		return field, "anyOf: matches none of the alternatives" + firstCause(e, instance)
	case *kind.OneOf:
		if len(k.Subschemas) == 0 {
			return field, "oneOf: matches none of the alternatives" + firstCause(e, instance)
		}
		return field, fmt.Sprintf("oneOf: matches alternatives %d and %d, want exactly one", k.Subschemas[0], k.Subschemas[1])
	}
	name := strings.Join(e.ErrorKind.KeywordPath(), "/")
	msg = e.ErrorKind.LocalizedString(printer)
	if name != "" && !strings.HasPrefix(msg, name) {
		msg = name + ": " + msg
	}
	return field, cleanMessage(msg)
}

// firstCause describes why the first alternative of a failed anyOf or
// oneOf did not match, as " (first: …)".
func firstCause(e *jsonschema.ValidationError, instance any) string {
	for {
		if len(e.Causes) == 0 {
			return ""
		}
		e = leaf(e.Causes[0])
		switch k := e.ErrorKind.(type) {
		case *kind.AnyOf:
			continue
		case *kind.OneOf:
			if len(k.Subschemas) == 0 {
				continue
			}
		}
		_, msg := describe(e, instance)
		return " (first: " + msg + ")"
	}
}

// instancePath renders a location inside instance in trail's path syntax:
// keys joined by dots, array indexes in brackets ("items[2].sku"). Without
// the instance every step is a key.
func instancePath(instance any, loc []string) string {
	var b strings.Builder
	v := instance
	for _, tok := range loc {
		switch x := v.(type) {
		case []any:
			if i, err := strconv.Atoi(tok); err == nil && i >= 0 && i < len(x) {
				b.WriteString("[" + tok + "]")
				v = x[i]
				continue
			}
		case map[string]any:
			v = x[tok]
		default:
			v = nil
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}

func ratString(r *big.Rat) string {
	if r == nil {
		return "?"
	}
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// shortJSON renders v as JSON, cut at 200 bytes.
func shortJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}
