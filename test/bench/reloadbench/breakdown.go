package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// breakdown describes where the server's RSS goes: the resident pages
// backed by its binary (RssFile) and anonymous memory (RssAnon) from
// /proc, and the Go runtime's accounting from the admin port's /metrics
// (the Go collector's memstats): the heap's spans in use and the bytes
// allocated in them, the heap freed but not yet returned to the operating
// system (idle less released), goroutine stacks, the runtime's own
// structures (span and GC metadata and the rest of Sys), and the next
// collection's goal.
func breakdown(pid int, metricsURL string) string {
	st := procStatus(pid)
	m := memstats(metricsURL)
	mib := func(v float64) string { return fmt.Sprintf("%.1f", v/(1<<20)) }
	runtimeOwn := m["go_memstats_mspan_sys_bytes"] + m["go_memstats_mcache_sys_bytes"] +
		m["go_memstats_buck_hash_sys_bytes"] + m["go_memstats_gc_sys_bytes"] + m["go_memstats_other_sys_bytes"]
	return fmt.Sprintf("RssAnon %s, RssFile %s MiB; heap in use %s (allocated %s), freed not returned %s, stacks %s, runtime %s, next GC %s MiB; %d goroutines",
		mib(st["RssAnon:"]*1024), mib(st["RssFile:"]*1024),
		mib(m["go_memstats_heap_inuse_bytes"]), mib(m["go_memstats_alloc_bytes"]),
		mib(m["go_memstats_heap_idle_bytes"]-m["go_memstats_heap_released_bytes"]),
		mib(m["go_memstats_stack_inuse_bytes"]), mib(runtimeOwn), mib(m["go_memstats_next_gc_bytes"]),
		int(m["go_goroutines"]))
}

// procStatus returns the numeric fields of /proc/PID/status (kB).
func procStatus(pid int) map[string]float64 {
	out := map[string]float64{}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		if v, err := strconv.ParseFloat(f[1], 64); err == nil {
			out[f[0]] = v
		}
	}
	return out
}

// memstats returns the unlabelled go_* gauges of a Prometheus text page.
func memstats(url string) map[string]float64 {
	out := map[string]float64{}
	resp, err := http.Get(url)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(body), "\n") {
		name, value, ok := strings.Cut(line, " ")
		if !ok || !strings.HasPrefix(name, "go_") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[name] = v
		}
	}
	return out
}
