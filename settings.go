package trail

import (
	"strconv"
)

// DefaultRetentionDays is how long events are kept when a tenant's
// settings say nothing else.
const DefaultRetentionDays = 180

// MaxRetentionDays bounds retention_days (100 years).
const MaxRetentionDays = 36500

// Settings are a tenant's data policies (DESIGN.md §7): how long its events
// are kept, whether a legal hold suspends retention, and how secrets are
// masked before anything is stored. The JSON form is the body of
// GET|PUT /v1/settings.
type Settings struct {
	// RetentionDays is how long an event's content is kept after it was
	// received; 0 keeps it forever.
	RetentionDays int `json:"retention_days"`
	// LegalHold suspends retention: nothing is purged while it is set.
	LegalHold bool            `json:"legal_hold"`
	Masking   MaskingSettings `json:"masking"`
}

// MaskingSettings configure masking: the default detectors, and rules by
// JSON path or by detector.
type MaskingSettings struct {
	Defaults bool       `json:"defaults"`
	Rules    []MaskRule `json:"rules"`
}

// MaskRule masks what Path or Detector (exactly one of them) selects with
// Action: redact, partial, hmac or drop; keep exempts a path from the
// detectors, or turns a default detector off.
type MaskRule struct {
	Path     string `json:"path,omitempty"`
	Detector string `json:"detector,omitempty"`
	Action   string `json:"action"`
}

// Mask actions.
const (
	MaskRedact  = "redact"
	MaskPartial = "partial"
	MaskHMAC    = "hmac"
	MaskDrop    = "drop"
	MaskKeep    = "keep"
)

// DefaultSettings are the settings of a tenant that has none stored:
// 180 days of retention, no legal hold, default masking on.
func DefaultSettings() Settings {
	return Settings{RetentionDays: DefaultRetentionDays, Masking: MaskingSettings{Defaults: true, Rules: []MaskRule{}}}
}

// Validate checks s, naming the field of the first problem. Detector
// names and path syntax are checked by the masking package, which knows
// them.
func (s *Settings) Validate() error {
	if s.RetentionDays < 0 || s.RetentionDays > MaxRetentionDays {
		return FieldError("retention_days", "must be between 0 (keep forever) and %d", MaxRetentionDays)
	}
	if len(s.Masking.Rules) > 200 {
		return FieldError("masking.rules", "at most 200 rules")
	}
	for i, r := range s.Masking.Rules {
		f := "masking.rules[" + strconv.Itoa(i) + "]"
		switch {
		case (r.Path == "") == (r.Detector == ""):
			return FieldError(f, "give exactly one of path and detector")
		case len(r.Path) > 256 || len(r.Detector) > 64:
			return FieldError(f, "path or detector too long")
		}
		switch r.Action {
		case MaskRedact, MaskPartial, MaskHMAC, MaskDrop, MaskKeep:
		default:
			return FieldError(f+".action", "must be redact, partial, hmac, drop or keep")
		}
	}
	if s.Masking.Rules == nil {
		s.Masking.Rules = []MaskRule{}
	}
	return nil
}
