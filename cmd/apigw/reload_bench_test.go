package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"sigs.k8s.io/yaml"

	"github.com/apigwio/apigw/internal/server"
)

// bigConfig is n APIs in 10 groups, each published in 2 environments.
func bigConfig(n int, extra string) string {
	var b strings.Builder
	b.WriteString(`server: {grpc_address: "127.0.0.1:0", admin_address: "127.0.0.1:0", advertise_address: "127.0.0.1:18000"}
environments: [{name: BETA}]
groups:
`)
	for g := 0; g < 10; g++ {
		fmt.Fprintf(&b, "  - name: g%d\n    domains: [g%d.example.com]\n    apis:\n", g, g)
		for i := 0; i < n/10; i++ {
			fmt.Fprintf(&b, "      - {name: a%d, path: /a%d, auth: none, environments: [RELEASE, BETA], backend: {url: \"http://10.0.%d.%d:8080\"}}\n", i, i, g, i%250+1)
		}
		if g == 0 {
			b.WriteString(extra)
		}
	}
	return b.String()
}

// BenchmarkFileToDeltaClient measures, through the whole service, the time
// from writing a one-API change of a 10,000-API configuration file to a
// subscribed delta ADS client receiving the new routes: file event, load and
// validation, Check staging, translation, publication and delivery.
//
//	go test ./cmd/apigw -run '^$' -bench FileToDeltaClient -benchtime 5x
func BenchmarkFileToDeltaClient(b *testing.B) {
	b.Run("yaml", func(b *testing.B) { benchFileToDeltaClient(b, func(s string) string { return s }) })
	b.Run("json", func(b *testing.B) { benchFileToDeltaClient(b, toJSON(b)) })
}

// toJSON converts a YAML configuration to JSON (as a generator would
// write it).
func toJSON(b *testing.B) func(string) string {
	return func(s string) string {
		js, err := yaml.YAMLToJSON([]byte(s))
		if err != nil {
			b.Fatal(err)
		}
		return string(js)
	}
}

func benchFileToDeltaClient(b *testing.B, format func(string) string) {
	path := filepath.Join(b.TempDir(), "gw.conf")
	writeConfig(b, path, format(bigConfig(10000, "")))
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := server.Start(context.Background(), server.Options{ConfigPath: path, WatchInterval: -1, Logger: logger, XDS: newXDS(logger)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Shutdown()
	// Like Envoy: large messages, and Envoy's default HTTP/2 windows (256
	// MiB; grpc-go's start at 64 KiB).
	conn, err := grpc.NewClient(s.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20)),
		grpc.WithInitialWindowSize(256<<20), grpc.WithInitialConnWindowSize(256<<20))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: "bench"}, TypeUrl: resourcev3.RouteType}); err != nil {
		b.Fatal(err)
	}
	recv := func() {
		r, err := stream.Recv()
		if err != nil {
			b.Fatal(err)
		}
		if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: r.GetTypeUrl(), ResponseNonce: r.GetNonce()}); err != nil {
			b.Fatal(err)
		}
	}
	recv() // the initial routes
	time.Sleep(100 * time.Millisecond)
	var load, apply float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer() // preparing the next file is not part of the measure
		extra := fmt.Sprintf("      - {name: new%d, path: /new%d, auth: none, backend: {url: \"http://10.9.9.9\"}}\n", i, i)
		content := format(bigConfig(10000, extra))
		b.StartTimer()
		writeConfig(b, path, content)
		recv()
		st := s.Reloader().Status()
		load += st.LoadMillis
		apply += st.ApplyMillis
	}
	// ns/op is the whole delay; load-ms is reading, parsing and validating
	// the file, apply-ms preparing and publishing it (Check side, xDS,
	// rate limits); the rest is the file event and the delivery.
	b.ReportMetric(load/float64(b.N), "load-ms")
	b.ReportMetric(apply/float64(b.N), "apply-ms")
}
