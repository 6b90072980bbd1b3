package broker

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the broker's Prometheus series, in a registry of its own (no
// global registry: two brokers in one test binary must not collide).
type metrics struct {
	reg       *prometheus.Registry
	decisions *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	reloads   *prometheus.CounterVec
	insecure  prometheus.Gauge
}

func newMetrics(sessionCount func() float64) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keybroker_decisions_total",
			Help: "Answers to /auth, /attest and /resource by event, outcome and refusal reason.",
		}, []string{"event", "outcome", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "keybroker_request_duration_seconds",
			Help:    "Time to answer a protocol request, by event.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, 1},
		}, []string{"event"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keybroker_policy_reloads_total",
			Help: "Policy reloads (SIGHUP) by result (ok or error).",
		}, []string{"result"}),
		insecure: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "keybroker_policy_insecure_options",
			Help: "Number of insecure_ options in force in the current policy; 0 in production.",
		}),
	}
	sessions := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "keybroker_sessions",
		Help: "Sessions held in memory (open, attested or expired but not yet swept).",
	}, sessionCount)
	m.reg.MustRegister(m.decisions, m.latency, m.reloads, m.insecure, sessions)
	return m
}

// observe counts d and the time since start.
func (m *metrics) observe(d *Decision, start time.Time) {
	m.decisions.WithLabelValues(d.Event, d.Outcome, d.Reason).Inc()
	m.latency.WithLabelValues(d.Event).Observe(time.Since(start).Seconds())
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
