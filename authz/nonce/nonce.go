// Package nonce remembers anti-replay nonces for a window, in memory or in
// Redis (shared by replicas), so that a signed request carrying a nonce
// already seen is refused.
package nonce

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"time"
)

// Store records nonces. Implementations must be safe for concurrent use.
type Store interface {
	// Seen records key for window and reports whether it was already
	// recorded within its own window (a replay). key is the credential and
	// the nonce (see Key).
	Seen(ctx context.Context, key string, window time.Duration) (bool, error)
}

// ErrFull is returned by a Memory store that holds its maximum number of
// nonces and was told to fail closed.
var ErrFull = errors.New("nonce store full")

// Timeout bounds one call to a remote store; the Check service applies it.
const Timeout = 50 * time.Millisecond

// DefaultMaxEntries bounds a Memory store by default (about 150 bytes
// each with a short nonce: ~150 MB when full).
const DefaultMaxEntries = 1 << 20

// MaxNonceBytes is the longest nonce accepted.
const MaxNonceBytes = 128

// Valid reports whether n is an acceptable nonce: 1 to MaxNonceBytes
// printable ASCII characters without spaces (a UUID, base64, hex...).
func Valid(n string) bool {
	if n == "" || len(n) > MaxNonceBytes {
		return false
	}
	for i := 0; i < len(n); i++ {
		if n[i] <= ' ' || n[i] >= 0x7f {
			return false
		}
	}
	return true
}

// Key is the store key of nonce n sent with credential cred ("app:<key>",
// "iam:<ak>", "hmac:<id>"): nonces are per credential, so two callers
// picking the same nonce do not collide.
func Key(cred, n string) string { return cred + "\x00" + n }

// Memory is an in-memory Store bounded to a maximum number of nonces.
// Expired nonces are dropped as time passes (lazily, on each call). When
// the store is full with nonces still in their window, FailClosed decides:
// false evicts the nonce closest to the end of its window (a replay of
// that one nonce becomes possible for the rest of its window, rather than
// refusing every new request), true refuses the new nonce with ErrFull.
type Memory struct {
	now        func() time.Time
	maxEntries int

	mu         sync.Mutex
	failClosed bool
	seen       map[string]int64 // key -> expiry (Unix ns)
	byExpiry   expiryHeap
	evicted    uint64
}

// NewMemory returns a Memory store of at most maxEntries nonces (<= 0:
// DefaultMaxEntries); now is the clock (nil: time.Now).
func NewMemory(maxEntries int, now func() time.Time) *Memory {
	if maxEntries <= 0 {
		maxEntries = DefaultMaxEntries
	}
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, maxEntries: maxEntries, seen: map[string]int64{}}
}

// SetFailClosed sets what a full store does (settings.throttling.failure_mode).
func (m *Memory) SetFailClosed(closed bool) {
	m.mu.Lock()
	m.failClosed = closed
	m.mu.Unlock()
}

// Seen implements Store.
func (m *Memory) Seen(_ context.Context, key string, window time.Duration) (bool, error) {
	now := m.now().UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	// Drop the expired nonces. Every nonce in the map has exactly one heap
	// entry with its expiry, so after this loop the map holds only live
	// nonces.
	for len(m.byExpiry) > 0 && m.byExpiry[0].at <= now {
		e := heap.Pop(&m.byExpiry).(expiry)
		delete(m.seen, e.key)
	}
	if _, ok := m.seen[key]; ok {
		return true, nil
	}
	if len(m.seen) >= m.maxEntries {
		if m.failClosed {
			return false, ErrFull
		}
		e := heap.Pop(&m.byExpiry).(expiry)
		delete(m.seen, e.key)
		m.evicted++
	}
	at := now + int64(window)
	m.seen[key] = at
	heap.Push(&m.byExpiry, expiry{at: at, key: key})
	return false, nil
}

// Len returns the number of nonces remembered.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.seen)
}

// Evicted returns how many nonces were forgotten before the end of their
// window because the store was full.
func (m *Memory) Evicted() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.evicted
}

type expiry struct {
	at  int64
	key string
}

type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = expiry{}
	*h = old[:len(old)-1]
	return e
}
