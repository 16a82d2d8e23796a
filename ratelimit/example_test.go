package ratelimit_test

import (
	"context"
	"fmt"

	extv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"

	"github.com/apigwio/apigw/ratelimit"
)

// A per-API limit with a per-user limit below it, one user with a higher
// threshold; the service counts in memory.
func Example() {
	cfg := &ratelimit.Config{
		Domain: "apigw",
		Descriptors: []*ratelimit.Descriptor{{
			Key: "generic_key", Value: "orders",
			Limit: &ratelimit.Limit{Name: "orders", Requests: 1000, Unit: ratelimit.Second},
			Children: []*ratelimit.Descriptor{
				{Key: "user", Limit: &ratelimit.Limit{Requests: 2, Unit: ratelimit.Minute}},
				{Key: "user", Value: "batch-job", Limit: &ratelimit.Limit{Requests: 100, Unit: ratelimit.Minute}},
			},
		}},
	}
	svc := ratelimit.New(ratelimit.Options{Backend: ratelimit.NewMemory(10_000, nil)})
	if err := svc.Update(cfg); err != nil {
		fmt.Println(err)
		return
	}
	req := &rlsv3.RateLimitRequest{Domain: "apigw", Descriptors: []*extv3.RateLimitDescriptor{{
		Entries: []*extv3.RateLimitDescriptor_Entry{{Key: "generic_key", Value: "orders"}, {Key: "user", Value: "alice"}},
	}}}
	for range 3 {
		resp, _ := svc.ShouldRateLimit(context.Background(), req)
		fmt.Println(resp.GetOverallCode(), resp.GetStatuses()[0].GetLimitRemaining())
	}
	// Output:
	// OK 1
	// OK 0
	// OVER_LIMIT 0
}

func ExampleConfig_Match() {
	cfg := &ratelimit.Config{Domain: "apigw", Descriptors: []*ratelimit.Descriptor{
		{Key: "remote_address", Limit: &ratelimit.Limit{Requests: 10, Unit: ratelimit.Second}},
	}}
	limit, key := cfg.Match([]ratelimit.Entry{{Key: "remote_address", Value: "2001:db8::1"}})
	fmt.Println(limit.Requests, limit.Unit, key)
	// Output: 10 second apigw|remote_address=2001:db8::1
}
