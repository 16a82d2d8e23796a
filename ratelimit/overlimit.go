package ratelimit

import (
	"hash/maphash"
	"math"
	"sync"
)

// DefaultOverLimitCacheSize is the number of over-limit counters a Service
// remembers locally when Options.OverLimitCacheSize is 0.
const DefaultOverLimitCacheSize = 10_000

const olShards = 16

// overLimitCache remembers counters that went over their limit until the
// end of their window, so that later hits on them are answered without the
// backend (counts only grow within a window, so the answer cannot change).
// It is bounded: when a shard is full and none of its entries has expired,
// a new entry is simply not remembered, which costs a backend call and
// never a wrong answer.
type overLimitCache struct {
	seed     maphash.Seed
	perShard int
	shards   [olShards]olShard
}

type olShard struct {
	mu       sync.RWMutex
	m        map[memKey]int64 // window end, Unix seconds
	earliest int64            // no entry expires before this
	_        [24]byte
}

// newOverLimitCache returns a cache of size entries, or nil (disabled) for
// size < 0.
func newOverLimitCache(size int) *overLimitCache {
	if size < 0 {
		return nil
	}
	if size == 0 {
		size = DefaultOverLimitCacheSize
	}
	c := &overLimitCache{seed: maphash.MakeSeed(), perShard: max(1, size/olShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[memKey]int64)
		c.shards[i].earliest = math.MaxInt64
	}
	return c
}

func (c *overLimitCache) shard(key string) *olShard {
	return &c.shards[maphash.String(c.seed, key)%olShards]
}

// over reports whether key, counted in windows of w seconds, is known to be
// over its limit at Unix second now.
func (c *overLimitCache) over(key string, w, now int64) bool {
	if c == nil {
		return false
	}
	s := c.shard(key)
	s.mu.RLock()
	end, ok := s.m[memKey{key, w}]
	s.mu.RUnlock()
	return ok && now < end
}

// add remembers key as over its limit until the Unix second end.
func (c *overLimitCache) add(key string, w, end, now int64) {
	if c == nil {
		return
	}
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= c.perShard {
		if now < s.earliest {
			return // full of live entries
		}
		s.earliest = math.MaxInt64
		for k, e := range s.m {
			if e <= now {
				delete(s.m, k)
			} else {
				s.earliest = min(s.earliest, e)
			}
		}
		if len(s.m) >= c.perShard {
			return
		}
	}
	s.m[memKey{key, w}] = end
	s.earliest = min(s.earliest, end)
}

// len returns the number of entries (live or not yet swept).
func (c *overLimitCache) len() int {
	if c == nil {
		return 0
	}
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
