package main

import (
	"log/slog"

	"github.com/apigwio/apigw/xds"
)

// newXDS returns the xDS server that serve registers on its gRPC port.
func newXDS(logger *slog.Logger) *xds.Server {
	return xds.NewServer(logger, xds.Options{})
}
