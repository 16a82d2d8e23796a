package quota

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/apigwio/apigw/internal/hashtag"
	"github.com/redis/go-redis/v9"
)

// ExpiryMargin keeps a Redis counter past the end of its period, so that
// replicas whose clocks are a little behind still find it.
const ExpiryMargin = time.Hour

// Redis is a Store shared by replicas: INCR then EXPIREAT (period end +
// ExpiryMargin) on the counter, pipelined (one round trip). INCR is
// atomic, so replicas racing on the last requests of a quota get distinct
// counts and exactly N of them are within the quota. Keys are prefix + the
// store key, whose credential part is a Cluster hash tag (see Key).
type Redis struct {
	client redis.UniversalClient
	prefix string
}

// NewRedis returns a Store on client (a *redis.Client or a
// *redis.ClusterClient) with keys under prefix (e.g. "apigw:quota:").
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{client: client, prefix: prefix}
}

// Add implements Store.
func (r *Redis) Add(ctx context.Context, key string, expireAt time.Time) (uint64, error) {
	k := r.prefix + key
	var incr *redis.IntCmd
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		incr = p.Incr(ctx, k)
		p.ExpireAt(ctx, k, expireAt.Add(ExpiryMargin))
		return nil
	})
	if err != nil {
		return 0, err
	}
	return uint64(incr.Val()), nil
}

// Key is the store key of a counter: "{<credential>}:<scope>[:<api>]:<period
// start, Unix seconds>". The credential ("app:<key>", "hmac:<id>") is the
// Cluster hash tag ('%', '{', '}' percent-encoded), so one credential's
// counters share a slot and credentials spread over the masters.
func Key(cred, scope, api string, start time.Time) string {
	var b strings.Builder
	b.Grow(len(cred) + len(scope) + len(api) + 24)
	b.WriteByte('{')
	hashtag.Write(&b, cred)
	b.WriteString("}:")
	b.WriteString(scope)
	if api != "" {
		b.WriteByte(':')
		b.WriteString(api)
	}
	b.WriteByte(':')
	b.WriteString(strconv.FormatInt(start.Unix(), 10))
	return b.String()
}
