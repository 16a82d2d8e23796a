// Package gcpace holds the garbage collector's next cycle off while a
// reload runs, so that the collection its garbage causes runs once Check
// and Envoy have the change instead of during it.
//
// A one-API change allocates tens of megabytes (hundreds at 100,000 APIs)
// while the live heap is 80-500 MB, so with GOGC=100 about every second or
// third change crosses the heap goal: the collection then marks the whole
// heap while the change runs, on a 2-core machine taking a processor and
// slowing the reload's allocations with mark assists and write barriers.
// Hold raises the goal, for the time of a reload, by a bounded budget (the
// last reload's allocation with some margin, never more than the headroom
// GOGC gives), by raising the GC percentage; release restores it, and a
// collection that is due then starts at once, after the change.
//
// The hold is bounded: the heap goal is at most the normal goal plus the
// headroom between it and the live heap (at GOGC=100, three times the live
// heap instead of two); a memory limit (GOMEMLIMIT) still applies; with
// GOGC=off nothing is changed.
package gcpace

import (
	"math"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// minBudget is the least budget a hold gives: what a small reload may
// allocate.
const minBudget = 16 << 20

// margin is the budget over the last reload's allocation, in percent.
const margin = 150

// maxPercent bounds the GC percentage a hold sets.
const maxPercent = 100000

// pacer is the process's state: the GC percentage is process-wide.
var pacer struct {
	mu sync.Mutex
	// holds counts the holds not released; orig is the GC percentage
	// before the first of them and set the one it set (orig when it set
	// none), both set only while holds > 0; start the bytes allocated
	// then.
	holds     int
	orig, set int
	start     uint64
	// last is what the last hold allocated (0: none yet).
	last uint64
}

// metric names read by Hold.
const (
	goalMetric   = "/gc/heap/goal:bytes"
	liveMetric   = "/gc/heap/live:bytes"
	gogcMetric   = "/gc/gogc:percent"
	allocsMetric = "/gc/heap/allocs:bytes"
)

// Hold raises the heap goal for a reload and returns the function that
// restores it (call it once, when the change is served). Holds may
// overlap (several servers in one process): the first sets the goal, the
// last release restores it — unless the GC percentage was set otherwise
// meanwhile (debug.SetGCPercent elsewhere), which is then left alone.
func Hold() (release func()) {
	pacer.mu.Lock()
	defer pacer.mu.Unlock()
	pacer.holds++
	if pacer.holds == 1 {
		goal, live, gogc, allocs := read()
		pacer.start, pacer.orig, pacer.set = allocs, gogc, gogc
		if p := percentFor(goal, live, gogc, budgetFor(pacer.last)); p > gogc {
			debug.SetGCPercent(p)
			pacer.set = p
		}
	}
	var once sync.Once
	return func() { once.Do(releaseHold) }
}

// Held reports whether a hold is not released (a reload is running).
func Held() bool {
	pacer.mu.Lock()
	defer pacer.mu.Unlock()
	return pacer.holds > 0
}

func releaseHold() {
	pacer.mu.Lock()
	defer pacer.mu.Unlock()
	pacer.holds--
	if pacer.holds > 0 {
		return
	}
	_, _, gogc, allocs := read()
	pacer.last = allocs - pacer.start
	if gogc == pacer.set && gogc != pacer.orig {
		debug.SetGCPercent(pacer.orig)
	}
}

// read returns the heap goal, the heap marked live by the last cycle,
// the GC percentage (negative: off) and the bytes allocated so far (0
// for a metric the runtime does not have).
func read() (goal, live uint64, gogc int, allocs uint64) {
	s := []metrics.Sample{{Name: goalMetric}, {Name: liveMetric}, {Name: gogcMetric}, {Name: allocsMetric}}
	metrics.Read(s)
	v := func(i int) uint64 {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return s[i].Value.Uint64()
	}
	// The percentage is an int32 in the runtime, -1 when off.
	return v(0), v(1), int(int32(v(2))), v(3)
}

// budgetFor is the budget of a hold after a reload that allocated last
// bytes (0: none yet).
func budgetFor(last uint64) uint64 {
	b := last / 100 * margin
	if b < minBudget {
		b = minBudget
	}
	return b
}

// percentFor returns the GC percentage that moves the heap goal from goal
// to goal + budget, with live the heap marked live by the last cycle and
// gogc the percentage giving goal; gogc itself when nothing is to change
// (GOGC off, no cycle yet, a goal set by the memory limit below GOGC's).
// The runtime's goal is live + (live + stacks + globals) × gogc/100, so
// goal − live grows in proportion to the percentage. The budget is at
// most goal − live: the goal at most doubles its headroom.
func percentFor(goal, live uint64, gogc int, budget uint64) int {
	if gogc <= 0 || live == 0 || goal <= live {
		return gogc
	}
	headroom := goal - live
	if budget > headroom {
		budget = headroom
	}
	p := float64(gogc) * (1 + float64(budget)/float64(headroom))
	if p > maxPercent || math.IsNaN(p) {
		return maxPercent
	}
	return int(math.Ceil(p))
}
