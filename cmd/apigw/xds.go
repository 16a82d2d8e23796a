package main

import (
	"log/slog"

	"github.com/apigwio/apigw/internal/server/metrics"
	"github.com/apigwio/apigw/xds"
)

// newXDS returns the xDS server that serve registers on its gRPC port.
func newXDS(logger *slog.Logger) *xds.Server {
	return xds.NewServer(logger, xds.Options{})
}

// registerXDSMetrics exposes the xDS server's state.
func registerXDSMetrics(m *metrics.Registry, x *xds.Server) {
	m.Gauge("apigw_xds_connected_nodes", "Envoy nodes with an open xDS stream.", func() float64 {
		n := 0
		for _, node := range x.Status().Nodes {
			if node.Connected {
				n++
			}
		}
		return float64(n)
	})
	m.Counter("apigw_xds_acks_total", "xDS responses accepted by Envoy nodes.", func() float64 { return float64(x.Status().ACKs) })
	m.Counter("apigw_xds_nacks_total", "xDS responses rejected by Envoy nodes (the error text is logged and at /debug/xds).", func() float64 { return float64(x.Status().NACKs) })
	m.Gauge("apigw_xds_nodes_nacking", "Envoy nodes whose last response was a NACK of the current version.", func() float64 {
		st := x.Status()
		n := 0
		for _, node := range st.Nodes {
			if node.LastNACK != nil && node.LastNACK.Version == st.Version {
				n++
			}
		}
		return float64(n)
	})
}
