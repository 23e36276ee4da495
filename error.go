package trail

import (
	"errors"
	"fmt"
	"strconv"
)

// Error codes. Every error that crosses a package boundary towards a client
// carries one of them; the HTTP layer maps each to exactly one status.
const (
	EINVALID         = "invalid"         // the request breaks a rule; Field names where
	EUNAUTHENTICATED = "unauthenticated" // no or bad credentials
	EFORBIDDEN       = "forbidden"       // credentials lack the role or scope
	ENOTFOUND        = "not_found"       // the named thing does not exist
	ECONFLICT        = "conflict"        // the request conflicts with stored state
	ETOOLARGE        = "too_large"       // a size limit was exceeded
	ERATELIMITED     = "rate_limited"    // a rate limit was hit; retry later
	EUNAVAILABLE     = "unavailable"     // temporarily unable to serve (disk full, tenant quarantined)
	EINTERNAL        = "internal"        // a bug or an unexpected failure; details are logged only
)

// Error is trail's error type. Message is safe to show to the client; Err
// (internal detail) is not. Field names the offending input, as a JSON path
// such as "events[3].actor.id", when there is one.
type Error struct {
	Code    string
	Message string
	Field   string
	Err     error
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns an EINVALID error about one input field.
func FieldError(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Error implements error. It includes the field and the internal cause.
func (e *Error) Error() string {
	s := e.Message
	if e.Field != "" {
		s = e.Field + ": " + s
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the internal cause.
func (e *Error) Unwrap() error { return e.Err }

// WithIndex returns a copy of e whose Field is prefixed with a batch index,
// as in "events[3].actor.id".
func (e *Error) WithIndex(prefix string, i int) *Error {
	c := *e
	f := prefix + "[" + strconv.Itoa(i) + "]"
	if c.Field != "" {
		f += "." + c.Field
	}
	c.Field = f
	return &c
}

// AtIndex returns err with its field placed under prefix[i] (see
// WithIndex) when err is or wraps an *Error, and err unchanged otherwise:
// how validation of the i-th item of a list reports which item failed.
func AtIndex(err error, prefix string, i int) error {
	var te *Error
	if errors.As(err, &te) {
		return te.WithIndex(prefix, i)
	}
	return err
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	var t *TamperError
	if errors.As(err, &t) {
		return EUNAVAILABLE
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err: the message of the
// first *Error in its chain, or a generic text for anything else.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	var t *TamperError
	if errors.As(err, &t) {
		return "tenant " + t.Tenant + " failed an integrity check and is not served"
	}
	return "internal error"
}

// ErrProofFailed is returned (wrapped) when a Merkle proof or signature does
// not verify.
var ErrProofFailed = errors.New("proof failed")

// TamperError reports stored data that does not match what was committed:
// a leaf whose hash differs, a root that differs from the signed checkpoint,
// a damaged or missing file. It names the first place found.
type TamperError struct {
	Tenant string // tenant whose log is damaged, "" when not tenant-specific
	Seq    int64  // first seq affected, -1 when unknown
	File   string // file (or table) holding the damage, relative to the store root
	Reason string // what differs, e.g. "leaf hash mismatch"
}

// Error implements error.
func (e *TamperError) Error() string {
	s := "integrity: " + e.Reason
	if e.Tenant != "" {
		s += " (tenant " + e.Tenant
		if e.Seq >= 0 {
			s += ", seq " + strconv.FormatInt(e.Seq, 10)
		}
		s += ")"
	}
	if e.File != "" {
		s += " in " + e.File
	}
	return s
}
