package model

import (
	"testing"
	"unsafe"
)

// TestModelSizes keeps the per-API models within the allocation size
// classes they were fitted to (one of each per API and environment at
// 100,000 APIs): a field added in the wrong place can cost a size class.
func TestModelSizes(t *testing.T) {
	for _, c := range []struct {
		name      string
		size, max uintptr
	}{
		{"API", unsafe.Sizeof(API{}), 320},
		{"Deployment", unsafe.Sizeof(Deployment{}), 192},
	} {
		if c.size > c.max {
			t.Errorf("%s is %d bytes, more than the %d of its size class", c.name, c.size, c.max)
		}
	}
}
