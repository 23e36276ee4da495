package trail

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// DecodeEvent decodes a stored leaf (or any event JSON) into an Event. It
// accepts exactly what encoding/json.Unmarshal into an Event accepts and
// gives the same Event: metadata and change values are map[string]any,
// []any, string, float64, bool or nil. Errors are encoding/json's, prefixed
// "decode event: ".
//
// Leaves are parsed by a decoder written for the Event shape; input it does
// not expect (a value of the wrong type, a null or repeated field, a key
// that differs from a field name only in case or that uses escapes) is
// handed to encoding/json instead, so both paths always agree. It is safe
// to call concurrently.
func DecodeEvent(data []byte) (*Event, error) {
	e := new(Event)
	if decodeEventFast(data, e) {
		return e, nil
	}
	e = new(Event)
	if err := json.Unmarshal(data, e); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	return e, nil
}

// decodeEventFast decodes data into the zero Event e and reports whether
// it did. When it returns false e is in an unspecified state and the caller
// must decode with encoding/json. When it returns true, json.Unmarshal
// would have succeeded with the same result.
func decodeEventFast(data []byte, e *Event) bool {
	d := eventDecoder{data: data}
	return d.event(e)
}

// serverFields are the top-level fields only the server sets.
const serverFields = fSeq | fReceivedAt | fMasked | fErased | fLeafHash

// DecodeClientEvent is the fast path for decoding an event a client sent:
// it succeeds only when data is one JSON object whose keys at every level
// are fields of the wire shape and which sets none of the server fields
// (seq, received_at, masked, erased, leaf_hash). When ok is false the
// caller decodes data strictly another way, to report what is wrong. The
// result equals what encoding/json decodes into an Event, with numbers as
// float64.
func DecodeClientEvent(data []byte) (e *Event, ok bool) {
	e = new(Event)
	d := eventDecoder{data: data, strict: true}
	if !d.event(e) || d.seen&serverFields != 0 {
		return nil, false
	}
	return e, true
}

// EventSummary is what a follower of the log needs of every event before
// it decides whether to decode it whole: its action and its times.
type EventSummary struct {
	Action     string
	Time       time.Time
	ReceivedAt time.Time
}

// SummarizeEvent decodes only the top-level "action", "time" and
// "received_at" of a stored leaf, checking the JSON syntax of the other
// members without decoding them. When ok, the three fields are those
// DecodeEvent gives for data (absent ones are zero). ok is false for
// input whose three fields the fast decoder would not decode (a repeated
// or null one, a key with escapes or upper-case letters, which
// encoding/json may match to a field, trailing data): decode it whole.
// It does not validate the members it skips beyond their syntax.
func SummarizeEvent(data []byte) (s EventSummary, ok bool) {
	d := eventDecoder{data: data}
	if !d.objectStart() {
		return s, false
	}
	var seen uint32
	for more := d.firstMember(); more; more = d.nextMember() {
		key, ok := d.fieldKey()
		if !ok {
			return s, false
		}
		var bit uint32
		switch string(key) {
		case "action":
			bit, ok = fAction, d.stringField(&s.Action)
		case "time":
			bit, ok = fTime, d.timeField(&s.Time)
		case "received_at":
			bit, ok = fReceivedAt, d.timeField(&s.ReceivedAt)
		default:
			for _, c := range key {
				if 'A' <= c && c <= 'Z' {
					return s, false
				}
			}
			ok = d.skipValue(0)
		}
		if !ok || seen&bit != 0 {
			return s, false
		}
		seen |= bit
	}
	if d.off < 0 {
		return s, false
	}
	d.skipSpace()
	return s, d.off == len(d.data)
}

// DecodeClientEventPrefix is DecodeClientEvent for a JSON object at the
// start of data (after JSON whitespace) that data may continue past, as
// in an array of events: n is the offset in data just after the object's
// closing brace. It reads no byte of data at or after n, and ok is true
// exactly when DecodeClientEvent(data[:n]) is ok, with the same event; so
// DecodeClientEvent(data) is ok exactly when this is and data[n:] is JSON
// whitespace.
func DecodeClientEventPrefix(data []byte) (e *Event, n int, ok bool) {
	e = new(Event)
	d := eventDecoder{data: data, strict: true}
	if !d.eventObject(e) || d.seen&serverFields != 0 {
		return nil, 0, false
	}
	return e, d.off, true
}

// ClientEventDecoder decodes the events of one request body, as
// DecodeClientEventPrefix does and with equal results, in fewer
// allocations: the strings of the events it returns (their tenant
// excepted) are cut from shared blocks of up to 4 KiB, and an event's
// resource, source and request are allocated with it. Keeping one
// string of an event therefore keeps its block: it suits events that
// live about as long as the request, as those of an ingest do (a store
// copies what it keeps into its leaves; the tenant, which a store keeps
// as a name, has its own allocation, shared by consecutive events of one
// tenant). The zero value is ready to use; it is not safe for concurrent
// use.
type ClientEventDecoder struct {
	arena stringArena
}

// DecodePrefix is DecodeClientEventPrefix(data).
func (c *ClientEventDecoder) DecodePrefix(data []byte) (e *Event, n int, ok bool) {
	ce := new(clientEventAlloc)
	e = &ce.Event
	d := eventDecoder{data: data, strict: true, arena: &c.arena, parts: &ce.eventParts}
	if !d.eventObject(e) || d.seen&serverFields != 0 {
		return nil, 0, false
	}
	return e, d.off, true
}

// clientEventAlloc is an event decoded by a ClientEventDecoder and the
// parts its pointers may point to, allocated at once.
type clientEventAlloc struct {
	Event
	eventParts
}

// eventParts are the objects an Event points to.
type eventParts struct {
	resource Resource
	source   Source
	request  Request
	duration float64
}

// stringArena makes strings by copying their bytes into a shared block
// (see ClientEventDecoder). A strings.Builder's String() stays valid as
// the builder grows, and bytes once written are never changed, so every
// string cut from it is immutable. A nil *stringArena allocates each
// string on its own.
type stringArena struct {
	b      strings.Builder
	tenant string // the last tenant made, reused when the next is equal
}

// arenaBlock is the size of a stringArena's blocks; longer strings have
// their own allocation.
const arenaBlock = 4 << 10

// string returns b as a string; rest is how many bytes of input follow b,
// which bounds the size of a new block.
func (a *stringArena) string(b []byte, rest int) string {
	if a == nil || len(b) > arenaBlock/8 {
		return string(b)
	}
	if a.b.Cap()-a.b.Len() < len(b) {
		// A block no larger than the input that remains (escapes
		// only shorten strings, except invalid UTF-8, which the
		// max covers): a single event's strings take one small
		// allocation.
		a.b = strings.Builder{}
		a.b.Grow(max(len(b), min(arenaBlock, len(b)+rest)))
	}
	start := a.b.Len()
	a.b.Write(b)
	return a.b.String()[start:]
}

// tenantString returns b as a string with its own allocation, the one of
// the previous call when b is equal to it.
func (a *stringArena) tenantString(b []byte) string {
	if a == nil {
		return string(b)
	}
	if a.tenant != string(b) {
		a.tenant = string(b)
	}
	return a.tenant
}

// maxDecodeDepth bounds the nesting of generic values the fast decoder
// follows; deeper input goes to encoding/json, which has its own limit.
const maxDecodeDepth = 500

// eventDecoder is a JSON parser over data specialised to the Event shape.
// Every method that returns bool returns false both for a syntax error and
// for input the fast path does not handle; the caller then falls back to
// encoding/json, which reports the error if there is one.
type eventDecoder struct {
	data   []byte
	off    int
	strict bool         // unknown keys fail instead of being skipped
	seen   uint32       // top-level fields present, after event
	arena  *stringArena // where strings come from; nil: allocated one by one
	parts  *eventParts  // where resource, source and request go; nil: new ones
}

// Top-level fields, as bits for detecting repeated keys.
const (
	fID uint32 = 1 << iota
	fSeq
	fTenant
	fTime
	fReceivedAt
	fAction
	fOutcome
	fSeverity
	fActor
	fResource
	fSource
	fRequest
	fChanges
	fReason
	fMetadata
	fMasked
	fErased
	fLeafHash
)

// event decodes data, one object between JSON whitespace, into e.
func (d *eventDecoder) event(e *Event) bool {
	if !d.eventObject(e) {
		return false
	}
	d.skipSpace()
	return d.off == len(d.data)
}

// eventObject decodes the object at off (after whitespace) into e,
// leaving off just after its closing brace.
func (d *eventDecoder) eventObject(e *Event) bool {
	if !d.objectStart() {
		return false
	}
	var seen uint32
	for more := d.firstMember(); more; more = d.nextMember() {
		key, ok := d.fieldKey()
		if !ok {
			return false
		}
		var bit uint32
		switch string(key) {
		case "id":
			bit, ok = fID, d.stringField(&e.ID)
		case "seq":
			bit, ok = fSeq, d.int64Field(&e.Seq)
		case "tenant":
			bit, ok = fTenant, d.tenantField(&e.Tenant)
		case "time":
			bit, ok = fTime, d.timeField(&e.Time)
		case "received_at":
			bit, ok = fReceivedAt, d.timeField(&e.ReceivedAt)
		case "action":
			bit, ok = fAction, d.stringField(&e.Action)
		case "outcome":
			bit, ok = fOutcome, d.stringField(&e.Outcome)
		case "severity":
			bit, ok = fSeverity, d.stringField(&e.Severity)
		case "actor":
			bit, ok = fActor, d.actor(&e.Actor)
		case "resource":
			if e.Resource = new(Resource); d.parts != nil {
				e.Resource = &d.parts.resource
			}
			bit, ok = fResource, d.resource(e.Resource)
		case "source":
			if e.Source = new(Source); d.parts != nil {
				e.Source = &d.parts.source
			}
			bit, ok = fSource, d.source(e.Source)
		case "request":
			if e.Request = new(Request); d.parts != nil {
				e.Request = &d.parts.request
			}
			bit, ok = fRequest, d.request(e.Request)
		case "changes":
			bit, ok = fChanges, d.changes(&e.Changes)
		case "reason":
			bit, ok = fReason, d.stringField(&e.Reason)
		case "metadata":
			bit, ok = fMetadata, d.metadata(&e.Metadata)
		case "masked":
			bit, ok = fMasked, d.stringList(&e.Masked)
		case "erased":
			bit, ok = fErased, d.boolField(&e.Erased)
		case "leaf_hash":
			bit, ok = fLeafHash, d.hashField(&e.LeafHash)
		default:
			ok = d.unknownField(key)
		}
		// A repeated key would merge into the first value (pointers,
		// maps, slices): leave that to encoding/json.
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
	}
	d.seen = seen
	return d.off >= 0
}

func (d *eventDecoder) actor(a *Actor) bool {
	if !d.objectStart() {
		return false
	}
	for more := d.firstMember(); more; more = d.nextMember() {
		key, ok := d.fieldKey()
		if !ok {
			return false
		}
		switch string(key) {
		case "id":
			ok = d.stringField(&a.ID)
		case "name":
			ok = d.stringField(&a.Name)
		case "type":
			ok = d.stringField(&a.Type)
		case "email":
			ok = d.stringField(&a.Email)
		default:
			ok = d.unknownField(key)
		}
		if !ok {
			return false
		}
	}
	return d.off >= 0
}

func (d *eventDecoder) resource(r *Resource) bool {
	if !d.objectStart() {
		return false
	}
	for more := d.firstMember(); more; more = d.nextMember() {
		key, ok := d.fieldKey()
		if !ok {
			return false
		}
		switch string(key) {
		case "type":
			ok = d.stringField(&r.Type)
		case "id":
			ok = d.stringField(&r.ID)
		case "name":
			ok = d.stringField(&r.Name)
		default:
			ok = d.unknownField(key)
		}
		if !ok {
			return false
		}
	}
	return d.off >= 0
}

func (d *eventDecoder) source(s *Source) bool {
	if !d.objectStart() {
		return false
	}
	for more := d.firstMember(); more; more = d.nextMember() {
		key, ok := d.fieldKey()
		if !ok {
			return false
		}
		switch string(key) {
		case "ip":
			ok = d.stringField(&s.IP)
		case "user_agent":
			ok = d.stringField(&s.UserAgent)
		case "origin":
			ok = d.stringField(&s.Origin)
		default:
			ok = d.unknownField(key)
		}
		if !ok {
			return false
		}
	}
	return d.off >= 0
}

func (d *eventDecoder) request(r *Request) bool {
	if !d.objectStart() {
		return false
	}
	for more := d.firstMember(); more; more = d.nextMember() {
		key, ok := d.fieldKey()
		if !ok {
			return false
		}
		switch string(key) {
		case "id":
			ok = d.stringField(&r.ID)
		case "method":
			ok = d.stringField(&r.Method)
		case "path":
			ok = d.stringField(&r.Path)
		case "status":
			var n int64
			ok = d.int64Field(&n)
			r.Status = int(n)
			ok = ok && int64(r.Status) == n
		case "duration_ms":
			f := new(float64)
			if d.parts != nil && r == &d.parts.request {
				f = &d.parts.duration
			}
			ok = d.float64Field(f)
			r.DurationMS = f
		default:
			ok = d.unknownField(key)
		}
		if !ok {
			return false
		}
	}
	return d.off >= 0
}

// changes decodes an array of Change objects. Like encoding/json it gives
// an empty, non-nil slice for [].
func (d *eventDecoder) changes(cs *[]Change) bool {
	if !d.arrayStart() {
		return false
	}
	out := make([]Change, 0, 2)
	for more := d.firstElem(); more; more = d.nextElem() {
		out = append(out, Change{})
		if !d.change(&out[len(out)-1]) {
			return false
		}
	}
	*cs = out
	return d.off >= 0
}

func (d *eventDecoder) change(c *Change) bool {
	if !d.objectStart() {
		return false
	}
	for more := d.firstMember(); more; more = d.nextMember() {
		key, ok := d.fieldKey()
		if !ok {
			return false
		}
		switch string(key) {
		case "field":
			ok = d.stringField(&c.Field)
		case "old":
			c.Old, ok = d.value(0)
		case "new":
			c.New, ok = d.value(0)
		default:
			ok = d.unknownField(key)
		}
		if !ok {
			return false
		}
	}
	return d.off >= 0
}

// metadata decodes an object into a new map[string]any.
func (d *eventDecoder) metadata(m *map[string]any) bool {
	if d.peek() != '{' {
		return false
	}
	v, ok := d.object(0)
	*m = v
	return ok
}

// stringList decodes an array of strings; [] gives an empty, non-nil slice.
func (d *eventDecoder) stringList(ss *[]string) bool {
	if !d.arrayStart() {
		return false
	}
	out := make([]string, 0, 2)
	for more := d.firstElem(); more; more = d.nextElem() {
		var s string
		if !d.stringField(&s) {
			return false
		}
		out = append(out, s)
	}
	*ss = out
	return d.off >= 0
}

// fieldKey reads an object key and the colon after it. It fails (so that
// encoding/json decides) when the key has escapes or non-ASCII bytes: it
// might then match a field name only after unescaping or case folding.
func (d *eventDecoder) fieldKey() ([]byte, bool) {
	start := d.off
	if d.peek() != '"' {
		return nil, false
	}
	d.off++
	for d.off < len(d.data) {
		c := d.data[d.off]
		if c == '"' {
			key := d.data[start+1 : d.off]
			d.off++
			return key, d.colon()
		}
		if c < 0x20 || c == '\\' || c >= utf8.RuneSelf {
			return nil, false
		}
		d.off++
	}
	return nil, false
}

// unknownField skips the value of a key that names no field. encoding/json
// matches keys to fields case-insensitively, so a key with upper-case
// letters is left to it.
func (d *eventDecoder) unknownField(key []byte) bool {
	if d.strict {
		return false
	}
	for _, c := range key {
		if 'A' <= c && c <= 'Z' {
			return false
		}
	}
	return d.skipValue(0)
}

func (d *eventDecoder) stringField(s *string) bool {
	if d.peek() != '"' {
		return false
	}
	v, ok := d.str()
	*s = v
	return ok
}

// tenantField is stringField for the tenant, whose string is never cut
// from the arena (see ClientEventDecoder).
func (d *eventDecoder) tenantField(s *string) bool {
	if d.peek() != '"' {
		return false
	}
	raw, kind, ok := d.rawString()
	switch {
	case !ok:
		return false
	case kind == strASCII:
		*s = d.arena.tenantString(raw)
	case kind == strUTF8 && utf8.Valid(raw):
		*s = string(raw)
	default:
		*s = string(unquoteJSON(raw))
	}
	return true
}

// timeField decodes a time as encoding/json does: by time.Time's
// UnmarshalJSON on the quoted text.
func (d *eventDecoder) timeField(t *time.Time) bool {
	start := d.off
	if d.peek() != '"' {
		return false
	}
	if _, _, ok := d.rawString(); !ok {
		return false
	}
	return t.UnmarshalJSON(d.data[start:d.off]) == nil
}

// hashField decodes a Hash as encoding/json does: by its UnmarshalText on
// the unquoted text.
func (d *eventDecoder) hashField(h **Hash) bool {
	if d.peek() != '"' {
		return false
	}
	raw, kind, ok := d.rawString()
	if !ok {
		return false
	}
	if kind != strASCII {
		raw = unquoteJSON(raw)
	}
	*h = new(Hash)
	return (*h).UnmarshalText(raw) == nil
}

func (d *eventDecoder) boolField(b *bool) bool {
	switch d.peek() {
	case 't':
		*b = true
		return d.literal("true")
	case 'f':
		*b = false
		return d.literal("false")
	}
	return false
}

// int64Field decodes an integer as encoding/json does: strconv.ParseInt of
// the number's text, so that 1.0 or 1e3 are errors.
func (d *eventDecoder) int64Field(n *int64) bool {
	lit, isInt, ok := d.number()
	if !ok || !isInt {
		return false
	}
	if v, ok := smallInt(lit); ok {
		*n = v
		return true
	}
	v, err := strconv.ParseInt(string(lit), 10, 64)
	*n = v
	return err == nil
}

func (d *eventDecoder) float64Field(f *float64) bool {
	lit, isInt, ok := d.number()
	if !ok {
		return false
	}
	v, ok := parseFloat(lit, isInt)
	*f = v
	return ok
}

// value decodes any JSON value as encoding/json does into an interface{}.
func (d *eventDecoder) value(depth int) (any, bool) {
	switch d.peek() {
	case '"':
		return d.str()
	case '{':
		return d.object(depth)
	case '[':
		return d.array(depth)
	case 't':
		return true, d.literal("true")
	case 'f':
		return false, d.literal("false")
	case 'n':
		return nil, d.literal("null")
	}
	lit, isInt, ok := d.number()
	if !ok {
		return nil, false
	}
	return parseFloat(lit, isInt)
}

// object decodes an object into a new map; a repeated key keeps its last
// value, as with encoding/json.
func (d *eventDecoder) object(depth int) (map[string]any, bool) {
	if depth >= maxDecodeDepth || !d.objectStart() {
		return nil, false
	}
	m := make(map[string]any)
	for more := d.firstMember(); more; more = d.nextMember() {
		if d.peek() != '"' {
			return nil, false
		}
		k, ok := d.str()
		if !ok || !d.colon() {
			return nil, false
		}
		v, ok := d.value(depth + 1)
		if !ok {
			return nil, false
		}
		m[k] = v
	}
	return m, d.off >= 0
}

// array decodes an array into a new, non-nil []any.
func (d *eventDecoder) array(depth int) ([]any, bool) {
	if depth >= maxDecodeDepth || !d.arrayStart() {
		return nil, false
	}
	a := make([]any, 0, 4)
	for more := d.firstElem(); more; more = d.nextElem() {
		v, ok := d.value(depth + 1)
		if !ok {
			return nil, false
		}
		a = append(a, v)
	}
	return a, d.off >= 0
}

// skipValue checks the syntax of one value and moves past it.
func (d *eventDecoder) skipValue(depth int) bool {
	switch d.peek() {
	case '"':
		_, _, ok := d.rawString()
		return ok
	case '{':
		if depth >= maxDecodeDepth || !d.objectStart() {
			return false
		}
		for more := d.firstMember(); more; more = d.nextMember() {
			if d.peek() != '"' {
				return false
			}
			if _, _, ok := d.rawString(); !ok || !d.colon() || !d.skipValue(depth+1) {
				return false
			}
		}
		return d.off >= 0
	case '[':
		if depth >= maxDecodeDepth || !d.arrayStart() {
			return false
		}
		for more := d.firstElem(); more; more = d.nextElem() {
			if !d.skipValue(depth + 1) {
				return false
			}
		}
		return d.off >= 0
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	case 'n':
		return d.literal("null")
	}
	_, _, ok := d.number()
	return ok
}

// Containers. objectStart and arrayStart consume the opening bracket.
// firstMember/nextMember (and firstElem/nextElem) report whether another
// member follows, consuming the separators; on a syntax error they return
// false and set off to -1, which the loop's caller checks.

func (d *eventDecoder) objectStart() bool {
	if d.skipSpace(); d.peek() != '{' {
		return false
	}
	d.off++
	return true
}

func (d *eventDecoder) arrayStart() bool {
	if d.skipSpace(); d.peek() != '[' {
		return false
	}
	d.off++
	return true
}

func (d *eventDecoder) firstMember() bool {
	d.skipSpace()
	if d.peek() == '}' {
		d.off++
		return false
	}
	return true
}

func (d *eventDecoder) nextMember() bool {
	d.skipSpace()
	switch d.peek() {
	case ',':
		d.off++
		d.skipSpace()
		return true
	case '}':
		d.off++
		return false
	}
	d.off = -1
	return false
}

func (d *eventDecoder) firstElem() bool {
	d.skipSpace()
	if d.peek() == ']' {
		d.off++
		return false
	}
	return true
}

func (d *eventDecoder) nextElem() bool {
	d.skipSpace()
	switch d.peek() {
	case ',':
		d.off++
		d.skipSpace()
		return true
	case ']':
		d.off++
		return false
	}
	d.off = -1
	return false
}

// colon consumes the colon after a key and the space around it.
func (d *eventDecoder) colon() bool {
	d.skipSpace()
	if d.peek() != ':' {
		return false
	}
	d.off++
	d.skipSpace()
	return true
}

// peek returns the byte at off, or 0 at the end of the data or after an
// error.
func (d *eventDecoder) peek() byte {
	if d.off < 0 || d.off >= len(d.data) {
		return 0
	}
	return d.data[d.off]
}

func (d *eventDecoder) skipSpace() {
	if d.off < 0 {
		return
	}
	for d.off < len(d.data) {
		switch d.data[d.off] {
		case ' ', '\t', '\n', '\r':
			d.off++
		default:
			return
		}
	}
}

func (d *eventDecoder) literal(lit string) bool {
	if d.off+len(lit) > len(d.data) || string(d.data[d.off:d.off+len(lit)]) != lit {
		return false
	}
	d.off += len(lit)
	return true
}

// str reads a string value.
func (d *eventDecoder) str() (string, bool) {
	raw, kind, ok := d.rawString()
	if !ok {
		return "", false
	}
	if kind == strASCII || kind == strUTF8 && utf8.Valid(raw) {
		return d.arena.string(raw, len(d.data)-d.off), true
	}
	return d.arena.string(unquoteJSON(raw), len(d.data)-d.off), true
}

// String kinds found by rawString.
const (
	strASCII   = iota // printable ASCII, no escapes: the bytes are the value
	strUTF8           // some non-ASCII bytes, no escapes
	strEscaped        // escapes
)

// rawString moves past a string at off, checking its syntax, and returns
// the bytes between the quotes and their kind.
func (d *eventDecoder) rawString() (raw []byte, kind int, ok bool) {
	data := d.data
	start := d.off + 1
	for i := start; i < len(data); i++ {
		// Skip runs of plain ASCII eight bytes at a time: the first byte
		// escapeMask marks is the first one the switch must look at.
		for len(data)-i >= 8 {
			m := escapeMask(binary.LittleEndian.Uint64(data[i:]))
			if m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
			i += 8
		}
		if i >= len(data) {
			break
		}
		switch c := data[i]; {
		case c == '"':
			d.off = i + 1
			return data[start:i], kind, true
		case c < 0x20:
			return nil, 0, false
		case c >= utf8.RuneSelf:
			kind = max(kind, strUTF8)
		case c == '\\':
			kind = strEscaped
			i++
			if i >= len(data) {
				return nil, 0, false
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if getu4(data[i-1:]) < 0 {
					return nil, 0, false
				}
				i += 4
			default:
				return nil, 0, false
			}
		}
	}
	return nil, 0, false
}

// number moves past a number at off, checking it against the JSON grammar
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, and returns its text and
// whether it has neither fraction nor exponent.
func (d *eventDecoder) number() (lit []byte, isInt, ok bool) {
	if d.off < 0 {
		return nil, false, false
	}
	data, i := d.data, d.off
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && '1' <= data[i] && data[i] <= '9':
		for i++; i < len(data) && isDigit(data[i]); i++ {
		}
	default:
		return nil, false, false
	}
	isInt = true
	if i < len(data) && data[i] == '.' {
		isInt = false
		i++
		if i >= len(data) || !isDigit(data[i]) {
			return nil, false, false
		}
		for i++; i < len(data) && isDigit(data[i]); i++ {
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		isInt = false
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || !isDigit(data[i]) {
			return nil, false, false
		}
		for i++; i < len(data) && isDigit(data[i]); i++ {
		}
	}
	lit = data[d.off:i]
	d.off = i
	return lit, isInt, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// smallInt parses an integer literal of at most 15 digits, which is exact
// both as an int64 and as a float64.
func smallInt(lit []byte) (int64, bool) {
	neg := lit[0] == '-'
	if neg {
		lit = lit[1:]
	}
	if len(lit) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range lit {
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// parseFloat converts a number as encoding/json does, with
// strconv.ParseFloat; out of range is an error there too.
func parseFloat(lit []byte, isInt bool) (float64, bool) {
	if isInt {
		// -0 must stay negative zero: leave it to ParseFloat.
		if n, ok := smallInt(lit); ok && n != 0 {
			return float64(n), true
		}
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	return f, err == nil
}

// getu4 decodes \uXXXX from the beginning of s, returning the hex value,
// or it returns -1.
func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c = c - '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// unquoteJSON returns the value of the syntactically valid string body s
// as encoding/json computes it: escapes decoded, a \u escape of a lone or
// mismatched surrogate and each byte of invalid UTF-8 replaced by U+FFFD.
func unquoteJSON(s []byte) []byte {
	b := make([]byte, 0, len(s)+2*utf8.UTFMax)
	for r := 0; r < len(s); {
		switch c := s[r]; {
		case c == '\\':
			switch s[r+1] {
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				rr := getu4(s[r:])
				r += 6
				if utf16.IsSurrogate(rr) {
					if dec := utf16.DecodeRune(rr, getu4(s[r:])); dec != unicode.ReplacementChar {
						r += 6
						b = utf8.AppendRune(b, dec)
						continue
					}
					rr = unicode.ReplacementChar
				}
				b = utf8.AppendRune(b, rr)
				continue
			default: // " \ /
				b = append(b, s[r+1])
			}
			r += 2
		case c < utf8.RuneSelf:
			b = append(b, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			r += size
			b = utf8.AppendRune(b, rr)
		}
	}
	return b
}
