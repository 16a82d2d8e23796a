package ratelimit

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// DefaultMemoryKeys is the number of counters a Memory backend keeps when
// NewMemory is given no positive bound.
const DefaultMemoryKeys = 100_000

// memShards is the most independently locked shards a Memory has.
const memShards = 32

// Memory is a Backend local to one process: counters live in sharded LRU
// maps holding at most maxKeys counters in all. A counter is dropped once
// its window has ended (lazily, a few per call) or, when the bound is
// reached, least recently used first; an evicted counter restarts from zero,
// so under a flood of distinct keys the bound trades accuracy for memory.
// Memory is safe for concurrent use.
type Memory struct {
	now    func() time.Time
	seed   maphash.Seed
	shards []memShard
}

type memKey struct {
	key    string
	window int64 // seconds
}

type memCounter struct {
	start int64 // window start, Unix seconds
	count uint64
}

type memShard struct {
	mu  sync.Mutex // simplelru is not thread-safe; also makes get-or-add and count atomic
	lru *simplelru.LRU[memKey, *memCounter]
	_   [48]byte // keep shards on separate cache lines
}

// NewMemory returns a Memory backend holding at most maxKeys counters
// (DefaultMemoryKeys if maxKeys <= 0). now is the clock; nil means time.Now.
func NewMemory(maxKeys int, now func() time.Time) *Memory {
	if maxKeys <= 0 {
		maxKeys = DefaultMemoryKeys
	}
	if now == nil {
		now = time.Now
	}
	// Small bounds get fewer shards, so that a shard's LRU is not so
	// small that live counters evict each other early.
	n := min(memShards, max(1, maxKeys/256))
	m := &Memory{now: now, seed: maphash.MakeSeed(), shards: make([]memShard, n)}
	for i := range m.shards {
		// Shards share maxKeys without exceeding it.
		size := maxKeys / n
		if i < maxKeys%n {
			size++
		}
		m.shards[i].lru, _ = simplelru.NewLRU[memKey, *memCounter](size, nil) // size >= 1: no error
	}
	return m
}

// Incr implements Backend. It never fails.
func (m *Memory) Incr(_ context.Context, reqs []CounterRequest) ([]uint64, error) {
	now := m.now().Unix()
	counts := make([]uint64, len(reqs))
	for i := range reqs {
		r := &reqs[i]
		w := windowSeconds(r.Window)
		start := windowStart(now, w)
		k := memKey{r.Key, w}
		s := &m.shards[maphash.String(m.seed, r.Key)%uint64(len(m.shards))]
		s.mu.Lock()
		s.expireOldest(now, 2)
		c, ok := s.lru.Get(k)
		if !ok {
			c = &memCounter{start: start}
			s.lru.Add(k, c)
		} else if c.start != start {
			c.start, c.count = start, 0
		}
		c.count += uint64(r.Hits)
		counts[i] = c.count
		s.mu.Unlock()
	}
	return counts, nil
}

// expireOldest drops up to n least recently used counters whose window has
// ended: old counters leave without a sweeper goroutine.
func (s *memShard) expireOldest(now int64, n int) {
	for ; n > 0; n-- {
		k, c, ok := s.lru.GetOldest()
		if !ok || c.start+k.window > now {
			return
		}
		s.lru.Remove(k)
	}
}

// Len returns the number of counters held.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += s.lru.Len()
		s.mu.Unlock()
	}
	return n
}
