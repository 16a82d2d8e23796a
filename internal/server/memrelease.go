package server

import (
	"runtime/debug"
	"sync"
	"time"

	"github.com/apigwio/apigw/internal/gcpace"
)

// releaseDelay is how long after a load the memory it freed is returned
// to the operating system, when no other load followed meanwhile.
//
// The release is one forced collection (debug.FreeOSMemory): at 100,000
// APIs it marks ~700 MB, 0.2-0.35 s on a quiet 2-core machine and up to
// ~2 s on a busy one. It used to wait a second after the load; at a change
// every ~2 s (reloadbench's rhythm: a change, a second's pause, the next)
// the collection then ended just as the next change began and overlapped
// it whenever it ran long, which made the slowest change of each run
// (~1 s against a ~0.6 s median). The collection is due because of the
// change just served, so it runs as soon as that change is out: the
// delay only lets the xDS streams send it (the Check side switched when
// the load ended; the route configuration reaches a delta client ~0.1-0.15
// s later at 100,000 APIs), and a burst of loads less than this apart
// still pays for one release.
const releaseDelay = 200 * time.Millisecond

// memoryRelease returns the memory freed by loads to the operating system
// once no other load followed for its delay, and never while a reload runs.
type memoryRelease struct {
	delay time.Duration
	// held reports whether a reload runs (gcpace.Held); free returns the
	// memory (debug.FreeOSMemory). Tests replace them.
	held func() bool
	free func()

	mu    sync.Mutex
	timer *time.Timer
}

// newMemoryRelease returns the process's memory release.
func newMemoryRelease() *memoryRelease {
	return &memoryRelease{delay: releaseDelay, held: gcpace.Held, free: debug.FreeOSMemory}
}

// soon (re)arms the release: it runs once no other call followed for the
// delay.
func (m *memoryRelease) soon() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.timer != nil {
		m.timer.Stop()
	}
	m.timer = time.AfterFunc(m.delay, m.run)
}

// run releases the memory unless a reload is running: then it waits for
// the delay again (a reload that is accepted arms it anew, one that is
// refused does not).
func (m *memoryRelease) run() {
	if m.held() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.timer != nil {
			m.timer.Reset(m.delay)
		}
		return
	}
	m.free()
}

// stop cancels a pending release.
func (m *memoryRelease) stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.timer != nil {
		m.timer.Stop()
	}
}
