package trail

import (
	"encoding/json"
	"io"
	"math"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"
)

// DefaultTenant is the tenant of events that name none.
const DefaultTenant = "default"

// Limits bound what one event and one batch may hold. The zero value of a
// field means its default.
type Limits struct {
	MaxEventBytes   int // canonical leaf size; default 64 KiB
	MaxBatchEvents  int // default 10 000
	MaxBatchBytes   int // default 16 MiB
	MaxMetadataKeys int // top-level metadata keys; default 64
}

// DefaultLimits are the limits of DESIGN.md §2.
var DefaultLimits = Limits{MaxEventBytes: 64 << 10, MaxBatchEvents: 10000, MaxBatchBytes: 16 << 20, MaxMetadataKeys: 64}

// WithDefaults returns l with zero fields set to their defaults.
func (l Limits) WithDefaults() Limits {
	if l.MaxEventBytes == 0 {
		l.MaxEventBytes = DefaultLimits.MaxEventBytes
	}
	if l.MaxBatchEvents == 0 {
		l.MaxBatchEvents = DefaultLimits.MaxBatchEvents
	}
	if l.MaxBatchBytes == 0 {
		l.MaxBatchBytes = DefaultLimits.MaxBatchBytes
	}
	if l.MaxMetadataKeys == 0 {
		l.MaxMetadataKeys = DefaultLimits.MaxMetadataKeys
	}
	return l
}

// ValidateTenantName checks a tenant name against [a-z0-9][a-z0-9_-]{0,62}.
// The reserved tenant "_system" is also accepted.
func ValidateTenantName(name string) error {
	if name == SystemTenant {
		return nil
	}
	if name == "" {
		return FieldError("tenant", "required")
	}
	if len(name) > 63 {
		return FieldError("tenant", "at most 63 characters")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		lower := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if i == 0 && !lower || i > 0 && !lower && c != '_' && c != '-' {
			return FieldError("tenant", "must match [a-z0-9][a-z0-9_-]{0,62}")
		}
	}
	return nil
}

// SystemTenant receives events that concern no valid tenant, such as failed
// authentications with unknown keys.
const SystemTenant = "_system"

// Normalize sets the server fields of an incoming event: ReceivedAt = now,
// Seq = 0, Tenant (default DefaultTenant), ID (newID() when empty), Time
// (default ReceivedAt; converted to UTC), Outcome (default "unknown") and
// Severity (default "info"). It clears Erased and LeafHash.
func (e *Event) Normalize(now time.Time, newID func() string) {
	e.ReceivedAt = now.UTC()
	e.Seq = 0
	e.Erased = false
	e.LeafHash = nil
	if e.Tenant == "" {
		e.Tenant = DefaultTenant
	}
	if e.ID == "" {
		e.ID = newID()
	}
	if e.Time.IsZero() {
		e.Time = e.ReceivedAt
	} else {
		e.Time = e.Time.UTC()
	}
	if e.Outcome == "" {
		e.Outcome = OutcomeUnknown
	}
	if e.Severity == "" {
		e.Severity = SeverityInfo
	}
}

func validOutcome(s string) bool {
	switch s {
	case OutcomeSuccess, OutcomeFailure, OutcomeDenied, OutcomeError, OutcomeUnknown:
		return true
	}
	return false
}

func validSeverity(s string) bool {
	switch s {
	case SeverityInfo, SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical:
		return true
	}
	return false
}

// Field length limits, in bytes.
const (
	maxIDLen     = 128
	maxNameLen   = 1024
	maxActionLen = 200
	maxTextLen   = 8192
	maxChanges   = 256
)

var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
)

// Validate checks a normalised event against the rules of DESIGN.md §2 and
// returns an EINVALID *Error whose Field is the JSON path of the first
// offending field, e.g. "actor.id" or "metadata.plan". It does not check the
// encoded size: see CheckSize.
func (e *Event) Validate(l Limits) error { return e.validate(l, true) }

// AppendValidCanonicalParts is Validate followed by AppendCanonicalParts,
// in less time: it leaves the checks of UTF-8 and of metadata and change
// values to the canonical encoding, which fails on what they reject, and
// runs Validate only then, to name the field. Its error is Validate's
// when e is invalid; otherwise AppendCanonicalParts' error as an EINVALID
// *Error without a field. On error it returns dst unchanged.
func (e *Event) AppendValidCanonicalParts(dst []byte, l Limits) (buf []byte, split int, err error) {
	if err := e.validate(l, false); err != nil {
		return dst, 0, e.Validate(l)
	}
	buf, split, err = e.AppendCanonicalParts(dst)
	if err != nil {
		if verr := e.Validate(l); verr != nil {
			return dst, 0, verr
		}
		return dst, 0, FieldError("", "%v", err)
	}
	return buf, split, nil
}

// validate is Validate; with full false it skips the checks that the
// canonical encoding repeats (UTF-8, metadata and change values), and a
// nil error means only that the other checks passed.
func (e *Event) validate(l Limits, full bool) error {
	l = l.WithDefaults()
	if err := ValidateTenantName(e.Tenant); err != nil {
		return err
	}
	if err := checkID("id", e.ID); err != nil {
		return err
	}
	if e.Action == "" {
		return FieldError("action", "required")
	}
	if len(e.Action) > maxActionLen {
		return FieldError("action", "at most %d bytes", maxActionLen)
	}
	for i := 0; i < len(e.Action); i++ {
		c := e.Action[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == ':' || c == '/'
		if !ok {
			return FieldError("action", "may hold only letters, digits and . _ - : / (got %q)", e.Action)
		}
	}
	if e.Actor.ID == "" {
		return FieldError("actor.id", "required")
	}
	// At most 12 checks: a fixed array keeps them off the heap.
	var checkBuf [12]lengthCheck
	checks := append(checkBuf[:0],
		lengthCheck{"actor.id", e.Actor.ID, maxNameLen},
		lengthCheck{"actor.name", e.Actor.Name, maxNameLen},
		lengthCheck{"actor.email", e.Actor.Email, maxNameLen},
		lengthCheck{"reason", e.Reason, maxTextLen},
	)
	if r := e.Resource; r != nil {
		checks = append(checks, lengthCheck{"resource.type", r.Type, maxNameLen}, lengthCheck{"resource.id", r.ID, maxNameLen}, lengthCheck{"resource.name", r.Name, maxNameLen})
	}
	if s := e.Source; s != nil {
		checks = append(checks, lengthCheck{"source.user_agent", s.UserAgent, maxTextLen}, lengthCheck{"source.origin", s.Origin, 64})
		if s.IP != "" {
			if _, err := netip.ParseAddr(s.IP); err != nil {
				return FieldError("source.ip", "%q is not an IPv4 or IPv6 address", s.IP)
			}
		}
	}
	if r := e.Request; r != nil {
		checks = append(checks, lengthCheck{"request.id", r.ID, maxNameLen}, lengthCheck{"request.method", r.Method, 32}, lengthCheck{"request.path", r.Path, maxTextLen})
		if r.Status != 0 && (r.Status < 100 || r.Status > 599) {
			return FieldError("request.status", "must be an HTTP status between 100 and 599")
		}
		if d := r.DurationMS; d != nil && (math.IsNaN(*d) || math.IsInf(*d, 0) || *d < 0) {
			return FieldError("request.duration_ms", "must be a finite number >= 0")
		}
	}
	for _, c := range checks {
		if len(c.value) > c.max {
			return FieldError(c.field, "at most %d bytes", c.max)
		}
		if full && !utf8.ValidString(c.value) {
			return FieldError(c.field, "not valid UTF-8")
		}
	}
	switch e.Actor.Type {
	case "", ActorUser, ActorService, ActorAPIKey, ActorSystem:
	default:
		return FieldError("actor.type", "must be one of user, service, api_key, system")
	}
	if !validOutcome(e.Outcome) {
		return FieldError("outcome", "must be one of success, failure, denied, error, unknown")
	}
	if !validSeverity(e.Severity) {
		return FieldError("severity", "must be one of info, low, medium, high, critical")
	}
	if e.Time.Before(minTime) || e.Time.After(maxTime) {
		return FieldError("time", "must be between 1970 and 9999")
	}
	if len(e.Changes) > maxChanges {
		return FieldError("changes", "at most %d entries", maxChanges)
	}
	for i, c := range e.Changes {
		if c.Field == "" {
			return FieldError(changePath(i, "field"), "required")
		}
		if len(c.Field) > maxNameLen || full && !utf8.ValidString(c.Field) {
			return FieldError(changePath(i, "field"), "at most %d bytes of UTF-8", maxNameLen)
		}
		if full && !valueOK(c.Old, 0) {
			return checkValue(changePath(i, "old"), c.Old, 0)
		}
		if full && !valueOK(c.New, 0) {
			return checkValue(changePath(i, "new"), c.New, 0)
		}
	}
	if len(e.Metadata) > l.MaxMetadataKeys {
		return FieldError("metadata", "at most %d top-level keys", l.MaxMetadataKeys)
	}
	if full && e.Metadata != nil && !valueOK(e.Metadata, 0) {
		return checkValue("metadata", e.Metadata, 0)
	}
	for i, m := range e.Masked {
		if full && !utf8.ValidString(m) || len(m) > maxNameLen {
			return FieldError("masked["+strconv.Itoa(i)+"]", "not a valid path")
		}
	}
	return nil
}

// lengthCheck is a string field with its maximum length.
type lengthCheck struct {
	field, value string
	max          int
}

func checkID(field, id string) error {
	if id == "" {
		return FieldError(field, "required")
	}
	if len(id) > maxIDLen {
		return FieldError(field, "at most %d bytes", maxIDLen)
	}
	for _, r := range id {
		if r < 0x21 || r == 0x7f || r == utf8.RuneError {
			return FieldError(field, "must be printable with no spaces")
		}
	}
	return nil
}

// pathNode is one step of a JSON path, linked to its parent, so that
// checkValue builds a path string only when it reports an error.
type pathNode struct {
	parent *pathNode
	root   string // set on the root node only
	key    string
	index  int // -1 for object keys
}

func (p *pathNode) String() string {
	if p.parent == nil {
		return p.root
	}
	if p.index >= 0 {
		return p.parent.String() + "[" + strconv.Itoa(p.index) + "]"
	}
	return p.parent.String() + "." + p.key
}

// changePath is the JSON path of a member of changes[i].
func changePath(i int, member string) string {
	return "changes[" + strconv.Itoa(i) + "]." + member
}

// valueOK reports whether checkValue would accept v at depth, without
// building paths or allocating: the common case of a valid event pays
// only for the walk. checkValue names the offending path when it is not.
func valueOK(v any, depth int) bool {
	if depth > maxValueDepth {
		return false
	}
	switch t := v.(type) {
	case nil, bool, int, int64:
		return true
	case string:
		return utf8.ValidString(t)
	case float64:
		return !math.IsNaN(t) && !math.IsInf(t, 0)
	case json.Number:
		f, err := strconv.ParseFloat(string(t), 64)
		return err == nil && !math.IsInf(f, 0) && !math.IsNaN(f)
	case []any:
		for _, x := range t {
			if !valueOK(x, depth+1) {
				return false
			}
		}
		return true
	case map[string]any:
		for k, x := range t {
			if !utf8.ValidString(k) || !valueOK(x, depth+1) {
				return false
			}
		}
		return true
	}
	return false
}

// checkValue returns the EINVALID error naming the first offending path
// under root in v, or nil when v is valid. It must agree with valueOK.
func checkValue(root string, v any, depth int) error {
	return checkValueAt(&pathNode{root: root, index: -1}, v, depth)
}

func checkValueAt(path *pathNode, v any, depth int) error {
	if depth > maxValueDepth {
		return FieldError(path.String(), "nested deeper than %d", maxValueDepth)
	}
	switch t := v.(type) {
	case nil, bool:
	case string:
		if !utf8.ValidString(t) {
			return FieldError(path.String(), "not valid UTF-8")
		}
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return FieldError(path.String(), "number must be finite")
		}
	case int, int64:
	case json.Number:
		f, err := strconv.ParseFloat(string(t), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return FieldError(path.String(), "number %s out of range", t)
		}
	case []any:
		for i, x := range t {
			if err := checkValueAt(&pathNode{parent: path, index: i}, x, depth+1); err != nil {
				return err
			}
		}
	case map[string]any:
		for k, x := range t {
			if !utf8.ValidString(k) {
				return FieldError(path.String(), "key is not valid UTF-8")
			}
			if err := checkValueAt(&pathNode{parent: path, key: k, index: -1}, x, depth+1); err != nil {
				return err
			}
		}
	default:
		return FieldError(path.String(), "unsupported value of type %T", v)
	}
	return nil
}

// CheckSize returns an ETOOLARGE *Error when a leaf exceeds the limit.
func CheckSize(leaf []byte, l Limits) error {
	l = l.WithDefaults()
	if len(leaf) > l.MaxEventBytes {
		return &Error{Code: ETOOLARGE, Message: "event is " + strconv.Itoa(len(leaf)) + " bytes, the limit is " + strconv.Itoa(l.MaxEventBytes)}
	}
	return nil
}

// NewUUIDv7 returns an RFC 9562 version 7 UUID: 48 bits of Unix
// milliseconds from now, then random bits from rand.
func NewUUIDv7(now time.Time, rand io.Reader) (string, error) {
	// One allocation holds the text and, after it, the random bytes,
	// which are read in place (an io.Reader must not keep p) and then
	// never written again, so the text can be the string's memory.
	const textLen, randLen = 36, 10
	buf := make([]byte, textLen+randLen)
	if _, err := io.ReadFull(rand, buf[textLen:]); err != nil {
		return "", err
	}
	var u [16]byte
	ms := uint64(now.UnixMilli())
	for i := 0; i < 6; i++ {
		u[i] = byte(ms >> (40 - 8*i))
	}
	copy(u[6:], buf[textLen:])
	u[6] = u[6]&0x0f | 0x70
	u[8] = u[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	out := buf[:0]
	for i, b := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[b>>4], hex[b&0xf])
	}
	return unsafe.String(&buf[0], textLen), nil
}
