package sink

import (
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/trail-audit/trail/egress"
)

// Env is what destinations take from the process rather than from a
// sink's configuration. The zero Env is usable except for file sinks.
type Env struct {
	// FileDir is the directory file sinks write under; a file sink's Path
	// is relative to it. Empty: file sinks cannot be opened.
	FileDir string
	// HTTPClient, when set, is used by HTTP destinations instead of a
	// client built from the sink's TLS options (tests; egress proxies).
	// Egress then checks only literal addresses in the URL.
	HTTPClient *http.Client
	// Egress decides which addresses network sinks (webhook, Splunk HEC,
	// OCSF, syslog) may connect to; nil allows every address.
	Egress *egress.Policy
	// Hostname is the syslog HOSTNAME when the sink sets none; default os.Hostname.
	Hostname string
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (e Env) now() func() time.Time {
	if e.Now != nil {
		return e.Now
	}
	return time.Now
}

func (e Env) hostname() string {
	if e.Hostname != "" {
		return e.Hostname
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "-"
	}
	return h
}

// Open normalises s and returns its destination: a *Webhook, *Syslog,
// *HEC, *OCSF or *File. Configuration errors are EINVALID *trail.Error
// naming the field. Open does not connect; the first Deliver does.
func Open(s *Sink, env Env) (Destination, error) {
	if err := s.Normalize(); err != nil {
		return nil, err
	}
	switch s.Type {
	case TypeWebhook:
		return NewWebhook(s, env)
	case TypeSyslog:
		return NewSyslog(s, env)
	case TypeSplunkHEC:
		return NewHEC(s, env)
	case TypeOCSFHTTP:
		return NewOCSF(s, env)
	case TypeFile:
		return NewFile(s, env)
	}
	return nil, fmt.Errorf("sink: unknown type %q", s.Type)
}
