package xds

import (
	"time"

	"github.com/apigwio/apigw/internal/server/metrics"
)

// RegisterMetrics exposes the server's state in m (served at /metrics):
// connected nodes, ACKs and NACKs, nodes whose last answer is a NACK of
// the current version, and the certificates served over SDS.
func (s *Server) RegisterMetrics(m *metrics.Registry) {
	m.Gauge("apigw_xds_connected_nodes", "Envoy nodes with an open xDS stream.", func() float64 {
		n := 0
		for _, node := range s.Status().Nodes {
			if node.Connected {
				n++
			}
		}
		return float64(n)
	})
	m.Counter("apigw_xds_acks_total", "xDS responses accepted by Envoy nodes.", func() float64 { return float64(s.Status().ACKs) })
	m.Counter("apigw_xds_nacks_total", "xDS responses rejected by Envoy nodes (the error text is logged and at /debug/xds).", func() float64 { return float64(s.Status().NACKs) })
	m.Gauge("apigw_xds_nodes_nacking", "Envoy nodes whose last response was a NACK of the current version.", func() float64 {
		st := s.Status()
		n := 0
		for _, node := range st.Nodes {
			if node.LastNACK != nil && node.LastNACK.Version == st.Version {
				n++
			}
		}
		return float64(n)
	})
	m.Gauge("apigw_xds_envoy_memory_estimate_bytes", "What the configuration served is expected to cost each Envoy's heap with one worker thread (/debug/xds: envoy_memory).", func() float64 {
		if m := s.Status().EnvoyMemory; m != nil {
			return float64(m.Bytes)
		}
		return 0
	})
	m.Gauge("apigw_xds_nodes_heap_short", "Connected Envoy nodes whose heap limit (node metadata from apigw bootstrap) is below what the configuration served needs.", func() float64 {
		n := 0
		for _, node := range s.Status().Nodes {
			if node.Connected && node.HeapShort {
				n++
			}
		}
		return float64(n)
	})
	m.Gauge("apigw_certificate_earliest_expiry_timestamp_seconds", "End of validity (Unix time) of the certificate served over SDS that expires first; 0 without certificates.", func() float64 {
		var first time.Time
		for _, c := range s.CertificateStatus() {
			if !c.NotAfter.IsZero() && (first.IsZero() || c.NotAfter.Before(first)) {
				first = c.NotAfter
			}
		}
		if first.IsZero() {
			return 0
		}
		return float64(first.Unix())
	})
	m.Gauge("apigw_certificates_not_reloaded", "Certificates whose changed files did not load (the previous certificate keeps serving; the error is at /debug/reload).", func() float64 {
		n := 0
		for _, c := range s.CertificateStatus() {
			if c.LastError != "" {
				n++
			}
		}
		return float64(n)
	})
}
