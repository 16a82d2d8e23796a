package grpccodec

import (
	"math/bits"
	"sync"

	"google.golang.org/grpc/mem"
)

// buffers is the pool of the server's buffers: the HTTP/2 frames gRPC
// reads requests into (BufferPool, the server's option) and the buffers a
// large request (a forwarded body, in several frames) is copied into when
// it is decoded into a Request, whose raw_body is a slice of it until the
// Request is released. Before, each such request had a buffer of its own,
// allocated — and zeroed — per request and left to the garbage collector
// (64 KiB per Check with a 64 KiB body), and gRPC's default pool zeroed
// every frame buffer it handed out.
var buffers = newSizedPool(minPooled, maxPooled)

// minPooled and maxPooled bound the classes of buffers: gRPC pools no
// buffer under 1 KiB (mem.IsBelowBufferPoolingThreshold), and a request
// larger than maxPooled has a buffer of its own.
const (
	minPooled = 1 << 10
	maxPooled = 8 << 20
)

// BufferPool is the server's buffer pool (experimental.BufferPool): like
// gRPC's default pool, except that its buffers are not zeroed when taken
// (every taker writes the whole length it asks for: a frame is read in
// full, a request copied in full; TestSizedPool) and that its classes are
// closer (four per doubling).
func BufferPool() mem.BufferPool { return buffers }

// sizedPool is a mem.BufferPool of buffers in size classes, four per
// doubling (1, 1.25, 1.5, 1.75, 2, 2.5 KiB…: at most a quarter of a
// buffer unused). Buffers are not zeroed.
type sizedPool struct {
	minLog int         // log2 of the smallest class (a power of two, at least 4)
	sizes  []int       // the classes' capacities, ascending
	pools  []sync.Pool // of *[]byte, one per class
}

// newSizedPool returns a pool of classes from minSize (a power of two) to
// maxSize.
func newSizedPool(minSize, maxSize int) *sizedPool {
	p := &sizedPool{minLog: bits.Len(uint(minSize)) - 1}
	for base := minSize; base <= maxSize; base *= 2 {
		for q := range 4 {
			if size := base + q*base/4; size <= maxSize {
				p.sizes = append(p.sizes, size)
			}
		}
	}
	p.pools = make([]sync.Pool, len(p.sizes))
	return p
}

// class is the index of the smallest class holding n bytes, -1 if none.
func (p *sizedPool) class(n int) int {
	if n <= p.sizes[0] {
		return 0
	}
	k := bits.Len(uint(n - 1)) // 2^(k-1) < n <= 2^k
	base := 1 << (k - 1)
	q := (n - base + base/4 - 1) / (base / 4) // 1..4 quarters above base
	if i := (k-1-p.minLog)*4 + q; i < len(p.sizes) {
		return i
	}
	return -1
}

// Get returns a buffer of length n (its content is whatever the buffer
// held before).
func (p *sizedPool) Get(n int) *[]byte {
	i := p.class(n)
	if i < 0 {
		b := make([]byte, n)
		return &b
	}
	if b, ok := p.pools[i].Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, p.sizes[i])
	return &b
}

// Put gives b back to its class; a buffer of no class (larger than the
// largest, or not from Get) is dropped.
func (p *sizedPool) Put(b *[]byte) {
	i := p.class(cap(*b))
	if i < 0 || p.sizes[i] != cap(*b) {
		return
	}
	p.pools[i].Put(b)
}

var _ mem.BufferPool = (*sizedPool)(nil)
