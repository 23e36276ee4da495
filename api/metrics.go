package api

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	trail "github.com/trail-audit/trail"
)

// metrics are the Prometheus metrics of the API, registered on the
// Registerer given in Config (never the global one unless passed).
type metrics struct {
	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	ingestEvents  prometheus.Counter
	ingestBatches prometheus.Counter
	commit        prometheus.Histogram
	query         prometheus.Histogram
	rateLimited   *prometheus.CounterVec
	authFailures  prometheus.Counter
	streams       prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, store trail.Store) (*metrics, error) {
	buckets := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}
	m := &metrics{
		requests:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trail_http_requests_total", Help: "HTTP requests by route and status class."}, []string{"route", "status"}),
		latency:       prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "trail_http_request_seconds", Help: "HTTP request latency by route.", Buckets: buckets}, []string{"route"}),
		ingestEvents:  prometheus.NewCounter(prometheus.CounterOpts{Name: "trail_ingest_events_total", Help: "Events accepted by ingest."}),
		ingestBatches: prometheus.NewCounter(prometheus.CounterOpts{Name: "trail_ingest_batches_total", Help: "Ingest requests accepted."}),
		commit:        prometheus.NewHistogram(prometheus.HistogramOpts{Name: "trail_commit_seconds", Help: "Time from ingest to durable, signed commit.", Buckets: buckets}),
		query:         prometheus.NewHistogram(prometheus.HistogramOpts{Name: "trail_query_seconds", Help: "Query latency.", Buckets: buckets}),
		rateLimited:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "trail_rate_limited_total", Help: "Requests rejected by a rate limit, by scope (ip, ingest, read)."}, []string{"scope"}),
		authFailures:  prometheus.NewCounter(prometheus.CounterOpts{Name: "trail_auth_failures_total", Help: "Failed authentications."}),
		streams:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "trail_streams", Help: "Open live-tail streams."}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.ingestEvents, m.ingestBatches, m.commit, m.query, m.rateLimited, m.authFailures, m.streams, &logSizes{store: store}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// logSizes reports each tenant's log size at scrape time.
type logSizes struct{ store trail.Store }

var logSizeDesc = prometheus.NewDesc("trail_log_events", "Events in each tenant's log.", []string{"tenant"}, nil)

func (l *logSizes) Describe(ch chan<- *prometheus.Desc) { ch <- logSizeDesc }

func (l *logSizes) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ts, err := l.store.Tenants(ctx)
	if err != nil {
		return
	}
	for _, t := range ts {
		ch <- prometheus.MustNewConstMetric(logSizeDesc, prometheus.GaugeValue, float64(t.Size), t.Name)
	}
}
