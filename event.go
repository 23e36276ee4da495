package trail

import (
	"encoding/base64"
	"errors"
	"time"
)

// Outcome values.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
	OutcomeDenied  = "denied"
	OutcomeError   = "error"
	OutcomeUnknown = "unknown"
)

// Severity values, in increasing order.
const (
	SeverityInfo     = "info"
	SeverityLow      = "low"
	SeverityMedium   = "medium"
	SeverityHigh     = "high"
	SeverityCritical = "critical"
)

// Actor types.
const (
	ActorUser    = "user"
	ActorService = "service"
	ActorAPIKey  = "api_key"
	ActorSystem  = "system"
)

// Event is one audit record. Its JSON form is the wire shape of DESIGN.md §2.
// Clients set Action and Actor.ID and optionally the rest; the store sets Seq,
// Tenant (default "default"), ReceivedAt, ID (a UUIDv7 when absent), Time
// (default ReceivedAt), Outcome (default "unknown") and Severity (default
// "info"). Masked lists the JSON paths that masking changed. Once stored an
// event is never changed; when retention or erasure removes its content it
// reads back with Erased set and only the server fields and LeafHash.
type Event struct {
	ID         string         `json:"id,omitempty"`
	Seq        int64          `json:"seq"`
	Tenant     string         `json:"tenant,omitempty"`
	Time       time.Time      `json:"time,omitzero"`
	ReceivedAt time.Time      `json:"received_at,omitzero"`
	Action     string         `json:"action,omitempty"`
	Outcome    string         `json:"outcome,omitempty"`
	Severity   string         `json:"severity,omitempty"`
	Actor      Actor          `json:"actor,omitzero"`
	Resource   *Resource      `json:"resource,omitempty"`
	Source     *Source        `json:"source,omitempty"`
	Request    *Request       `json:"request,omitempty"`
	Changes    []Change       `json:"changes,omitempty"`
	Reason     string         `json:"reason,omitempty"`
	Metadata   map[string]any `json:"metadata,omitempty"`
	Masked     []string       `json:"masked,omitempty"`

	// Erased is set on read when the event's content was removed by
	// retention or erasure. It is never part of the leaf.
	Erased bool `json:"erased,omitempty"`
	// LeafHash is set on read: SHA-256(0x00‖leaf). It is never part of the leaf.
	LeafHash *Hash `json:"leaf_hash,omitempty"`
	// Leaf is set on read by stores that have the stored leaf at hand:
	// exactly the bytes that hash to LeafHash. Writers of JSON may send
	// it instead of encoding the event again. It must not be modified.
	Leaf []byte `json:"-"`
}

// Actor is who did it.
type Actor struct {
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"`
	Type  string `json:"type,omitempty"`
	Email string `json:"email,omitempty"`
}

// Resource is what it was done to.
type Resource struct {
	Type string `json:"type,omitempty"`
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

// Source is where it came from.
type Source struct {
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	Origin    string `json:"origin,omitempty"`
}

// Request describes the API request that caused the event.
type Request struct {
	ID         string   `json:"id,omitempty"`
	Method     string   `json:"method,omitempty"`
	Path       string   `json:"path,omitempty"`
	Status     int      `json:"status,omitempty"`
	DurationMS *float64 `json:"duration_ms,omitempty"`
}

// Change is one field changed by the action. Old and New are any JSON values.
type Change struct {
	Field string `json:"field"`
	Old   any    `json:"old,omitempty"`
	New   any    `json:"new,omitempty"`
}

// Hash is a SHA-256 hash. Its JSON and text form is standard base64.
type Hash [32]byte

// MarshalText encodes h as standard base64.
func (h Hash) MarshalText() ([]byte, error) {
	return base64.StdEncoding.AppendEncode(nil, h[:]), nil
}

// UnmarshalText decodes standard base64 of exactly 32 bytes.
func (h *Hash) UnmarshalText(b []byte) error {
	var buf [33]byte // room for the decoder to write past 32 bytes before it fails
	if len(b) != base64.StdEncoding.EncodedLen(len(h)) {
		return errors.New("hash: want standard base64 of 32 bytes")
	}
	n, err := base64.StdEncoding.Strict().Decode(buf[:], b)
	if err != nil || n != len(h) {
		return errors.New("hash: want standard base64 of 32 bytes")
	}
	copy(h[:], buf[:n])
	return nil
}

// String returns the base64 form.
func (h Hash) String() string { return base64.StdEncoding.EncodeToString(h[:]) }

// Record is an event as stored: its position, its leaf hash and its leaf
// bytes (the canonical JSON of DESIGN.md §2). Data is nil when the content
// was erased or removed by retention; LeafHash is always present.
type Record struct {
	Tenant   string
	Seq      int64
	LeafHash Hash
	Data     []byte
	// ID and ReceivedAt are set when Data is nil: the server fields an
	// erased event keeps.
	ID         string
	ReceivedAt time.Time
}
