package acl

import (
	"net/netip"
	"strings"
)

// MaxXFFBytes bounds the X-Forwarded-For value [ClientIP] looks at. Envoy's
// request header limit normally keeps it far smaller; a longer value is
// refused rather than scanned.
const MaxXFFBytes = 64 << 10

// ClientIP returns the client address of a request as Envoy's HTTP
// connection manager computes its trusted client address with
// use_remote_address: true and xff_num_trusted_hops: trustedHops, from what
// the ext_authz Check request carries:
//
//   - peer is the Check request's source address
//     (attributes.source.address): the direct TCP peer of Envoy, as "ip" or
//     "ip:port" ("[v6]:port" for IPv6; brackets are optional without a port).
//   - xff is the X-Forwarded-For header of the Check request (several header
//     lines joined by ","). Envoy has already appended its own peer to it,
//     so its last entry is that peer (or Envoy's local address when the peer
//     is a loopback address).
//
// With trustedHops = 0 the result is the peer and xff is ignored entirely,
// so a client cannot choose its address by sending X-Forwarded-For.
//
// With trustedHops = N > 0 the result is the (N+1)th entry from the right of
// xff: the N rightmost entries, the last of which Envoy appended, are skipped.
// That is Envoy's "Nth address from the right of the X-Forwarded-For as
// received". Entries are trimmed of spaces and tabs; empty entries count.
// An entry may carry a port ("203.0.113.7:5000", "[2001:db8::1]:443").
//
// The result has no IPv6 zone and IPv4-mapped IPv6 addresses are returned as
// IPv4. ok is false when the selected address is missing, unparsable or
// unspecified (0.0.0.0, ::), or trustedHops is negative; the gateway answers
// APIG.0401 "Unknown client IP address." then. Where X-Forwarded-For has too
// few entries, Envoy itself falls back to the peer; ClientIP deliberately does
// not, because with trusted hops configured the peer is a proxy, and an
// access-control decision on a proxy's address could admit every client
// behind it.
func ClientIP(peer, xff string, trustedHops int) (netip.Addr, bool) {
	switch {
	case trustedHops < 0:
		return netip.Addr{}, false
	case trustedHops == 0:
		return parseHostAddr(peer)
	case len(xff) > MaxXFFBytes:
		return netip.Addr{}, false
	}
	s := xff
	for range trustedHops {
		i := strings.LastIndexByte(s, ',')
		if i < 0 {
			return netip.Addr{}, false
		}
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, ','); i >= 0 {
		s = s[i+1:]
	}
	return parseHostAddr(s)
}

// parseHostAddr parses "ip", "ip:port", "[ip]" or "[ip]:port", trimmed of
// spaces and tabs.
func parseHostAddr(s string) (netip.Addr, bool) {
	s = strings.Trim(s, " \t")
	if s == "" || len(s) > MaxEntryBytes {
		return netip.Addr{}, false
	}
	host := s
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		host = s[1:end]
		if rest := s[end+1:]; rest != "" && (rest[0] != ':' || !validPort(rest[1:])) {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() {
			return netip.Addr{}, false
		}
		return finish(a)
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		// Only IPv4 takes a port without brackets.
		h, port, ok := strings.Cut(s, ":")
		if !ok || !validPort(port) {
			return netip.Addr{}, false
		}
		a, err = netip.ParseAddr(h)
		if err != nil || !a.Is4() {
			return netip.Addr{}, false
		}
	}
	return finish(a)
}

func finish(a netip.Addr) (netip.Addr, bool) {
	a = a.WithZone("").Unmap()
	if a.IsUnspecified() {
		return netip.Addr{}, false
	}
	return a, true
}

// validPort reports whether p is a decimal port number 0-65535.
func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n <= 65535
}
