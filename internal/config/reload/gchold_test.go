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

// TestReloadHoldsCollection: the sinks of a reload run with the heap goal
// raised (gcpace.Hold), and the GC percentage is the original once the
// load returns, whether the configuration is accepted, refused by a sink
// or does not parse; Prime (the first load) is not held.
func TestReloadHoldsCollection(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for range 32 {
		gcHeld = append(gcHeld, make([]byte, 1<<20))
	}
	defer func() { gcHeld = nil }()
	runtime.GC()

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
