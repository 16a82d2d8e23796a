package xds

import (
	"fmt"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/apigwio/apigw/internal/model"
	"github.com/apigwio/apigw/internal/parallel"
)

// minParallelAPIs is the size from which virtual hosts are translated in
// parallel: below it, starting workers costs more than it saves.
const minParallelAPIs = 512

// virtualHosts builds one virtual host per group, in declaration order.
// Each group is translated by its own translator (in parallel on large
// configurations), or taken from t.reuse when the previous translation
// had a group with the same digest; the results are then merged in group
// order, so the result (including which error is reported first) is
// exactly that of translating the groups one by one:
//
//   - domain ownership is checked first, in order; a group's domain error
//     comes before any error of its own virtual host;
//   - clusters, endpoints and IP tags are keyed by names that fix their
//     content; the first group to define one wins;
//   - the flags and limits the listener needs (dialect, route misses,
//     throttling, re-routing headers, mock body size) are combined.
func (t *translator) virtualHosts() []*routev3.VirtualHost {
	if t.workers > 0 {
		return t.virtualHostsWith(t.workers)
	}
	workers, apis := parallel.Workers(), 0
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

// groupOutput is the translation of one group: its virtual host, and in
// part what the group adds to the clusters, endpoints and listener (the
// clusters, endpoints, IP tags, re-routing headers and flags; the
// per-deployment caches are dropped). Read-only once made.
type groupOutput struct {
	vh   *routev3.VirtualHost
	part *translator
	// stub: vh is a stand-in for the encoded virtual host (see lean).
	stub bool
	// plan is how vh's routes are made, when it was translated
	// incrementally (vh then has no routes of its own); nil when vh is
	// whole, or once encoded.
	plan *vhostPlan
	// apis are the translations of the group's APIs, by API digest
	// (incremental translations only).
	apis map[model.Digest]*apiOutput
}

// groupMemo holds the translation of each group of one configuration by
// group digest (model.Group.Digest), for the next translation to reuse:
// a group whose digest is unchanged has, by the digest's definition, an
// unchanged model, so its translation is the same. It only holds the
// groups of one configuration.
type groupMemo struct {
	opts   Options
	groups map[string]*groupOutput
	// apisByName are the groups' API translations by group (virtual
	// host) name, for apis.
	apisByName map[string]map[model.Digest]*apiOutput
	// vhPlans are the plans of the virtual hosts of the translation that
	// made m (every group's, with a digest or not), until validated.
	vhPlans map[*routev3.VirtualHost]*vhostPlan
	// clusters are that translation's groups' clusters, merged
	// (read-only; nil if not made).
	clusters *clusterIndex
}

// clusterIndex returns the merged clusters of m's translation (nil if
// none).
func (m *groupMemo) clusterIndex() *clusterIndex {
	if m == nil {
		return nil
	}
	return m.clusters
}

// apis returns the API translations of the group named name (whatever
// its digest: an API digest covers the group's own fields), nil if none.
func (m *groupMemo) apis(name string, opts Options) map[model.Digest]*apiOutput {
	if m == nil || m.opts != opts {
		return nil
	}
	return m.apisByName[name]
}

// add memorises o, the translation of the group of digest d.
func (m *groupMemo) add(d string, o *groupOutput) {
	m.groups[d] = o
	if o.apis != nil {
		m.apisByName[o.vh.GetName()] = o.apis
	}
}

// plans returns the plan of each virtual host of m translated
// incrementally, for validation.
func (m *groupMemo) plans() map[*routev3.VirtualHost]*vhostPlan {
	if m == nil {
		return nil
	}
	return m.vhPlans
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
	outs := make([]*groupOutput, len(groups))
	vhErr := make([]error, len(groups))
	var todo []int
	for i, g := range groups {
		if g == nil {
			continue
		}
		if o := t.reuse.lookup(g, t.opts); o != nil {
			outs[i] = o
			continue
		}
		todo = append(todo, i)
	}
	parallel.For(len(todo), workers, func() func(int) {
		return func(k int) {
			i := todo[k]
			outs[i], vhErr[i] = t.translateGroup(i, groups[i], t.reuse.apis(groups[i].Name, t.opts))
		}
	})
	for i := range groups {
		for _, err := range []error{domainErr[i], vhErr[i]} {
			if err != nil && t.err == nil {
				t.err = err
			}
		}
	}
	memo := &groupMemo{opts: t.opts, groups: make(map[string]*groupOutput, len(groups)), apisByName: make(map[string]map[model.Digest]*apiOutput, len(groups)), vhPlans: map[*routev3.VirtualHost]*vhostPlan{}}
	out := make([]*routev3.VirtualHost, 0, len(groups))
	parts := make([]*translator, 0, len(groups))
	for _, o := range outs {
		if o != nil {
			parts = append(parts, o.part)
		}
	}
	// The groups' clusters: the last translation's merge, patched with
	// the groups translated again (the others' are the same parts).
	memo.clusters = mergeClusters(t.reuse.clusterIndex(), parts)
	for i, o := range outs {
		if o == nil {
			continue
		}
		t.merge(o.part, memo.clusters == nil)
		out = append(out, o.vh)
		if o.plan != nil {
			memo.vhPlans[o.vh] = o.plan
		}
		if d := groups[i].Digest; d != "" {
			memo.add(d, o)
		}
	}
	t.memo = memo
	return out
}

// translateGroup translates group i with a translator of its own; in an
// incremental translation, reusing the APIs of prev (see
// virtualHostPlan).
func (t *translator) translateGroup(i int, g *model.Group, prev map[model.Digest]*apiOutput) (out *groupOutput, err error) {
	defer func() {
		// As Translate's own recover: a bug rejects the configuration
		// instead of killing the process.
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("xds: internal error translating group %d: %v", i, r)
		}
	}()
	w := newTranslator(t.snap, t.opts)
	out = &groupOutput{}
	if t.incremental {
		out.vh, out.plan, out.apis = w.virtualHostPlan(g, prev)
	} else {
		out.vh = w.virtualHost(g)
	}
	if w.err != nil {
		return nil, w.err
	}
	out.part = &translator{
		clusters: w.clusters, clusterList: sortedClusters(w.clusters), endpoints: w.endpoints, ipTags: w.ipTags, rerouteHeaders: w.rerouteHeaders,
		tencent: w.tencent, routeMisses: w.routeMisses, throttled: w.throttled, maxMockBody: w.maxMockBody,
	}
	return out, nil
}

// lean returns m with the virtual host of each group replaced by a stub
// (its name only) that stands for it in v, which encoded it: the memo
// then keeps what a later translation reuses (the stub, whose encoding
// and hashes v has, and the group's clusters) without the route messages,
// the largest part of a translation. Virtual hosts that are not in m are
// dropped from v (a later translation makes new ones). m is not changed.
func (m *groupMemo) lean(v *validation) *groupMemo {
	if m == nil || v == nil {
		return m
	}
	out := &groupMemo{opts: m.opts, groups: make(map[string]*groupOutput, len(m.groups)), apisByName: make(map[string]map[model.Digest]*apiOutput, len(m.groups)), clusters: m.clusters}
	keep := make(map[*routev3.VirtualHost]*vhostWire, len(m.groups))
	for d, o := range m.groups {
		w := v.vhosts[o.vh]
		switch {
		case w == nil:
			out.add(d, o)
		case o.stub:
			out.add(d, o)
			keep[o.vh] = w
		default:
			stub := &routev3.VirtualHost{Name: o.vh.GetName()}
			out.add(d, &groupOutput{vh: stub, part: o.part, stub: true, apis: o.apis})
			keep[stub] = w
			// The API outputs of a new translation are this memo's:
			// they now stand for their routes in the stub's encoding.
			for _, a := range o.apis {
				if a.from == o.vh {
					a.from = stub
				}
			}
		}
	}
	v.vhosts = keep
	return out
}

// encodedIn reports whether v has the encoding of every stub of m (a stub
// is only a stand-in for it).
func (m *groupMemo) encodedIn(v *validation) bool {
	if m == nil {
		return true
	}
	for _, o := range m.groups {
		if o.stub && (v == nil || v.vhosts[o.vh] == nil) {
			return false
		}
	}
	return true
}

// lookup returns the memorised translation of g, or nil.
func (m *groupMemo) lookup(g *model.Group, opts Options) *groupOutput {
	if m == nil || g.Digest == "" || m.opts != opts {
		return nil
	}
	return m.groups[g.Digest]
}

// merge adds what a worker's translation of some groups found to t, with
// its clusters or without them (those of a clusterIndex, merged apart).
func (t *translator) merge(w *translator, clusters bool) {
	if clusters {
		for name, c := range w.clusters {
			if t.clusters[name] == nil {
				t.clusters[name] = c
			}
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
