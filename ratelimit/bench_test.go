package ratelimit

import (
	"context"
	"log/slog"
	"math"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"github.com/redis/go-redis/v9"

	"github.com/apigwio/apigw/internal/redistest"
)

// benchCallers is the number of concurrent callers in the benchmarks.
const benchCallers = 50

// benchService serves a config whose limits are never reached, so every
// request goes to the backend: an api descriptor and an api+user
// descriptor per request, over 1000 users.
func benchService(b *testing.B, backend Backend) (*Service, []*rlsv3.RateLimitRequest) {
	b.Helper()
	huge := &Limit{Requests: math.MaxUint32, Unit: Second}
	cfg := &Config{Domain: testDomain, Descriptors: []*Descriptor{
		{Key: "generic_key", Value: "api-1", Limit: huge, Children: []*Descriptor{{Key: "user", Limit: huge}}},
	}}
	// A loaded machine (the benchmarks share 2 cores) would make the
	// default 50 ms timeout fail some calls: they are reported, not fatal.
	s := New(Options{Backend: backend, Timeout: time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err := s.Update(cfg); err != nil {
		b.Fatal(err)
	}
	reqs := make([]*rlsv3.RateLimitRequest, 1000)
	for i := range reqs {
		reqs[i] = request(desc("generic_key", "api-1"), desc("generic_key", "api-1", "user", "user-"+strconv.Itoa(i)))
	}
	return s, reqs
}

func benchRedis(b *testing.B) Backend {
	srv := redistest.Start(b)
	opts := redistest.Options(srv.Addr)
	opts.PoolSize, opts.PipelinePoolSize = benchCallers, benchCallers
	client := redis.NewClient(opts)
	b.Cleanup(func() { client.Close() })
	return NewRedis(client, "bench:")
}

// runParallel runs ShouldRateLimit from benchCallers goroutines.
func runParallel(b *testing.B, s *Service, reqs []*rlsv3.RateLimitRequest) {
	b.SetParallelism((benchCallers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	var next atomic.Uint64
	var errs atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			resp, err := s.ShouldRateLimit(ctx, reqs[next.Add(1)%uint64(len(reqs))])
			if err != nil || resp.GetOverallCode() != codeOK {
				errs.Add(1)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(s.Stats().BackendErrors), "backend-errors")
	if errs.Load() > s.Stats().BackendErrors {
		b.Fatalf("%d non-OK answers", errs.Load())
	}
}

// BenchmarkShouldRateLimitMemory: ~50 concurrent callers, two descriptors
// per request, memory backend.
func BenchmarkShouldRateLimitMemory(b *testing.B) {
	s, reqs := benchService(b, NewMemory(100_000, nil))
	runParallel(b, s, reqs)
}

// BenchmarkShouldRateLimitRedis: ~50 concurrent callers, two descriptors
// per request, one pipelined round trip to a local redis-server each.
func BenchmarkShouldRateLimitRedis(b *testing.B) {
	s, reqs := benchService(b, benchRedis(b))
	runParallel(b, s, reqs)
}

// BenchmarkShouldRateLimitOverLimitCached: every counter is known to be
// over its limit; answers come from the local cache, Redis is not called.
func BenchmarkShouldRateLimitOverLimitCached(b *testing.B) {
	backend := &countingBackend{Backend: benchRedis(b)}
	s := New(Options{Backend: backend})
	cfg := &Config{Domain: testDomain, Descriptors: []*Descriptor{{Key: "generic_key", Limit: &Limit{Requests: 1, Unit: Day}}}}
	if err := s.Update(cfg); err != nil {
		b.Fatal(err)
	}
	req := request(desc("generic_key", "api-1"))
	for range 2 {
		s.ShouldRateLimit(context.Background(), req)
	}
	calls := backend.calls.Load()
	b.SetParallelism((benchCallers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.ShouldRateLimit(context.Background(), req)
		}
	})
	if backend.calls.Load() != calls {
		b.Fatal("cached over-limit counter reached Redis")
	}
}

// BenchmarkShouldRateLimitLatency measures each call's latency with 50
// concurrent callers and reports p50-ns and p99-ns.
func BenchmarkShouldRateLimitLatency(b *testing.B) {
	for _, bk := range []struct {
		name string
		make func(*testing.B) Backend
	}{
		{"memory", func(*testing.B) Backend { return NewMemory(100_000, nil) }},
		{"redis", benchRedis},
	} {
		b.Run(bk.name, func(b *testing.B) {
			s, reqs := benchService(b, bk.make(b))
			per := b.N/benchCallers + 1
			lat := make([][]time.Duration, benchCallers)
			var wg sync.WaitGroup
			b.ReportAllocs()
			b.ResetTimer()
			for w := range benchCallers {
				lat[w] = make([]time.Duration, 0, per)
				wg.Go(func() {
					ctx := context.Background()
					for i := range per {
						start := time.Now()
						s.ShouldRateLimit(ctx, reqs[(w*per+i)%len(reqs)])
						lat[w] = append(lat[w], time.Since(start))
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			all := slices.Concat(lat...)
			slices.Sort(all)
			b.ReportMetric(float64(all[len(all)*50/100]), "p50-ns")
			b.ReportMetric(float64(all[len(all)*99/100]), "p99-ns")
			b.ReportMetric(float64(s.Stats().BackendErrors), "backend-errors")
		})
	}
}
