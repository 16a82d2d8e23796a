package xds

import (
	"maps"
	"regexp"
	"slices"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	headertometadatav3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_to_metadata/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/apigwio/apigw/internal/apigerr"
	"github.com/apigwio/apigw/internal/model"
)

// Tencent routing misses. In a group with the tencent dialect, a request
// no API route takes gets 404 with one of
//
//	{"message": "There is no api match method[<METHOD>]"}      path of an API, not its method
//	{"message": "There is no api match uri[<path after the segment>]"}  mapped segment, no API path
//	{"message": "There is no api match env_mapping[<first segment>]"}   segment not mapped
//
// with path environments, and without them (X-Stage selects the
// environment) one of
//
//	{"message": "There is no api match method[<METHOD>]"}  path of an API in that environment, not its method
//	{"message": "There is no api match uri[<path>]"}       any other request
//
// The virtual host ends with miss routes instead of the one catch-all:
// after all API routes, one route per API path and segment (or
// environment) without the method matcher, then one prefix route per
// mapped segment, then the catch-all. Like the catch-all they route to the undefined NotFoundCluster
// (404, flag NC) with ext_authz off. Envoy's formatter cannot cut a path
// into segments, and a route's request_headers_to_add are only applied
// once the cluster is found, so each miss route instead gives the
// header_to_metadata filter (per-route configuration) a rule that rewrites
// :path or :method with a regex into the whole message, stored in dynamic
// metadata (RouteMissNamespace, key "message"); one local-reply mapper
// answers NC replies that have it with {"message": <it>}.
const (
	// FilterHeaderToMetadata is the header_to_metadata HTTP filter name,
	// present only when a tencent group has path environments. Its
	// listener-level configuration is empty: only the miss routes' own
	// configurations do anything.
	FilterHeaderToMetadata = "envoy.filters.http.header_to_metadata"
	// RouteMissNamespace is the dynamic-metadata namespace of the message
	// of a tencent routing miss.
	RouteMissNamespace = "apigw.route_miss"
	// routeMissKey is the metadata key of the message.
	routeMissKey = "message"
)

// routeMisses reports whether g answers routing misses with the tencent
// messages (rather than the catch-all's APIG.0101).
func routeMisses(g *model.Group) bool {
	return g.Dialect == apigerr.Tencent
}

// missRoutes returns the miss routes of a tencent group, to follow all its
// API routes (apis in route order):
//
//  1. for each API path and segment (with path environments) or
//     environment (without) where an API is published, in API order, and
//     that no ANY API covers: the path (and the environment's X-Stage
//     matcher) without the method matcher, "method[<method>]";
//  2. with path environments, for each mapped segment (by name):
//     path_separated_prefix "/<segment>", "uri[<rest of the path, without
//     the query>]";
//  3. the catch-all: "env_mapping[<first segment>]" with path
//     environments, "uri[<path, without the query>]" without.
func (t *translator) missRoutes(g *model.Group, apis []*model.API) []*routev3.Route {
	t.routeMisses = true
	type pathKey struct {
		match model.MatchKind
		path  string
		env   string // with X-Stage only: the stage is part of the match
	}
	key := func(api *model.API, pl placement) pathKey {
		k := pathKey{match: api.Match, path: pl.path(api)}
		if pl.seg == "" {
			k.env = pl.env
		}
		return k
	}
	covered := map[pathKey]bool{} // ANY APIs take every method
	for _, api := range apis {
		if api.Method == model.MethodAny {
			for _, pl := range t.placements(g, api) {
				covered[key(api, pl)] = true
			}
		}
	}
	var routes []*routev3.Route
	for _, api := range apis {
		for _, pl := range t.placements(g, api) {
			k := key(api, pl)
			if covered[k] {
				continue
			}
			covered[k] = true
			name, m := "apigw.not_found|method|"+k.path, pathMatch(api, k.path)
			if pl.seg == "" {
				name += "|" + pl.env
				m.Headers = []*routev3.HeaderMatcher{t.stageHeader(pl.env)}
			}
			routes = append(routes, t.missRoute(name, m, t.missMethodRule()))
		}
	}
	for _, seg := range slices.Sorted(maps.Keys(g.PathEnvironments)) {
		if !validSegment(seg) {
			continue // refused by placements
		}
		m := &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: "/" + seg}}
		routes = append(routes, t.missRoute("apigw.not_found|uri|/"+seg, m, t.missURIRule(seg)))
	}
	last := t.missEnvRule()
	if g.PathEnvironments == nil {
		last = t.missPathRule()
	}
	catchAll := t.notFoundRoute()
	catchAll.TypedPerFilterConfig = map[string]*anypb.Any{FilterExtAuthz: t.authzOff(), FilterHeaderToMetadata: last}
	return append(routes, catchAll)
}

// missRoute is a catch-all-like route (404 NC, ext_authz off) whose
// header_to_metadata rule leaves the miss message in dynamic metadata.
func (t *translator) missRoute(name string, m *routev3.RouteMatch, rule *anypb.Any) *routev3.Route {
	r := t.notFoundRoute()
	r.Name, r.Match = name, m
	r.TypedPerFilterConfig = map[string]*anypb.Any{FilterExtAuthz: t.authzOff(), FilterHeaderToMetadata: rule}
	return r
}

// missMethodRule: "There is no api match method[<:method>]".
func (t *translator) missMethodRule() *anypb.Any {
	return t.shared("miss_method", func() proto.Message {
		return missRule(":method", `^(.*)$`, "There is no api match method[\\1]")
	})
}

// missURIRule: "There is no api match uri[<path after /seg, no query>]".
func (t *translator) missURIRule(seg string) *anypb.Any {
	return t.shared("miss_uri/"+seg, func() proto.Message {
		return missRule(":path", `^/`+regexp.QuoteMeta(seg)+`([^?]*)(?:\?.*)?$`, "There is no api match uri[\\1]")
	})
}

// missPathRule: "There is no api match uri[<path, no query>]".
func (t *translator) missPathRule() *anypb.Any {
	return t.shared("miss_path", func() proto.Message {
		return missRule(":path", `^([^?]*)(?:\?.*)?$`, "There is no api match uri[\\1]")
	})
}

// missEnvRule: "There is no api match env_mapping[<first segment>]".
func (t *translator) missEnvRule() *anypb.Any {
	return t.shared("miss_env", func() proto.Message {
		return missRule(":path", `^/?([^/?]*)(?:[/?].*)?$`, "There is no api match env_mapping[\\1]")
	})
}

// missRule stores the regex rewrite of header (the whole value must match;
// RE2 syntax, "\1" is the first group) as the miss message. (?s) lets "."
// match any byte, so that no path escapes the pattern (an unmatched value
// would be stored unchanged).
func missRule(header, pattern, substitution string) *headertometadatav3.Config {
	return &headertometadatav3.Config{RequestRules: []*headertometadatav3.Config_Rule{{
		Header: header,
		OnHeaderPresent: &headertometadatav3.Config_KeyValuePair{
			MetadataNamespace: RouteMissNamespace,
			Key:               routeMissKey,
			RegexValueRewrite: &matcherv3.RegexMatchAndSubstitute{
				Pattern:      &matcherv3.RegexMatcher{Regex: "(?s)" + pattern},
				Substitution: substitution,
			},
			Type: headertometadatav3.Config_STRING,
		},
	}}}
}

// routeMissMapper answers a miss route's 404 (NC) with the message its
// header_to_metadata rule stored. Without it (e.g. a value over the
// filter's length limit) the tencent catch-all mapper that follows answers.
func routeMissMapper() *hcmv3.ResponseMapper {
	present := &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_MetadataFilter{MetadataFilter: &accesslogv3.MetadataFilter{
		Matcher: &matcherv3.MetadataMatcher{
			Filter: RouteMissNamespace,
			Path:   []*matcherv3.MetadataMatcher_PathSegment{{Segment: &matcherv3.MetadataMatcher_PathSegment_Key{Key: routeMissKey}}},
			Value:  &matcherv3.ValueMatcher{MatchPattern: &matcherv3.ValueMatcher_PresentMatch{PresentMatch: true}},
		},
		MatchIfKeyNotFound: wrapperspb.Bool(false),
	}}}
	return &hcmv3.ResponseMapper{
		Filter:     andFilter(flagFilter("NC"), present),
		StatusCode: wrapperspb.UInt32(uint32(apigerr.APINotFound.Status)),
		BodyFormatOverride: jsonBody(map[string]*structpb.Value{
			"message": structpb.NewStringValue("%DYNAMIC_METADATA(" + RouteMissNamespace + ":" + routeMissKey + ")%"),
		}),
	}
}
