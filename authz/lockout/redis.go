package lockout

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apigwio/apigw/internal/hashtag"
	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/redis/go-redis/v9"
)

// Redis is a Store shared by replicas through Redis, so that a key locked
// through one replica is locked on all. Per key it keeps a failure counter
// (expiring after the lock duration) and a lock flag (expiring when the lock
// does): prefix + "{" + key + "}:f" and prefix + "{" + key + "}:l". The
// braces are a Redis Cluster hash tag: both keys of one lockout key hash to
// the same slot, so the MGET and the script that read and write them both
// work on a cluster (see internal/hashtag for keys containing braces).
//
// Locked reads both in one round trip and remembers, in a small local cache,
// which keys currently have failures; Success then deletes the counter only
// for those, so a successful request costs one round trip.
type Redis struct {
	client redis.UniversalClient
	prefix string
	policy atomic.Pointer[Policy]

	mu       sync.Mutex
	dirty    *expirable.LRU[string, struct{}] // keys seen with failures
	failures *redis.Script
}

// failureScript counts a failure and locks the key past the threshold, in
// one atomic step: KEYS[1] counter, KEYS[2] lock; ARGV[1] max failures,
// ARGV[2] duration in milliseconds. Returns 1 when the key is locked.
const failureScript = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 1 end
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if n > tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
  redis.call('DEL', KEYS[1])
  return 1
end
return 0`

// NewRedis returns a Store on client with keys under prefix (e.g.
// "apigw:lockout:"). client may be a *redis.Client or a *redis.ClusterClient:
// every command touches one key or the two keys of one hash tag. A prefix
// with a hash tag of its own ("{x}") would put every key in one slot.
func NewRedis(client redis.UniversalClient, prefix string, p Policy) *Redis {
	r := &Redis{
		client: client,
		prefix: prefix,
		// As long as the longest lock: a reload may lengthen Duration, and
		// forgetting a key early would leave its counter in place.
		dirty:    expirable.NewLRU[string, struct{}](10000, nil, MaxDuration),
		failures: redis.NewScript(failureScript),
	}
	r.SetPolicy(p)
	return r
}

// SetPolicy changes MaxFailures and Duration for future decisions.
func (r *Redis) SetPolicy(p Policy) { r.policy.Store(&p) }

// keys returns the counter and lock keys of key, which share a hash tag.
func (r *Redis) keys(key string) (counter, lock string) {
	base := r.prefix + "{" + hashtag.Of(key) + "}:"
	return base + "f", base + "l"
}

// Locked implements Store.
func (r *Redis) Locked(ctx context.Context, key string) (bool, error) {
	counter, lock := r.keys(key)
	vals, err := r.client.MGet(ctx, lock, counter).Result()
	if err != nil {
		return false, err
	}
	if vals[1] != nil {
		r.mu.Lock()
		r.dirty.Add(key, struct{}{})
		r.mu.Unlock()
	}
	return vals[0] != nil, nil
}

// Failure implements Store.
func (r *Redis) Failure(ctx context.Context, key string) (bool, error) {
	p := r.policy.Load()
	counter, lock := r.keys(key)
	n, err := r.failures.Run(ctx, r.client, []string{counter, lock}, p.MaxFailures, p.Duration.Milliseconds()).Int()
	if err != nil {
		return false, err
	}
	r.mu.Lock()
	r.dirty.Add(key, struct{}{})
	r.mu.Unlock()
	return n == 1, nil
}

// Success implements Store. It resets the counter only when a failure was
// seen for the key (by this replica's last Locked or Failure).
func (r *Redis) Success(ctx context.Context, key string) error {
	r.mu.Lock()
	_, dirty := r.dirty.Peek(key)
	if dirty {
		r.dirty.Remove(key)
	}
	r.mu.Unlock()
	if !dirty {
		return nil
	}
	counter, _ := r.keys(key)
	return r.client.Del(ctx, counter).Err()
}

// Timeout bounds one store call; the Check service applies it.
const Timeout = 50 * time.Millisecond
