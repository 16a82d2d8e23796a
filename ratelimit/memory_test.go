package ratelimit

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMemoryFixedWindows(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	m := NewMemory(100, c.now)
	incr := func(key string, w time.Duration, hits uint32) uint64 {
		t.Helper()
		got, err := m.Incr(ctx, []CounterRequest{{Key: key, Window: w, Hits: hits}})
		if err != nil || len(got) != 1 {
			t.Fatalf("Incr = %v, %v", got, err)
		}
		return got[0]
	}
	steps := []struct {
		advance time.Duration
		key     string
		window  time.Duration
		hits    uint32
		want    uint64
	}{
		{0, "a", time.Minute, 1, 1},
		{0, "a", time.Minute, 2, 3},
		{0, "a", time.Minute, 0, 3},                // read only
		{0, "a", time.Hour, 1, 1},                  // same key, other window: its own counter
		{0, "b", time.Minute, 1, 1},                // other key
		{49 * time.Second, "a", time.Minute, 1, 4}, // 12:00:59, same minute
		{time.Second, "a", time.Minute, 1, 1},      // 12:01:00, new minute (epoch aligned)
		{0, "a", time.Hour, 1, 2},                  // the hour goes on
		{59 * time.Minute, "a", time.Hour, 1, 1},   // 13:00:00
		{0, "s", 1500 * time.Millisecond, 1, 1},    // a 1.5 s window counts as 1 s
		{time.Second, "s", 1500 * time.Millisecond, 1, 1},
	}
	for i, s := range steps {
		c.add(s.advance)
		if got := incr(s.key, s.window, s.hits); got != s.want {
			t.Fatalf("step %d (%s, %v at %s): count %d, want %d", i, s.key, s.window, c.now().Format(time.TimeOnly), got, s.want)
		}
	}
}

func TestMemoryIncrManyKeysInOrder(t *testing.T) {
	m := NewMemory(10, newClock().now)
	reqs := []CounterRequest{{"x", time.Minute, 1}, {"y", time.Minute, 5}, {"x", time.Minute, 1}}
	got, err := m.Incr(context.Background(), reqs)
	if err != nil || fmt.Sprint(got) != "[1 5 2]" {
		t.Fatalf("Incr = %v, %v", got, err)
	}
	if got, _ := m.Incr(context.Background(), nil); len(got) != 0 {
		t.Fatalf("empty Incr = %v", got)
	}
}

func TestMemoryBounded(t *testing.T) {
	ctx := context.Background()
	for _, maxKeys := range []int{1, 7, 32, 100, 1000} {
		t.Run(fmt.Sprint(maxKeys), func(t *testing.T) {
			m := NewMemory(maxKeys, newClock().now)
			for i := range 20 * maxKeys {
				if _, err := m.Incr(ctx, []CounterRequest{{Key: fmt.Sprint("k", i), Window: time.Hour, Hits: 1}}); err != nil {
					t.Fatal(err)
				}
				if n := m.Len(); n > maxKeys {
					t.Fatalf("after %d keys: Len = %d > %d", i+1, n, maxKeys)
				}
			}
			if n := m.Len(); n < maxKeys*3/4 {
				t.Errorf("Len = %d: the bound is badly used", n)
			}
		})
	}
}

// TestMemoryExpires checks that counters of ended windows are dropped by
// later calls, without a sweeper.
func TestMemoryExpires(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	m := NewMemory(10_000, c.now)
	for i := range 1000 {
		m.Incr(ctx, []CounterRequest{{Key: fmt.Sprint("old", i), Window: time.Second, Hits: 1}})
	}
	c.add(2 * time.Second)
	for i := range 2000 {
		m.Incr(ctx, []CounterRequest{{Key: fmt.Sprint("new", i%1000), Window: time.Minute, Hits: 1}})
	}
	if n := m.Len(); n != 1000 {
		t.Fatalf("Len = %d after the 1 s windows ended, want the 1000 live counters", n)
	}
}

func TestMemoryConcurrent(t *testing.T) {
	m := NewMemory(100, newClock().now)
	const workers, each = 50, 200
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				m.Incr(context.Background(), []CounterRequest{{Key: "shared", Window: time.Hour, Hits: 1}, {Key: "other", Window: time.Hour, Hits: 2}})
			}
		})
	}
	wg.Wait()
	got, _ := m.Incr(context.Background(), []CounterRequest{{Key: "shared", Window: time.Hour}, {Key: "other", Window: time.Hour}})
	if got[0] != workers*each || got[1] != 2*workers*each {
		t.Fatalf("counts %v, want [%d %d]", got, workers*each, 2*workers*each)
	}
}

// TestServiceMemoryBoundedUnderDistinctValues floods a Service with
// distinct and huge descriptor values: the counters stay within maxKeys and
// every key stays short.
func TestServiceMemoryBoundedUnderDistinctValues(t *testing.T) {
	const maxKeys = 500
	c := newClock()
	m := NewMemory(maxKeys, c.now)
	keys := &keyRecorder{Backend: m}
	s := newService(t, keys, c, Options{OverLimitCacheSize: 64})
	huge := strings.Repeat("x", 64<<10)
	for i := range 5000 {
		v := fmt.Sprint("user-", i)
		if i%2 == 0 {
			v = huge + v
		}
		call(t, s, request(desc("generic_key", "api-1", "user", v), desc("generic_key", "api-1", "remote_address", v)))
		if n := m.Len(); n > maxKeys {
			t.Fatalf("after %d requests: %d counters > %d", i+1, n, maxKeys)
		}
	}
	if keys.longest > 100 {
		t.Errorf("longest counter key is %d bytes", keys.longest)
	}
	if n := s.state.Load().cache.len(); n > 64 {
		t.Errorf("over-limit cache holds %d entries > 64", n)
	}
}

type keyRecorder struct {
	Backend
	mu      sync.Mutex
	longest int
}

func (k *keyRecorder) Incr(ctx context.Context, reqs []CounterRequest) ([]uint64, error) {
	k.mu.Lock()
	for _, r := range reqs {
		k.longest = max(k.longest, len(r.Key))
	}
	k.mu.Unlock()
	return k.Backend.Incr(ctx, reqs)
}
