package client

import (
	"encoding/json"
	"time"

	trail "github.com/trail-audit/trail"
)

// wireEvent is the client's JSON form of an event (DESIGN.md §2): the
// fields a client may set, and none of the server's.
type wireEvent struct {
	ID       string          `json:"id"`
	Time     time.Time       `json:"time,omitzero"`
	Tenant   string          `json:"tenant,omitempty"`
	Action   string          `json:"action"`
	Outcome  string          `json:"outcome,omitempty"`
	Severity string          `json:"severity,omitempty"`
	Actor    trail.Actor     `json:"actor"`
	Resource *trail.Resource `json:"resource,omitempty"`
	Source   *trail.Source   `json:"source,omitempty"`
	Request  *trail.Request  `json:"request,omitempty"`
	Changes  []trail.Change  `json:"changes,omitempty"`
	Reason   string          `json:"reason,omitempty"`
	Metadata map[string]any  `json:"metadata,omitempty"`
}

// encodeEvent returns the client JSON of e: one line, no server fields.
func encodeEvent(e *trail.Event) ([]byte, error) {
	return json.Marshal(wireEvent{ID: e.ID, Time: e.Time, Tenant: e.Tenant, Action: e.Action, Outcome: e.Outcome,
		Severity: e.Severity, Actor: e.Actor, Resource: e.Resource, Source: e.Source, Request: e.Request,
		Changes: e.Changes, Reason: e.Reason, Metadata: e.Metadata})
}

// eventID returns the id in an event's client JSON, or "" when there is
// none to be read.
func eventID(data []byte) string {
	var v struct {
		ID string `json:"id"`
	}
	json.Unmarshal(data, &v)
	return v.ID
}
