package xds

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/apigwio/apigw/internal/model"
)

// defaultDirectResponseBodyBytes is Envoy's default limit on a
// direct_response body.
const defaultDirectResponseBodyBytes = 4096

// routeConfig builds the route configuration: one virtual host per group,
// in declaration order.
func (t *translator) routeConfig() *routev3.RouteConfiguration {
	rc := &routev3.RouteConfiguration{
		// Domains match with or without the port in Host, without
		// rewriting Host (signatures cover "host:port").
		IgnorePortInHostMatching: true,
		Name:                     RouteConfigName,
		// The catch-all routes point at NotFoundCluster, which must stay
		// undefined (Envoy then answers 404, see localReplyConfig).
		ValidateClusters: wrapperspb.Bool(false),
		// IP tags and the dialect mark are the gateway's to set, and
		// routes and local replies match on them: a client-sent one is
		// removed before routing, so no route (or local reply) can match
		// on a forged value. The identity headers (x-apig-*) are listed
		// only where the strip_client_headers early mutation leaves them (a custom
		// authorizer's identity header): the filter removes the others
		// before anything but routing reads them, and no route matches on
		// the namespace (config refuses backend-policy conditions on it).
		// Each name listed costs Envoy a header-map removal per request.
		InternalOnlyHeaders: t.internalOnlyHeaders(),
	}
	rc.VirtualHosts = t.virtualHosts()
	// The IP tags and the dialect mark only serve Envoy: not sent
	// upstream. Only a filter of the chain sets them (the client's are
	// removed above), so each is named only when its filter is there.
	if t.marksDialect() {
		rc.RequestHeadersToRemove = append(rc.RequestHeadersToRemove, DialectHeader)
	}
	if t.tagsIPs() {
		rc.RequestHeadersToRemove = append(rc.RequestHeadersToRemove, IPTagsHeader)
	}
	if t.maxMockBody > defaultDirectResponseBodyBytes {
		rc.MaxDirectResponseBodySizeBytes = wrapperspb.UInt32(uint32(t.maxMockBody))
	}
	return rc
}

// internalOnlyHeaders are DialectHeader, IPTagsHeader and the identity
// headers (model.IdentityHeaders) strip_client_headers leaves, sorted.
func (t *translator) internalOnlyHeaders() []string {
	hs := []string{DialectHeader, IPTagsHeader}
	for _, h := range t.strippedExcept() {
		if slices.Contains(model.IdentityHeaders, h) {
			hs = append(hs, h)
		}
	}
	slices.Sort(hs)
	return hs
}

// groupDomains are the domains of g's virtual host (default "*").
func groupDomains(g *model.Group) []string {
	if len(g.Domains) == 0 {
		return []string{"*"}
	}
	return g.Domains
}

// checkDomains records g's domains in owners (lower-cased domain ->
// group), failing for a domain another group (or g itself) already has:
// Envoy refuses a route configuration in which two virtual hosts share a
// domain.
func (t *translator) checkDomains(g *model.Group, owners map[string]string) {
	for _, d := range groupDomains(g) {
		key := strings.ToLower(d)
		if other, dup := owners[key]; dup {
			if other == g.Name {
				t.fail("group %q: domain %q is listed twice", g.Name, d)
			} else {
				t.fail("group %q: domain %q is already used by group %q (Envoy needs each domain in one virtual host)", g.Name, d, other)
			}
			continue
		}
		owners[key] = g.Name
	}
}

// virtualHost builds the virtual host of a group: its API routes in the
// order of orderAPIs, then the catch-all (preceded by the miss routes in a
// tencent group with path environments).
func (t *translator) virtualHost(g *model.Group) *routev3.VirtualHost {
	vh := &routev3.VirtualHost{Name: g.Name, Domains: append([]string(nil), groupDomains(g)...)}
	t.markDialect(g, vh)
	// Paths a backend could read differently from Envoy (pathguard.go).
	vh.Routes = append(vh.Routes, t.pathGuardRoute(g))
	apis := orderAPIs(t, g)
	for _, api := range apis {
		vh.Routes = append(vh.Routes, t.apiRoutes(g, api)...)
	}
	if routeMisses(g) {
		// Tencent messages for each kind of miss (routemiss.go).
		vh.Routes = append(vh.Routes, t.missRoutes(g, apis)...)
	} else {
		vh.Routes = append(vh.Routes, t.notFoundRoute())
	}
	return vh
}

// apiRoutes returns the routes of one API: the CORS preflight route(s),
// then for each placement (environment, and path segment in a group with
// path environments) the backend-policy routes in order and the
// deployment's own route.
func (t *translator) apiRoutes(g *model.Group, api *model.API) []*routev3.Route {
	var routes []*routev3.Route
	pls := t.placements(g, api)
	var cors *anypb.Any
	if api.CORS != nil && len(pls) > 0 {
		cors = t.pack(t.corsPolicy(api))
		seen := map[string]bool{}
		for _, pl := range pls {
			if !seen[pl.seg] {
				seen[pl.seg] = true
				routes = append(routes, t.preflightRoute(api, pl, cors))
			}
		}
	}
	for _, pl := range pls {
		dep := api.Deployments[pl.env]
		if dep == nil {
			t.fail("group %q API %q: deployment in environment %q is nil", g.Name, api.Name, pl.env)
			continue
		}
		for i, p := range dep.Policies {
			match := t.baseMatch(api, pl)
			if !t.policyMatch(g, api, pl.env, p, match) {
				continue
			}
			name := p.Name
			if name == "" {
				name = "#" + strconv.Itoa(i)
			}
			r := t.route(g, api, pl, "backend policy "+strconv.Quote(name), pl.routeName(api)+"|policy:"+name, match, p.Backend, cors)
			if r != nil {
				routes = append(routes, r)
			}
		}
		if r := t.route(g, api, pl, "backend", pl.routeName(api), t.baseMatch(api, pl), dep.Backend, cors); r != nil {
			routes = append(routes, r)
		}
	}
	return routes
}

// placement is where a deployment is reachable: its environment and, in a
// group whose environments are selected by path, the first path segment.
type placement struct {
	env string
	seg string // "" when X-Stage selects the environment
}

// path is the request path the API is reachable at.
func (p placement) path(api *model.API) string {
	if p.seg == "" {
		return api.Path
	}
	return "/" + p.seg + api.Path
}

func (p placement) routeName(api *model.API) string {
	if p.seg == "" {
		return api.ID + "|" + p.env
	}
	return api.ID + "|" + p.env + "|/" + p.seg
}

// placements lists where api is reachable: with X-Stage, each environment
// it is published in (see envOrder); with path environments, each segment
// (by name) mapped to an environment it is published in.
func (t *translator) placements(g *model.Group, api *model.API) []placement {
	var out []placement
	if g.PathEnvironments == nil {
		for _, env := range t.envOrder(api) {
			out = append(out, placement{env: env})
		}
		return out
	}
	for _, seg := range slices.Sorted(maps.Keys(g.PathEnvironments)) {
		env := g.PathEnvironments[seg]
		if !validSegment(seg) {
			t.fail("group %q: path environment segment %q is not a path segment", g.Name, seg)
			continue
		}
		if _, ok := api.Deployments[env]; ok {
			out = append(out, placement{env: env, seg: seg})
		}
	}
	return out
}

// validSegment reports whether seg can be the first segment of a path.
func validSegment(seg string) bool {
	return seg != "" && !strings.ContainsAny(seg, "/?#% ")
}

// envOrder lists the environments of api: non-default ones by name, then
// the default one. The stage matchers make them disjoint, so the order only
// keeps the output stable and readable.
func (t *translator) envOrder(api *model.API) []string {
	envs := slices.Sorted(maps.Keys(api.Deployments))
	out := make([]string, 0, len(envs))
	hasDefault := false
	for _, e := range envs {
		if e == t.defaultEnv {
			hasDefault = true
			continue
		}
		out = append(out, e)
	}
	if hasDefault {
		out = append(out, t.defaultEnv)
	}
	return out
}

// preflightRoute answers CORS preflights for api in every environment:
// browsers send no X-Stage on a preflight (with path environments there is
// one preflight route per segment). The CORS filter answers every preflight
// of the route from its policy (forward_not_matching_preflights is off): an
// allowed origin gets the Access-Control-Allow-* headers, any other origin
// a 200 without them, which browsers refuse. ext_authz is off and the
// backend is never reached.
//
// The route must have a route action: Envoy's CORS filter ignores routes
// without one (a direct_response route), so the allowed preflights got the
// route's own reply. Its cluster is the undefined NotFoundCluster, reached
// only if the CORS filter does not answer.
func (t *translator) preflightRoute(api *model.API, pl placement, cors *anypb.Any) *routev3.Route {
	m := pathMatch(api, pl.path(api))
	acrm := presentHeader("access-control-request-method")
	if api.Method != model.MethodAny {
		acrm = exactHeader("access-control-request-method", api.Method)
	}
	m.Headers = []*routev3.HeaderMatcher{exactHeader(":method", "OPTIONS"), presentHeader("origin"), acrm}
	name := api.Key() + "|cors-preflight" // variants: one route each
	if pl.seg != "" {
		name += "|/" + pl.seg
	}
	return &routev3.Route{
		Name:  name,
		Match: m,
		Action: &routev3.Route_Route{Route: &routev3.RouteAction{
			ClusterSpecifier:            &routev3.RouteAction_Cluster{Cluster: NotFoundCluster},
			ClusterNotFoundResponseCode: routev3.RouteAction_NOT_FOUND,
		}},
		TypedPerFilterConfig: map[string]*anypb.Any{
			FilterCORS:     cors,
			FilterExtAuthz: t.authzOff(),
		},
	}
}

// notFoundRoute ends every virtual host: 404 APIG.0101 without calling
// Check. It routes to the undefined NotFoundCluster so that the reply
// carries the NC flag and goes through the APIG.0101 local-reply mapper
// (with the request id), which a direct_response could not.
func (t *translator) notFoundRoute() *routev3.Route {
	return &routev3.Route{
		Name:  "apigw.not_found",
		Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
		Action: &routev3.Route_Route{Route: &routev3.RouteAction{
			ClusterSpecifier:            &routev3.RouteAction_Cluster{Cluster: NotFoundCluster},
			ClusterNotFoundResponseCode: routev3.RouteAction_NOT_FOUND,
		}},
		TypedPerFilterConfig: map[string]*anypb.Any{FilterExtAuthz: t.authzOff()},
	}
}

// authzFor returns the ext_authz per-route configuration of a deployment:
// the context extensions that tell the Check service which API and
// environment matched.
func (t *translator) authzFor(api *model.API, env string) *anypb.Any {
	key := [2]string{api.ID, env}
	if a := t.authzPerRoute[key]; a != nil {
		return a
	}
	if !utf8.ValidString(api.ID) || !utf8.ValidString(env) {
		// What proto.Marshal would refuse (proto strings are UTF-8).
		t.fail("cannot marshal the ext_authz context extensions of API %q environment %q: invalid UTF-8", api.ID, env)
	}
	a := &anypb.Any{TypeUrl: extAuthzPerRouteURL, Value: contextExtensions(api.ID, env, t.bodyBuffering(api))}
	t.authzPerRoute[key] = a
	return a
}

// extAuthzPerRouteURL is the type URL of ExtAuthzPerRoute.
var extAuthzPerRouteURL = "type.googleapis.com/" + string((&extauthzv3.ExtAuthzPerRoute{}).ProtoReflect().Descriptor().FullName())

// contextExtensions encodes ExtAuthzPerRoute{check_settings{
// context_extensions{apigw.api: apiID, apigw.env: env}}} exactly as a
// deterministic proto.Marshal does (map entries sorted by key), without
// building and reflecting over the message. It is kept hand-encoded because
// there is one per deployment, so this is a measurable part of translating
// a large configuration: BenchmarkContextExtensions measured 381 ns,
// 5 allocs against 3,463 ns, 18 allocs for the message plus proto.Marshal
// (benchstat medians of 6 runs, shared 2-core AMD EPYC; an earlier
// measurement gave 257 ns against 1,727 ns). TestContextExtensionsEncoding
// checks the bytes against proto.Marshal.
//
// body, when not nil, is an encoded BufferSettings, appended as
// CheckSettings.with_request_body (field 3, after the map entries as
// proto.Marshal orders them).
func contextExtensions(apiID, env string, body []byte) []byte {
	entry := func(b []byte, k, v string) []byte {
		n := protowire.SizeTag(1) + protowire.SizeBytes(len(k)) + protowire.SizeTag(2) + protowire.SizeBytes(len(v))
		b = protowire.AppendTag(b, 1, protowire.BytesType) // CheckSettings.context_extensions
		b = protowire.AppendVarint(b, uint64(n))
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, k)
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		return protowire.AppendString(b, v)
	}
	keys := [2][2]string{{model.ContextKeyAPI, apiID}, {model.ContextKeyEnv, env}}
	if keys[1][0] < keys[0][0] {
		keys[0], keys[1] = keys[1], keys[0]
	}
	var cs []byte
	for _, kv := range keys {
		cs = entry(cs, kv[0], kv[1])
	}
	if body != nil {
		cs = protowire.AppendTag(cs, 3, protowire.BytesType) // CheckSettings.with_request_body
		cs = protowire.AppendBytes(cs, body)
	}
	b := make([]byte, 0, len(cs)+8)
	b = protowire.AppendTag(b, 2, protowire.BytesType) // ExtAuthzPerRoute.check_settings
	return protowire.AppendBytes(b, cs)
}

// routeFilters returns the per-filter configuration of the routes of a
// deployment: ext_authz (authzFor) and, with CORS, the API's policy. All
// routes of the deployment share the one map, read-only.
func (t *translator) routeFilters(api *model.API, env string, cors *anypb.Any) map[string]*anypb.Any {
	key := [2]string{api.ID, env}
	if m := t.routeFilterMaps[key]; m != nil {
		return m
	}
	m := map[string]*anypb.Any{FilterExtAuthz: t.authzFor(api, env)}
	if cors != nil {
		m[FilterCORS] = cors
	}
	t.routeFilterMaps[key] = m
	return m
}

func (t *translator) authzOff() *anypb.Any {
	return t.shared("authz_off", func() proto.Message {
		return &extauthzv3.ExtAuthzPerRoute{Override: &extauthzv3.ExtAuthzPerRoute_Disabled{Disabled: true}}
	})
}

// route builds the route of a deployment or policy: match, per-filter
// configuration and the backend action, with the deployment's rate limits.
func (t *translator) route(g *model.Group, api *model.API, pl placement, what, name string, m *routev3.RouteMatch, b model.Backend, cors *anypb.Any) *routev3.Route {
	env := pl.env
	r := &routev3.Route{
		Name:                 name,
		Match:                m,
		TypedPerFilterConfig: t.routeFilters(api, env, cors),
	}
	where := func() string {
		return "group " + strconv.Quote(g.Name) + " API " + strconv.Quote(api.Name) + " (environment " + env + ") " + what
	}
	switch b.Kind {
	case model.BackendMock:
		// No rate limits: Envoy's rate-limit filter only acts on routes
		// with a route action (and cluster), which a direct_response has
		// not (docs/xds.md, limitations).
		if b.Mock == nil {
			t.fail("%s: mock backend without a response", where())
			return nil
		}
		r.Action = t.mockAction(b.Mock)
		r.ResponseHeadersToAdd = mockHeaders(b.Mock.Headers)
		return r
	case model.BackendURL:
		cluster, host, err := t.urlCluster(b.URL)
		if err != nil {
			t.fail("%s: %v", where(), err)
			return nil
		}
		a := t.routeAction(api, pl, b, cluster)
		a.RateLimits = t.rateLimitsFor(api, env)
		r.RequestHeadersToAdd = parameterHeaders(api, env)
		if b.HostHeader == "" {
			b.HostHeader = host
		}
		a.HostRewriteSpecifier = &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: b.HostHeader}
		r.Action = &routev3.Route_Route{Route: a}
		return r
	case model.BackendChannel:
		ch := t.snap.Channels[b.Channel]
		if ch == nil {
			t.fail("%s: channel %q is not defined", where(), b.Channel)
			return nil
		}
		cluster, err := t.channelCluster(ch)
		if err != nil {
			t.fail("%s: %v", where(), err)
			return nil
		}
		a := t.routeAction(api, pl, b, cluster)
		a.RateLimits = t.rateLimitsFor(api, env)
		r.RequestHeadersToAdd = parameterHeaders(api, env)
		if b.HostHeader != "" {
			a.HostRewriteSpecifier = &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: b.HostHeader}
		}
		if ch.LBPolicy == model.LBRingHash {
			a.HashPolicy = []*routev3.RouteAction_HashPolicy{{PolicySpecifier: &routev3.RouteAction_HashPolicy_ConnectionProperties_{
				ConnectionProperties: &routev3.RouteAction_HashPolicy_ConnectionProperties{SourceIp: true},
			}}}
		}
		r.Action = &routev3.Route_Route{Route: a}
		return r
	}
	t.fail("%s: unknown backend kind %d", where(), b.Kind)
	return nil
}

func (t *translator) mockAction(m *model.Mock) *routev3.Route_DirectResponse {
	dr := &routev3.DirectResponseAction{Status: m.Status}
	switch {
	case m.Body == "":
	case utf8.ValidString(m.Body):
		dr.Body = &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: m.Body}}
	default: // not text: proto strings must be UTF-8
		dr.Body = &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: []byte(m.Body)}}
	}
	t.maxMockBody = max(t.maxMockBody, len(m.Body))
	return &routev3.Route_DirectResponse{DirectResponse: dr}
}

func mockHeaders(h map[string]string) []*corev3.HeaderValueOption {
	var out []*corev3.HeaderValueOption
	for _, k := range slices.Sorted(maps.Keys(h)) {
		out = append(out, &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: k, Value: h[k]},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
		})
	}
	return out
}
