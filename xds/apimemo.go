package xds

// Per-API reuse inside a changed group: the routes of an API whose digest
// (model.API.Digest) is unchanged are taken from the previous
// translation's encoding of its group's virtual host instead of being
// translated, hashed and validated again.

import (
	"maps"
	"slices"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/apigwio/apigw/internal/model"
)

// apiOutput is the translation of one API's routes within its group's
// virtual host, once validated (see Resources.validatePlans): where they
// are in the encoding of the virtual host (validation.vhosts[from]): its
// routes first..first+count-1 (so its hashes are the vhostWire parts
// 1+first..), encoded as bytes off..off+size-1 of vhostWire.field; and
// what they add to the clusters and listener. It holds no route message
// nor bytes of its own (the memo keeps one per API). Read-only once
// validated.
type apiOutput struct {
	// clusters are the clusters the routes use (the group's own copies,
	// shared); extra is the rest of what they add (nil: nothing).
	clusters []*clusterv3.Cluster
	extra    *apiExtra
	// from is the virtual host whose encoding holds the routes at first
	// and off (nil: not encoded yet).
	from                    *routev3.VirtualHost
	first, count, off, size int32
}

// encoded reports whether o's routes are in an encoding (from). A new
// translation reusing o copies it: the same routes, still where they are
// in o's virtual host (from) until the new virtual host is encoded, which
// places them in it.
func (o *apiOutput) encoded() bool { return o.from != nil }

// apiExtra is what an API's routes add besides clusters: the endpoints
// of the clusters they use, the IP tags of their conditions, the identity
// headers they match on and the flags. Read-only once made.
type apiExtra struct {
	endpoints      []*endpointv3.ClusterLoadAssignment
	ipTags         map[string][]*corev3.CidrRange
	rerouteHeaders []string
	throttled      bool
	maxMockBody    int
}

// vhostPlan is how the routes of a virtual host made incrementally are
// made: in route order, the segments that are either fresh routes (the
// group's own routes, or a changed API's) or the routes of an API reused
// from the previous translation's encoding. The virtual host message
// itself has no routes.
type vhostPlan struct {
	segs []planSeg
}

// planSeg is a segment of a plan: fresh routes, or (routes nil) those of
// out, encoded. out receives the segment's place in the new encoding (nil
// for the group's own routes: not kept).
type planSeg struct {
	out    *apiOutput
	routes []*routev3.Route
}

// apiRoutesPart translates the routes of api with t, like apiRoutes,
// collecting what they add to t (clusters, endpoints, IP tags, re-routing
// headers, flags) in an apiOutput, which it also adds to t.
func (t *translator) apiRoutesPart(g *model.Group, api *model.API, o *apiOutput) []*routev3.Route {
	clusters, endpoints, ipTags, reroute := t.clusters, t.endpoints, t.ipTags, t.rerouteHeaders
	throttled, maxMock := t.throttled, t.maxMockBody
	t.clusters, t.endpoints = map[string]*clusterv3.Cluster{}, map[string]*endpointv3.ClusterLoadAssignment{}
	t.ipTags, t.rerouteHeaders = map[string][]*corev3.CidrRange{}, map[string]bool{}
	t.throttled, t.maxMockBody = false, 0
	routes := t.apiRoutes(g, api)
	*o = apiOutput{}
	if len(t.clusters) > 0 {
		// From the group's buffer: one allocation for many APIs.
		if cap(t.clusterBuf)-len(t.clusterBuf) < len(t.clusters) {
			t.clusterBuf = make([]*clusterv3.Cluster, 0, max(t.clusterChunk, len(t.clusters)))
		}
		from := len(t.clusterBuf)
		for _, name := range slices.Sorted(maps.Keys(t.clusters)) {
			t.clusterBuf = append(t.clusterBuf, t.clusters[name])
		}
		o.clusters = t.clusterBuf[from:len(t.clusterBuf):len(t.clusterBuf)]
	}
	if len(t.endpoints) > 0 || len(t.ipTags) > 0 || len(t.rerouteHeaders) > 0 || t.throttled || t.maxMockBody > 0 {
		x := &apiExtra{throttled: t.throttled, maxMockBody: t.maxMockBody}
		for _, name := range slices.Sorted(maps.Keys(t.endpoints)) {
			x.endpoints = append(x.endpoints, t.endpoints[name])
		}
		if len(t.ipTags) > 0 {
			x.ipTags = t.ipTags
		}
		x.rerouteHeaders = slices.Sorted(maps.Keys(t.rerouteHeaders))
		o.extra = x
	}
	t.clusters, t.endpoints, t.ipTags, t.rerouteHeaders = clusters, endpoints, ipTags, reroute
	t.throttled, t.maxMockBody = throttled, maxMock
	t.addPart(o)
	return routes
}

// addPart adds what an API's routes use to t. A cluster or endpoint t
// already has is the same (its name fixes its content): o then takes
// t's, so that the group keeps one copy of each.
func (t *translator) addPart(o *apiOutput) {
	for i, c := range o.clusters {
		if have := t.clusters[c.GetName()]; have != nil {
			o.clusters[i] = have
		} else {
			t.clusters[c.GetName()] = c
		}
	}
	x := o.extra
	if x == nil {
		return
	}
	for i, e := range x.endpoints {
		if have := t.endpoints[e.GetClusterName()]; have != nil {
			x.endpoints[i] = have
		} else {
			t.endpoints[e.GetClusterName()] = e
		}
	}
	for tag, r := range x.ipTags {
		if t.ipTags[tag] == nil {
			t.ipTags[tag] = r
		}
	}
	for _, h := range x.rerouteHeaders {
		t.rerouteHeaders[h] = true
	}
	t.throttled = t.throttled || x.throttled
	t.maxMockBody = max(t.maxMockBody, x.maxMockBody)
}

// virtualHostPlan is virtualHost made of parts: the virtual host's own
// fields, and the plan of its routes, in the same order, in which each
// API whose digest is a key of prev (the previous translation of the
// group's APIs, encoded) is reused. It also returns the group's API
// outputs by digest, for the next translation.
func (t *translator) virtualHostPlan(g *model.Group, prev map[model.Digest]*apiOutput) (*routev3.VirtualHost, *vhostPlan, map[model.Digest]*apiOutput) {
	vh := &routev3.VirtualHost{Name: g.Name, Domains: append([]string(nil), groupDomains(g)...)}
	t.markDialect(g, vh)
	apis := orderAPIs(t, g)
	plan := &vhostPlan{segs: make([]planSeg, 0, len(apis)+2)}
	plan.segs = append(plan.segs, planSeg{routes: []*routev3.Route{t.pathGuardRoute(g)}})
	outs := make(map[model.Digest]*apiOutput, len(apis))
	// The group's API outputs in one allocation (they live as long as the
	// memo).
	slab := make([]apiOutput, len(apis))
	// Room in the cluster buffer for about as many APIs as are translated
	// (a reused API keeps its list: a buffer mostly empty would stay).
	fresh := 0
	for _, api := range apis {
		if prev[api.Digest] == nil {
			fresh++
		}
	}
	t.clusterChunk = min(1024, 2*fresh)
	for k, api := range apis {
		sg := planSeg{out: &slab[k]}
		_, twice := outs[api.Digest]
		if old := prev[api.Digest]; old != nil && !twice && old.encoded() {
			*sg.out = *old
			t.addPart(sg.out)
		} else {
			sg.routes = t.apiRoutesPart(g, api, sg.out)
		}
		if !api.Digest.IsZero() && !twice {
			outs[api.Digest] = sg.out
		}
		plan.segs = append(plan.segs, sg)
	}
	t.compactClusters(plan)
	if routeMisses(g) {
		plan.segs = append(plan.segs, planSeg{routes: t.missRoutes(g, apis)})
	} else {
		plan.segs = append(plan.segs, planSeg{routes: []*routev3.Route{t.notFoundRoute()}})
	}
	return vh, plan, outs
}
