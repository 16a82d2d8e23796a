// Package acl implements the gateway's access-control lists: compiled IP
// address lists, IP and Account policies grouped into a per-API [Set], and
// the resolution of the client IP address from what Envoy's ext_authz Check
// request carries.
//
// # IP lists
//
// [CompileIPs] turns configuration entries (addresses, CIDR prefixes and
// "a-b" ranges, IPv4 and IPv6) into an [IPList] of sorted, disjoint ranges,
// reporting every bad entry at once. [IPList.Contains] is a binary search
// over those ranges: no allocation, about log2(n) comparisons (around 14 for
// 10,000 CIDRs). IPv4-mapped IPv6 addresses match the IPv4 entries.
//
// # Decisions
//
// A [Set] holds the policies bound to one API in one environment. For each
// policy type separately, deny wins; when allow policies of the type exist,
// a caller must match one of them; a set without policies of a type allows
// everything for it. [Set.Decide] checks IP first (denial: APIG.0402 "The IP
// address is not authorized to access the API.") then Account (denial:
// APIG.0306 "API access denied.").
//
// # Client IP and X-Forwarded-For
//
// The gateway's listener runs Envoy with use_remote_address: true and
// xff_num_trusted_hops: N. Envoy then appends its direct peer to
// X-Forwarded-For before the ext_authz filter runs, so the Check service sees
// the appended header, while the Check request's source address is the raw
// TCP peer. [ClientIP] reproduces Envoy's trusted client address from those
// two values:
//
//   - N = 0: the client is the peer; X-Forwarded-For is ignored.
//   - N > 0: the client is the (N+1)th entry from the right of the
//     X-Forwarded-For the Check service sees, which is the Nth from the right
//     of the header as it reached Envoy.
//
// Example with one trusted load balancer (N = 1):
//
//	client 203.0.113.7 sends           X-Forwarded-For: 10.0.0.1     (spoofed)
//	load balancer 198.51.100.2 sends   X-Forwarded-For: 10.0.0.1, 203.0.113.7
//	Envoy appends its peer; Check sees X-Forwarded-For: 10.0.0.1, 203.0.113.7, 198.51.100.2
//	                                   source address:  198.51.100.2:41000
//	ClientIP("198.51.100.2:41000", "10.0.0.1, 203.0.113.7, 198.51.100.2", 1) = 203.0.113.7
//
// The spoofed 10.0.0.1 is never selected. The same client connecting straight
// to Envoy configured with N = 0:
//
//	Check sees X-Forwarded-For: 10.0.0.1, 203.0.113.7; source address 203.0.113.7:5000
//	ClientIP("203.0.113.7:5000", "10.0.0.1, 203.0.113.7", 0) = 203.0.113.7
//
// N must equal the number of proxies that really sit in front of Envoy, and
// Envoy must not be reachable around them: a client that reaches an Envoy
// configured with N = 1 directly controls the entry that is selected, exactly
// as it would in Envoy itself.
//
// Where Envoy falls back to the peer because X-Forwarded-For has too few
// entries (or the selected one does not parse), [ClientIP] reports failure
// instead (the gateway answers APIG.0401 "Unknown client IP address."): with
// N > 0 the peer is a proxy, and deciding on a proxy's address could admit
// every client behind it.
package acl
