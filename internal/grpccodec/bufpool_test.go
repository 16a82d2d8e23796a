package grpccodec

import "testing"

// TestSizedPool: a buffer has the length asked and the capacity of the
// smallest class holding it (four classes per doubling); sizes beyond the
// largest class are allocated, not pooled; a buffer given back is taken
// again by its class only.
func TestSizedPool(t *testing.T) {
	p := newSizedPool(1<<10, 1<<20)
	for _, c := range []struct {
		n, wantCap int
	}{
		{1, 1 << 10},
		{1 << 10, 1 << 10},
		{1<<10 + 1, 1280},
		{1700, 1792},
		{2 << 10, 2 << 10},
		{2<<10 + 1, 2560},
		{16<<10 - 1, 16 << 10},
		{16 << 10, 16 << 10},
		{16<<10 + 1, 20 << 10},
		{64 << 10, 64 << 10},
		{64<<10 + 1200, 80 << 10},
		{100 << 10, 112 << 10},
		{1 << 20, 1 << 20},
		{1<<20 + 1, 1<<20 + 1}, // beyond the largest class: its own
	} {
		b := p.Get(c.n)
		if len(*b) != c.n || cap(*b) != c.wantCap {
			t.Errorf("Get(%d): len %d cap %d, want len %d cap %d", c.n, len(*b), cap(*b), c.n, c.wantCap)
		}
		p.Put(b)
	}
	odd := make([]byte, 30<<10) // of no class: dropped
	p.Put(&odd)
	for range 10 {
		if b := p.Get(25 << 10); cap(*b) != 28<<10 {
			t.Fatalf("Get(25 KiB) after a 30 KiB buffer was given back: cap %d, want %d", cap(*b), 28<<10)
		}
	}
}

// TestSizedPoolClass: class finds, for every size up to the largest
// class, the smallest class that holds it (as a linear search would).
func TestSizedPoolClass(t *testing.T) {
	p := newSizedPool(1<<10, 1<<20)
	want := 0
	for n := 1; n <= 1<<20+1; n++ {
		for want < len(p.sizes) && p.sizes[want] < n {
			want++
		}
		w := want
		if w == len(p.sizes) {
			w = -1
		}
		if got := p.class(n); got != w {
			t.Fatalf("class(%d) = %d, want %d", n, got, w)
		}
	}
}
