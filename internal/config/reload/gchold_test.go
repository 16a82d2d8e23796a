package reload

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"

	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/gcpace"
	"github.com/apigwio/apigw/internal/model"
)

// gcPercent is the GC percentage in effect.
func gcPercent() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(int32(s[0].Value.Uint64()))
}

// gcHeld keeps a live heap, so that the heap goal has a headroom a hold
// can raise.
var gcHeld [][]byte

// keepLiveHeap sets the GC percentage to 100 and keeps 32 MiB live for
// the test, both undone at its end.
func keepLiveHeap(t *testing.T) {
	t.Helper()
	old := debug.SetGCPercent(100)
	for range 32 {
		gcHeld = append(gcHeld, make([]byte, 1<<20))
	}
	runtime.GC()
	t.Cleanup(func() {
		gcHeld = nil
		debug.SetGCPercent(old)
	})
}

// TestReloadHoldsCollection: the sinks of a reload run with the heap goal
// raised (gcpace.Hold), and the GC percentage is the original once the
// load returns, whether the configuration is accepted, refused by a sink
// or does not parse; Prime (the first load) is not held.
func TestReloadHoldsCollection(t *testing.T) {
	keepLiveHeap(t)

	path := filepath.Join(t.TempDir(), "gw.yaml")
	write(t, path, cfgA)
	var during int
	refuse := false
	sink := func(context.Context, *model.Snapshot) error {
		during = gcPercent()
		if refuse {
			return errors.New("translator says no")
		}
		return nil
	}
	r := New(path, config.Options{}, 0, quiet(), sink)
	ctx := context.Background()
	if _, err := r.Prime(ctx); err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		name     string
		content  string
		refuse   bool
		sinkRuns bool
		wantErr  bool
	}{
		{"accepted", cfgB, false, true, false},
		{"refused by a sink", cfgA, true, true, true},
		{"does not parse", "groups: [", false, false, true},
		{"accepted again", cfgA + "# again\n", false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			write(t, path, tc.content)
			refuse, during = tc.refuse, 0
			err := r.Load(ctx)
			if (err != nil) != tc.wantErr {
				t.Fatalf("change %d: Load = %v, want error %v", i, err, tc.wantErr)
			}
			if tc.sinkRuns && during <= 100 {
				t.Errorf("GC percentage while the sink ran = %d, want above 100 (held)", during)
			}
			if got := gcPercent(); got != 100 {
				t.Errorf("GC percentage after the load = %d, want 100", got)
			}
		})
	}
}

// TestReloadReleasesHoldOnPanic: a sink that panics (recovered by the
// caller) or a load whose context is cancelled while the sink runs does
// not leave the collection held nor the GC percentage raised.
func TestReloadReleasesHoldOnPanic(t *testing.T) {
	keepLiveHeap(t)

	path := filepath.Join(t.TempDir(), "gw.yaml")
	write(t, path, cfgA)
	mode, ran, cancel := "", false, context.CancelFunc(nil)
	sink := func(ctx context.Context, _ *model.Snapshot) error {
		ran = true
		switch mode {
		case "panic":
			panic("sink bug")
		case "cancel": // shutdown while the sink runs
			cancel()
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
	r := New(path, config.Options{}, 0, quiet(), sink)
	if _, err := r.Prime(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, m := range []string{"panic", "cancel"} {
		t.Run(m, func(t *testing.T) {
			write(t, path, []string{cfgB, cfgA}[i])
			mode, ran = m, false
			var ctx context.Context
			ctx, cancel = context.WithCancel(context.Background())
			defer cancel()
			func() {
				defer func() { _ = recover() }()
				_ = r.Load(ctx)
			}()
			if !ran {
				t.Fatal("the sink did not run")
			}
			if gcpace.Held() {
				t.Error("a hold is not released")
			}
			if got := gcPercent(); got != 100 {
				t.Errorf("GC percentage after the load = %d, want 100", got)
			}
		})
	}
}
