package gcpace

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestPercentFor(t *testing.T) {
	const mb = 1 << 20
	for _, tc := range []struct {
		name       string
		goal, live uint64
		gogc       int
		budget     uint64
		want       int
	}{
		{"budget of half the headroom", 160 * mb, 80 * mb, 100, 40 * mb, 150},
		{"budget of the headroom", 160 * mb, 80 * mb, 100, 80 * mb, 200},
		{"budget capped at the headroom", 160 * mb, 80 * mb, 100, 500 * mb, 200},
		{"other GOGC", 120 * mb, 80 * mb, 50, 20 * mb, 75},
		{"rounded up", 160 * mb, 80 * mb, 100, 1, 101},
		{"GOGC off", 160 * mb, 80 * mb, -1, 40 * mb, -1},
		{"no cycle yet", 4 * mb, 0, 100, 40 * mb, 100},
		{"goal at the live heap (memory limit)", 80 * mb, 80 * mb, 100, 40 * mb, 100},
		{"bounded", 1 << 40, 1<<40 - 1, 100000, 1 << 39, maxPercent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentFor(tc.goal, tc.live, tc.gogc, tc.budget); got != tc.want {
				t.Errorf("percentFor(%d, %d, %d, %d) = %d, want %d", tc.goal, tc.live, tc.gogc, tc.budget, got, tc.want)
			}
		})
	}
}

func TestBudgetFor(t *testing.T) {
	for _, tc := range []struct {
		last, want uint64
	}{
		{0, minBudget},
		{1 << 20, minBudget},
		{100 << 20, 150 << 20},
	} {
		if got := budgetFor(tc.last); got != tc.want {
			t.Errorf("budgetFor(%d) = %d, want %d", tc.last, got, tc.want)
		}
	}
}

// gogc is the GC percentage in effect.
func gogc() int {
	_, _, p, _ := read()
	return p
}

// keep is a live heap for the hold tests: the goal is computed from it.
var keep [][]byte

// TestHoldRaisesAndRestores: a hold raises the goal by its budget; nested
// holds restore the percentage at the last release only; a release twice
// is one; GOGC off is left alone.
func TestHoldRaisesAndRestores(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for range 64 {
		keep = append(keep, make([]byte, 1<<20))
	}
	defer func() { keep = nil }()
	runtime.GC()
	goal0, live, _, _ := read()
	if live == 0 || goal0 <= live {
		t.Skipf("no live heap measured (goal %d, live %d)", goal0, live)
	}

	release := Hold()
	p := gogc()
	if p <= 100 {
		t.Fatalf("GC percentage under a hold = %d, want above 100", p)
	}
	if want := percentFor(goal0, live, 100, budgetFor(pacer.last)); p != want {
		t.Errorf("GC percentage under a hold = %d, want %d", p, want)
	}
	inner := Hold()
	if got := gogc(); got != p {
		t.Errorf("a second hold changed the percentage: %d, want %d", got, p)
	}
	inner()
	inner()
	if got := gogc(); got != p {
		t.Errorf("after the inner release (twice): %d, want %d (the outer hold still runs)", got, p)
	}
	garbage := make([]byte, 2<<20)
	runtime.KeepAlive(garbage)
	release()
	if got := gogc(); got != 100 {
		t.Errorf("after the last release: %d, want 100", got)
	}
	if pacer.last < 2<<20 {
		t.Errorf("the hold's allocation = %d, want at least the 2 MiB allocated", pacer.last)
	}

	debug.SetGCPercent(-1)
	release = Hold()
	if got := gogc(); got != -1 {
		t.Errorf("GOGC off under a hold: %d, want -1", got)
	}
	release()
	if got := gogc(); got != -1 {
		t.Errorf("GOGC off after a hold: %d, want -1", got)
	}
}

func TestHeld(t *testing.T) {
	if Held() {
		t.Fatal("Held before any hold")
	}
	release := Hold()
	inner := Hold()
	for i, done := range []func(){inner, release} {
		if !Held() {
			t.Errorf("step %d: not Held while a hold runs", i)
		}
		done()
	}
	if Held() {
		t.Error("Held after the last release")
	}
}

// TestReleaseKeepsOtherSettings: a GC percentage set by someone else
// while a hold runs (debug.SetGCPercent, GOGC=off included) is not
// overwritten by the release.
func TestReleaseKeepsOtherSettings(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for range 64 {
		keep = append(keep, make([]byte, 1<<20))
	}
	defer func() { keep = nil }()
	for _, set := range []int{50, 400, -1} {
		debug.SetGCPercent(100)
		runtime.GC()
		release := Hold()
		if gogc() <= 100 {
			t.Skipf("the hold did not raise the percentage (%d)", gogc())
		}
		debug.SetGCPercent(set)
		release()
		if got := gogc(); got != set {
			t.Errorf("set to %d during a hold: %d after the release", set, got)
		}
	}
}
