// Package quota counts requests against calendar quotas (N requests per
// day, ISO week or month in a time zone), exactly, in memory or in Redis
// shared by replicas.
package quota

import (
	"context"
	"sync"
	"time"

	"github.com/apigwio/apigw/internal/model"
)

// Bounds returns the calendar period of p in loc that contains t: its
// start (midnight on the day, on the Monday of the ISO week, or on the 1st
// of the month, in loc) and its end (the next period's start). Months of
// 28 to 31 days and days of 23 or 25 hours (DST changes) come out right
// because both are computed with time.Date in loc, which normalises.
func Bounds(t time.Time, p model.CalendarPeriod, loc *time.Location) (start, end time.Time) {
	if loc == nil {
		loc = time.UTC
	}
	y, m, d := t.In(loc).Date()
	switch p {
	case model.PeriodWeek:
		back := (int(t.In(loc).Weekday()) + 6) % 7 // days since Monday
		return time.Date(y, m, d-back, 0, 0, 0, 0, loc), time.Date(y, m, d-back+7, 0, 0, 0, 0, loc)
	case model.PeriodMonth:
		return time.Date(y, m, 1, 0, 0, 0, 0, loc), time.Date(y, m+1, 1, 0, 0, 0, 0, loc)
	}
	return time.Date(y, m, d, 0, 0, 0, 0, loc), time.Date(y, m, d+1, 0, 0, 0, 0, loc)
}

// Store counts requests. Implementations must be safe for concurrent use.
type Store interface {
	// Add counts one request under key, a counter that may be forgotten
	// after expireAt (the end of its period), and returns the count
	// including this request.
	Add(ctx context.Context, key string, expireAt time.Time) (uint64, error)
}

// Timeout bounds one call to a remote store; the Check service applies it.
const Timeout = 50 * time.Millisecond

// Memory is an in-memory Store. Its size is bounded by the configuration
// (one counter per credential, quota, API when per_api, and period);
// counters of past periods are dropped once a minute.
type Memory struct {
	now func() time.Time

	mu        sync.Mutex
	counts    map[string]*counter
	nextSweep int64
}

type counter struct {
	n      uint64
	expire int64
}

// NewMemory returns an in-memory store; now is the clock (nil: time.Now).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, counts: map[string]*counter{}}
}

// Add implements Store.
func (m *Memory) Add(_ context.Context, key string, expireAt time.Time) (uint64, error) {
	now := m.now().UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	if now >= m.nextSweep {
		for k, c := range m.counts {
			if c.expire <= now {
				delete(m.counts, k)
			}
		}
		m.nextSweep = now + int64(time.Minute)
	}
	c := m.counts[key]
	if c == nil {
		c = &counter{expire: expireAt.UnixNano()}
		m.counts[key] = c
	}
	c.n++
	return c.n, nil
}

// Len returns the number of counters held.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.counts)
}
