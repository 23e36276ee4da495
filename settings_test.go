package trail

import (
	"errors"
	"testing"
)

func TestSettingsValidate(t *testing.T) {
	ok := DefaultSettings()
	if err := ok.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		s     Settings
		field string
	}{
		{Settings{RetentionDays: -1}, "retention_days"},
		{Settings{RetentionDays: MaxRetentionDays + 1}, "retention_days"},
		{Settings{Masking: MaskingSettings{Rules: []MaskRule{{Action: MaskRedact}}}}, "masking.rules[0]"},
		{Settings{Masking: MaskingSettings{Rules: []MaskRule{{Path: "metadata.a", Detector: "email", Action: MaskRedact}}}}, "masking.rules[0]"},
		{Settings{Masking: MaskingSettings{Rules: []MaskRule{{Path: "metadata.a", Action: MaskRedact}, {Detector: "email", Action: "shred"}}}}, "masking.rules[1].action"},
	} {
		err := tc.s.Validate()
		var te *Error
		if !errors.As(err, &te) || te.Code != EINVALID || te.Field != tc.field {
			t.Errorf("%+v: %v, want EINVALID on %s", tc.s, err, tc.field)
		}
	}
}
