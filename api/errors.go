package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	trail "github.com/trail-audit/trail"
)

// Status maps an error code to its HTTP status. It is the only such map.
func Status(code string) int {
	switch code {
	case trail.EINVALID:
		return http.StatusBadRequest
	case trail.EUNAUTHENTICATED:
		return http.StatusUnauthorized
	case trail.EFORBIDDEN:
		return http.StatusForbidden
	case trail.ENOTFOUND:
		return http.StatusNotFound
	case trail.ECONFLICT:
		return http.StatusConflict
	case trail.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case trail.ERATELIMITED:
		return http.StatusTooManyRequests
	case trail.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// errorBody is the wire shape of an error.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// retryAfter carries a Retry-After duration with an error.
type retryAfter struct {
	error
	after time.Duration
}

func (r retryAfter) Unwrap() error { return r.error }

// writeError sends err as a JSON error. Internal errors are logged with
// their detail and sent as a generic message.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := trail.ErrorCode(err)
	status := Status(code)
	d := errorDetail{Code: code, Message: trail.ErrorMessage(err)}
	var te *trail.Error
	if errors.As(err, &te) {
		d.Field = te.Field
	}
	if status >= 500 {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "code", code, "err", err)
	} else {
		s.log.Debug("request rejected", "method", r.Method, "path", r.URL.Path, "code", code, "err", err)
	}
	var ra retryAfter
	if errors.As(err, &ra) {
		secs := int(ra.after.Seconds() + 0.999)
		w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	} else if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, errorBody{Error: d})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		slog.Default().Debug("write response", "err", err)
	}
}
