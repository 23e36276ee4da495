package client

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Stats counts what a Client did with events since New. Every event Send
// accepted is, at any moment, in exactly one of: the queue, a request in
// flight, the spool, Acknowledged, Rejected or Dropped (Dropped also counts
// events Send refused under FailDrop).
type Stats struct {
	Sent         int64 // events Send accepted (returned nil)
	Acknowledged int64 // events trail confirmed with a receipt, duplicates included
	Duplicates   int64 // of Acknowledged: receipts marked duplicate (an earlier attempt had landed)
	Retried      int64 // events sent again after a failed attempt
	Spooled      int64 // events written to the spool
	Replayed     int64 // spooled events trail acknowledged from the spool
	Rejected     int64 // events trail refused for good (a 4xx naming them)
	Dropped      int64 // events dropped: FailDrop, or undeliverable at Close without a spool
	Queued       int   // events in memory now
	SpoolBytes   int64 // size of the spool's files now
	Recovered    int   // events found in the spool at New
}

// counters are the monotonic counts behind Stats and the metrics.
type counters struct {
	sent, acked, dups, retried, spooled, replayed, rejected, dropped atomic.Int64
}

// registerMetrics registers the client's metrics on r, all under the
// namespace trail_client.
func (c *Client) registerMetrics(r prometheus.Registerer) (*prometheus.HistogramVec, error) {
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "trail_client", Name: "request_duration_seconds",
		Help:    "Duration of POST /v1/events requests, by outcome (ok, retry, reject).",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
	}, []string{"outcome"})
	if r == nil {
		return latency, nil
	}
	counter := func(name, help string, v *atomic.Int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "trail_client", Name: name, Help: help},
			func() float64 { return float64(v.Load()) })
	}
	cs := []prometheus.Collector{
		latency,
		counter("events_sent_total", "Events Send accepted.", &c.n.sent),
		counter("events_acknowledged_total", "Events trail acknowledged, duplicates included.", &c.n.acked),
		counter("events_duplicate_total", "Acknowledgements trail marked duplicate.", &c.n.dups),
		counter("events_retried_total", "Events sent again after a failed attempt.", &c.n.retried),
		counter("events_spooled_total", "Events written to the on-disk spool.", &c.n.spooled),
		counter("events_replayed_total", "Spooled events trail acknowledged.", &c.n.replayed),
		counter("events_rejected_total", "Events trail refused for good.", &c.n.rejected),
		counter("events_dropped_total", "Events dropped by the drop-and-count policy or undeliverable at close.", &c.n.dropped),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "trail_client", Name: "queue_length", Help: "Events waiting in memory."},
			func() float64 { return float64(c.queueLen()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "trail_client", Name: "spool_bytes", Help: "Size of the spool's files."},
			func() float64 { return float64(c.spoolBytes()) }),
	}
	for i, col := range cs {
		if err := r.Register(col); err != nil {
			for _, done := range cs[:i] {
				r.Unregister(done)
			}
			return nil, err
		}
	}
	return latency, nil
}
