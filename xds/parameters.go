package xds

// Parameters on Envoy's side (docs/xds.md, "Parameters"): an API path with
// {name} segments matches with a URI template; the backend path, with its
// path parameters renamed to the request's path variables and constants
// filled in, is the URI template rewrite; the header parameters Envoy
// knows per route or formats itself (constants, the client address, the
// request id, the start time, the API and stage) are the route's
// request_headers_to_add. Everything else Check sets (authz/parameters.go).

import (
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	uritemplatematchv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/path/match/uri_template/v3"
	uritemplaterewritev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/path/rewrite/uri_template/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/apigwio/apigw/internal/model"
)

// Envoy's URI template extensions.
const (
	uriTemplateMatcher  = "envoy.path.match.uri_template.uri_template_matcher"
	uriTemplateRewriter = "envoy.path.rewrite.uri_template.uri_template_rewriter"
)

// pathTemplated reports whether api's path has {name} segments (an exact
// API with path parameters: validation refuses them elsewhere).
func pathTemplated(api *model.API) bool {
	if api.Match != model.MatchExact || api.Parameters == nil {
		return false
	}
	for _, p := range api.Parameters.Request {
		if p.In == model.InPath {
			return true
		}
	}
	return false
}

// typedExtension packs m as the extension name. The messages are valid
// by construction: a marshal failure is a bug.
func typedExtension(name string, m proto.Message) *corev3.TypedExtensionConfig {
	a, err := anypb.New(m)
	if err != nil {
		panic("xds: cannot pack " + name + ": " + err.Error())
	}
	return &corev3.TypedExtensionConfig{Name: name, TypedConfig: a}
}

// uriTemplateMatch matches path, a URI template such as /orders/{id}.
func uriTemplateMatch(path string) *routev3.RouteMatch_PathMatchPolicy {
	return &routev3.RouteMatch_PathMatchPolicy{PathMatchPolicy: typedExtension(uriTemplateMatcher,
		&uritemplatematchv3.UriTemplateMatchConfig{PathTemplate: path})}
}

// backendPathTemplate is target (a backend path) with each {name} of a
// backend path parameter replaced: by {variable} of the request path
// parameter it comes from, or by its constant.
func backendPathTemplate(ps *model.Parameters, target string) string {
	if ps == nil || !strings.Contains(target, "{") {
		return target
	}
	for _, b := range ps.Backend {
		if b.In != model.InPath {
			continue
		}
		with := b.Value
		if b.Source == model.FromRequest {
			with = "{" + b.From + "}"
		}
		target = strings.ReplaceAll(target, "{"+b.Name+"}", with)
	}
	return target
}

// parameterRewrite replaces the path rewrite of a routes whose API path or
// backend path has parameters (target: the backend path, "" keeps the
// request path): Envoy refuses prefix rewrites on URI-template routes.
func parameterRewrite(api *model.API, a *routev3.RouteAction, target string) {
	if api.Parameters == nil || target == "" {
		return
	}
	target = backendPathTemplate(api.Parameters, target)
	if !pathTemplated(api) {
		if a.PrefixRewrite != "" {
			a.PrefixRewrite = target // constants filled in (exact API)
		}
		return
	}
	a.PrefixRewrite, a.RegexRewrite = "", nil
	a.PathRewritePolicy = typedExtension(uriTemplateRewriter, &uritemplaterewritev3.UriTemplateRewriteConfig{PathTemplateRewrite: target})
}

// parameterHeaders are the backend header parameters Envoy sets on the
// routes of api in env (model.BackendParameter.SetByEnvoy).
func parameterHeaders(api *model.API, env string) []*corev3.HeaderValueOption {
	if api.Parameters == nil {
		return nil
	}
	var out []*corev3.HeaderValueOption
	for i := range api.Parameters.Backend {
		b := &api.Parameters.Backend[i]
		if b.In != model.InHeader || !b.SetByEnvoy() {
			continue
		}
		var v string
		switch {
		case b.Source == model.FromConstant:
			v = escapeFormatter(b.Value)
		case b.System == model.SystemSourceIP:
			v = "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"
		case b.System == model.SystemRequestID:
			v = "%REQ(X-REQUEST-ID)%"
		case b.System == model.SystemMethod:
			v = "%REQ(:METHOD)%"
		case b.System == model.SystemServerTime:
			v = "%START_TIME(%s%3f)%" // Unix milliseconds
		case b.System == model.SystemAPIID:
			v = escapeFormatter(api.ID)
		case b.System == model.SystemAPIName:
			v = escapeFormatter(api.Name)
		case b.System == model.SystemGroup:
			v = escapeFormatter(api.Group)
		case b.System == model.SystemStage:
			v = escapeFormatter(env)
		default:
			continue
		}
		out = append(out, &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: b.Name, Value: v},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
		})
	}
	return out
}

// escapeFormatter escapes s for an Envoy header value, where % starts a
// command operator.
func escapeFormatter(s string) string { return strings.ReplaceAll(s, "%", "%%") }
