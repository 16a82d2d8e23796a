package xds

import (
	"regexp"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/apigwio/apigw/internal/model"
)

// pathMatch matches path, the API path (with its environment segment in a
// group with path environments). A prefix ending in "/" is a plain prefix
// ("/orders/" matches "/orders/1", not "/orders"); any other prefix is
// path-separated ("/test" matches "/test" and "/test/x", not "/testing").
func pathMatch(api *model.API, path string) *routev3.RouteMatch {
	m := &routev3.RouteMatch{}
	switch {
	case pathTemplated(api):
		m.PathSpecifier = uriTemplateMatch(path)
	case api.Match == model.MatchExact:
		m.PathSpecifier = &routev3.RouteMatch_Path{Path: path}
	case strings.HasSuffix(path, "/"):
		m.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: path}
	default:
		m.PathSpecifier = &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: path}
	}
	return m
}

// baseMatch matches the path, the method and the environment of a
// deployment: the stage header, or the path segment in a group with path
// environments (where X-Stage plays no part).
func (t *translator) baseMatch(api *model.API, pl placement) *routev3.RouteMatch {
	m := pathMatch(api, pl.path(api))
	if api.Method != model.MethodAny {
		m.Headers = append(m.Headers, t.sharedHeader("method", api.Method, func() *routev3.HeaderMatcher {
			return exactHeader(":method", api.Method)
		}))
	}
	if pl.seg == "" {
		m.Headers = append(m.Headers, t.stageHeader(pl.env))
	}
	return m
}

// stageHeader is the one (shared, read-only) stageMatcher of env.
func (t *translator) stageHeader(env string) *routev3.HeaderMatcher {
	return t.sharedHeader("stage", env, func() *routev3.HeaderMatcher { return t.stageMatcher(env) })
}

// stageMatcher selects the environment. A non-default environment needs
// "X-Stage: <name>"; the default one matches when X-Stage is absent, empty
// or names the default environment (so "X-Stage: RELEASE" is the default
// environment, not a 404). Names are case-sensitive.
func (t *translator) stageMatcher(env string) *routev3.HeaderMatcher {
	if env != t.defaultEnv {
		return exactHeader(model.StageHeader, env)
	}
	return &routev3.HeaderMatcher{
		Name:                      model.StageHeader,
		TreatMissingHeaderAsEmpty: true,
		HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: regexMatcher(
			"^(?:" + regexp.QuoteMeta(env) + ")?$")},
	}
}

func exactHeader(name, value string) *routev3.HeaderMatcher {
	return &routev3.HeaderMatcher{Name: name, HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{
		StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: value}},
	}}
}

func presentHeader(name string) *routev3.HeaderMatcher {
	return &routev3.HeaderMatcher{Name: name, HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}}
}

// regexMatcher matches with RE2; Envoy requires the whole value to match.
func regexMatcher(re string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: re}}}
}

// valuesMatcher matches exactly one of values.
func valuesMatcher(values []string) *matcherv3.StringMatcher {
	if len(values) == 1 {
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: values[0]}}
	}
	return regexMatcher(regexpAlternation(values))
}
