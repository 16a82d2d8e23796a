package ratelimit

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestMemoryKeyFloodKeepsOtherKinds: a flood of distinct values of one
// descriptor kind (say remote_address) evicts counters of that kind only;
// the counters of other kinds (an API's, an app's) keep counting.
func TestMemoryKeyFloodKeepsOtherKinds(t *testing.T) {
	ctx := context.Background()
	for _, maxKeys := range []int{100, 1000, 100_000} {
		t.Run(fmt.Sprint(maxKeys), func(t *testing.T) {
			m := NewMemory(maxKeys, newClock().now)
			incr := func(key string) uint64 {
				got, err := m.Incr(ctx, []CounterRequest{{Key: key, Window: time.Hour, Hits: 1}})
				if err != nil {
					t.Fatal(err)
				}
				return got[0]
			}
			api := counterKey("apigw", []Entry{{Key: "api", Value: "g/a"}})
			app := counterKey("apigw", []Entry{{Key: "api", Value: "g/a"}, {Key: "app", Value: "shopper"}})
			for range 3 {
				incr(api)
				incr(app)
			}
			for i := range 3 * maxKeys {
				incr(counterKey("apigw", []Entry{{Key: "api", Value: "g/a"}, {Key: "remote_address", Value: fmt.Sprint("10.", i/65536, ".", i/256%256, ".", i%256)}}))
				if n := m.Len(); n > maxKeys {
					t.Fatalf("Len %d > %d", n, maxKeys)
				}
			}
			if got := incr(api); got != 4 {
				t.Errorf("API counter reset by the flood: %d, want 4", got)
			}
			if got := incr(app); got != 4 {
				t.Errorf("app counter reset by the flood: %d, want 4", got)
			}
		})
	}
}
