package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/etcdtest"
	"github.com/apigwio/apigw/internal/model"
	"github.com/apigwio/apigw/internal/release"
	"github.com/apigwio/apigw/internal/server"
	"github.com/apigwio/apigw/internal/store/etcdstore"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// BenchmarkPublishToReplicas measures one publish of BETA in a 10,000-API
// configuration (test/bench/genconfig: every API in RELEASE and BETA)
// until it is visible everywhere: two replicas (in process, each with its
// own etcd connection) decide Check by it, and a delta ADS client of the
// first replica received the new routes. Each iteration toggles g0/a2
// (auth none or iam, backend timeout 5s or 6s) in BETA only; the time runs
// from the start of the publish (its read of the current releases, then
// the compare-and-swap) to the last of the three; restricting the
// configuration to BETA (what apigw publish validates first) is not
// timed. Publishes are 1.2 s apart (APIGW_BENCH_PUBLISH_GAP=0: back to
// back). It reports the median and the 90th percentile of the iterations
// (make bench-publish; docs/performance.md):
//
//	APIGW_REQUIRE_ETCD=1 go test -tags vtprotobuf ./cmd/apigw -run '^$' -bench PublishToReplicas -benchtime 30x
func BenchmarkPublishToReplicas(b *testing.B) {
	c := etcdtest.StartSingle(b)
	u := c.StoreURL("bench")
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := func() *etcdstore.Store {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, err := etcdstore.Open(ctx, u, etcdstore.Options{Logger: logger})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		return st
	}
	gw := genConfig(b, 10000)
	pub := open()
	publishBench(b, pub, restrictBench(b, gw, "RELEASE", "BETA"))

	local := filepath.Join(b.TempDir(), "local.yaml")
	if err := os.WriteFile(local, []byte("server: {grpc_address: \"127.0.0.1:0\", admin_address: \"127.0.0.1:0\", advertise_address: \"127.0.0.1:18000\"}\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	var checks []authv3.AuthorizationClient
	var first *server.Server
	var servers []*server.Server
	for i := range 2 {
		s, err := server.Start(context.Background(), server.Options{ConfigPath: local, WatchInterval: -1, Logger: logger,
			XDS: newXDS(logger), Store: open(), StoreURL: u, ReplicaID: fmt.Sprintf("bench-%d", i)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(s.Shutdown)
		if first == nil {
			first = s
		}
		servers = append(servers, s)
		conn, err := grpc.NewClient(s.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { conn.Close() })
		checks = append(checks, authv3.NewAuthorizationClient(conn))
	}
	// A delta ADS client of the first replica, like Envoy (large messages,
	// Envoy's default HTTP/2 windows).
	conn, err := grpc.NewClient(first.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20)),
		grpc.WithInitialWindowSize(256<<20), grpc.WithInitialConnWindowSize(256<<20))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: "bench"}, TypeUrl: resourcev3.RouteType}); err != nil {
		b.Fatal(err)
	}
	pushes := make(chan error, 16)
	go func() {
		for {
			r, err := stream.Recv()
			if err == nil {
				err = stream.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: r.GetTypeUrl(), ResponseNonce: r.GetNonce()})
			}
			pushes <- err
			if err != nil {
				return
			}
		}
	}()
	if err := <-pushes; err != nil { // the initial routes
		b.Fatal(err)
	}
	check := func(c authv3.AuthorizationClient) bool {
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		resp, err := c.Check(cctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			ContextExtensions: map[string]string{model.ContextKeyAPI: "g0/a2", model.ContextKeyEnv: "BETA"},
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Method: "GET", Path: "/svc2/items", Host: "g0.example.com", Headers: map[string]string{"x-request-id": "rid"},
			}},
		}})
		if err != nil {
			b.Fatal(err)
		}
		return resp.GetStatus().GetCode() == 0
	}
	api := findAPI(b, gw, "g0", "a2")
	gap := 1200 * time.Millisecond
	if v := os.Getenv("APIGW_BENCH_PUBLISH_GAP"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("APIGW_BENCH_PUBLISH_GAP: %v", err)
		}
		gap = d
	}
	var times []time.Duration
	var published time.Duration
	var load, apply float64 // of both replicas
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		closed := i%2 == 0 // g0/a2 starts open (auth none)
		api.Auth, api.GetBackend().Timeout = "none", "5s"
		if closed {
			api.Auth, api.GetBackend().Timeout = "iam", "6s"
		}
		rels := restrictBench(b, gw, "BETA") // what apigw publish validates and writes
		// Publishes are not back to back: by default 1.2 s apart, so the
		// replicas have returned the memory the previous apply freed
		// (0.2 s after it, server.releaseDelay) and the publish pays
		// for faulting it in again, as a publish after a quiet time does.
		time.Sleep(gap)
		for len(pushes) > 0 {
			<-pushes
		}
		b.StartTimer()
		start := time.Now()
		publishBench(b, pub, rels)
		published += time.Since(start)
		pushed := false
		done := [2]bool{}
		want := uint64(i + 2) // BETA #1 was published before the loop
		for deadline := time.Now().Add(30 * time.Second); !(pushed && done[0] && done[1]); {
			if time.Now().After(deadline) {
				b.Fatalf("publish %d not visible within 30s (push %v, replicas %v)", i, pushed, done)
			}
			select {
			case err := <-pushes:
				if err != nil {
					b.Fatal(err)
				}
				pushed = true
			default:
			}
			// A replica's follower says it serves the release once Check
			// decides by it (it switched before the xDS side and the
			// status); one Check then confirms. Polling Check alone would
			// load the two cores the replicas need.
			for r, c := range checks {
				if !done[r] && servers[r].Follower().Status().Environments["BETA"].Release >= want && check(c) != closed {
					done[r] = true
				}
			}
			if !(pushed && done[0] && done[1]) {
				time.Sleep(time.Millisecond)
			}
		}
		times = append(times, time.Since(start))
		for _, s := range servers {
			st := s.Reloader().Status()
			load += st.LoadMillis
			apply += st.ApplyMillis
		}
	}
	b.StopTimer()
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(times[len(times)*9/10].Microseconds())/1000, "p90-ms")
	// The parts (means): the publish itself (read and compare-and-swap),
	// and in each replica the composition and build of the new
	// configuration (compose-ms) and its application (apply-ms: Check
	// staging and xDS preparation, then the switches).
	b.ReportMetric(float64(published.Microseconds())/1000/float64(b.N), "publish-ms")
	b.ReportMetric(load/float64(2*b.N), "compose-ms")
	b.ReportMetric(apply/float64(2*b.N), "apply-ms")
}

// genConfig runs test/bench/genconfig for n APIs and parses its output.
func genConfig(b *testing.B, n int) *configv1.Gateway {
	b.Helper()
	out, err := exec.Command("go", "run", "../../test/bench/genconfig", "-apis", fmt.Sprint(n)).Output()
	if err != nil {
		b.Fatalf("genconfig: %v", err)
	}
	gw, err := config.Parse(out)
	if err != nil {
		b.Fatal(err)
	}
	return gw
}

// findAPI returns the API name of group g in gw.
func findAPI(b *testing.B, gw *configv1.Gateway, g, name string) *configv1.Api {
	b.Helper()
	for _, grp := range gw.GetGroups() {
		if grp.GetName() != g {
			continue
		}
		for _, a := range grp.GetApis() {
			if a.GetName() == name {
				return a
			}
		}
	}
	b.Fatalf("no API %s/%s", g, name)
	return nil
}

// restrictBench is gw restricted to each of envs, as releases to publish.
func restrictBench(b *testing.B, gw *configv1.Gateway, envs ...string) []*release.Release {
	b.Helper()
	var rels []*release.Release
	for _, env := range envs {
		r, err := release.Restrict(gw, env)
		if err != nil {
			b.Fatal(err)
		}
		rels = append(rels, &release.Release{Env: env, SourceDigest: "bench", Config: r})
	}
	return rels
}

// publishBench publishes rels as apigw publish does: it reads the current
// release numbers, then compares and swaps.
func publishBench(b *testing.B, st release.Store, rels []*release.Release) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cur, err := st.Current(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.Publish(ctx, rels, cur.Numbers()); err != nil {
		b.Fatal(err)
	}
}
