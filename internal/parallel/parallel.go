// Package parallel runs independent, indexed pieces of work on a few
// goroutines.
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// For calls work(i) once for every i in [0, n), on at most workers
// goroutines (at least one when n > 0), each taking the next index as it
// finishes one, and returns when all are done. newWorker runs once per
// goroutine and returns that goroutine's work function, so a worker can
// keep its own scratch state.
func For(n, workers int, newWorker func() func(i int)) {
	if n <= 0 {
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(1, min(workers, n)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work := newWorker()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				work(i)
			}
		}()
	}
	wg.Wait()
}

// keepOneFree is set once the process serves (KeepOneFree).
var keepOneFree atomic.Bool

// KeepOneFree makes Workers leave a processor free from now on. The server
// calls it once it serves: the first load, when nothing is served yet,
// uses every processor (at 100,000 APIs on 2 processors, ready after
// 8.1-8.6 s instead of 11.0-11.7 s with one worker).
func KeepOneFree() { keepOneFree.Store(true) }

// Workers is the number of goroutines a load's parallel work uses:
// GOMAXPROCS until KeepOneFree, then one fewer, and at least one, so that
// a processor stays free for the servers (Check, xDS, admin) while a
// large configuration is reloaded and translated. With all of them busy
// with the reload, and the garbage collector taking its share, a request
// waited for the scheduler (up to its 10 ms preemption slice, and longer
// with the collector's assists).
func Workers() int {
	n := runtime.GOMAXPROCS(0)
	if keepOneFree.Load() {
		n--
	}
	return max(1, n)
}

// spare makes AddSpareProcessor act once per process.
var spare sync.Once

// AddSpareProcessor runs the Go scheduler with one processor (P) more than
// its default — the CPUs the process may use — unless the GOMAXPROCS
// environment variable (read with getenv) sets the number; only its first
// call in a process acts. The server calls it before serving.
//
// Why: on a machine with few cores, a reload's goroutine, the garbage
// collector's workers and the memory release can occupy every P; a ready
// admin or Check request then waits for the Go scheduler, which notices
// the network every 10 ms and preempts a running goroutine after 10 ms.
// With one P more than cores, that request gets a P at once and the
// operating system shares the cores between the threads at its finer
// granularity. At 100,000 APIs on 2 cores, `/debug/reload` at the client
// during changes: p99 18.1 → 6.3 ms, the change no slower
// (docs/performance.md, "Session 8"). Setting GOMAXPROCS also ends Go's
// automatic update of it when a container's CPU limit changes; set the
// environment variable to choose the number yourself.
func AddSpareProcessor(getenv func(string) string) {
	spare.Do(func() { addSpareProcessor(getenv) })
}

// addSpareProcessor is AddSpareProcessor without the once.
func addSpareProcessor(getenv func(string) string) {
	if getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 1)
	}
}
