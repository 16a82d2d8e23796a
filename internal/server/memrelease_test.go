package server

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
)

// TestMemoryRelease checks when the memory release runs: once no other
// load followed, never while a reload runs or a stream sends (it waits
// for them; for a send at most maxSendWait), and not after stop.
func TestMemoryRelease(t *testing.T) {
	tests := []struct {
		name string
		// heldFor is how many checks find a reload running.
		heldFor int32
		// sendFor is how many checks find a stream sending (-1: the send
		// never ends); maxSendWait bounds the wait for it.
		sendFor     int32
		maxSendWait time.Duration
		stop        bool
		want        int32
	}{
		{name: "no reload running", want: 1},
		{name: "waits while a reload runs", heldFor: 3, want: 1},
		{name: "waits while a stream sends", sendFor: 3, maxSendWait: time.Hour, want: 1},
		{name: "a send that never ends is waited for at most maxSendWait", sendFor: -1, want: 1},
		{name: "stopped", stop: true, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var checks, frees atomic.Int32
			freed := make(chan struct{}, 10)
			checked := make(chan int32, 100)
			m := &memoryRelease{
				delay:       time.Millisecond,
				maxSendWait: tt.maxSendWait,
				held: func() bool {
					n := checks.Add(1)
					select {
					case checked <- n:
					default:
					}
					return n <= tt.heldFor
				},
				free: func() { frees.Add(1); freed <- struct{}{} },
			}
			unblock := make(chan struct{})
			defer close(unblock)
			sent := make(chan error, 1)
			if tt.sendFor != 0 {
				// A stream whose send blocks until unblock, through the
				// interceptor, as the xDS streams' sends are.
				fs := &blockingStream{unblock: unblock, started: make(chan struct{})}
				go func() {
					sent <- m.stream(nil, fs, &grpc.StreamServerInfo{}, func(_ any, ss grpc.ServerStream) error {
						return ss.SendMsg("resp")
					})
				}()
				<-fs.started
			}
			if tt.stop {
				m.delay = time.Hour
			}
			m.soon()
			if tt.stop {
				m.stop()
				// With an hour's delay the release could not have run
				// yet either: check that stop stopped the timer itself.
				if m.timer.Stop() {
					t.Fatal("the timer was still armed after stop")
				}
				return
			}
			if tt.sendFor > 0 {
				for n := range checked {
					if n >= tt.sendFor {
						break
					}
				}
				if got := frees.Load(); got != 0 {
					t.Fatalf("released while a stream was sending")
				}
				unblock <- struct{}{}
				if err := <-sent; err != nil {
					t.Fatal(err)
				}
			}
			select {
			case <-freed:
			case <-time.After(10 * time.Second):
				t.Fatal("the memory was never released")
			}
			if got := checks.Load(); got < tt.heldFor+1 {
				t.Errorf("released after %d checks, want it to wait for the reload (%d checks)", got, tt.heldFor+1)
			}
			if got := m.sending.Load(); tt.sendFor < 0 && got != 1 {
				t.Errorf("%d sends under way, want the one that never ends", got)
			}
			// Nothing else is armed: no second release follows.
			m.stop()
			if got := frees.Load(); got != tt.want {
				t.Errorf("released %d times, want %d", got, tt.want)
			}
		})
	}
}

// TestMemoryReleaseBurst checks which delay a load's release waits: the
// short one for a lone load or one of a slow rhythm, burstDelay for a load
// soon after another (a burst pays for one release after it).
func TestMemoryReleaseBurst(t *testing.T) {
	const short, long = time.Hour, 2 * time.Hour
	tests := []struct {
		name string
		// previous is how long ago the previous load armed the release
		// (0: none).
		previous time.Duration
		// pendingFor is how long ago the oldest unreleased load armed it
		// (0: none pending).
		pendingFor time.Duration
		want       time.Duration
	}{
		{name: "the first load", want: short},
		{name: "a load soon after another", previous: time.Millisecond, pendingFor: time.Second, want: long},
		{name: "a load long after another", previous: 2 * time.Minute, pendingFor: 2 * time.Minute, want: short},
		{name: "a burst postponing for maxPostpone", previous: time.Millisecond, pendingFor: 11 * time.Minute, want: short},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &memoryRelease{delay: short, burstGap: time.Minute, burstDelay: long, maxPostpone: 10 * time.Minute,
				held: func() bool { return false }, free: func() { t.Error("released") }}
			if tt.previous > 0 {
				m.armed = time.Now().Add(-tt.previous)
			}
			if tt.pendingFor > 0 {
				m.pending = time.Now().Add(-tt.pendingFor)
			}
			m.soon()
			defer m.stop()
			if m.wait != tt.want {
				t.Errorf("waits %v, want %v", m.wait, tt.want)
			}
		})
	}
}

// TestMemoryReleaseAfterStop checks that nothing is armed or released
// after stop: neither by a load that ends during Shutdown (soon after
// stop) nor by a release whose timer fired as stop came and that finds a
// reload running (run after stop would re-arm its timer).
func TestMemoryReleaseAfterStop(t *testing.T) {
	tests := []struct {
		name string
		// after is what runs once stop returned.
		after func(m *memoryRelease)
	}{
		{name: "a load after stop", after: (*memoryRelease).soon},
		{name: "a release due as stop came, a reload running", after: (*memoryRelease).run},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &memoryRelease{delay: time.Hour, burstGap: time.Minute, burstDelay: time.Hour,
				held: func() bool { return true }, free: func() { t.Error("released after stop") }}
			m.soon()
			first := m.timer
			m.stop()
			tt.after(m)
			if m.timer != first {
				t.Fatal("a new timer was armed after stop")
			}
			if m.timer.Stop() {
				t.Fatal("the timer was armed again after stop")
			}
		})
	}
}

// blockingStream is a grpc.ServerStream whose SendMsg blocks until
// unblock receives or closes.
type blockingStream struct {
	grpc.ServerStream
	unblock <-chan struct{}
	started chan struct{}
}

func (s *blockingStream) Context() context.Context { return context.Background() }

func (s *blockingStream) SendMsg(any) error {
	close(s.started)
	<-s.unblock
	return nil
}

// TestMemoryReleaseEndsPostponement checks that a release clears the
// oldest pending load, so the next burst may postpone again, and that a
// release that waits keeps it.
func TestMemoryReleaseEndsPostponement(t *testing.T) {
	for _, held := range []bool{false, true} {
		released := false
		m := &memoryRelease{delay: time.Hour, burstGap: time.Minute, burstDelay: time.Hour, maxPostpone: time.Minute,
			held: func() bool { return held }, free: func() { released = true }}
		m.soon()
		m.run()
		m.stop()
		if released == held || m.pending.IsZero() != released {
			t.Errorf("held %v: released %v, pending cleared %v; want a release (and pending cleared) only when not held", held, released, m.pending.IsZero())
		}
	}
}
