package trail

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrorWithIndex(t *testing.T) {
	e := FieldError("actor.id", "required")
	got := e.WithIndex("events", 3)
	if got.Field != "events[3].actor.id" {
		t.Errorf("Field = %q, want events[3].actor.id", got.Field)
	}
	if e.Field != "actor.id" {
		t.Errorf("WithIndex changed the original: %q", e.Field)
	}
	if got.Code != EINVALID || got.Message != "required" {
		t.Errorf("WithIndex = %+v, want code and message kept", got)
	}
	if got := Errorf(ETOOLARGE, "big").WithIndex("events", 0); got.Field != "events[0]" {
		t.Errorf("without a field: Field = %q, want events[0]", got.Field)
	}
	if got := e.WithIndex("events", 3).Error(); got != "events[3].actor.id: required" {
		t.Errorf("Error() = %q", got)
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{Errorf(ENOTFOUND, "tenant %s not found", "acme"), "tenant acme not found"},
		{FieldError("limit", "must be between 1 and %d", 1000), "limit: must be between 1 and 1000"},
		{&Error{Code: EINTERNAL, Message: "internal error", Err: errors.New("disk on fire")}, "internal error: disk on fire"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestErrorCodeAndMessage(t *testing.T) {
	cause := errors.New("secret detail")
	tamper := &TamperError{Tenant: "acme", Seq: 7, File: "acme/seg-0", Reason: "leaf hash mismatch"}
	tests := []struct {
		name        string
		err         error
		code, msg   string
		unwrapCause bool
	}{
		{"nil", nil, "", "internal error", false},
		{"plain", cause, EINTERNAL, "internal error", false},
		{"error", FieldError("actor.id", "required"), EINVALID, "required", false},
		{"wrapped error", fmt.Errorf("append: %w", Errorf(ECONFLICT, "id reused")), ECONFLICT, "id reused", false},
		{"doubly wrapped", fmt.Errorf("a: %w", fmt.Errorf("b: %w", Errorf(ERATELIMITED, "slow down"))), ERATELIMITED, "slow down", false},
		{"error with cause", &Error{Code: EUNAVAILABLE, Message: "disk full", Err: cause}, EUNAVAILABLE, "disk full", true},
		{"tamper", tamper, EUNAVAILABLE, "tenant acme failed an integrity check and is not served", false},
		{"wrapped tamper", fmt.Errorf("verify: %w", tamper), EUNAVAILABLE, "tenant acme failed an integrity check and is not served", false},
		{"proof failed", fmt.Errorf("inclusion: %w", ErrProofFailed), EINTERNAL, "internal error", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ErrorCode(tt.err); got != tt.code {
				t.Errorf("ErrorCode = %q, want %q", got, tt.code)
			}
			if got := ErrorMessage(tt.err); got != tt.msg {
				t.Errorf("ErrorMessage = %q, want %q", got, tt.msg)
			}
			if tt.unwrapCause && !errors.Is(tt.err, cause) {
				t.Errorf("errors.Is(err, cause) = false")
			}
		})
	}
}

func TestTamperError(t *testing.T) {
	tests := []struct {
		err  *TamperError
		want string
	}{
		{&TamperError{Tenant: "acme", Seq: 7, File: "acme/seg-0", Reason: "leaf hash mismatch"}, "integrity: leaf hash mismatch (tenant acme, seq 7) in acme/seg-0"},
		{&TamperError{Tenant: "acme", Seq: -1, Reason: "root differs"}, "integrity: root differs (tenant acme)"},
		{&TamperError{Seq: -1, File: "keys", Reason: "missing file"}, "integrity: missing file in keys"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestHashText(t *testing.T) {
	var h Hash
	for i := range h {
		h[i] = byte(i)
	}
	b, err := h.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != h.String() || len(b) != 44 {
		t.Fatalf("MarshalText = %q, String = %q", b, h.String())
	}
	var back Hash
	if err := back.UnmarshalText(b); err != nil || back != h {
		t.Fatalf("UnmarshalText(%q) = %v, %x", b, err, back)
	}
	for _, bad := range []string{"", "AAAA", h.String()[:43], h.String() + "AAAA", "!" + h.String()[1:]} {
		if err := back.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("UnmarshalText(%q): no error", bad)
		}
	}
}

func TestAtIndex(t *testing.T) {
	err := AtIndex(FieldError("actor.id", "required"), "events", 3)
	var te *Error
	if !errors.As(err, &te) || te.Field != "events[3].actor.id" {
		t.Fatalf("AtIndex = %v, want field events[3].actor.id", err)
	}
	plain := errors.New("disk full")
	if got := AtIndex(plain, "events", 3); got != plain {
		t.Fatalf("AtIndex of a plain error = %v, want it unchanged", got)
	}
}
