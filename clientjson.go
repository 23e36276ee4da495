package trail

import (
	"encoding/json"
	"time"
)

// clientEvent is an Event as a client sends it (DESIGN.md §2): the fields
// a client may set and none of those the server sets.
type clientEvent struct {
	ID       string         `json:"id,omitempty"`
	Tenant   string         `json:"tenant,omitempty"`
	Time     time.Time      `json:"time,omitzero"`
	Action   string         `json:"action"`
	Outcome  string         `json:"outcome,omitempty"`
	Severity string         `json:"severity,omitempty"`
	Actor    Actor          `json:"actor"`
	Resource *Resource      `json:"resource,omitempty"`
	Source   *Source        `json:"source,omitempty"`
	Request  *Request       `json:"request,omitempty"`
	Changes  []Change       `json:"changes,omitempty"`
	Reason   string         `json:"reason,omitempty"`
	Metadata map[string]any `json:"metadata,omitempty"`
}

// ClientJSON returns e as a client sends it to POST /v1/events: one line
// of JSON with every field a client may set (empty optional ones left
// out) and none that the server sets (seq, received_at, masked, erased,
// leaf_hash), which ingest would refuse. SDKs, the bench and tests that
// replay stored or generated events use it.
func (e *Event) ClientJSON() ([]byte, error) {
	return json.Marshal(clientEvent{ID: e.ID, Tenant: e.Tenant, Time: e.Time, Action: e.Action, Outcome: e.Outcome,
		Severity: e.Severity, Actor: e.Actor, Resource: e.Resource, Source: e.Source, Request: e.Request,
		Changes: e.Changes, Reason: e.Reason, Metadata: e.Metadata})
}
