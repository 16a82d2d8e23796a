package xds

import (
	"testing"
	"time"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/apigwio/apigw/internal/benchconfig"
	"github.com/apigwio/apigw/internal/model"
)

// BenchmarkDeltaCommit serves a one-API change of the reload benchmark's
// configuration (internal/benchconfig: 110,001 clusters at 100,000 APIs;
// APIGW_BENCH_APIS, default 10,000) to an ADS delta client subscribed to
// clusters and endpoints (wildcard), listeners and the route
// configuration, as Envoy is. commit-cpu-ms is the process's CPU while
// the commit of the change runs (serving the snapshot: the delta watches
// answered, by go-control-plane or ahead), commit-ms its wall time;
// cpu-ms/op and ns/op run from the commit to the route configuration
// received (the client's decoding of it included), the translation
// (Prepare) left out.
//
//	APIGW_BENCH_APIS=100000 go test ./xds -run '^$' -bench DeltaCommit -benchtime 8x -count 3
func BenchmarkDeltaCommit(b *testing.B) {
	load, err := benchconfig.ChangeLoader(10000)
	if err != nil {
		b.Fatal(err)
	}
	var snaps [2]*model.Snapshot
	for i := range snaps {
		if snaps[i], err = load(i); err != nil {
			b.Fatal(err)
		}
	}
	s, ctx, c := startDeltaBench(b, snaps[0], 2*time.Minute, resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.ListenerType, resourcev3.RouteType)
	var commitCPU, commitWall, cpu time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		commit, err := s.Prepare(ctx, snaps[(i+1)%2])
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start, startCPU := time.Now(), cpuTime()
		if err := commit(); err != nil {
			b.Fatal(err)
		}
		commitCPU += cpuTime() - startCPU
		commitWall += time.Since(start)
		c.untilRoutes(b)
		cpu += cpuTime() - startCPU
	}
	b.ReportMetric(float64(commitCPU)/float64(time.Millisecond)/float64(b.N), "commit-cpu-ms")
	b.ReportMetric(float64(commitWall)/float64(time.Millisecond)/float64(b.N), "commit-ms")
	b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}
