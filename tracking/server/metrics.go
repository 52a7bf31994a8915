package server

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the tracking server's Prometheus metrics (docs/metrics.md,
// "Tracking server").
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec   // route, method, code
	duration *prometheus.HistogramVec // route, method
}

// latencyBuckets span 100 µs (a cached read) to 60 s (a large artifact).
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	m := &metrics{reg: reg}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mlship_tracking_requests_total",
		Help: "Tracking server HTTP requests answered, by endpoint (route pattern; /ajax-api counted as /api), method and status code.",
	}, []string{"endpoint", "method", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "mlship_tracking_request_duration_seconds",
		Help:    "Tracking server time from reading a request to writing its response, by endpoint and method.",
		Buckets: latencyBuckets,
	}, []string{"endpoint", "method"})
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering tracking server metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) observe(endpoint, method string, status int, d time.Duration) {
	if endpoint == "/metrics" {
		return
	}
	m.requests.WithLabelValues(endpoint, method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(endpoint, method).Observe(d.Seconds())
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
