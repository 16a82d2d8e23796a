// Package hmacpool reuses keyed crypto/hmac states across requests.
//
// hmac.New allocates and hashes the key every time; a request verified with
// the same secret as the previous one on the same P gets the keyed state
// back from a sync.Pool and only pays for Reset (for SHA-1/SHA-2, a restore
// of the precomputed ipad/opad states). A pooled state made with another
// key is re-keyed with hmac.New, so the cost for a stream of distinct
// secrets is that of hmac.New per call.
//
// A pooled state keeps a copy of its key and the key-derived pad states in
// memory until the pool drops it; crypto/hmac treats the latter as secret
// material, as the secret itself already is in the configuration.
package hmacpool

import (
	"crypto/hmac"
	"hash"
	"sync"
)

// Pool hands out HMAC states of one hash function. The zero value is not
// usable; use New. A Pool is safe for concurrent use.
type Pool struct {
	newHash func() hash.Hash
	pool    sync.Pool // of *keyed
}

type keyed struct {
	mac hash.Hash
	key []byte // the key mac was made with
}

// New returns a Pool of HMAC states over the hash made by newHash.
func New(newHash func() hash.Hash) *Pool { return &Pool{newHash: newHash} }

// Sum appends HMAC(key, msg) to dst[:0] and returns it. dst should have
// room for the MAC to avoid an allocation. Sum always hands a zero-length
// slice to the hash's Sum, which some hashes (the SM3 used here) require.
func (p *Pool) Sum(dst, key, msg []byte) []byte {
	k, _ := p.pool.Get().(*keyed)
	switch {
	case k == nil:
		k = &keyed{mac: hmac.New(p.newHash, key), key: append([]byte(nil), key...)}
	case !hmac.Equal(k.key, key): // constant time; false when the lengths differ
		k.mac = hmac.New(p.newHash, key)
		k.key = append(k.key[:0], key...)
	default:
		k.mac.Reset()
	}
	k.mac.Write(msg)
	dst = k.mac.Sum(dst[:0])
	p.pool.Put(k)
	return dst
}
