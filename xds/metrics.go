package xds

import "github.com/apigwio/apigw/internal/server/metrics"

// RegisterMetrics exposes the server's state in m (served at /metrics):
// connected nodes, ACKs and NACKs, and nodes whose last answer is a NACK
// of the current version.
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
}
