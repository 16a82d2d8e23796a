package grpccodec

import (
	"sync"

	"google.golang.org/grpc/mem"
)

// largeBuffers is the pool of the buffers a large request (a forwarded
// body, in several HTTP/2 frames) is copied into when it is decoded into a
// Request: its raw_body is a slice of the buffer, which goes back to the
// pool when the Request is released. Before, each such request had a
// buffer of its own, allocated — and zeroed — per request and left to the
// garbage collector (64 KiB per Check with a 64 KiB body).
var largeBuffers = newSizedPool(aliasSize, maxPooled)

// maxPooled is the largest buffer largeBuffers keeps (a larger request has
// a buffer of its own, as before).
const maxPooled = 8 << 20

// sizedPool is a mem.BufferPool of buffers in size classes, four per
// doubling (16, 20, 24, 28, 32, 40 KiB…: at most a quarter of a buffer
// unused). Buffers are not zeroed: whoever takes one writes all of it
// (mem.BufferSlice.CopyTo of a request of exactly its length).
type sizedPool struct {
	sizes []int       // the classes' capacities, ascending
	pools []sync.Pool // of *[]byte, one per class
}

// newSizedPool returns a pool of classes from minSize to maxSize.
func newSizedPool(minSize, maxSize int) *sizedPool {
	p := &sizedPool{}
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
	for i, size := range p.sizes {
		if n <= size {
			return i
		}
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
