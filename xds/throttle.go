package xds

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	ratelimitconfv3 "github.com/envoyproxy/go-control-plane/envoy/config/ratelimit/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	ratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ratelimit/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	metadatav3 "github.com/envoyproxy/go-control-plane/envoy/type/metadata/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/apigwio/apigw/internal/model"
	"github.com/apigwio/apigw/ratelimit/throttle"
)

// Global rate limiting. The throttle package derives, from the snapshot,
// both the descriptors each deployment's routes send and the rate-limit
// service configuration that counts them; this file turns the first half
// into route rate_limits actions and adds the HTTP rate-limit filter that
// sends them to the rate-limit service (served by the Check service's gRPC
// port, so the cluster is AuthzCluster).
const (
	// FilterRateLimit is the HTTP rate-limit filter name, present only when
	// some route sends descriptors.
	FilterRateLimit = "envoy.filters.http.ratelimit"
	// ExtAuthzMetadataNamespace is the dynamic-metadata namespace of the
	// ext_authz filter, where the Check service publishes the caller
	// identity (user, app, usage plan, key pair) that descriptors use.
	ExtAuthzMetadataNamespace = "envoy.filters.http.ext_authz"
	// rateLimitStage is the stage of the rate-limit filter and of every
	// route rate limit (Envoy's default, 0; a route rate limit only applies
	// to filters of its stage, and an unset route stage means 0).
	rateLimitStage = 0
	// envoyRemoteAddressKey is the descriptor key of Envoy's remote_address
	// action, which cannot be configured.
	envoyRemoteAddressKey = "remote_address"
)

// throttleFilters is the seam for request throttling: the filters go after
// ext_authz, so that descriptors can use the identity the Check service
// puts in dynamic metadata, and before the router. It returns the global
// rate-limit filter when at least one route sends descriptors (see
// rateLimitFilter), and nothing otherwise.
func (t *translator) throttleFilters() []*hcmv3.HttpFilter {
	if !t.throttled {
		return nil
	}
	return []*hcmv3.HttpFilter{t.httpFilter(FilterRateLimit, t.rateLimitFilter())}
}

// rateLimitFilter configures the HTTP rate-limit filter:
//
//   - domain throttle.Domain, gRPC to AuthzCluster (the rate-limit service
//     shares the Check service's port), V3 transport;
//   - a 100 ms timeout by default (Options.RateLimitTimeout): the service's
//     own Redis calls time out after 50 ms, so a slow store gives the
//     service's answer (its own fail-open/closed), not Envoy's timeout;
//   - failure_mode_deny from settings.throttling.failure_mode (closed:
//     an unreachable service answers 503 APIG.0601, like the Check
//     service's status_on_error; open: the request goes on);
//   - X-RateLimit-Limit, -Remaining and -Reset (draft 03) on responses,
//     including the 429;
//   - no x-envoy-ratelimited header, as the router adds no x-envoy-*
//     headers either.
func (t *translator) rateLimitFilter() *ratelimitv3.RateLimit {
	return &ratelimitv3.RateLimit{
		Domain:  throttle.Domain,
		Stage:   rateLimitStage,
		Timeout: durationpb.New(t.opts.RateLimitTimeout),
		RateLimitService: &ratelimitconfv3.RateLimitServiceConfig{
			GrpcService: &corev3.GrpcService{
				TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: AuthzCluster}},
			},
			TransportApiVersion: corev3.ApiVersion_V3,
		},
		FailureModeDeny:                t.snap.Settings.Throttling.FailClosed,
		StatusOnError:                  &typev3.HttpStatus{Code: typev3.StatusCode_ServiceUnavailable},
		EnableXRatelimitHeaders:        ratelimitv3.RateLimit_DRAFT_VERSION_03,
		DisableXEnvoyRatelimitedHeader: true,
	}
}

// rateLimitsFor returns the route rate limits of api in env: one per
// descriptor of throttle.Descriptors, its actions in entry order. All routes
// of the deployment (backend policies, path segments) share the one list,
// read-only. It is nil when the deployment sends no descriptor.
func (t *translator) rateLimitsFor(api *model.API, env string) []*routev3.RateLimit {
	key := [2]string{api.ID, env}
	if rl, ok := t.rateLimits[key]; ok {
		return rl
	}
	var out []*routev3.RateLimit
	for _, d := range throttle.Descriptors(t.snap, api, env) {
		rl := &routev3.RateLimit{}
		for _, e := range d {
			a := t.rateLimitActions[e]
			if a == nil {
				a = rateLimitAction(e)
				if e.Source != throttle.Fixed && a != nil {
					t.rateLimitActions[e] = a // the same for every deployment
				}
			}
			if a == nil {
				t.fail("group %q API %q (environment %s): rate-limit descriptor entry %q (source %d) has no Envoy action", api.Group, api.Name, env, e.Key, e.Source)
				return nil
			}
			rl.Actions = append(rl.Actions, a)
		}
		out = append(out, rl)
	}
	t.rateLimits[key] = out
	if len(out) > 0 {
		t.throttled = true
	}
	return out
}

// rateLimitAction is the Envoy action that produces entry e: generic_key
// for a fixed value, metadata (ext_authz dynamic metadata) for a caller
// attribute, remote_address for the client address (whose key is always
// "remote_address", throttle.KeyAddress). A metadata action whose key is
// absent makes Envoy drop the whole descriptor (skip_if_absent false), so
// e.g. the per-app descriptor is only sent for app callers.
func rateLimitAction(e throttle.Entry) *routev3.RateLimit_Action {
	switch e.Source {
	case throttle.Fixed:
		return &routev3.RateLimit_Action{ActionSpecifier: &routev3.RateLimit_Action_GenericKey_{GenericKey: &routev3.RateLimit_Action_GenericKey{
			DescriptorKey:   e.Key,
			DescriptorValue: e.Value,
		}}}
	case throttle.Metadata:
		return &routev3.RateLimit_Action{ActionSpecifier: &routev3.RateLimit_Action_Metadata{Metadata: &routev3.RateLimit_Action_MetaData{
			DescriptorKey: e.Key,
			MetadataKey: &metadatav3.MetadataKey{
				Key:  ExtAuthzMetadataNamespace,
				Path: []*metadatav3.MetadataKey_PathSegment{{Segment: &metadatav3.MetadataKey_PathSegment_Key{Key: e.Value}}},
			},
			Source: routev3.RateLimit_Action_MetaData_DYNAMIC,
		}}}
	case throttle.RemoteAddress:
		if e.Key != envoyRemoteAddressKey {
			return nil // Envoy's remote_address action has a fixed key
		}
		return &routev3.RateLimit_Action{ActionSpecifier: &routev3.RateLimit_Action_RemoteAddress_{RemoteAddress: &routev3.RateLimit_Action_RemoteAddress{}}}
	}
	return nil
}
