package xds

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/apigwio/apigw/internal/benchconfig"
	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/model"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// Benchmarks (see docs/xds.md, "Performance"):
//
//	go test ./xds -run '^$' -bench . -benchtime 3x -benchmem
//
// BenchmarkTranslate and BenchmarkPublish cover 1,000, 10,000 and 100,000
// APIs published in 2 environments; BenchmarkDeltaUpdate measures how long a
// one-API change in a 10,000-API configuration takes to reach a subscribed
// delta-xDS client.

var benchSizes = []int{1000, 10000, 100000}

// syntheticSnapshot builds a configuration of n APIs in groups of 100, each
// published in RELEASE and BETA with a per-environment backend host; every
// 10th API has a header backend policy, every 20th CORS, every 5th is a
// prefix API. variant changes the path of API 0 (a one-API change).
func syntheticSnapshot(tb testing.TB, n int, variant int) *model.Snapshot {
	tb.Helper()
	gw := &configv1.Gateway{
		Environments: []*configv1.Environment{
			{Name: "RELEASE", Variables: map[string]string{"zone": "prod.internal"}},
			{Name: "BETA", Variables: map[string]string{"zone": "beta.internal"}},
		},
	}
	var g *configv1.Group
	for i := 0; i < n; i++ {
		if i%100 == 0 {
			g = &configv1.Group{Name: "g" + strconv.Itoa(i/100), Domains: []string{fmt.Sprintf("g%d.example.com", i/100)}}
			gw.Groups = append(gw.Groups, g)
		}
		api := &configv1.Api{
			Name:         "api" + strconv.Itoa(i),
			Method:       []string{"GET", "POST", "PUT", "ANY"}[i%4],
			Path:         fmt.Sprintf("/svc%d/v1/resource%d", i%50, i),
			Auth:         "app",
			Environments: []string{"RELEASE", "BETA"},
			Backend: &configv1.Backend{
				Url:     fmt.Sprintf("http://svc%d.#{zone}#:8080/internal/resource%d", i/100, i),
				Timeout: "3s",
				Retries: uint32(i % 2),
			},
		}
		if i == 0 && variant != 0 {
			api.Path += "-v" + strconv.Itoa(variant)
		}
		if i%5 == 0 {
			api.Match = "prefix"
			api.Path += "/"
		}
		if i%10 == 0 {
			api.BackendPolicies = []*configv1.BackendPolicy{{
				Name:       "canary",
				Conditions: []*configv1.Condition{{Type: "header", Name: "x-canary", Values: []string{"1"}}},
				Backend:    &configv1.Backend{Url: fmt.Sprintf("http://canary%d.#{zone}#:8080", i/100)},
			}}
		}
		if i%20 == 0 {
			api.Cors = &configv1.Cors{AllowOrigins: []string{"https://app.example.com"}}
		}
		g.Apis = append(g.Apis, api)
	}
	snap, err := config.Build("synthetic", gw, config.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return snap
}

func heapMB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}

// BenchmarkTranslate measures Translate alone.
func BenchmarkTranslate(b *testing.B) {
	for _, n := range benchSizes {
		b.Run("apis="+strconv.Itoa(n), func(b *testing.B) {
			snap := syntheticSnapshot(b, n, 0)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := Translate(snap, Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPublish measures Publish: translation, validation (every
// resource and packed Any), consistency, resource hashing for delta xDS and
// the cache update. Successive iterations alternate two configurations that
// differ in one API, so that each one is a real update (validating only
// what changed since the previous one, see Resources.validate); cold is the
// first Publish of a server, which validates everything. heap-MB is the
// live heap afterwards, with the published snapshot and the configuration
// in memory.
func BenchmarkPublish(b *testing.B) {
	for _, n := range benchSizes {
		b.Run("apis="+strconv.Itoa(n), func(b *testing.B) {
			snaps := []*model.Snapshot{syntheticSnapshot(b, n, 0), syntheticSnapshot(b, n, 1)}
			s := NewServer(discardLogger(), Options{})
			if err := s.Publish(context.Background(), snaps[1]); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := s.Publish(context.Background(), snaps[i%2]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(heapMB(), "heap-MB")
			runtime.KeepAlive(s)
			runtime.KeepAlive(snaps)
		})
		b.Run("apis="+strconv.Itoa(n)+"/cold", func(b *testing.B) {
			snap := syntheticSnapshot(b, n, 0)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := NewServer(discardLogger(), Options{}).Publish(context.Background(), snap); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDeltaUpdate measures the time from Publish of a one-API change
// in a 10,000-API configuration until a subscribed delta-xDS client (on
// loopback gRPC, subscribed to every type like Envoy) has received the new
// route configuration.
//
// APIGW_BENCH_APIS sets the number of APIs (default 10,000), e.g. 100,000
// for the per-resource bookkeeping of 100,000 clusters.
func BenchmarkDeltaUpdate(b *testing.B) {
	n, err := benchconfig.APIsFromEnv(10000)
	if err != nil {
		b.Fatal(err)
	}
	snaps := []*model.Snapshot{syntheticSnapshot(b, n, 0), syntheticSnapshot(b, n, 1)}
	s, ctx, c := startDeltaBench(b, snaps[0], 5*time.Second, resourcev3.ClusterType, resourcev3.ListenerType, resourcev3.RouteType)
	var publish, push time.Duration
	b.ResetTimer()
	cpu := cpuTime()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if err := s.Publish(ctx, snaps[(i+1)%2]); err != nil {
			b.Fatal(err)
		}
		published := time.Now()
		c.untilRoutes(b)
		publish += published.Sub(start)
		push += time.Since(published)
	}
	// ns/op is the whole delay; publish-ms is Publish (translate, validate,
	// hash, cache update) and push-ms the delivery of the changed
	// resources to the client.
	b.ReportMetric(float64(cpuTime()-cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(publish.Milliseconds())/float64(b.N), "publish-ms")
	b.ReportMetric(float64(push.Milliseconds())/float64(b.N), "push-ms")
}

// cpuTime is the process's CPU time (user and system) so far: the server
// and the client of a benchmark, less sensitive than the wall clock to a
// shared machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkContextExtensions compares the hand-encoded ExtAuthzPerRoute of
// a deployment (contextExtensions) with building the message and a
// deterministic proto.Marshal, the reason the hand encoding is kept.
func BenchmarkContextExtensions(b *testing.B) {
	const api, env = "group-0001/api-00042", "RELEASE"
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			contextExtensions(api, env, nil)
		}
	})
	b.Run("proto", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m := &extauthzv3.ExtAuthzPerRoute{Override: &extauthzv3.ExtAuthzPerRoute_CheckSettings{
				CheckSettings: &extauthzv3.CheckSettings{ContextExtensions: map[string]string{model.ContextKeyAPI: api, model.ContextKeyEnv: env}},
			}}
			if _, err := (proto.MarshalOptions{Deterministic: true}).Marshal(m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// deltaBenchClient is a delta ADS client of a benchmark's server.
type deltaBenchClient struct {
	stream discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesClient
	in     <-chan *discoveryv3.DeltaDiscoveryResponse
	wait   time.Duration // the longest wait for a response
}

// startDeltaBench starts a server serving first and a delta ADS client
// subscribed to types as Envoy is (wildcard; the route configuration by
// name), each first response received and acknowledged. wait bounds each
// wait for a response (a response of 110,001 clusters takes seconds on a
// loaded machine). The server and the stream end with the benchmark.
func startDeltaBench(b *testing.B, first *model.Snapshot, wait time.Duration, types ...string) (*Server, context.Context, *deltaBenchClient) {
	b.Helper()
	s, conn, _ := startServer(b)
	s.log = discardLogger()
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	if err := s.Publish(ctx, first); err != nil {
		b.Fatal(err)
	}
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	if err != nil {
		b.Fatal(err)
	}
	c := &deltaBenchClient{stream: stream, in: recvCh(b, stream.Recv), wait: wait}
	for _, typ := range types {
		req := &discoveryv3.DeltaDiscoveryRequest{Node: testNode, TypeUrl: typ}
		if typ == resourcev3.RouteType {
			req.ResourceNamesSubscribe = []string{RouteConfigName}
		}
		if err := stream.Send(req); err != nil {
			b.Fatal(err)
		}
		c.ack(b, c.next(b, typ))
	}
	return s, ctx, c
}

// next is the client's next response.
func (c *deltaBenchClient) next(b *testing.B, what string) *discoveryv3.DeltaDiscoveryResponse {
	b.Helper()
	select {
	case m, ok := <-c.in:
		if !ok {
			b.Fatalf("stream closed waiting for %s", what)
		}
		return m
	case <-time.After(c.wait):
		b.Fatalf("timed out waiting for %s", what)
	}
	return nil
}

// ack acknowledges resp.
func (c *deltaBenchClient) ack(b *testing.B, resp *discoveryv3.DeltaDiscoveryResponse) {
	b.Helper()
	if err := c.stream.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resp.GetTypeUrl(), ResponseNonce: resp.GetNonce()}); err != nil {
		b.Fatal(err)
	}
}

// untilRoutes receives and acknowledges responses up to the route
// configuration's.
func (c *deltaBenchClient) untilRoutes(b *testing.B) {
	b.Helper()
	for {
		resp := c.next(b, "route update")
		c.ack(b, resp)
		if resp.GetTypeUrl() == resourcev3.RouteType {
			return
		}
	}
}
