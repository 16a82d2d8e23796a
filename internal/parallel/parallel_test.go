package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

func TestFor(t *testing.T) {
	tests := []struct{ n, workers, wantWorkers int }{
		{0, 4, 0},
		{1, 4, 1},
		{10, 0, 1},
		{10, 3, 3},
		{3, 8, 3},
		{1000, 2, 2},
	}
	for _, tt := range tests {
		var mu sync.Mutex
		seen := map[int]int{}
		var workers atomic.Int64
		For(tt.n, tt.workers, func() func(int) {
			workers.Add(1)
			return func(i int) {
				mu.Lock()
				seen[i]++
				mu.Unlock()
			}
		})
		if len(seen) != tt.n {
			t.Errorf("n=%d workers=%d: %d indexes done", tt.n, tt.workers, len(seen))
		}
		for i, c := range seen {
			if i < 0 || i >= tt.n || c != 1 {
				t.Errorf("n=%d: index %d done %d times", tt.n, i, c)
			}
		}
		if got := int(workers.Load()); got != tt.wantWorkers {
			t.Errorf("n=%d workers=%d: %d workers started, want %d", tt.n, tt.workers, got, tt.wantWorkers)
		}
	}
}

// TestWorkers: before KeepOneFree (the first load, nothing served yet)
// every processor works; after it, a reload's work leaves one processor
// free, and has at least one worker.
func TestWorkers(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	defer keepOneFree.Store(keepOneFree.Load())
	for _, tc := range []struct {
		free             bool
		procs, wantCount int
	}{
		{false, 1, 1}, {false, 2, 2}, {false, 8, 8},
		{true, 1, 1}, {true, 2, 1}, {true, 3, 2}, {true, 8, 7},
	} {
		keepOneFree.Store(false)
		if tc.free {
			KeepOneFree()
		}
		runtime.GOMAXPROCS(tc.procs)
		if got := Workers(); got != tc.wantCount {
			t.Errorf("GOMAXPROCS %d, one kept free %v: Workers() = %d, want %d", tc.procs, tc.free, got, tc.wantCount)
		}
	}
}

// TestAddSpareProcessor: one processor more than the default unless the
// GOMAXPROCS environment variable chooses, and only once per process.
func TestAddSpareProcessor(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, tc := range []struct {
		env         string
		procs, want int
	}{
		{"", 1, 2}, {"", 2, 3}, {"", 8, 9},
		{"2", 2, 2}, {"1", 1, 1},
	} {
		runtime.GOMAXPROCS(tc.procs)
		addSpareProcessor(func(k string) string {
			if k == "GOMAXPROCS" {
				return tc.env
			}
			return ""
		})
		if got := runtime.GOMAXPROCS(0); got != tc.want {
			t.Errorf("GOMAXPROCS %d, environment %q: %d after, want %d", tc.procs, tc.env, got, tc.want)
		}
	}
	runtime.GOMAXPROCS(2)
	none := func(string) string { return "" }
	AddSpareProcessor(none)
	AddSpareProcessor(none)
	if got := runtime.GOMAXPROCS(0); got != 3 {
		t.Errorf("GOMAXPROCS 2, AddSpareProcessor twice: %d, want 3 (once per process)", got)
	}
}
