package ratelimit

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	extv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"github.com/redis/go-redis/v9"

	"github.com/apigwio/apigw/internal/redistest"
)

const testDomain = "apigw"

// testNow is 10 s into a minute (and an hour, and a day): tests have room
// before the window rolls over.
var testNow = time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC)

// testConfig is the gateway's shapes: per API, per API and user, per API
// and app, per API and client IP, with special thresholds for one user and
// one app, an exempt IP, and a default for any other API.
func testConfig() *Config {
	return &Config{
		Domain: testDomain,
		Descriptors: []*Descriptor{
			{Key: "generic_key", Value: "api-1", Limit: &Limit{Name: "api-1", Requests: 5, Unit: Minute},
				Children: []*Descriptor{
					{Key: "user", Limit: &Limit{Name: "api-1-user", Requests: 3, Unit: Minute}},
					{Key: "user", Value: "vip", Limit: &Limit{Name: "api-1-user-vip", Requests: 10, Unit: Minute}},
					{Key: "app", Limit: &Limit{Name: "api-1-app", Requests: 2, Unit: Hour}},
					{Key: "app", Value: "partner", Limit: &Limit{Name: "api-1-app-partner", Requests: 20, Unit: Hour}},
					{Key: "remote_address", Limit: &Limit{Name: "api-1-ip", Requests: 4, Unit: Second}},
					{Key: "remote_address", Value: "10.0.0.1"}, // exempt
				}},
			{Key: "generic_key", Limit: &Limit{Name: "any-api", Requests: 7, Unit: Day}},
		},
	}
}

// clock is a controllable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: testNow} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// backendKind names a Backend made for a test on a clock.
type backendKind struct {
	name string
	make func(t testing.TB, c *clock) Backend
}

func memoryKind() backendKind {
	return backendKind{"memory", func(_ testing.TB, c *clock) Backend { return NewMemory(1000, c.now) }}
}

func redisKind() backendKind {
	return backendKind{"redis", func(t testing.TB, c *clock) Backend {
		srv := redistest.Start(t)
		r := NewRedis(srv.Client(), "test:")
		r.now = c.now
		return r
	}}
}

// backendKinds are the backends every service behaviour is tested on.
func backendKinds() []backendKind { return []backendKind{memoryKind(), redisKind()} }

// withFailureMode installs testConfig with failure mode m in s.
func withFailureMode(t testing.TB, s *Service, m FailureMode) *Service {
	t.Helper()
	cfg := testConfig()
	cfg.FailureMode = m
	if err := s.Update(cfg); err != nil {
		t.Fatal(err)
	}
	return s
}

// newService returns a Service on testConfig with backend b and clock c.
func newService(t testing.TB, b Backend, c *clock, opts Options) *Service {
	t.Helper()
	opts.Backend = b
	if c != nil {
		opts.Now = c.now
	}
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Second // generous under -race; the timeout has its own test
	}
	s := New(opts)
	if err := s.Update(testConfig()); err != nil {
		t.Fatal(err)
	}
	return s
}

// desc builds a request descriptor from key, value pairs.
func desc(kv ...string) *extv3.RateLimitDescriptor {
	d := &extv3.RateLimitDescriptor{}
	for i := 0; i+1 < len(kv); i += 2 {
		d.Entries = append(d.Entries, &extv3.RateLimitDescriptor_Entry{Key: kv[i], Value: kv[i+1]})
	}
	return d
}

func request(ds ...*extv3.RateLimitDescriptor) *rlsv3.RateLimitRequest {
	return &rlsv3.RateLimitRequest{Domain: testDomain, Descriptors: ds}
}

func call(t testing.TB, s *Service, req *rlsv3.RateLimitRequest) *rlsv3.RateLimitResponse {
	t.Helper()
	resp, err := s.ShouldRateLimit(context.Background(), req)
	if err != nil {
		t.Fatalf("ShouldRateLimit: %v", err)
	}
	if len(resp.GetStatuses()) != len(req.GetDescriptors()) {
		t.Fatalf("%d statuses for %d descriptors", len(resp.GetStatuses()), len(req.GetDescriptors()))
	}
	return resp
}

// countAllowed sends req n times and returns how many were OK.
func countAllowed(t testing.TB, s *Service, req *rlsv3.RateLimitRequest, n int) int {
	t.Helper()
	ok := 0
	for range n {
		if call(t, s, req).GetOverallCode() == rlsv3.RateLimitResponse_OK {
			ok++
		}
	}
	return ok
}

// countingBackend counts Incr calls to an inner Backend.
type countingBackend struct {
	Backend
	calls atomic.Int64
}

func (b *countingBackend) Incr(ctx context.Context, reqs []CounterRequest) ([]uint64, error) {
	b.calls.Add(1)
	return b.Backend.Incr(ctx, reqs)
}

// failingBackend fails every call with err, or blocks until the context
// ends when err is nil.
type failingBackend struct{ err error }

func (b failingBackend) Incr(ctx context.Context, _ []CounterRequest) ([]uint64, error) {
	if b.err != nil {
		return nil, b.err
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

// cmdCounter is a go-redis hook counting round trips: single commands and
// pipelines (each pipeline is one round trip).
type cmdCounter struct {
	single, pipelines, pipelinedCmds atomic.Int64
}

func (h *cmdCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *cmdCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.single.Add(1)
		return next(ctx, cmd)
	}
}

func (h *cmdCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.pipelines.Add(1)
		h.pipelinedCmds.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

func (h *cmdCounter) roundTrips() int64 { return h.single.Load() + h.pipelines.Load() }
