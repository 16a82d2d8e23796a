// Package lockout counts consecutive authentication failures per key and
// locks a key that fails too often.
//
// The platform rule: more than MaxFailures consecutive failures lock the key
// for Duration; while locked, requests with that key are rejected even when
// their signature is correct; a success resets the count.
package lockout

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/apigwio/apigw/internal/model"
)

// Store tracks failures. Implementations must be safe for concurrent use; a
// shared store (Redis) can replace the in-memory one so that replicas agree.
type Store interface {
	// Locked reports whether key is locked now.
	Locked(ctx context.Context, key string) (bool, error)
	// Failure records a failed attempt and reports whether the key is now
	// locked (this failure crossed the threshold, or it already was).
	Failure(ctx context.Context, key string) (bool, error)
	// Success resets the key's failure count.
	Success(ctx context.Context, key string) error
}

// Policy is the lockout rule.
type Policy struct {
	// MaxFailures tolerated; the next consecutive failure locks the key.
	MaxFailures int
	// Duration of a lock, and how long a failure is remembered.
	Duration time.Duration
	// MaxKeys bounds the number of keys tracked; the least recently used
	// key is forgotten first.
	MaxKeys int
}

type entry struct {
	failures    int
	lastFailure time.Time
	lockedUntil time.Time
}

// MaxDuration is the longest lock the configuration allows; the in-memory
// store keeps an entry at most that long after its last change.
const MaxDuration = model.MaxLockoutDuration

// Memory is an in-memory Store bounded in size, whose entries expire.
type Memory struct {
	policy Policy
	now    func() time.Time
	mu     sync.Mutex // makes Failure's read-modify-write atomic, guards policy and entry fields (the LRU is thread-safe)
	lru    *expirable.LRU[string, *entry]
}

// NewMemory returns an in-memory store for policy. now is the clock (nil for
// time.Now).
func NewMemory(policy Policy, now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	if policy.MaxKeys <= 0 {
		policy.MaxKeys = 100000
	}
	return &Memory{
		policy: policy,
		now:    now,
		// Expiry (of a lock, and of failures older than Duration) is
		// decided with now(), so that a reload changing Duration applies
		// to existing entries; the LRU's own TTL is only a backstop that
		// keeps memory bounded in time, as long as the longest lock. The
		// LRU runs a cleanup goroutine for its lifetime: create one store
		// per process, not per configuration.
		lru: expirable.NewLRU[string, *entry](policy.MaxKeys, nil, MaxDuration),
	}
}

// SetPolicy changes the policy for future decisions (a configuration
// reload): MaxFailures and Duration, and MaxKeys when set (shrinking
// forgets the least recently used keys).
func (m *Memory) SetPolicy(p Policy) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.policy.MaxFailures, m.policy.Duration = p.MaxFailures, p.Duration
	if p.MaxKeys > 0 && p.MaxKeys != m.policy.MaxKeys {
		m.policy.MaxKeys = p.MaxKeys
		m.lru.Resize(p.MaxKeys)
	}
}

// Locked implements Store.
func (m *Memory) Locked(_ context.Context, key string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.lru.Peek(key)
	return ok && m.now().Before(e.lockedUntil), nil
}

// Failure implements Store.
func (m *Memory) Failure(_ context.Context, key string) (bool, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.lru.Get(key)
	switch {
	case !ok:
		e = &entry{}
	case now.Before(e.lockedUntil):
		return true, nil
	case !e.lockedUntil.IsZero(), now.Sub(e.lastFailure) >= m.policy.Duration:
		// The lock is over, or the failures are older than Duration: the
		// count starts again.
		e = &entry{}
	}
	e.failures++
	e.lastFailure = now
	if e.failures > m.policy.MaxFailures {
		e.lockedUntil = now.Add(m.policy.Duration)
	}
	m.lru.Add(key, e) // refreshes the entry's expiry
	return now.Before(e.lockedUntil), nil
}

// Success implements Store.
func (m *Memory) Success(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.lru.Peek(key); ok && e.lockedUntil.IsZero() {
		m.lru.Remove(key)
	}
	return nil
}

// Len returns the number of keys tracked.
func (m *Memory) Len() int { return m.lru.Len() }
