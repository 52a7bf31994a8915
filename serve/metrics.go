package serve

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus metrics, on a registry of its own
// (never the global one: two servers in one process, as in tests, must not
// collide). Names and meanings are documented in docs/metrics.md.
type metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec   // route, protocol, code
	duration   *prometheus.HistogramVec // route, protocol
	inflight   prometheus.Gauge
	rejected   *prometheus.CounterVec // reason
	dropped    prometheus.Counter
	queueWait  prometheus.Histogram
	compute    prometheus.Histogram
	batchReqs  prometheus.Histogram
	batchRows  prometheus.Histogram
	ready      prometheus.Gauge
	loadTime   prometheus.Gauge
	modelInfo  *prometheus.GaugeVec
	queueDepth prometheus.GaugeFunc
	delayMax   prometheus.GaugeFunc
	delayEst   prometheus.GaugeFunc
}

// latencyBuckets span 50 µs to 60 s: in-process models answer in tens of
// microseconds, Python ones in milliseconds, timeouts in seconds.
var latencyBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

func newMetrics(queueLen func() int, queueDelay func() (target, expected time.Duration)) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mlship_http_requests_total", Help: "HTTP requests answered, by route, protocol and status code.",
	}, []string{"route", "protocol", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "mlship_http_request_duration_seconds", Help: "Time from reading the request to writing the response, by route and protocol.",
		Buckets: latencyBuckets,
	}, []string{"route", "protocol"})
	m.inflight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "mlship_http_requests_in_flight", Help: "Inference requests being handled.",
	})
	m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mlship_requests_rejected_total", Help: "Inference requests turned away before the model ran, by reason (queue_full, queue_delay, queue_sojourn, memory, too_large, unauthenticated, draining).",
	}, []string{"reason"})
	m.dropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "mlship_requests_dropped_total", Help: "Queued requests dropped before compute because the client went away or their deadline passed.",
	})
	m.queueWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "mlship_queue_duration_seconds", Help: "Time a request waited in the queue before its batch started.", Buckets: latencyBuckets,
	})
	m.compute = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "mlship_compute_duration_seconds", Help: "Time of one Predict call (one batch).", Buckets: latencyBuckets,
	})
	m.batchReqs = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "mlship_batch_requests", Help: "Requests merged into one Predict call.", Buckets: prometheus.ExponentialBuckets(1, 2, 11),
	})
	m.batchRows = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "mlship_batch_rows", Help: "Rows in one Predict call.", Buckets: prometheus.ExponentialBuckets(1, 2, 14),
	})
	m.ready = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "mlship_ready", Help: "1 when the model is loaded, warmed and the server is not draining.",
	})
	m.loadTime = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "mlship_model_load_seconds", Help: "Time taken to load the model and warm it up.",
	})
	m.modelInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "mlship_model_info", Help: "The model being served (always 1).",
	}, []string{"name", "version", "flavor", "model_uuid", "run_id"})
	m.queueDepth = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mlship_queue_depth", Help: "Requests waiting for a model instance.",
	}, func() float64 { return float64(queueLen()) })
	m.delayMax = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mlship_queue_delay_target_seconds", Help: "The maximum queue delay in force (--max-queue-delay; 0: off).",
	}, func() float64 { t, _ := queueDelay(); return t.Seconds() })
	m.delayEst = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mlship_queue_delay_expected_seconds", Help: "The wait in the queue a request arriving now can expect, from the measured batch times.",
	}, func() float64 { _, e := queueDelay(); return e.Seconds() })
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.inflight, m.rejected, m.dropped, m.queueWait, m.compute,
		m.batchReqs, m.batchRows, m.ready, m.loadTime, m.modelInfo, m.queueDepth, m.delayMax, m.delayEst} {
		f(c)
	}
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// metrics is the batcher's observer.
var _ BatchObserver = (*metrics)(nil)

func (m *metrics) Queued(int) {}
func (m *metrics) Dropped()   { m.dropped.Inc() }
func (m *metrics) Batch(requests, rows int, waits []time.Duration, compute time.Duration) {
	m.batchReqs.Observe(float64(requests))
	m.batchRows.Observe(float64(rows))
	for _, w := range waits {
		m.queueWait.Observe(w.Seconds())
	}
	m.compute.Observe(compute.Seconds())
}
