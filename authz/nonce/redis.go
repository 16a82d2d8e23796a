package nonce

import (
	"context"
	"strings"
	"time"

	"github.com/apigwio/apigw/internal/hashtag"
	"github.com/redis/go-redis/v9"
)

// Redis is a Store shared by replicas: one SET key 1 NX PX <window> per
// request (one round trip, atomic: of two replicas racing on one nonce,
// exactly one sets it). Keys are prefix + "{" + credential + "}:" + nonce;
// the braces are a Redis Cluster hash tag, so one credential's nonces live
// in one slot (and credentials spread over the cluster).
type Redis struct {
	client redis.UniversalClient
	prefix string
}

// NewRedis returns a Store on client (a *redis.Client or a
// *redis.ClusterClient) with keys under prefix (e.g. "apigw:nonce:").
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{client: client, prefix: prefix}
}

// Seen implements Store.
func (r *Redis) Seen(ctx context.Context, key string, window time.Duration) (bool, error) {
	set, err := r.client.SetNX(ctx, r.redisKey(key), "1", window).Result()
	if err != nil {
		return false, err
	}
	return !set, nil
}

// redisKey maps a Key (credential NUL nonce) to the Redis key.
func (r *Redis) redisKey(key string) string {
	cred, n, _ := strings.Cut(key, "\x00")
	var b strings.Builder
	b.Grow(len(r.prefix) + len(key) + 8)
	b.WriteString(r.prefix)
	b.WriteByte('{')
	hashtag.Write(&b, cred)
	b.WriteString("}:")
	b.WriteString(n)
	return b.String()
}
