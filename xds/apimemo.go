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
// virtual host. Fresh, it holds the route messages; once validated (see
// Resources.validate), where they are in the encoding of the virtual host
// (validation.vhosts): its routes first..first+count-1 (so its hashes
// are the vhostWire parts 1+first..), encoded as bytes off..off+size-1 of
// vhostWire.field. Read-only once validated.
type apiOutput struct {
	part *apiPart
	// routes is a fresh translation (nil once encoded, see lean).
	routes []*routev3.Route
	// from is the virtual host whose encoding holds the routes at
	// first and off (nil: not encoded yet).
	from                    *routev3.VirtualHost
	first, count, off, size int
}

// encoded reports whether o's routes are in an encoding (from).
func (o *apiOutput) encoded() bool { return o.from != nil }

// moved returns o as reused by a new translation of its group: the same
// routes, still where they are in o's virtual host (from) until the new
// virtual host is encoded, which places them in it.
func (o *apiOutput) moved() *apiOutput {
	c := *o
	return &c
}

// apiPart is what an API's routes add to the clusters, endpoints and
// listener: the clusters and endpoints they use (the group's own copies,
// shared), the IP tags of their conditions, the identity headers they
// match on and the flags. Read-only once made.
type apiPart struct {
	clusters       []*clusterv3.Cluster
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
	segs []*apiOutput
}

// apiRoutesPart translates the routes of api with t, like apiRoutes,
// collecting what they add to t (clusters, endpoints, IP tags, re-routing
// headers, flags) in an apiPart, which it also adds to t.
func (t *translator) apiRoutesPart(g *model.Group, api *model.API) *apiOutput {
	clusters, endpoints, ipTags, reroute := t.clusters, t.endpoints, t.ipTags, t.rerouteHeaders
	throttled, maxMock := t.throttled, t.maxMockBody
	t.clusters, t.endpoints = map[string]*clusterv3.Cluster{}, map[string]*endpointv3.ClusterLoadAssignment{}
	t.ipTags, t.rerouteHeaders = map[string][]*corev3.CidrRange{}, map[string]bool{}
	t.throttled, t.maxMockBody = false, 0
	routes := t.apiRoutes(g, api)
	p := &apiPart{throttled: t.throttled, maxMockBody: t.maxMockBody}
	for _, name := range slices.Sorted(maps.Keys(t.clusters)) {
		p.clusters = append(p.clusters, t.clusters[name])
	}
	for _, name := range slices.Sorted(maps.Keys(t.endpoints)) {
		p.endpoints = append(p.endpoints, t.endpoints[name])
	}
	if len(t.ipTags) > 0 {
		p.ipTags = t.ipTags
	}
	p.rerouteHeaders = slices.Sorted(maps.Keys(t.rerouteHeaders))
	t.clusters, t.endpoints, t.ipTags, t.rerouteHeaders = clusters, endpoints, ipTags, reroute
	t.throttled, t.maxMockBody = throttled, maxMock
	t.addPart(p)
	return &apiOutput{part: p, routes: routes}
}

// addPart adds what an API's routes use to t. A cluster or endpoint t
// already has is the same (its name fixes its content): p then takes t's,
// so that the group keeps one copy of each.
func (t *translator) addPart(p *apiPart) {
	for i, c := range p.clusters {
		if have := t.clusters[c.GetName()]; have != nil {
			p.clusters[i] = have
		} else {
			t.clusters[c.GetName()] = c
		}
	}
	for i, e := range p.endpoints {
		if have := t.endpoints[e.GetClusterName()]; have != nil {
			p.endpoints[i] = have
		} else {
			t.endpoints[e.GetClusterName()] = e
		}
	}
	for tag, r := range p.ipTags {
		if t.ipTags[tag] == nil {
			t.ipTags[tag] = r
		}
	}
	for _, h := range p.rerouteHeaders {
		t.rerouteHeaders[h] = true
	}
	t.throttled = t.throttled || p.throttled
	t.maxMockBody = max(t.maxMockBody, p.maxMockBody)
}

// virtualHostPlan is virtualHost made of parts: the virtual host's own
// fields, and the plan of its routes, in the same order, in which each
// API whose digest is a key of prev (the previous translation of the
// group's APIs, encoded) is reused. It also returns the group's API
// outputs by digest, for the next translation.
func (t *translator) virtualHostPlan(g *model.Group, prev map[string]*apiOutput) (*routev3.VirtualHost, *vhostPlan, map[string]*apiOutput) {
	vh := &routev3.VirtualHost{Name: g.Name, Domains: append([]string(nil), groupDomains(g)...)}
	t.markDialect(g, vh)
	plan := &vhostPlan{}
	plan.segs = append(plan.segs, &apiOutput{routes: []*routev3.Route{t.pathGuardRoute(g)}})
	apis := orderAPIs(t, g)
	outs := make(map[string]*apiOutput, len(apis))
	for _, api := range apis {
		var o *apiOutput
		_, twice := outs[api.Digest]
		if old := prev[api.Digest]; old != nil && !twice && old.encoded() {
			o = old.moved()
			t.addPart(o.part)
		} else {
			o = t.apiRoutesPart(g, api)
		}
		if api.Digest != "" && !twice {
			outs[api.Digest] = o
		}
		plan.segs = append(plan.segs, o)
	}
	if routeMisses(g) {
		plan.segs = append(plan.segs, &apiOutput{routes: t.missRoutes(g, apis)})
	} else {
		plan.segs = append(plan.segs, &apiOutput{routes: []*routev3.Route{t.notFoundRoute()}})
	}
	return vh, plan, outs
}
