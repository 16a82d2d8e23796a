package xds

import (
	"path/filepath"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	downstreamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/downstream_connections/v3"
	fixedheapv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/fixed_heap/v3"
)

// TestBootstrapGolden keeps envoy/bootstrap.yaml (the default bootstrap)
// in step with Bootstrap. Regenerate with:
//
//	go test ./xds -run TestBootstrapGolden -update
func TestBootstrapGolden(t *testing.T) {
	got, err := Bootstrap(BootstrapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, filepath.Join("..", "envoy", "bootstrap.yaml"), got)
}

func TestBootstrap(t *testing.T) {
	tests := []struct {
		name      string
		opts      BootstrapOptions
		apiType   corev3.ApiConfigSource_ApiType
		static    bool
		host      string
		port      uint32
		adminPort uint32
		node      string
	}{
		{"defaults", BootstrapOptions{}, corev3.ApiConfigSource_DELTA_GRPC, true, "127.0.0.1", 18000, 9901, "apigw-envoy"},
		{"sotw", BootstrapOptions{SotW: true}, corev3.ApiConfigSource_GRPC, true, "127.0.0.1", 18000, 9901, "apigw-envoy"},
		{"dns name", BootstrapOptions{XDSAddress: "apigw.svc:9000", AdminPort: 19000, NodeID: `edge "1": a`, Cluster: "edge"},
			corev3.ApiConfigSource_DELTA_GRPC, false, "apigw.svc", 9000, 19000, `edge "1": a`},
		{"ipv6", BootstrapOptions{XDSAddress: "[::1]:18000"}, corev3.ApiConfigSource_DELTA_GRPC, true, "::1", 18000, 9901, "apigw-envoy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y, err := Bootstrap(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			b, err := ParseBootstrap(y)
			if err != nil {
				t.Fatalf("%v\n%s", err, y)
			}
			checkBootstrap(t, b, tt.apiType, tt.static, tt.host, tt.port, tt.adminPort, tt.node)
		})
	}
}

func checkBootstrap(t *testing.T, b *bootstrapv3.Bootstrap, apiType corev3.ApiConfigSource_ApiType, static bool, host string, port, adminPort uint32, node string) {
	t.Helper()
	if b.GetNode().GetId() != node {
		t.Errorf("node id %q, want %q", b.GetNode().GetId(), node)
	}
	ads := b.GetDynamicResources().GetAdsConfig()
	if ads.GetApiType() != apiType || ads.GetTransportApiVersion() != corev3.ApiVersion_V3 {
		t.Errorf("ads_config = %v", ads)
	}
	if ads.GetGrpcServices()[0].GetEnvoyGrpc().GetClusterName() != XDSClusterName {
		t.Errorf("ADS does not use %s", XDSClusterName)
	}
	if b.GetDynamicResources().GetLdsConfig().GetAds() == nil || b.GetDynamicResources().GetCdsConfig().GetAds() == nil {
		t.Error("LDS and CDS must come from ADS")
	}
	c := b.GetStaticResources().GetClusters()[0]
	if got := c.GetType().String(); (got == "STATIC") != static {
		t.Errorf("xds_cluster type %s, static=%v", got, static)
	}
	if _, ok := c.GetTypedExtensionProtocolOptions()[httpProtocolOptionsKey]; !ok {
		t.Error("xds_cluster is not HTTP/2")
	}
	sa := c.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
	if sa.GetAddress() != host || sa.GetPortValue() != port {
		t.Errorf("xds address %s:%d, want %s:%d", sa.GetAddress(), sa.GetPortValue(), host, port)
	}
	if !b.GetDeferredStatOptions().GetEnableDeferredCreationStats() {
		t.Error("cluster traffic stats are not deferred (deferred_stat_options): every backend cluster pays for them up front")
	}
	admin := b.GetAdmin().GetAddress().GetSocketAddress()
	if admin.GetAddress() != "127.0.0.1" || admin.GetPortValue() != adminPort {
		t.Errorf("admin %s:%d", admin.GetAddress(), admin.GetPortValue())
	}
}

func TestBootstrapErrors(t *testing.T) {
	for _, o := range []BootstrapOptions{
		{XDSAddress: "nohost"},
		{XDSAddress: ":18000"},
		{XDSAddress: "127.0.0.1:0"},
		{XDSAddress: "127.0.0.1:99999"},
		{AdminPort: 70000},
	} {
		if _, err := Bootstrap(o); err == nil || !strings.HasPrefix(err.Error(), "bootstrap:") {
			t.Errorf("Bootstrap(%+v) = %v, want a bootstrap error", o, err)
		}
	}
}

// TestBootstrapOverload: the overload manager and buffer limits of Envoy's
// edge-proxy guidance, sized by the options.
func TestBootstrapOverload(t *testing.T) {
	for _, tt := range []struct {
		opts        BootstrapOptions
		heap, conns uint64
	}{
		{BootstrapOptions{}, DefaultMaxHeapBytes, DefaultMaxConnections},
		{BootstrapOptions{MaxHeapBytes: 4 << 30, MaxConnections: 1000}, 4 << 30, 1000},
	} {
		y, err := Bootstrap(tt.opts)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ParseBootstrap(y)
		if err != nil {
			t.Fatal(err)
		}
		om := b.GetOverloadManager()
		var heap fixedheapv3.FixedHeapConfig
		var conns downstreamv3.DownstreamConnectionsConfig
		if len(om.GetResourceMonitors()) != 2 ||
			om.GetResourceMonitors()[0].GetTypedConfig().UnmarshalTo(&heap) != nil ||
			om.GetResourceMonitors()[1].GetTypedConfig().UnmarshalTo(&conns) != nil {
			t.Fatalf("resource monitors %v", om.GetResourceMonitors())
		}
		if heap.GetMaxHeapSizeBytes() != tt.heap || uint64(conns.GetMaxActiveDownstreamConnections()) != tt.conns {
			t.Errorf("heap %d connections %d, want %d %d", heap.GetMaxHeapSizeBytes(), conns.GetMaxActiveDownstreamConnections(), tt.heap, tt.conns)
		}
		// The node tells apigw the same heap size (Status: heap_short).
		if got := nodeMaxHeap(b.GetNode()); got != tt.heap {
			t.Errorf("node metadata max_heap_bytes %d, want %d (%v)", got, tt.heap, b.GetNode().GetMetadata())
		}
		var actions []string
		for _, a := range om.GetActions() {
			actions = append(actions, a.GetName())
		}
		if strings.Join(actions, " ") != "envoy.overload_actions.shrink_heap envoy.overload_actions.stop_accepting_requests" ||
			len(om.GetLoadshedPoints()) != 1 || om.GetLoadshedPoints()[0].GetName() != "envoy.load_shed_points.tcp_listener_accept" {
			t.Errorf("actions %v, load shed points %v", actions, om.GetLoadshedPoints())
		}
		if got := b.GetStaticResources().GetClusters()[0].GetPerConnectionBufferLimitBytes().GetValue(); got != PerConnectionBufferLimitBytes {
			t.Errorf("xds cluster buffer limit %d", got)
		}
	}
	res := translate(t, load(t, filepath.Join("testdata", "listener.input.yaml")))
	if got := res.Listeners[0].GetPerConnectionBufferLimitBytes().GetValue(); got != PerConnectionBufferLimitBytes {
		t.Errorf("listener buffer limit %d, want %d", got, PerConnectionBufferLimitBytes)
	}
}
