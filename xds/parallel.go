package xds

import (
	"fmt"
	"runtime"
	"sync"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// minParallelAPIs is the size from which virtual hosts are translated in
// parallel: below it, starting workers costs more than it saves.
const minParallelAPIs = 512

// virtualHosts builds one virtual host per group, in declaration order.
// The groups are split into contiguous chunks of about the same number of
// APIs, translated in parallel by workers with their own translator state,
// then merged in group order, so the result (including which error is
// reported first) is exactly that of translating the groups one by one:
//
//   - domain ownership is checked first, in order; a group's domain error
//     comes before any error of its own virtual host;
//   - clusters, endpoints and IP tags are keyed by names that fix their
//     content; the first chunk to define one wins, as the first group
//     would;
//   - the flags and limits the listener needs (dialect, route misses,
//     throttling, re-routing headers, mock body size) are combined.
func (t *translator) virtualHosts() []*routev3.VirtualHost {
	if t.workers > 0 {
		return t.virtualHostsWith(t.workers)
	}
	workers, apis := runtime.GOMAXPROCS(0), 0
	for _, g := range t.snap.Groups {
		if g != nil {
			apis += len(g.APIs)
		}
	}
	if apis < minParallelAPIs {
		workers = 1
	}
	return t.virtualHostsWith(workers)
}

// virtualHostsWith is virtualHosts with at most workers workers.
func (t *translator) virtualHostsWith(workers int) []*routev3.VirtualHost {
	groups := t.snap.Groups
	// Errors by group, in the order the sequential translation meets them.
	domainErr := make([]error, len(groups))
	owners := map[string]string{} // lower-cased domain -> group
	for i, g := range groups {
		if g == nil {
			domainErr[i] = fmt.Errorf("xds: groups[%d] is nil", i)
			continue
		}
		c := &translator{}
		c.checkDomains(g, owners)
		domainErr[i] = c.err
	}
	chunks := splitGroups(t, workers)
	shards := make([]*translator, len(chunks))
	vhs := make([]*routev3.VirtualHost, len(groups))
	vhErr := make([]error, len(groups))
	var wg sync.WaitGroup
	for c, ch := range chunks {
		w := newTranslator(t.snap, t.opts)
		shards[c] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			i := ch[0]
			defer func() {
				// As Translate's own recover: a bug rejects the
				// configuration instead of killing the process.
				if r := recover(); r != nil {
					vhErr[i] = fmt.Errorf("xds: internal error translating group %d: %v", i, r)
				}
			}()
			for ; i < ch[1]; i++ {
				g := groups[i]
				if g == nil {
					continue
				}
				vhs[i] = w.virtualHost(g)
				if w.err != nil {
					vhErr[i] = w.err // the first error of this chunk
					return
				}
			}
		}()
	}
	wg.Wait()
	for i := range groups {
		for _, err := range []error{domainErr[i], vhErr[i]} {
			if err != nil && t.err == nil {
				t.err = err
			}
		}
	}
	for _, w := range shards {
		t.merge(w)
	}
	out := make([]*routev3.VirtualHost, 0, len(groups))
	for _, vh := range vhs {
		if vh != nil {
			out = append(out, vh)
		}
	}
	return out
}

// splitGroups cuts the groups into at most workers contiguous ranges
// [from, to) of about the same number of APIs.
func splitGroups(t *translator, workers int) [][2]int {
	groups := t.snap.Groups
	total := 0
	for _, g := range groups {
		if g != nil {
			total += len(g.APIs) + 1
		}
	}
	workers = max(1, min(workers, len(groups)))
	var out [][2]int
	from, acc := 0, 0
	for i, g := range groups {
		if g != nil {
			acc += len(g.APIs) + 1
		}
		if len(out) < workers-1 && acc*workers >= total*(len(out)+1) {
			out = append(out, [2]int{from, i + 1})
			from = i + 1
		}
	}
	if from < len(groups) || len(out) == 0 {
		out = append(out, [2]int{from, len(groups)})
	}
	return out
}

// merge adds what a worker's translation of some groups found to t.
func (t *translator) merge(w *translator) {
	for name, c := range w.clusters {
		if t.clusters[name] == nil {
			t.clusters[name] = c
		}
	}
	for name, e := range w.endpoints {
		if t.endpoints[name] == nil {
			t.endpoints[name] = e
		}
	}
	for tag, r := range w.ipTags {
		if t.ipTags[tag] == nil {
			t.ipTags[tag] = r
		}
	}
	for h := range w.rerouteHeaders {
		t.rerouteHeaders[h] = true
	}
	t.tencent = t.tencent || w.tencent
	t.routeMisses = t.routeMisses || w.routeMisses
	t.throttled = t.throttled || w.throttled
	t.maxMockBody = max(t.maxMockBody, w.maxMockBody)
}
