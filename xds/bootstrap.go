package xds

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"text/template"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	// The overload manager's resource monitors, for ParseBootstrap.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/downstream_connections/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/fixed_heap/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"

	"github.com/apigwio/apigw/internal/model"
)

// Bootstrap defaults.
const (
	// DefaultNodeID is the default node.id.
	DefaultNodeID = "apigw-envoy"
	// DefaultNodeCluster is the default node.cluster.
	DefaultNodeCluster = "apigw"
	// DefaultXDSAddress is where Envoy reaches the xDS server by default.
	DefaultXDSAddress = "127.0.0.1:18000"
	// DefaultAdminPort is the default Envoy admin port (on 127.0.0.1).
	DefaultAdminPort = 9901
	// XDSClusterName is the static cluster of the bootstrap that reaches
	// the xDS server.
	XDSClusterName = "xds_cluster"
	// DefaultMaxHeapBytes is the default heap size the overload manager
	// measures Envoy against (1 GiB).
	DefaultMaxHeapBytes = 1 << 30
	// DefaultMaxConnections is the default limit on downstream connections
	// across all listeners (Envoy's edge guidance: 50000).
	DefaultMaxConnections = 50000
	// PerConnectionBufferLimitBytes is the per-connection read and write
	// buffer limit of the listener and the bootstrap's cluster (Envoy's
	// edge guidance: 32 KiB).
	PerConnectionBufferLimitBytes = 32 << 10
)

// BootstrapOptions configure Bootstrap. Zero fields take the defaults.
type BootstrapOptions struct {
	// NodeID is node.id. Default "apigw-envoy".
	NodeID string
	// Cluster is node.cluster. Default "apigw".
	Cluster string
	// XDSAddress is host:port of the xDS (and Check) gRPC server. Default
	// 127.0.0.1:18000.
	XDSAddress string
	// AdminPort is the Envoy admin port on 127.0.0.1. Default 9901.
	AdminPort uint32
	// SotW selects the state-of-the-world ADS protocol instead of delta.
	SotW bool
	// MaxHeapBytes is the heap size of the overload manager's fixed_heap
	// monitor: at 95% Envoy shrinks its heap and stops accepting
	// connections, at 98% it stops accepting requests (503). Default 1 GiB;
	// set it to about 80% of the memory Envoy may use.
	MaxHeapBytes uint64
	// MaxConnections is the global downstream connection limit. Default
	// 50000.
	MaxConnections uint64
	// TLS to the gRPC port (server.tls), paths on Envoy's file system:
	// XDSCAFile (the CA that signed the port's certificate) turns TLS on;
	// XDSCertFile and XDSKeyFile are Envoy's client certificate (mTLS);
	// XDSServerName is the SNI and the SAN expected (default: the host of
	// XDSAddress).
	XDSCAFile, XDSCertFile, XDSKeyFile, XDSServerName string
}

// Bootstrap renders a minimal Envoy bootstrap (YAML) that stock Envoy runs
// as is: the node, ADS over gRPC to the xDS server (delta by default) for
// listeners and clusters (routes and endpoints follow over the same
// stream), the static HTTP/2 xds_cluster, the admin interface on
// 127.0.0.1, deferred creation of cluster traffic stats (a backend's
// stats appear once it is used: ~23 KB less per backend cluster), and the
// overload manager of Envoy's edge-proxy guidance (a
// fixed heap monitor with shrink-heap, stop-accepting-requests and
// listener-accept load shedding, and a global downstream connection
// limit). The result is checked against Envoy's bootstrap schema before
// it is returned.
func Bootstrap(o BootstrapOptions) ([]byte, error) {
	if o.NodeID == "" {
		o.NodeID = DefaultNodeID
	}
	if o.Cluster == "" {
		o.Cluster = DefaultNodeCluster
	}
	if o.XDSAddress == "" {
		o.XDSAddress = DefaultXDSAddress
	}
	if o.AdminPort == 0 {
		o.AdminPort = DefaultAdminPort
	}
	if o.MaxHeapBytes == 0 {
		o.MaxHeapBytes = DefaultMaxHeapBytes
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.MaxConnections > math.MaxInt64 {
		return nil, fmt.Errorf("bootstrap: max connections %d is too large", o.MaxConnections)
	}
	if o.AdminPort > 65535 {
		return nil, fmt.Errorf("bootstrap: admin port %d is out of range (1-65535)", o.AdminPort)
	}
	host, portStr, err := net.SplitHostPort(o.XDSAddress)
	port, perr := strconv.ParseUint(portStr, 10, 16)
	if err != nil || host == "" || perr != nil || port == 0 {
		return nil, fmt.Errorf("bootstrap: xDS address %q is not host:port", o.XDSAddress)
	}
	_, ipErr := netip.ParseAddr(host)
	var tlsCtx string
	if o.XDSCAFile != "" || o.XDSCertFile != "" || o.XDSKeyFile != "" || o.XDSServerName != "" {
		if tlsCtx, err = bootstrapTLS(o, host); err != nil {
			return nil, err
		}
	}
	data := map[string]any{
		"TLS":       tlsCtx,
		"NodeID":    jsonString(o.NodeID),
		"Cluster":   jsonString(o.Cluster),
		"Host":      jsonString(host),
		"Port":      port,
		"StaticIP":  ipErr == nil,
		"APIType":   "DELTA_GRPC",
		"Protocol":  "delta xDS",
		"AdminPort": o.AdminPort,
		"XDSName":   XDSClusterName,
		"MaxHeap":   o.MaxHeapBytes,
		"MetaKey":   NodeMetadataKey,
		"MetaHeap":  NodeMaxHeapField,
		"ShortAt":   envoyHeapShortFraction,
		"MaxConns":  o.MaxConnections,
		"BufLimit":  PerConnectionBufferLimitBytes,
	}
	if o.SotW {
		data["APIType"], data["Protocol"] = "GRPC", "state-of-the-world xDS"
	}
	var buf bytes.Buffer
	if err := bootstrapTemplate.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	if _, err := ParseBootstrap(buf.Bytes()); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// bootstrapTLS renders the xds_cluster's transport socket (the
// UpstreamTlsContext of the apigw_authz cluster, grpcPortTLSContext) as
// YAML lines indented for the template.
func bootstrapTLS(o BootstrapOptions, host string) (string, error) {
	if o.XDSCAFile == "" {
		return "", errors.New("bootstrap: TLS to the xDS server needs the CA file (--xds-ca-file)")
	}
	if (o.XDSCertFile == "") != (o.XDSKeyFile == "") {
		return "", errors.New("bootstrap: --xds-cert-file and --xds-key-file go together")
	}
	name := o.XDSServerName
	if name == "" {
		name = host
	}
	ts := &corev3.TransportSocket{Name: "envoy.transport_sockets.tls"}
	tc, err := anypb.New(grpcPortTLSContext(&model.ServerTLS{EnvoyCAFile: o.XDSCAFile, EnvoyCertFile: o.XDSCertFile, EnvoyKeyFile: o.XDSKeyFile, ServerName: name}))
	if err != nil {
		return "", fmt.Errorf("bootstrap: %w", err)
	}
	ts.ConfigType = &corev3.TransportSocket_TypedConfig{TypedConfig: tc}
	js, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(ts)
	if err != nil {
		return "", fmt.Errorf("bootstrap: %w", err)
	}
	y, err := yaml.JSONToYAML(js)
	if err != nil {
		return "", fmt.Errorf("bootstrap: %w", err)
	}
	// Indented under "transport_socket:" in the cluster.
	return "\n        " + strings.ReplaceAll(strings.TrimRight(string(y), "\n"), "\n", "\n        "), nil
}

// ParseBootstrap decodes a bootstrap YAML into Envoy's Bootstrap message
// and validates it (including the packed protocol options).
func ParseBootstrap(data []byte) (*bootstrapv3.Bootstrap, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: not YAML: %w", err)
	}
	b := &bootstrapv3.Bootstrap{}
	if err := protojson.Unmarshal(js, b); err != nil {
		return nil, fmt.Errorf("bootstrap: does not match Envoy's schema: %w", err)
	}
	if err := (&anyWalker{seen: map[*anypb.Any]bool{}}).check("bootstrap", b); err != nil {
		return nil, fmt.Errorf("bootstrap: invalid: %w", err)
	}
	return b, nil
}

// jsonString quotes s for YAML (a JSON string is a YAML string).
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

var bootstrapTemplate = template.Must(template.New("bootstrap").Parse(`# Envoy bootstrap for apigw (generated by "apigw bootstrap"; do not edit).
# Envoy receives its listener, routes, clusters and endpoints from apigw
# over one ADS stream ({{.Protocol}}). Run: envoy -c bootstrap.yaml
node:
  id: {{.NodeID}}
  cluster: {{.Cluster}}
  # Tells apigw the overload manager's heap size, so that it warns when a
  # configuration needs more (/debug/xds: envoy_memory, heap_short).
  metadata:
    {{.MetaKey}}:
      {{.MetaHeap}}: {{.MaxHeap}}
# A cluster's traffic stats are created when first used: every backend is
# a cluster, and at 10,000 APIs this saves Envoy about a third of its memory.
deferred_stat_options:
  enable_deferred_creation_stats: true
dynamic_resources:
  ads_config:
    api_type: {{.APIType}}
    transport_api_version: V3
    set_node_on_first_message_only: true
    grpc_services:
      - envoy_grpc:
          cluster_name: {{.XDSName}}
  lds_config:
    resource_api_version: V3
    ads: {}
  cds_config:
    resource_api_version: V3
    ads: {}
overload_manager:
  refresh_interval: 0.25s
  resource_monitors:
    - name: envoy.resource_monitors.fixed_heap
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig
        max_heap_size_bytes: {{.MaxHeap}}
    - name: envoy.resource_monitors.global_downstream_max_connections
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig
        max_active_downstream_connections: {{.MaxConns}}
  actions:
    - name: envoy.overload_actions.shrink_heap
      triggers:
        - name: envoy.resource_monitors.fixed_heap
          threshold: {value: {{.ShortAt}}}
    - name: envoy.overload_actions.stop_accepting_requests
      triggers:
        - name: envoy.resource_monitors.fixed_heap
          threshold: {value: 0.98}
  loadshed_points:
    - name: envoy.load_shed_points.tcp_listener_accept
      triggers:
        - name: envoy.resource_monitors.fixed_heap
          threshold: {value: {{.ShortAt}}}
static_resources:
  clusters:
    - name: {{.XDSName}}
      per_connection_buffer_limit_bytes: {{.BufLimit}}
      type: {{if .StaticIP}}STATIC{{else}}STRICT_DNS
      dns_lookup_family: V4_PREFERRED{{end}}
      connect_timeout: 1s
      typed_extension_protocol_options:
        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
          "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
          explicit_http_config:
            http2_protocol_options:
              connection_keepalive:
                interval: 30s
                timeout: 5s
      upstream_connection_options:
        tcp_keepalive: {}{{if .TLS}}
      transport_socket:{{.TLS}}{{end}}
      load_assignment:
        cluster_name: {{.XDSName}}
        endpoints:
          - lb_endpoints:
              - endpoint:
                  address:
                    socket_address:
                      address: {{.Host}}
                      port_value: {{.Port}}
admin:
  address:
    socket_address:
      address: 127.0.0.1
      port_value: {{.AdminPort}}
`))
