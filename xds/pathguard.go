package xds

import (
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	celv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/filters/cel/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/apigwio/apigw/internal/apigerr"
	"github.com/apigwio/apigw/internal/model"
)

// Path confusion guard.
//
// Envoy routes on the normalised path (normalize_path, merge_slashes) and
// rejects encoded slashes (%2F, %5C: path_with_escaped_slashes_action
// REJECT_REQUEST), but backends may still decode or interpret what Envoy
// leaves alone: Tomcat and Spring strip ";" path parameters
// (/public/..;/admin is /admin to them), some servers read "\" as "/", and
// an encoded dot (%2e) may be decoded into a dot segment after Envoy
// normalised the path. A prefix API with auth none would then hand a
// stricter API's path to a backend that serves both. The first route of
// every virtual host answers such paths with 400 APIG.0201 before Check
// and before any backend.

// PathRejectedDetail is the detail of the 400 APIG.0201 answer to a path
// the gateway refuses.
const PathRejectedDetail = `the path contains ";", a backslash, or an encoded slash, backslash or dot`

// unsafePathRegex matches a path (route matchers see it without the query
// string) containing ";", "\" or an encoded ".", "/" or "\". The encoded
// slashes are already refused by the listener; they are listed so that the
// route holds on its own.
const unsafePathRegex = `.*(?:;|\\|%2[eEfF]|%5[cC]).*`

// PathRejectedRouteName is the name of the guard route.
const PathRejectedRouteName = "apigw.path_rejected"

// pathGuardRoute is the first route of a virtual host: a direct 400 with
// the APIG (or tencent) body for paths matching unsafePathRegex. Check is
// not called. Its reply carries no response flag, so no local-reply mapper
// touches it.
func (t *translator) pathGuardRoute(g *model.Group) *routev3.Route {
	body := apigBody(pathRejected)
	if g.Dialect == apigerr.Tencent {
		body = tencentBody(pathRejected.Message)
	}
	return &routev3.Route{
		Name: PathRejectedRouteName,
		Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{
			Regex: unsafePathRegex,
		}}},
		Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{
			Status:     uint32(pathRejected.Status),
			BodyFormat: body,
		}},
		TypedPerFilterConfig: map[string]*anypb.Any{FilterExtAuthz: t.authzOff()},
	}
}

// pathRejected is the answer to a refused path: 400 APIG.0201 with
// PathRejectedDetail.
var pathRejected = apigerr.Code{
	ID:      apigerr.RequestError.ID,
	Status:  apigerr.RequestError.Status,
	Message: apigerr.WithDetail(apigerr.RequestError, PathRejectedDetail).Msg(),
}

// pathNormalizationFailed matches Envoy's own 400 to an encoded slash
// (path_with_escaped_slashes_action REJECT_REQUEST), which carries no
// response flag: it is told apart by its response code details.
func (t *translator) pathNormalizationFailed() *accesslogv3.AccessLogFilter {
	return t.codeDetailsFilter("path_normalization_failed")
}

// upgradeFailed matches Envoy's own 403 to an Upgrade (WebSocket) request
// on a route that does not allow it (an API without websocket: true): it
// carries no response flag either, and no Check ran.
func (t *translator) upgradeFailed() *accesslogv3.AccessLogFilter {
	return t.codeDetailsFilter("upgrade_failed")
}

// upgradeRefused is the answer to such an Upgrade: 400 APIG.0201.
var upgradeRefused = apigerr.Code{
	ID:      apigerr.RequestError.ID,
	Status:  apigerr.RequestError.Status,
	Message: apigerr.WithDetail(apigerr.RequestError, UpgradeRefusedDetail).Msg(),
}

// UpgradeRefusedDetail is the detail of the 400 APIG.0201 answer to an
// Upgrade request for an API without websocket: true.
const UpgradeRefusedDetail = "the API does not accept a WebSocket upgrade"

// codeDetailsFilter matches replies whose response code details are
// details, with the CEL access-log filter.
func (t *translator) codeDetailsFilter(details string) *accesslogv3.AccessLogFilter {
	return &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_ExtensionFilter{
		ExtensionFilter: &accesslogv3.ExtensionFilter{
			Name: "envoy.access_loggers.extension_filters.cel",
			ConfigType: &accesslogv3.ExtensionFilter_TypedConfig{TypedConfig: t.pack(&celv3.ExpressionFilter{
				Expression: "response.code_details == '" + details + "'",
			})},
		},
	}}
}
