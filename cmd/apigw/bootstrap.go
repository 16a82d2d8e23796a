package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/apigwio/apigw/xds"
)

// runBootstrap prints an Envoy bootstrap that points Envoy at this
// service's xDS server:
//
//	apigw bootstrap [--node-id ID] [--cluster NAME] [--xds-address HOST:PORT] [--admin-port N] [--sotw] > bootstrap.yaml
//	envoy -c bootstrap.yaml
func runBootstrap(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bootstrap", flag.ContinueOnError)
	nodeID := fs.String("node-id", xds.DefaultNodeID, "Envoy node id (shown in the xDS status)")
	cluster := fs.String("cluster", xds.DefaultNodeCluster, "Envoy node cluster")
	xdsAddr := fs.String("xds-address", xds.DefaultXDSAddress, "host:port where Envoy reaches the apigw gRPC port (xDS and Check)")
	adminPort := fs.Uint("admin-port", xds.DefaultAdminPort, "Envoy admin port, on 127.0.0.1")
	sotw := fs.Bool("sotw", false, "use state-of-the-world ADS instead of delta ADS")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if *adminPort == 0 || *adminPort > 65535 {
		return fmt.Errorf("--admin-port %d is out of range (1-65535)", *adminPort)
	}
	out, err := xds.Bootstrap(xds.BootstrapOptions{
		NodeID:     *nodeID,
		Cluster:    *cluster,
		XDSAddress: *xdsAddr,
		AdminPort:  uint32(*adminPort),
		SotW:       *sotw,
	})
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}
