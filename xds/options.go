package xds

import "time"

// Names of the generated resources and of the HTTP filters. They are part of
// the contract with Envoy (bootstrap, stats, access logs) and with the
// Check side (the ext_authz per-route configuration key).
const (
	// ListenerName is the name of the one HTTP listener.
	ListenerName = "apigw_http"
	// RouteConfigName is the name of the RDS route configuration.
	RouteConfigName = "apigw"
	// AuthzCluster is the cluster of the Check (ext_authz) service.
	AuthzCluster = "apigw_authz"
	// NotFoundCluster is deliberately never defined: the catch-all route of
	// every virtual host points at it so that Envoy answers 404 with the NC
	// response flag, which the local reply mapper turns into APIG.0101.
	NotFoundCluster = "apigw_not_found"
	// StatPrefix prefixes the HTTP connection manager statistics.
	StatPrefix = "apigw"

	// FilterCORS is the CORS HTTP filter name (and typed_per_filter_config key).
	FilterCORS = "envoy.filters.http.cors"
	// FilterExtAuthz is the ext_authz HTTP filter name (and typed_per_filter_config key).
	FilterExtAuthz = "envoy.filters.http.ext_authz"
	// FilterIPTagging is the IP tagging HTTP filter name, present only when a
	// backend policy has a source_ip condition.
	FilterIPTagging = "envoy.filters.http.ip_tagging"
	// FilterRouter is the router HTTP filter name.
	FilterRouter = "envoy.filters.http.router"
	// FilterHCM is the HTTP connection manager network filter name.
	FilterHCM = "envoy.filters.network.http_connection_manager"

	// IPTagsHeader carries the IP tags of source_ip backend-policy
	// conditions. The ip_tagging filter sanitises it (a client-sent value is
	// removed) and the route configuration removes it before the request
	// goes upstream. It is deliberately outside the x-apig- namespace that
	// the Check service manages.
	IPTagsHeader = "x-apigw-ip-tags"
)

// Defaults of Options and of the listener limits.
const (
	// DefaultCheckTimeout bounds one ext_authz Check call.
	DefaultCheckTimeout = time.Second
	// DefaultRateLimitTimeout bounds one rate-limit service call. The
	// service's own Redis calls time out after 50 ms, so it answers (with
	// its own fail-open or fail-closed decision) before Envoy gives up.
	DefaultRateLimitTimeout = 100 * time.Millisecond
	// DefaultConnectTimeout bounds a connect to a backend.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultAuthzConnectTimeout bounds a connect to the Check service.
	DefaultAuthzConnectTimeout = time.Second
	// DefaultMinRequestHeadersKB is Envoy's default max_request_headers_kb,
	// the least the listener allows.
	DefaultMinRequestHeadersKB = 60
	// DefaultHeadersAllowanceBytes is the room left for headers besides a
	// URI of Settings.MaxURIBytes.
	DefaultHeadersAllowanceBytes = 32 << 10
	// DefaultClusterDrain is how long a cluster the configuration no longer
	// has is still served (see Options.ClusterDrain).
	DefaultClusterDrain = 10 * time.Second
)

// Options tune the translation and the server. The zero value is usable.
type Options struct {
	// CheckTimeout bounds one ext_authz Check call. Default 1s.
	CheckTimeout time.Duration
	// RateLimitTimeout bounds one rate-limit service call. Default 100ms.
	RateLimitTimeout time.Duration
	// ConnectTimeout bounds a TCP (and TLS) connect to a backend. Default 5s.
	ConnectTimeout time.Duration
	// AuthzConnectTimeout bounds a connect to the Check service. Default 1s.
	AuthzConnectTimeout time.Duration
	// ClusterDrain is how long the server keeps serving a cluster (and its
	// endpoints) after a configuration stopped using it: make before
	// break, so that Envoy, which may apply a cluster removal before the
	// route update of the same change, never routes to a cluster it no
	// longer has (that is a 404 APIG.0101 for an API that exists).
	// Default 10s; negative: removed at once.
	ClusterDrain time.Duration
	// CertificatePoll is how often WatchCertificates looks for changed
	// certificate files. Default 1s.
	CertificatePoll time.Duration
}

func (o Options) withDefaults() Options {
	if o.CheckTimeout <= 0 {
		o.CheckTimeout = DefaultCheckTimeout
	}
	if o.RateLimitTimeout <= 0 {
		o.RateLimitTimeout = DefaultRateLimitTimeout
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.AuthzConnectTimeout <= 0 {
		o.AuthzConnectTimeout = DefaultAuthzConnectTimeout
	}
	if o.CertificatePoll <= 0 {
		o.CertificatePoll = time.Second
	}
	if o.ClusterDrain == 0 {
		o.ClusterDrain = DefaultClusterDrain
	}
	return o
}
