package client

import (
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	trail "github.com/trail-audit/trail"
)

// FailPolicy says what Send does with an event when the in-memory queue is
// full (trail is down or slower than the application).
type FailPolicy string

// Fail policies.
const (
	// FailBlock makes Send wait up to SendTimeout for room in the queue,
	// then return ErrQueueFull. Nothing is lost silently.
	FailBlock FailPolicy = "block"
	// FailSpool makes Send write the event to the on-disk spool (fsync'd
	// before Send returns); when the spool is full too, Send returns an
	// error wrapping ErrSpoolFull. It needs SpoolDir.
	FailSpool FailPolicy = "spool"
	// FailDrop makes Send drop the event, count it in Stats().Dropped and
	// the dropped metric, and return ErrDropped at once.
	FailDrop FailPolicy = "drop-and-count"
)

// Defaults of the Config fields.
const (
	DefaultBatchSize      = 500
	DefaultFlushInterval  = 200 * time.Millisecond
	DefaultSendTimeout    = 50 * time.Millisecond
	DefaultQueueSize      = 10000
	DefaultSpoolMaxBytes  = 1 << 30
	DefaultRequestTimeout = 10 * time.Second
	DefaultMinBackoff     = 100 * time.Millisecond
	DefaultMaxBackoff     = 10 * time.Second
)

// Config configures a Client. Zero fields take the defaults above; Server
// and Key are required.
type Config struct {
	Server string // trail base URL, e.g. http://127.0.0.1:8080
	Key    string // API key with the writer role
	// Tenant is set on events that name none. A key scoped to one tenant
	// needs nothing here; a key for all tenants needs it, or a tenant on
	// every event (else trail files them under "default").
	Tenant string

	BatchSize     int           // max events per request (default 500; trail accepts at most 10 000)
	FlushInterval time.Duration // max time an event waits in memory before a send (default 200ms)
	SendTimeout   time.Duration // the most Send ever blocks (default 50ms; see FailPolicy)
	QueueSize     int           // in-memory events before the fail policy applies (default 10 000)
	// FailPolicy applies when the queue is full. Default: FailSpool when
	// SpoolDir is set, else FailBlock.
	FailPolicy FailPolicy
	// SpoolDir is the directory of the on-disk spool; "" means no spool.
	// With a spool, batches that trail does not take (down, 5xx, 429) go
	// to disk instead of waiting in memory, Close leaves what it could not
	// deliver there, and New replays what an earlier run left.
	SpoolDir      string
	SpoolMaxBytes int64 // bound on the spool's files (default 1 GiB)

	HTTPClient     *http.Client  // default: a client without a timeout (RequestTimeout bounds each request)
	RequestTimeout time.Duration // bound on one POST /v1/events (default 10s)
	MinBackoff     time.Duration // first retry delay (default 100ms); doubles per failure, with jitter
	MaxBackoff     time.Duration // cap on the retry delay (default 10s); a longer Retry-After is honoured

	// OnReject, when set, is called for each event trail refused for good
	// (a 4xx naming it, such as a schema violation): it is counted, logged
	// and not retried. It runs on the sender's goroutine and must not
	// block: delivery waits for it.
	OnReject func(id string, event []byte, err error)

	Now    func() time.Time // default time.Now; event ids and default event times
	Rand   io.Reader        // default crypto/rand; event ids and backoff jitter
	Logger *slog.Logger     // nil: no logging

	Registerer prometheus.Registerer // metrics; nil = not registered
}

// withDefaults returns c with zero fields set, or an EINVALID error naming
// the field.
func (c Config) withDefaults() (Config, error) {
	if c.Server == "" {
		return c, trail.FieldError("Server", "required, e.g. http://127.0.0.1:8080")
	}
	u, err := url.Parse(c.Server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, trail.FieldError("Server", "must be an http or https URL such as http://127.0.0.1:8080 (got %q)", c.Server)
	}
	if c.Key == "" {
		return c, trail.FieldError("Key", "required: an API key with the writer role")
	}
	if c.Tenant != "" {
		if err := trail.ValidateTenantName(c.Tenant); err != nil {
			return c, trail.FieldError("Tenant", "must match [a-z0-9][a-z0-9_-]{0,62} (got %q)", c.Tenant)
		}
	}
	type durField struct {
		name string
		v    *time.Duration
		def  time.Duration
	}
	for _, d := range []durField{{"FlushInterval", &c.FlushInterval, DefaultFlushInterval}, {"SendTimeout", &c.SendTimeout, DefaultSendTimeout},
		{"RequestTimeout", &c.RequestTimeout, DefaultRequestTimeout}, {"MinBackoff", &c.MinBackoff, DefaultMinBackoff}, {"MaxBackoff", &c.MaxBackoff, DefaultMaxBackoff}} {
		if *d.v < 0 {
			return c, trail.FieldError(d.name, "must be >= 0 (0 means the default %v)", d.def)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.MaxBackoff < c.MinBackoff {
		return c, trail.FieldError("MaxBackoff", "must be >= MinBackoff (%v)", c.MinBackoff)
	}
	switch {
	case c.BatchSize < 0 || c.BatchSize > trail.DefaultLimits.MaxBatchEvents:
		return c, trail.FieldError("BatchSize", "must be between 1 and %d (0 means %d)", trail.DefaultLimits.MaxBatchEvents, DefaultBatchSize)
	case c.BatchSize == 0:
		c.BatchSize = DefaultBatchSize
	}
	switch {
	case c.QueueSize < 0:
		return c, trail.FieldError("QueueSize", "must be >= 0 (0 means %d)", DefaultQueueSize)
	case c.QueueSize == 0:
		c.QueueSize = DefaultQueueSize
	}
	switch {
	case c.SpoolMaxBytes < 0:
		return c, trail.FieldError("SpoolMaxBytes", "must be >= 0 (0 means %d)", DefaultSpoolMaxBytes)
	case c.SpoolMaxBytes == 0:
		c.SpoolMaxBytes = DefaultSpoolMaxBytes
	}
	switch c.FailPolicy {
	case "":
		c.FailPolicy = FailBlock
		if c.SpoolDir != "" {
			c.FailPolicy = FailSpool
		}
	case FailBlock, FailDrop:
	case FailSpool:
		if c.SpoolDir == "" {
			return c, trail.FieldError("SpoolDir", "required by FailPolicy %q", FailSpool)
		}
	default:
		return c, trail.FieldError("FailPolicy", "must be %q, %q or %q (got %q)", FailBlock, FailSpool, FailDrop, c.FailPolicy)
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	return c, nil
}
