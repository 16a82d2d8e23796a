package nonce

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/apigwio/apigw/internal/redistest"
)

func TestMemoryWindow(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	m := NewMemory(10, func() time.Time { return now })
	ctx := context.Background()
	k := Key("app:k", "n1")
	if seen, _ := m.Seen(ctx, k, time.Minute); seen {
		t.Fatal("first use seen")
	}
	if seen, _ := m.Seen(ctx, k, time.Minute); !seen {
		t.Fatal("replay not seen")
	}
	if seen, _ := m.Seen(ctx, Key("app:other", "n1"), time.Minute); seen {
		t.Fatal("nonces must be per credential")
	}
	now = now.Add(time.Minute - time.Nanosecond)
	if seen, _ := m.Seen(ctx, k, time.Minute); !seen {
		t.Fatal("replay at the end of the window not seen")
	}
	now = now.Add(time.Nanosecond)
	if seen, _ := m.Seen(ctx, k, time.Minute); seen {
		t.Fatal("nonce not forgotten after its window")
	}
	if m.Len() != 1 {
		t.Fatalf("Len = %d, want 1 (the expired nonces dropped)", m.Len())
	}
}

func TestMemoryFull(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	ctx := context.Background()
	t.Run("open evicts the nonce closest to its end", func(t *testing.T) {
		m := NewMemory(3, func() time.Time { return now })
		m.Seen(ctx, "long", time.Hour)
		m.Seen(ctx, "short", time.Minute)
		m.Seen(ctx, "mid", 30*time.Minute)
		if seen, err := m.Seen(ctx, "new", time.Hour); seen || err != nil {
			t.Fatalf("new: %v %v", seen, err)
		}
		if m.Len() != 3 || m.Evicted() != 1 {
			t.Fatalf("Len %d Evicted %d", m.Len(), m.Evicted())
		}
		for _, k := range []string{"long", "mid", "new"} {
			if seen, _ := m.Seen(ctx, k, time.Hour); !seen {
				t.Errorf("%s forgotten", k)
			}
		}
	})
	t.Run("closed refuses new nonces", func(t *testing.T) {
		m := NewMemory(2, func() time.Time { return now })
		m.SetFailClosed(true)
		m.Seen(ctx, "a", time.Minute)
		m.Seen(ctx, "b", time.Minute)
		if _, err := m.Seen(ctx, "c", time.Minute); !errors.Is(err, ErrFull) {
			t.Fatalf("err = %v, want ErrFull", err)
		}
		if seen, err := m.Seen(ctx, "a", time.Minute); !seen || err != nil {
			t.Fatalf("a replay when full: %v %v", seen, err)
		}
	})
}

func TestValid(t *testing.T) {
	for n, want := range map[string]bool{"": false, "6f1c6a0e-2b7d-4a0c-9a7e-3f1b2c3d4e5f": true, "a b": false, "é": false, "a\x00": false, string(make([]byte, 129)): false, "{tag}%": true} {
		if Valid(n) != want {
			t.Errorf("Valid(%q) = %v", n, !want)
		}
	}
}

// TestRedisRace: of many replicas racing with one nonce, exactly one wins;
// on a cluster too (the key has one slot).
func TestRedisRace(t *testing.T) {
	for _, cluster := range []bool{false, true} {
		t.Run(map[bool]string{false: "single", true: "cluster"}[cluster], func(t *testing.T) {
			var stores []*Redis
			if cluster {
				c := redistest.StartCluster(t)
				for i := 0; i < 2; i++ {
					stores = append(stores, NewRedis(c.Client(), "apigw:nonce:"))
				}
			} else {
				s := redistest.Start(t)
				for i := 0; i < 2; i++ {
					stores = append(stores, NewRedis(s.Client(), "apigw:nonce:"))
				}
			}
			for round := 0; round < 3; round++ {
				key := Key("hmac:{id}%", "race-"+strconv.Itoa(round))
				var wg sync.WaitGroup
				var mu sync.Mutex
				fresh := 0
				for g := 0; g < 20; g++ {
					wg.Add(1)
					go func(st *Redis) {
						defer wg.Done()
						seen, err := st.Seen(context.Background(), key, time.Minute)
						if err != nil {
							t.Error(err)
							return
						}
						if !seen {
							mu.Lock()
							fresh++
							mu.Unlock()
						}
					}(stores[g%2])
				}
				wg.Wait()
				if fresh != 1 {
					t.Fatalf("round %d: %d first uses, want 1", round, fresh)
				}
			}
			if got := stores[0].redisKey(Key("hmac:{id}%", "n")); got != "apigw:nonce:{hmac:%7Bid%7D%25}:n" {
				t.Errorf("key = %q", got)
			}
		})
	}
}

// BenchmarkMemorySeen: one new nonce per call, the store at a steady size.
func BenchmarkMemorySeen(b *testing.B) {
	m := NewMemory(1<<16, nil)
	ctx := context.Background()
	keys := make([]string, 1<<16)
	for i := range keys {
		keys[i] = Key("app:bench-key", strconv.Itoa(i)+"-6f1c6a0e-2b7d-4a0c-9a7e")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Seen(ctx, keys[i&(1<<16-1)], time.Millisecond)
	}
}
