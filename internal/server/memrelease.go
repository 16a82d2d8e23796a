package server

import (
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

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
// change just served, so it runs as soon as that change is out: once the
// load ended (the Check side switched) and the gRPC streams sent it (the
// route configuration, ~105 MB at 100,000 APIs, reaches a delta client
// ~0.1-0.15 s after the load; a collection taking both processors then
// would slow its send and the client's decoding). Loads in a burst wait
// longer (burstGap).
const releaseDelay = 200 * time.Millisecond

// burstGap and burstDelay: a load less than burstGap after the previous
// one is part of a burst (an operator saving again, or reloadbench's
// changes at 10,000 APIs, ~0.6 s apart), and its release waits
// burstDelay, so that a burst pays for one release after it, as before
// (each release returns the pages the next load then faults in again: at
// 10,000 APIs a release after every change 0.6 s apart cost ~5-20 ms of
// median). A lone load, or one of a slower rhythm (~1.9 s apart at 100,000
// APIs), is released after releaseDelay.
const (
	burstGap   = time.Second
	burstDelay = time.Second
)

// maxPostpone bounds how long loads in a burst postpone the release: once
// the oldest load not yet released is this old, the next load is released
// after the short delay whatever its rhythm (a configuration rewritten
// every half second would otherwise never return memory).
const maxPostpone = 30 * time.Second

// maxSendWait bounds how long the release waits for gRPC stream sends
// after the delay: a client that stops reading (a stuck Envoy) blocks its
// send for as long as its stream lives.
const maxSendWait = 2 * time.Second

// memoryRelease returns the memory freed by loads to the operating system
// once no other load followed for its delay, and never while a reload runs.
//
// It also waits while a gRPC stream sends a message (the xDS responses:
// stream reports them), for at most maxSendWait after its delay.
type memoryRelease struct {
	delay, maxSendWait time.Duration
	// burstGap, burstDelay and maxPostpone: see the constants.
	burstGap, burstDelay, maxPostpone time.Duration
	// held reports whether a reload runs (gcpace.Held); free returns the
	// memory (debug.FreeOSMemory). Tests replace them.
	held func() bool
	free func()

	// sending counts the stream sends under way.
	sending atomic.Int64

	mu    sync.Mutex
	timer *time.Timer
	// armed is when soon last armed the timer, wait the delay it chose.
	armed time.Time
	wait  time.Duration
	// pending is when the oldest load not yet released armed the
	// release (zero: none pending).
	pending time.Time
	// stopped is set by stop: nothing is armed or released after it (a
	// reload that ends during Shutdown calls soon after stop, and a
	// release whose timer fired as stop came would re-arm it).
	stopped bool
}

// newMemoryRelease returns the process's memory release.
func newMemoryRelease() *memoryRelease {
	return &memoryRelease{delay: releaseDelay, maxSendWait: maxSendWait, burstGap: burstGap, burstDelay: burstDelay,
		maxPostpone: maxPostpone, held: gcpace.Held, free: debug.FreeOSMemory}
}

// soon (re)arms the release: it runs once no other call followed for the
// delay (burstDelay when the previous call was less than burstGap ago,
// unless the oldest pending load is maxPostpone old).
func (m *memoryRelease) soon() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return
	}
	if m.timer != nil {
		m.timer.Stop()
	}
	now := time.Now()
	if m.pending.IsZero() {
		m.pending = now
	}
	m.wait = m.delay
	if !m.armed.IsZero() && now.Sub(m.armed) < m.burstGap && now.Sub(m.pending) < m.maxPostpone {
		m.wait = m.burstDelay
	}
	m.armed = now
	m.timer = time.AfterFunc(m.wait, m.run)
}

// run releases the memory unless a reload is running (a reload that is
// accepted arms it anew, one that is refused does not) or a stream is
// sending (for at most maxSendWait after the delay): then it waits for
// the delay again.
func (m *memoryRelease) run() {
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		return
	}
	if m.held() || m.sending.Load() > 0 && time.Since(m.armed) < m.wait+m.maxSendWait {
		if m.timer != nil {
			m.timer.Reset(m.wait)
		}
		m.mu.Unlock()
		return
	}
	m.pending = time.Time{}
	m.mu.Unlock()
	// Not under mu: soon, called by the next load, does not wait for the
	// collection.
	m.free()
}

// stream is a gRPC stream interceptor that counts the stream's sends
// under way (the release waits for them).
func (m *memoryRelease) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, &countedStream{ServerStream: ss, sending: &m.sending})
}

// countedStream counts its SendMsg calls under way in sending.
type countedStream struct {
	grpc.ServerStream
	sending *atomic.Int64
}

// SendMsg sends m as the wrapped stream does, counted.
func (s *countedStream) SendMsg(m any) error {
	s.sending.Add(1)
	defer s.sending.Add(-1)
	return s.ServerStream.SendMsg(m)
}

// stop cancels a pending release; soon does nothing after it.
func (m *memoryRelease) stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stopped = true
	if m.timer != nil {
		m.timer.Stop()
	}
}
