package server

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/apigwio/apigw/internal/release"
)

// memStore is an in-memory release.Store for the unit tests: one revision
// counter, the current release of each environment, and a switch that
// makes it unavailable (every call fails with release.ErrUnavailable and
// watches end).
type memStore struct {
	mu      sync.Mutex
	rev     int64
	current map[string]*release.Release
	history map[string][]*release.Release
	reports map[string]release.ReplicaStatus
	down    bool
	// changed is closed (and replaced) on every change.
	changed chan struct{}
	// calls counts the calls of each method.
	calls map[string]int
}

func newMemStore() *memStore {
	return &memStore{current: map[string]*release.Release{}, history: map[string][]*release.Release{},
		reports: map[string]release.ReplicaStatus{}, changed: make(chan struct{}), calls: map[string]int{}}
}

var _ release.Store = (*memStore)(nil)

// broadcast wakes the watches. The caller holds m.mu.
func (m *memStore) broadcast() {
	close(m.changed)
	m.changed = make(chan struct{})
}

func (m *memStore) setDown(down bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.down = down
	m.broadcast()
}

func (m *memStore) errDown() error { return fmt.Errorf("%w: memStore is down", release.ErrUnavailable) }

// view is the current view. The caller holds m.mu.
func (m *memStore) view() *release.Current {
	return &release.Current{Releases: maps.Clone(m.current), Revision: m.rev}
}

// count counts a call of method.
func (m *memStore) count(method string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls[method]++
}

// callCounts returns a copy of the call counts.
func (m *memStore) callCounts() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.calls)
}

func (m *memStore) Current(context.Context) (*release.Current, error) {
	m.count("Current")
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return nil, m.errDown()
	}
	return m.view(), nil
}

func (m *memStore) List(_ context.Context, env string) ([]*release.Release, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return nil, m.errDown()
	}
	if env != "" {
		return append([]*release.Release(nil), m.history[env]...), nil
	}
	var out []*release.Release
	for _, rs := range m.history {
		out = append(out, rs...)
	}
	return out, nil
}

func (m *memStore) Get(_ context.Context, env string, n uint64) (*release.Release, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return nil, m.errDown()
	}
	for _, r := range m.history[env] {
		if r.Number == n {
			return r, nil
		}
	}
	return nil, fmt.Errorf("release %d of %s: not found", n, env)
}

func (m *memStore) Publish(_ context.Context, rels []*release.Release, expect map[string]uint64) ([]*release.Release, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return nil, m.errDown()
	}
	for _, r := range rels {
		var n uint64
		if c := m.current[r.Env]; c != nil {
			n = c.Number
		}
		if expect[r.Env] != n {
			return nil, release.ErrConflict
		}
	}
	m.rev++
	out := make([]*release.Release, 0, len(rels))
	for _, r := range rels {
		c := *r
		c.Number = uint64(len(m.history[r.Env])) + 1
		c.Created = time.Now()
		m.history[r.Env] = append(m.history[r.Env], &c)
		m.current[r.Env] = &c
		out = append(out, &c)
	}
	m.broadcast()
	return out, nil
}

func (m *memStore) Watch(ctx context.Context, after int64, fn func(*release.Current)) error {
	m.count("Watch")
	for {
		m.mu.Lock()
		if m.down {
			m.mu.Unlock()
			return m.errDown()
		}
		if m.rev > after {
			cur := m.view()
			after = m.rev
			m.mu.Unlock()
			fn(cur)
			continue
		}
		ch := m.changed
		m.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

func (m *memStore) Report(_ context.Context, st release.ReplicaStatus) error {
	m.count("Report")
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return m.errDown()
	}
	m.reports[st.ID] = st
	return nil
}

func (m *memStore) Replicas(context.Context) ([]release.ReplicaStatus, error) {
	m.count("Replicas")
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return nil, m.errDown()
	}
	return slices.Collect(maps.Values(m.reports)), nil
}

func (m *memStore) Close() error { return nil }
