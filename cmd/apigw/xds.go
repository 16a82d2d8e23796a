package main

import (
	"log/slog"

	"github.com/apigwio/apigw/metrics"
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
