package server

import "github.com/prometheus/client_golang/prometheus"

// metrics are the HTTP layer's Prometheus collectors (each task adds its own).
type metrics struct {
	requests *prometheus.CounterVec   // model, route, status
	duration *prometheus.HistogramVec // model, route
	inFlight *prometheus.GaugeVec     // route
}

func newMetrics() *metrics {
	return &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rnnrun_http_requests_total",
			Help: "HTTP requests by model (empty when none or unknown), route and status code (499: the client went away).",
		}, []string{"model", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rnnrun_http_request_duration_seconds",
			Help:    "HTTP request latency by model and route (a streamed response counts until its last event).",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"model", "route"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rnnrun_http_requests_in_flight",
			Help: "HTTP requests being served, by route.",
		}, []string{"route"}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.duration, m.inFlight}
}
