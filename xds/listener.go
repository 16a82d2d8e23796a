package xds

import (
	"maps"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	mutationv3 "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	iptaggingv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ip_tagging/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/apigwio/apigw/internal/model"
)

// adsConfigSource points at the ADS stream the resources came from.
func adsConfigSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
}

// listener builds the HTTP listener. It must run after routeConfig, which
// records whether IP tagging and route-cache clearing are needed.
func (t *translator) listener() *listenerv3.Listener {
	l := t.snap.Listener
	addr, err := netip.ParseAddr(l.Address)
	if err != nil || l.Port == 0 || l.Port > math.MaxUint16 {
		t.fail("listener: %q port %d is not an IP address and port", l.Address, l.Port)
		return nil
	}
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix: StatPrefix,
		CodecType:  hcmv3.HttpConnectionManager_AUTO,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource:    adsConfigSource(),
			RouteConfigName: RouteConfigName,
		}},
		// Before route selection and any filter: the client's x-apig-*
		// headers removed (strip.go).
		EarlyHeaderMutationExtensions: []*corev3.TypedExtensionConfig{t.stripClientHeaders()},
		HttpFilters:                   t.httpFilters(),
		// The client address is the peer, or the XFF entry N hops from the
		// right when N proxies in front of Envoy are trusted.
		UseRemoteAddress:             wrapperspb.Bool(true),
		XffNumTrustedHops:            l.XFFNumTrustedHops,
		GenerateRequestId:            wrapperspb.Bool(true),
		AlwaysSetRequestIdInResponse: true,
		// Routes match on the normalised path, so /a/../b and /a//b cannot
		// reach an API that the raw path would not.
		NormalizePath: wrapperspb.Bool(true),
		MergeSlashes:  true,
		// An encoded slash (%2F, %5C) would be a separator to a backend
		// that decodes it but not to the route: /public/..%2Fadmin. Such
		// requests get 400 APIG.0201 (pathguard.go; the other path
		// characters a backend may read differently are refused by the
		// first route of every virtual host).
		PathWithEscapedSlashesAction: hcmv3.HttpConnectionManager_REJECT_REQUEST,
		// The Host header keeps its port: clients sign "host:port", so the
		// Check service must see it as sent (domains still match without
		// the port: see ignore_port_in_host_matching on the routes).
		MaxRequestHeadersKb: wrapperspb.UInt32(t.maxRequestHeadersKB()),
		// Envoy's edge-proxy recommendations: bounded header reception,
		// idle connections closed, HTTP/2 streams and windows limited, and
		// headers with underscores (which some backends read as dashes,
		// e.g. x_apig_app_id) refused.
		RequestHeadersTimeout: durationpb.New(10 * time.Second),
		CommonHttpProtocolOptions: &corev3.HttpProtocolOptions{
			IdleTimeout:                  durationpb.New(time.Hour),
			HeadersWithUnderscoresAction: corev3.HttpProtocolOptions_REJECT_REQUEST,
		},
		Http2ProtocolOptions: &corev3.Http2ProtocolOptions{
			MaxConcurrentStreams:        wrapperspb.UInt32(100),
			InitialStreamWindowSize:     wrapperspb.UInt32(64 << 10),
			InitialConnectionWindowSize: wrapperspb.UInt32(1 << 20),
		},
		LocalReplyConfig: t.localReplyConfig(),
	}
	return &listenerv3.Listener{
		Name: ListenerName,
		// Envoy's edge guidance: 32 KiB read/write buffers per connection.
		PerConnectionBufferLimitBytes: wrapperspb.UInt32(PerConnectionBufferLimitBytes),
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address:       addr.String(),
			PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: l.Port},
		}}},
		FilterChains: []*listenerv3.FilterChain{{
			Filters: []*listenerv3.Filter{{
				Name:       FilterHCM,
				ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: t.pack(hcm)},
			}},
		}},
	}
}

// maxRequestHeadersKB leaves room for a URI of Settings.MaxURIBytes plus
// ordinary headers, so that an over-long URI reaches the Check service and
// gets its 414 instead of Envoy's 431.
func (t *translator) maxRequestHeadersKB() uint32 {
	kb := (int64(t.snap.Settings.MaxURIBytes) + DefaultHeadersAllowanceBytes + 1023) / 1024
	return uint32(min(max(kb, DefaultMinRequestHeadersKB), 8192))
}

// marksDialect reports whether the chain has the header_mutation filter
// that sets DialectHeader (a group with the tencent dialect or a gateway
// response set).
func (t *translator) marksDialect() bool {
	return t.tencent || len(t.responseSetsUsed()) > 0
}

// tagsIPs reports whether the chain has the ip_tagging filter that sets
// IPTagsHeader (a backend policy with a source_ip condition).
func (t *translator) tagsIPs() bool { return len(t.ipTags) > 0 }

// httpFilters is the HTTP filter chain, in order:
//
//  0. (before the chain, the connection manager's early header mutation
//     strip_client_headers removes every x-apig-* header the client sent:
//     see strip.go)
//     header_mutation (only when a group uses the tencent error dialect
//     or a gateway response set): marks the requests of such groups for
//     the local-reply mappers;
//     header_to_metadata (only when such a tencent group has path
//     environments, or a group uses a gateway response set): the miss
//     routes' per-route rules store their tencent message; the listener
//     rule copies a response set's mark into dynamic metadata;
//  1. ip_tagging (only when a backend policy has a source_ip condition): tags
//     the request with the CIDR sets its client address belongs to and
//     re-resolves the route before anything uses it;
//  2. CORS (only when an API has a CORS policy): answers preflights from
//     the route's CorsPolicy, before any authentication; without a policy
//     on any route it would only look each request up and pass it on;
//  3. ext_authz: the Check service, told the API and environment by the
//     route's context_extensions;
//  4. the throttling seam (see throttleFilters): the global rate-limit
//     filter, when some route sends descriptors;
//  5. the router.
func (t *translator) httpFilters() []*hcmv3.HttpFilter {
	var fs []*hcmv3.HttpFilter
	if t.marksDialect() {
		fs = append(fs, t.httpFilter(FilterHeaderMutation, &headermutationv3.HeaderMutation{}))
	}
	if t.routeMisses || len(t.responseSetsUsed()) > 0 {
		fs = append(fs, t.httpFilter(FilterHeaderToMetadata, t.headerToMetadata()))
	}
	if t.tagsIPs() {
		fs = append(fs, t.httpFilter(FilterIPTagging, t.ipTagging()))
	}
	if t.usesCORS() {
		fs = append(fs, t.httpFilter(FilterCORS, &corsv3.Cors{}))
	}
	fs = append(fs, t.httpFilter(FilterExtAuthz, t.extAuthz()))
	fs = append(fs, t.throttleFilters()...)
	// The router adds no x-envoy-* headers (upstream service time, ...).
	return append(fs, t.httpFilter(FilterRouter, &routerv3.Router{SuppressEnvoyHeaders: true}))
}

// usesCORS reports whether some API has a CORS policy, the only source of
// the CORS filter's per-route configuration (apiRoutes).
func (t *translator) usesCORS() bool {
	for _, api := range t.snap.APIs {
		if api.CORS != nil {
			return true
		}
	}
	return false
}

func (t *translator) httpFilter(name string, cfg proto.Message) *hcmv3.HttpFilter {
	return &hcmv3.HttpFilter{Name: name, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: t.pack(cfg)}}
}

// extAuthz configures the Check call: gRPC to AuthzCluster, fail closed
// with 503. No body is buffered at the filter level: the routes whose
// verification reads the body turn buffering on (bodyBuffering).
func (t *translator) extAuthz() *extauthzv3.ExtAuthz {
	cfg := &extauthzv3.ExtAuthz{
		Services: &extauthzv3.ExtAuthz_GrpcService{GrpcService: &corev3.GrpcService{
			TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: AuthzCluster}},
			Timeout:         durationpb.New(t.opts.CheckTimeout),
		}},
		TransportApiVersion: corev3.ApiVersion_V3,
		StatusOnError:       &typev3.HttpStatus{Code: typev3.StatusCode_ServiceUnavailable},
		FailureModeAllow:    false,
		// The client certificate (verified by the group's client CA on
		// the TLS listener) identifies apps of auth mtls.
		IncludePeerCertificate: t.snap.HasClientCertificates(),
		// and the TLS server name tells Check which group's client CA
		// verified it (tls_session.sni).
		IncludeTlsSession: t.snap.HasClientCertificates(),
		// The Check service may set identity headers and remove forged
		// ones; it may not touch what routing and Envoy's replies depend
		// on (see checkMutationDisallowed).
		DecoderHeaderMutationRules: &mutationv3.HeaderMutationRules{
			DisallowSystem:     wrapperspb.Bool(true),
			DisallowExpression: &matcherv3.RegexMatcher{Regex: regexpAlternation(t.checkMutationDisallowed())},
		},
	}
	if len(t.rerouteHeaders) > 0 {
		// Backend policies match on headers the Check service sets (the
		// app): re-resolve the route after Check, but only when it touched
		// one of them. docs/xds.md explains why this cannot skip a check.
		cfg.ClearRouteCache = true
		cfg.ClearRouteCacheHeaders = slices.Sorted(maps.Keys(t.rerouteHeaders))
	}
	return cfg
}

// checkMutationDisallowed are the headers, besides the pseudo-headers and
// Host (disallow_system), the Check service's answer may not set or
// remove: the IP tags and the dialect mark, which the filters before
// ext_authz set for the routes and Envoy's own replies; and the stage
// header, which routes match on, when the route is resolved again after
// Check (clear_route_cache, for backend policies on headers Check sets).
// Without that re-resolution a stage header set by Check could only reach
// the backend, and leaving it out of the list lets RE2 refuse every
// other header name by its literal prefix "x-apigw-" (Envoy matches the
// expression against each header of the answer: x-stage in it costs
// Envoy ~1.1k instructions per header of the answer, measured).
func (t *translator) checkMutationDisallowed() []string {
	names := []string{IPTagsHeader, DialectHeader}
	if len(t.rerouteHeaders) > 0 {
		names = append(names, model.StageHeader)
	}
	return names
}

// needsBody reports whether the Check service reads the body of api's
// requests: signatures that cover it (app, IAM), HMAC key pairs with
// validate_body (the Digest header) and request body validation
// (validate_request). Every other scheme (none, token, app code,
// authorizer) decides from the headers alone.
func needsBody(api *model.API) bool {
	if api.Body != nil {
		return true
	}
	switch api.Auth {
	case model.AuthApp, model.AuthIAM:
		return true
	case model.AuthHMAC:
		return api.HMAC.ValidateBody
	}
	return false
}

// bodyBuffering returns the encoded BufferSettings of the routes of api
// (nil when Check does not read its body): the body buffered up to
// Settings.MaxBodyBytes, at most math.MaxUint32 bytes (Envoy's
// max_request_bytes is a uint32; over it Envoy answers 413 itself), whole,
// as bytes.
func (t *translator) bodyBuffering(api *model.API) []byte {
	if !needsBody(api) {
		return nil
	}
	if t.bodySettings == nil {
		maxBody := t.snap.Settings.MaxBodyBytes
		if maxBody <= 0 {
			t.fail("settings: max body size %d is not positive", maxBody)
		}
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(&extauthzv3.BufferSettings{
			MaxRequestBytes:     uint32(min(max(maxBody, 0), math.MaxUint32)),
			AllowPartialMessage: false,
			PackAsBytes:         true,
		})
		if err != nil {
			t.fail("ext_authz buffer settings: %v", err)
		}
		t.bodySettings = b
	}
	return t.bodySettings
}

// ipTagging tags requests with the CIDR sets of source_ip conditions. The
// tags header is sanitised: a client-sent value is dropped and the route
// re-resolved.
func (t *translator) ipTagging() *iptaggingv3.IPTagging {
	cfg := &iptaggingv3.IPTagging{
		RequestType: iptaggingv3.IPTagging_BOTH,
		IpTagHeader: &iptaggingv3.IPTagging_IpTagHeader{
			Header: IPTagsHeader,
			Action: iptaggingv3.IPTagging_IpTagHeader_SANITIZE,
		},
	}
	for _, name := range slices.Sorted(maps.Keys(t.ipTags)) {
		cfg.IpTags = append(cfg.IpTags, &iptaggingv3.IPTagging_IPTag{IpTagName: name, IpList: t.ipTags[name]})
	}
	return cfg
}

// regexpAlternation returns a regex matching exactly one of the literals.
func regexpAlternation(values []string) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = regexp.QuoteMeta(v)
	}
	sort.Strings(quoted)
	return "^(?:" + strings.Join(quoted, "|") + ")$"
}
