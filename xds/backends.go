package xds

import (
	"regexp"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	previoushostsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/apigwio/apigw/internal/model"
)

// Retry conditions. A request that never reached the backend (connect
// failure, stream refused before processing) is always safe to retry; a
// 502/503/504 or a reset after sending is retried only for idempotent
// methods, since the backend may have acted on the request. ANY counts as
// non-idempotent.
const (
	retryOnSafe       = "connect-failure,refused-stream"
	retryOnIdempotent = "connect-failure,refused-stream,gateway-error,reset"
)

var idempotent = map[string]bool{"GET": true, "HEAD": true, "OPTIONS": true, "PUT": true, "DELETE": true}

// routeAction forwards to cluster with the backend's path rewrite, timeout,
// retries and, for WebSocket APIs, the upgrade.
func (t *translator) routeAction(api *model.API, pl placement, b model.Backend, cluster string) *routev3.RouteAction {
	a := &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster}}
	target := b.Path
	if target == "" && pl.seg != "" {
		target = api.Path // the environment segment is not sent upstream
	}
	rewritePath(a, api.Match, pl.path(api), target)
	parameterRewrite(api, a, target)
	if b.Timeout > 0 {
		a.Timeout = durationpb.New(b.Timeout)
	}
	if b.Retries > 0 {
		a.RetryPolicy = t.retryPolicy(api.Method, b.Retries)
	}
	if api.WebSocket {
		a.UpgradeConfigs = []*routev3.RouteAction_UpgradeConfig{{UpgradeType: "websocket", Enabled: wrapperspb.Bool(true)}}
	}
	return a
}

// rewritePath sends target (the backend path) upstream in place of the
// matched path; the query string is kept:
//
//   - exact API: the whole path becomes the backend path;
//   - prefix API: the matched prefix is replaced by the backend path, and
//     the separator is kept: /orders/ -> /v1/orders/ maps /orders/7 to
//     /v1/orders/7 (a "/" is added to the backend path if the API prefix
//     ends with one), /test -> /api maps /test to /api and /test/x to
//     /api/x; /test -> / maps /test to / and /test/x to /x.
//
// An empty target keeps the request path.
func rewritePath(a *routev3.RouteAction, match model.MatchKind, matched, target string) {
	if target == "" {
		return
	}
	switch {
	case match == model.MatchExact:
		a.PrefixRewrite = target
	case strings.HasSuffix(matched, "/"):
		if !strings.HasSuffix(target, "/") {
			target += "/"
		}
		a.PrefixRewrite = target
	default:
		if p := strings.TrimSuffix(target, "/"); p != "" {
			a.PrefixRewrite = p
			return
		}
		a.RegexRewrite = &matcherv3.RegexMatchAndSubstitute{
			Pattern:      &matcherv3.RegexMatcher{Regex: "^" + regexp.QuoteMeta(matched) + "/?"},
			Substitution: "/",
		}
	}
}

// retryPolicy retries up to n times on another host when there is one.
func (t *translator) retryPolicy(method string, n uint32) *routev3.RetryPolicy {
	on := retryOnSafe
	if idempotent[method] {
		on = retryOnIdempotent
	}
	return &routev3.RetryPolicy{
		RetryOn:    on,
		NumRetries: wrapperspb.UInt32(n),
		RetryHostPredicate: []*routev3.RetryPolicy_RetryHostPredicate{{
			Name:       "envoy.retry_host_predicates.previous_hosts",
			ConfigType: &routev3.RetryPolicy_RetryHostPredicate_TypedConfig{TypedConfig: t.shared("previous_hosts", func() proto.Message { return &previoushostsv3.PreviousHostsPredicate{} })},
		}},
		HostSelectionRetryMaxAttempts: 3,
	}
}

// socketAddress is host:port for Envoy.
func socketAddress(host string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       host,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}
