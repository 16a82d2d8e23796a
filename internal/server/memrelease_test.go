package server

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestMemoryRelease checks when the memory release runs: once no other
// load followed, never while a reload runs (it waits for the reload), and
// not after stop.
func TestMemoryRelease(t *testing.T) {
	tests := []struct {
		name string
		// heldFor is how many checks find a reload running.
		heldFor int32
		stop    bool
		want    int32
	}{
		{name: "no reload running", want: 1},
		{name: "waits while a reload runs", heldFor: 3, want: 1},
		{name: "stopped", stop: true, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var checks, frees atomic.Int32
			freed := make(chan struct{}, 10)
			m := &memoryRelease{
				delay: time.Millisecond,
				held:  func() bool { return checks.Add(1) <= tt.heldFor },
				free:  func() { frees.Add(1); freed <- struct{}{} },
			}
			if tt.stop {
				m.delay = time.Hour
			}
			m.soon()
			if tt.stop {
				m.stop()
				// A stopped release never runs: with an hour's delay
				// it could not have run yet either, so check that stop
				// stopped the timer itself.
				if m.timer.Stop() {
					t.Fatal("the timer was still armed after stop")
				}
				return
			}
			select {
			case <-freed:
			case <-time.After(10 * time.Second):
				t.Fatal("the memory was never released")
			}
			if got := checks.Load(); got < tt.heldFor+1 {
				t.Errorf("released after %d checks, want it to wait for the reload (%d checks)", got, tt.heldFor+1)
			}
			// Nothing else is armed: no second release follows.
			m.stop()
			if got := frees.Load(); got != tt.want {
				t.Errorf("released %d times, want %d", got, tt.want)
			}
		})
	}
}
