package client

import (
	"encoding/json"

	trail "github.com/trail-audit/trail"
)

// encodeEvent returns the client JSON of e: one line, no server fields.
func encodeEvent(e *trail.Event) ([]byte, error) { return e.ClientJSON() }

// eventID returns the id in an event's client JSON, or "" when there is
// none to be read.
func eventID(data []byte) string {
	var v struct {
		ID string `json:"id"`
	}
	json.Unmarshal(data, &v)
	return v.ID
}
