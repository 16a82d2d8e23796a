package main

import (
	"github.com/spf13/cobra"

	"github.com/apigwio/apigw/xds"
)

// newBootstrapCmd prints an Envoy bootstrap that points Envoy at this
// service's xDS server.
func newBootstrapCmd() *cobra.Command {
	var o xds.BootstrapOptions
	var adminPort uint
	cmd := &cobra.Command{
		Use:   "bootstrap [flags] > bootstrap.yaml",
		Short: "Print an Envoy bootstrap that points at this service",
		Long: `Print an Envoy bootstrap (YAML) whose only static resource is the apigw
cluster: Envoy gets its listeners, routes, clusters and endpoints over ADS
from apigw, and calls Check on the same address.`,
		Example: `  apigw bootstrap --xds-address 127.0.0.1:18000 > envoy.yaml && envoy -c envoy.yaml`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if adminPort == 0 || adminPort > 65535 {
				return usagef("--admin-port %d is out of range (1-65535)", adminPort)
			}
			o.AdminPort = uint32(adminPort)
			out, err := xds.Bootstrap(o)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.NodeID, "node-id", xds.DefaultNodeID, "Envoy node id (shown in the xDS status)")
	fl.StringVar(&o.Cluster, "cluster", xds.DefaultNodeCluster, "Envoy node cluster")
	fl.StringVar(&o.XDSAddress, "xds-address", xds.DefaultXDSAddress, "host:port where Envoy reaches the apigw gRPC port (xDS and Check)")
	fl.UintVar(&adminPort, "admin-port", xds.DefaultAdminPort, "Envoy admin port, on 127.0.0.1")
	fl.BoolVar(&o.SotW, "sotw", false, "use state-of-the-world ADS instead of delta ADS")
	fl.Uint64Var(&o.MaxHeapBytes, "max-heap-bytes", xds.DefaultMaxHeapBytes, "heap size the overload manager measures Envoy against (about 80% of Envoy's memory limit)")
	fl.StringVar(&o.XDSCAFile, "xds-ca-file", "", "TLS to the gRPC port: CA file (on Envoy's file system) that signed its certificate (server.tls)")
	fl.StringVar(&o.XDSCertFile, "xds-cert-file", "", "mTLS: Envoy's client certificate file (on Envoy's file system)")
	fl.StringVar(&o.XDSKeyFile, "xds-key-file", "", "mTLS: Envoy's client key file (on Envoy's file system)")
	fl.StringVar(&o.XDSServerName, "xds-server-name", "", "TLS: SNI and expected certificate name (default: the host of --xds-address)")
	fl.Uint64Var(&o.MaxConnections, "max-connections", xds.DefaultMaxConnections, "limit on downstream connections across all listeners")
	return cmd
}
