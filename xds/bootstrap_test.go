package xds

import (
	"path/filepath"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
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
