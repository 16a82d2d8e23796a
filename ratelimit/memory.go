package ratelimit

import (
	"context"
	"hash/maphash"
	"strings"
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
//
// Eviction is fair between descriptor kinds: a counter key's kind is its
// domain and entry keys without the values ("apigw|api|remote_address"),
// and each kind has its own LRU order. When a shard is full, a new counter
// evicts the oldest counter of its own kind if that kind holds its fair
// share (the shard's bound divided by the kinds present) or more, else the
// oldest counter of the largest kind. So a flood of distinct values of one
// kind (client addresses, header values) recycles that kind's counters
// only: the counters of the other kinds keep counting, while a single kind
// may still use the whole bound. Keys without entries share one kind, and
// past maxKinds kinds per shard the rest share one too.
//
// Memory is safe for concurrent use.
type Memory struct {
	now    func() time.Time
	seed   maphash.Seed
	shards []memShard
}

// maxKinds bounds the kinds a shard tracks apart.
const maxKinds = 64

type memKey struct {
	key    string
	window int64 // seconds
}

type memCounter struct {
	start int64 // window start, Unix seconds
	count uint64
}

type memShard struct {
	mu    sync.Mutex // the kinds' LRUs are not thread-safe; also makes get-or-add, eviction and count atomic
	size  int        // bound of the shard
	total int        // counters held
	kinds map[string]*simplelru.LRU[memKey, *memCounter]
	_     [40]byte // keep shards on separate cache lines
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
		m.shards[i].size = size
		m.shards[i].kinds = make(map[string]*simplelru.LRU[memKey, *memCounter])
	}
	return m
}

// kindOf appends the kind of a counter key to b: the key with every
// "=value" removed (values are escaped, so '|' and '=' only separate).
// A key without entries has the empty kind.
func kindOf(b []byte, key string) []byte {
	if strings.IndexByte(key, '=') < 0 {
		return b
	}
	skip := false
	for i := 0; i < len(key); i++ {
		switch c := key[i]; {
		case c == '=':
			skip = true
		case c == '|':
			skip = false
			b = append(b, c)
		case !skip:
			b = append(b, c)
		}
	}
	return b
}

// Incr implements Backend. It never fails.
func (m *Memory) Incr(_ context.Context, reqs []CounterRequest) ([]uint64, error) {
	now := m.now().Unix()
	counts := make([]uint64, len(reqs))
	var kbuf [128]byte
	for i := range reqs {
		r := &reqs[i]
		w := windowSeconds(r.Window)
		start := windowStart(now, w)
		k := memKey{r.Key, w}
		kind := kindOf(kbuf[:0], r.Key)
		s := &m.shards[maphash.String(m.seed, r.Key)%uint64(len(m.shards))]
		s.mu.Lock()
		lru := s.lru(kind)
		s.expireOldest(lru, now, 2)
		c, ok := lru.Get(k)
		if !ok {
			if s.total >= s.size {
				s.evictFor(lru)
			}
			c = &memCounter{start: start}
			lru.Add(k, c)
			s.total++
		} else if c.start != start {
			c.start, c.count = start, 0
		}
		c.count += uint64(r.Hits)
		counts[i] = c.count
		s.mu.Unlock()
	}
	return counts, nil
}

// lru returns the LRU of kind (created on first use; past maxKinds, the
// shared one of the empty kind).
func (s *memShard) lru(kind []byte) *simplelru.LRU[memKey, *memCounter] {
	if l, ok := s.kinds[string(kind)]; ok { // no allocation
		return l
	}
	if len(s.kinds) >= maxKinds {
		kind = nil
		if l, ok := s.kinds[""]; ok {
			return l
		}
	}
	// Each LRU could hold the whole shard; the shard's total is what is
	// bounded (evictFor).
	l, _ := simplelru.NewLRU[memKey, *memCounter](s.size, nil) // size >= 1: no error
	s.kinds[string(kind)] = l
	return l
}

// evictFor makes room for a new counter in lru: it drops the oldest
// counter of lru's kind when that kind holds its fair share or more, else
// the oldest counter of the largest kind.
func (s *memShard) evictFor(lru *simplelru.LRU[memKey, *memCounter]) {
	victim := lru
	if fair := s.size / len(s.kinds); lru.Len() < max(fair, 1) {
		for _, l := range s.kinds {
			if l.Len() > victim.Len() {
				victim = l
			}
		}
	}
	if _, _, ok := victim.RemoveOldest(); ok {
		s.total--
	}
}

// expireOldest drops up to n least recently used counters of lru whose
// window has ended: old counters leave without a sweeper goroutine.
func (s *memShard) expireOldest(lru *simplelru.LRU[memKey, *memCounter], now int64, n int) {
	for ; n > 0; n-- {
		k, c, ok := lru.GetOldest()
		if !ok || c.start+k.window > now {
			return
		}
		lru.Remove(k)
		s.total--
	}
}

// Len returns the number of counters held.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += s.total
		s.mu.Unlock()
	}
	return n
}
