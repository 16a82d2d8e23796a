// Package ratelimit is the gateway's built-in Envoy rate-limit service
// (envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit).
//
// It follows the shape of envoyproxy/ratelimit, in small pieces:
//
//   - config: a [Config] is a domain with nested [Descriptor]s that map the
//     descriptors Envoy sends (ordered key/value entries built by a route's
//     rate-limit actions) to a [Limit]. [Config.Match] finds the limit and the
//     counter key; [Config.MarshalEnvoyRatelimitYAML] writes the same rules
//     as an envoyproxy/ratelimit configuration file.
//   - backend: a [Backend] counts hits in fixed windows aligned to the Unix
//     epoch. [Memory] is bounded and local to one process; [Redis] is shared
//     by every replica and needs one round trip per request.
//   - service: [Service] answers ShouldRateLimit with one Backend call per
//     request, keeps a bounded local cache of counters already over their
//     limit, and applies the Config's [FailureMode] when the backend fails.
//
// The package is independent of the gateway configuration: the gateway maps
// its throttling policies onto a Config and calls [Service.Prepare] (or
// [Service.Update]) on every reload. A Config made by [Compose] of [Part]s
// (one per API group) is validated and indexed part by part: a reload pays
// only for the parts it does not share with the configuration in use.
package ratelimit
