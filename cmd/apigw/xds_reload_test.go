package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/apigwio/apigw/internal/server"
)

const reloadCfg = `
server: {grpc_address: "127.0.0.1:0", admin_address: "127.0.0.1:0", advertise_address: "127.0.0.1:18000"}
groups:
  - name: g
    apis:
      - {name: a, path: /a, auth: none, backend: {url: "http://10.0.0.1"}}
`

// TestXDSFollowsConfigFile subscribes like Envoy (delta ADS, routes) to the
// real service, changes the configuration file and receives the new routes;
// then writes a broken file and receives nothing new.
func TestXDSFollowsConfigFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.yaml")
	writeConfig(t, path, reloadCfg)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	x := newXDS(logger)
	s, err := server.Start(context.Background(), server.Options{ConfigPath: path, WatchInterval: 20 * time.Millisecond, Logger: logger, XDS: x})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	conn, err := grpc.NewClient(s.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node := &corev3.Node{Id: "test-envoy", Cluster: "apigw"}
	if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: resourcev3.RouteType}); err != nil {
		t.Fatal(err)
	}
	responses := make(chan *discoveryv3.DeltaDiscoveryResponse, 8)
	go func() {
		for {
			r, err := stream.Recv()
			if err != nil {
				close(responses)
				return
			}
			responses <- r
			_ = stream.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: r.GetTypeUrl(), ResponseNonce: r.GetNonce()}) // ACK
		}
	}()
	next := func(within time.Duration) *discoveryv3.DeltaDiscoveryResponse {
		select {
		case r := <-responses:
			return r
		case <-time.After(within):
			return nil
		}
	}
	paths := func(r *discoveryv3.DeltaDiscoveryResponse) string {
		var out []string
		for _, res := range r.GetResources() {
			rc := &routev3.RouteConfiguration{}
			if err := res.GetResource().UnmarshalTo(rc); err != nil {
				t.Fatal(err)
			}
			for _, vh := range rc.GetVirtualHosts() {
				for _, rt := range vh.GetRoutes() {
					if p := rt.GetMatch().GetPath(); p != "" {
						out = append(out, p)
					}
				}
			}
		}
		return strings.Join(out, ",")
	}

	first := next(5 * time.Second)
	if first == nil || !strings.Contains(paths(first), "/a") {
		t.Fatalf("initial routes: %v", first)
	}
	writeConfig(t, path, reloadCfg+"      - {name: b, path: /b, auth: none, backend: {url: \"http://10.0.0.1\"}}\n")
	second := next(5 * time.Second)
	if second == nil || !strings.Contains(paths(second), "/b") || second.GetSystemVersionInfo() == first.GetSystemVersionInfo() {
		t.Fatalf("change not delivered: %v", second)
	}
	writeConfig(t, path, reloadCfg+"      - {name: c, path: no-slash}\n")
	if r := next(time.Second); r != nil {
		t.Fatalf("a broken file produced an xDS update: %v", r)
	}
	if st := s.Reloader().Status(); !strings.Contains(st.LastError, "groups[0].apis[1].path") {
		t.Fatalf("refusal not reported: %+v", st)
	}
}

func writeConfig(t testing.TB, path, s string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
