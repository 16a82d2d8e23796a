package xds

import (
	"fmt"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/apigwio/apigw/internal/apigerr"
	"github.com/apigwio/apigw/ratelimit"
	"github.com/apigwio/apigw/ratelimit/throttle"
)

// requestIDFormat is the Envoy command operator for the request id.
const requestIDFormat = "%REQ(X-REQUEST-ID)%"

// localReplyConfig rewrites Envoy's own replies into the gateway's JSON
// error body. Mappers are tried in order and the first match wins:
//
//   - UAEX (an ext_authz denial or a Check error): a denial already carries
//     the Check service's body (in the group's dialect) and is passed
//     through unchanged; a Check error (503 from status_on_error, a status
//     no denial uses) gets APIG.0601.
//   - RL (the rate-limit filter's 429): 429 APIG.0308; tencent
//     "API quota exceeded." when the exceeded limit is a usage plan's quota
//     (named in the rate-limit service's dynamic metadata), else
//     "API rate limit exceeded.". The X-RateLimit-* headers stay: Envoy
//     adds the filter's headers to the reply before the mapper rewrites
//     its status and body, and a mapper never removes headers.
//   - RLSE (rate-limit service unreachable with failure_mode closed: 503
//     from the filter's status_on_error): APIG.0601.
//   - tencent routing misses of groups with path environments (the route
//     left the message in dynamic metadata, see routemiss.go): 404 with
//     that message.
//   - Envoy's 400 to an encoded slash in the path
//     (path_with_escaped_slashes_action, told apart by its response code
//     details with a CEL filter): APIG.0201 naming the path (pathguard.go).
//   - Envoy's 403 to an Upgrade on a route that does not allow it (an API
//     without websocket: true; response code details upgrade_failed):
//     400 APIG.0201 "the API does not accept a WebSocket upgrade".
//   - NR (no virtual host or route matched) and NC (the catch-all route's
//     deliberately missing cluster): 404 APIG.0101.
//   - UH (no healthy upstream): 502 APIG.0610.
//   - UF, UC, UR (connect failure, connection termination, remote reset
//     before the response): 502 APIG.0202.
//   - UT (route timeout): 504 APIG.0203.
//   - any other 413 (body over the ext_authz buffer limit): APIG.0201.
//   - 431 (request headers over max_request_headers_kb, answered by the
//     HTTP codec with a text/plain body and no response flag): 494
//     APIG.0201 "Request headers too large."; its request_id is null, the
//     request having no headers yet.
//
// Each has a tencent-dialect variant first ({"message": ...}, same status)
// for requests marked with DialectHeader, when a group uses that dialect.
// Matching on response flags keeps mock (direct_response) replies intact:
// they carry no flag. The exceptions are a mock that answers 413 or 431,
// which gets the gateway's 413 or 494 body.
func (t *translator) localReplyConfig() *hcmv3.LocalReplyConfig {
	rules := []struct {
		filter   *accesslogv3.AccessLogFilter
		code     apigerr.Code
		override bool   // set the status (otherwise it is already right)
		tencent  string // the tencent message, when not the APIG one
	}{
		{andFilter(flagFilter("UAEX"), statusFilter(503)), apigerr.InternalError, false, ""},
		{flagFilter("UAEX"), apigerr.Code{}, false, ""}, // denial: keep the Check service's body
		{flagFilter("RL"), apigerr.Throttled, true, tencentRateLimited},
		{flagFilter("RLSE"), apigerr.InternalError, false, ""},
		{t.pathNormalizationFailed(), pathRejected, false, ""},
		{t.upgradeFailed(), upgradeRefused, true, ""},
		{flagFilter("NR", "NC"), apigerr.APINotFound, true, ""},
		{flagFilter("UH"), apigerr.NoBackendAvailable, true, ""},
		{flagFilter("UF", "UC", "UR"), apigerr.BackendUnavailable, true, ""},
		{flagFilter("UT"), apigerr.BackendTimeout, true, ""},
		{statusFilter(413), apigerr.RequestEntityTooLarge, true, ""},
		{statusFilter(431), apigerr.RequestHeadersTooLarge, true, ""},
	}
	cfg := &hcmv3.LocalReplyConfig{}
	for _, r := range rules {
		if r.code.ID == "" {
			cfg.Mappers = append(cfg.Mappers, &hcmv3.ResponseMapper{Filter: r.filter})
			continue
		}
		// Groups bound to a gateway response set (responses.go).
		cfg.Mappers = append(cfg.Mappers, t.responseSetMappers(r.filter, r.code, r.override)...)
		if r.code == apigerr.APINotFound && t.routeMisses {
			// Tencent routing misses carry their own message (routemiss.go).
			cfg.Mappers = append(cfg.Mappers, routeMissMapper())
		}
		if r.code == apigerr.Throttled && t.tencent {
			// A usage plan's quota: the rate-limit service names the limit
			// it enforced in dynamic metadata (ratelimit.MetadataOverLimit).
			cfg.Mappers = append(cfg.Mappers, mapper(andFilter(r.filter, tencentFilter(), quotaFilter()), r.code, r.override, tencentBody(tencentQuotaExceeded)))
		}
		if t.tencent {
			msg := r.tencent
			if msg == "" {
				msg = r.code.Message
			}
			cfg.Mappers = append(cfg.Mappers, mapper(andFilter(r.filter, tencentFilter()), r.code, r.override, tencentBody(msg)))
		}
		cfg.Mappers = append(cfg.Mappers, mapper(r.filter, r.code, r.override, apigBody(r.code)))
	}
	return cfg
}

// Tencent messages of a 429 from the rate-limit filter: a usage plan's
// quota, told apart by the name of the exceeded limit the rate-limit
// service returns in dynamic metadata, and every other limit.
const (
	tencentRateLimited   = "API rate limit exceeded."
	tencentQuotaExceeded = "API quota exceeded."
)

// quotaFilter matches replies whose exceeded limit is a usage-plan quota.
func quotaFilter() *accesslogv3.AccessLogFilter {
	return &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_MetadataFilter{
		MetadataFilter: &accesslogv3.MetadataFilter{Matcher: &matcherv3.MetadataMatcher{
			Filter: "envoy.filters.http.ratelimit",
			Path:   []*matcherv3.MetadataMatcher_PathSegment{{Segment: &matcherv3.MetadataMatcher_PathSegment_Key{Key: ratelimit.MetadataOverLimit}}},
			Value: &matcherv3.ValueMatcher{MatchPattern: &matcherv3.ValueMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
				MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: throttle.QuotaLimitPrefix},
			}}},
		}},
	}}
}

func mapper(f *accesslogv3.AccessLogFilter, c apigerr.Code, override bool, body *corev3.SubstitutionFormatString) *hcmv3.ResponseMapper {
	m := &hcmv3.ResponseMapper{Filter: f, BodyFormatOverride: body}
	if override {
		m.StatusCode = wrapperspb.UInt32(uint32(c.Status))
	}
	return m
}

// apigBody renders {"error_code","error_msg","request_id"} with Envoy's JSON
// formatter, which escapes the request id.
func apigBody(c apigerr.Code) *corev3.SubstitutionFormatString {
	return apigBodyMsg(c.ID, c.Message)
}

// apigBodyMsg is apigBody with a message of its own.
func apigBodyMsg(id, msg string) *corev3.SubstitutionFormatString {
	return jsonBody(map[string]*structpb.Value{
		"error_code": structpb.NewStringValue(id),
		"error_msg":  structpb.NewStringValue(msg),
		"request_id": structpb.NewStringValue(requestIDFormat),
	})
}

// tencentBody renders {"message"}, the tencent dialect.
func tencentBody(message string) *corev3.SubstitutionFormatString {
	return jsonBody(map[string]*structpb.Value{"message": structpb.NewStringValue(message)})
}

func jsonBody(fields map[string]*structpb.Value) *corev3.SubstitutionFormatString {
	return &corev3.SubstitutionFormatString{
		Format:      &corev3.SubstitutionFormatString_JsonFormat{JsonFormat: &structpb.Struct{Fields: fields}},
		ContentType: "application/json",
	}
}

// tencentFilter matches requests marked with the tencent dialect: by the
// mark copied into dynamic metadata (markFilter) for requests that went
// upstream, whose DialectHeader the router removed (backend failures and
// timeouts), or by the header itself on the miss routes, whose per-route
// header_to_metadata rules replace the copy.
func tencentFilter() *accesslogv3.AccessLogFilter {
	return &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_OrFilter{OrFilter: &accesslogv3.OrFilter{
		Filters: []*accesslogv3.AccessLogFilter{
			markFilter(dialectTencent),
			{FilterSpecifier: &accesslogv3.AccessLogFilter_HeaderFilter{
				HeaderFilter: &accesslogv3.HeaderFilter{Header: exactHeader(DialectHeader, dialectTencent)},
			}},
		},
	}}}
}

func flagFilter(flags ...string) *accesslogv3.AccessLogFilter {
	return &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_ResponseFlagFilter{
		ResponseFlagFilter: &accesslogv3.ResponseFlagFilter{Flags: flags},
	}}
}

func statusFilter(code uint32) *accesslogv3.AccessLogFilter {
	return &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_StatusCodeFilter{
		StatusCodeFilter: &accesslogv3.StatusCodeFilter{Comparison: &accesslogv3.ComparisonFilter{
			Op: accesslogv3.ComparisonFilter_EQ,
			Value: &corev3.RuntimeUInt32{
				DefaultValue: code,
				RuntimeKey:   fmt.Sprintf("apigw.local_reply.status_%d", code),
			},
		}},
	}}
}

func andFilter(fs ...*accesslogv3.AccessLogFilter) *accesslogv3.AccessLogFilter {
	return &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_AndFilter{
		AndFilter: &accesslogv3.AndFilter{Filters: fs},
	}}
}
