package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// expiryGrace keeps a Redis counter a little past the end of its window, so
// that a replica whose clock lags by less than that still finds the counter
// instead of recreating a key that expires at once.
const expiryGrace = time.Second

// Redis is a Backend shared by every replica through Redis. Each counter is
// the key prefix + counter key + ":" + window start (Unix seconds), so a new
// window is a new key and no reset is ever written. Incr sends, for all of
// its counters, INCRBY and PEXPIRE (the time left in the window plus a
// one-second grace; a relative TTL does not depend on Redis's clock) in one
// pipeline: one round trip per call, whatever the number of counters
// (a Redis Cluster client splits it per node, in parallel). Every command
// touches one key, so the keys need no hash tag to work on a cluster, and
// the counters of one call spread over the masters.
//
// Calls are bounded by their context only if the client was created with
// ContextTimeoutEnabled; otherwise its ReadTimeout and WriteTimeout bound
// them. go-redis reconnects by itself after Redis comes back.
type Redis struct {
	client redis.UniversalClient
	prefix string
	now    func() time.Time
}

// NewRedis returns a Redis backend using client, with every key starting
// with prefix (for example "apigw:rl:").
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{client: client, prefix: prefix, now: time.Now}
}

// Incr implements Backend.
func (r *Redis) Incr(ctx context.Context, reqs []CounterRequest) ([]uint64, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	if r == nil || r.client == nil {
		return nil, fmt.Errorf("ratelimit: Redis backend has no client")
	}
	t := r.now()
	now := t.Unix()
	pipe := r.client.Pipeline()
	cmds := make([]*redis.IntCmd, len(reqs))
	for i := range reqs {
		q := &reqs[i]
		w := windowSeconds(q.Window)
		start := windowStart(now, w)
		key := r.key(q.Key, start)
		cmds[i] = pipe.IncrBy(ctx, key, int64(q.Hits))
		pipe.PExpire(ctx, key, time.Unix(start+w, 0).Sub(t)+expiryGrace)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("ratelimit: redis: %w", err)
	}
	counts := make([]uint64, len(reqs))
	for i, c := range cmds {
		n := c.Val()
		if n < 0 {
			n = 0
		}
		counts[i] = uint64(n)
	}
	return counts, nil
}

// key returns prefix + key + ":" + start.
func (r *Redis) key(key string, start int64) string {
	var buf [320]byte
	b := append(buf[:0], r.prefix...)
	b = append(b, key...)
	b = append(b, ':')
	b = strconv.AppendInt(b, start, 10)
	return string(b)
}
