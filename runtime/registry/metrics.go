package registry

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the registry's Prometheus collectors.
type metrics struct {
	loads          *prometheus.CounterVec // model, result
	reloadFailures *prometheus.CounterVec // model
	configFailures prometheus.Counter
	ready          *prometheus.GaugeVec // model
	info           *prometheus.GaugeVec // model, sha256, task

	mu       sync.Mutex
	versions map[string][2]string // model -> its info labels
}

func newMetrics() *metrics {
	return &metrics{
		loads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rnnrun_model_loads_total",
			Help: "Model versions loaded, by model and result (ok or failed).",
		}, []string{"model", "result"}),
		reloadFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rnnrun_model_reload_failures_total",
			Help: "Reloads of a model that failed (the previous version, if any, kept serving).",
		}, []string{"model"}),
		configFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rnnrun_config_reload_failures_total",
			Help: "Config file reloads that failed to read or validate (the previous config kept serving).",
		}),
		ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rnnrun_model_ready",
			Help: "1 when a version of the model is serving, else 0.",
		}, []string{"model"}),
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rnnrun_model_info",
			Help: "The version serving each model (always 1).",
		}, []string{"model", "sha256", "task"}),
		versions: map[string][2]string{},
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.loads, m.reloadFailures, m.configFailures, m.ready, m.info}
}

func (m *metrics) setVersion(model, sha, task string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.versions[model]; ok {
		m.info.DeleteLabelValues(model, old[0], old[1])
	}
	m.versions[model] = [2]string{sha, task}
	m.info.WithLabelValues(model, sha, task).Set(1)
}

// forget drops the gauges of a model removed from the config (counters stay).
func (m *metrics) forget(model string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.versions[model]; ok {
		m.info.DeleteLabelValues(model, old[0], old[1])
		delete(m.versions, model)
	}
	m.ready.DeleteLabelValues(model)
}
