package ratelimit

import (
	"context"
	"time"
)

// Backend counts hits in fixed windows. Implementations must be safe for
// concurrent use.
type Backend interface {
	// Incr adds hits to each key's counter in its current fixed window
	// (window = the request's Window, aligned to the Unix epoch) and returns
	// the new counts, one per request in order. Counters expire at the end
	// of their window (Redis keeps them a one-second grace longer). On error
	// no count is returned; some counters may have been incremented.
	Incr(ctx context.Context, reqs []CounterRequest) ([]uint64, error)
}

// CounterRequest is one counter to increment.
type CounterRequest struct {
	// Key names the counter (Config.Match's counter key).
	Key string
	// Window is the window length, rounded down to whole seconds; windows
	// shorter than a second count as one second.
	Window time.Duration
	// Hits to add; 0 reads the count without changing it.
	Hits uint32
}

// windowSeconds returns d in whole seconds, at least 1.
func windowSeconds(d time.Duration) int64 {
	if s := int64(d / time.Second); s > 1 {
		return s
	}
	return 1
}

// windowStart returns the start, in Unix seconds, of the window of w
// seconds that contains the Unix second now.
func windowStart(now, w int64) int64 {
	r := now % w
	if r < 0 {
		r += w
	}
	return now - r
}
