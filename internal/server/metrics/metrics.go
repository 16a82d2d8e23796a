// Package metrics exposes the gateway's Prometheus metrics on the admin
// port (/metrics).
//
// Check decisions and their latency are recorded as they happen (the authz
// package calls a Registry through its Observer interface); everything else
// — configuration version and reloads, rate-limit decisions, store errors,
// xDS nodes — is read from the owning component at scrape time, so no
// component depends on Prometheus.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry holds the gateway's metrics.
type Registry struct {
	reg      *prometheus.Registry
	checks   *prometheus.CounterVec
	duration prometheus.Histogram
	lockouts prometheus.Counter
	admin    *prometheus.HistogramVec
}

// New returns a Registry with the Go runtime and process collectors.
func New() *Registry {
	r := &Registry{reg: prometheus.NewRegistry()}
	r.checks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "apigw_check_decisions_total",
		Help: "ext_authz Check decisions by API, result (allow, deny) and error code (OK when allowed).",
	}, []string{"api", "result", "code"})
	r.duration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "apigw_check_duration_seconds",
		Help:    "Time spent deciding one Check, in the service (excluding gRPC transport).",
		Buckets: []float64{1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 5e-3, 0.025, 0.1},
	})
	r.lockouts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "apigw_lockouts_total",
		Help: "Keys locked after too many consecutive authentication failures.",
	})
	r.admin = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "apigw_admin_request_duration_seconds",
		Help:    "Time spent answering an admin HTTP request, in the handler (from the request read to the answer written), by route pattern.",
		Buckets: []float64{5e-4, 1e-3, 2e-3, 5e-3, 0.01, 0.02, 0.05, 0.1, 0.25, 1},
	}, []string{"path"})
	r.reg.MustRegister(r.checks, r.duration, r.lockouts, r.admin,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Decision implements the authz Observer: one Check decided.
func (r *Registry) Decision(api string, allowed bool, code string, d time.Duration) {
	result := "deny"
	if allowed {
		result, code = "allow", "OK"
	}
	r.checks.WithLabelValues(api, result, code).Inc()
	r.duration.Observe(d.Seconds())
}

// AdminRequest records one admin HTTP request answered in d; path is the
// route pattern that served it ("GET /debug/reload"; "" when none did).
func (r *Registry) AdminRequest(path string, d time.Duration) {
	r.admin.WithLabelValues(path).Observe(d.Seconds())
}

// Locked implements the authz Observer: a key was locked.
func (r *Registry) Locked() { r.lockouts.Inc() }

// Handler serves the metrics in the Prometheus exposition format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Gauge registers a gauge read at scrape time.
func (r *Registry) Gauge(name, help string, read func() float64) {
	r.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, read))
}

// GaugeVec registers a gauge with one label, read at scrape time: read
// returns the value of each label value (e.g. the release served by
// environment).
func (r *Registry) GaugeVec(name, help, label string, read func() map[string]float64) {
	r.reg.MustRegister(&vecCollector{desc: prometheus.NewDesc(name, help, []string{label}, nil), read: read})
}

type vecCollector struct {
	desc *prometheus.Desc
	read func() map[string]float64
}

func (c *vecCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *vecCollector) Collect(ch chan<- prometheus.Metric) {
	for v, x := range c.read() {
		if m, err := prometheus.NewConstMetric(c.desc, prometheus.GaugeValue, x, v); err == nil {
			ch <- m
		}
	}
}

// Counter registers a counter read at scrape time.
func (r *Registry) Counter(name, help string, read func() float64) {
	r.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, read))
}

// Info registers a gauge set to 1 whose labels are read at scrape time
// (e.g. the configuration version).
func (r *Registry) Info(name, help string, labels []string, read func() []string) {
	r.reg.MustRegister(&infoCollector{desc: prometheus.NewDesc(name, help, labels, nil), read: read})
}

type infoCollector struct {
	desc *prometheus.Desc
	read func() []string
}

func (c *infoCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *infoCollector) Collect(ch chan<- prometheus.Metric) {
	if values := c.read(); values != nil {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, 1, values...)
	}
}
