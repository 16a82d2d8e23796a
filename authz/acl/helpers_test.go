package acl

import (
	"math/rand/v2"
	"net/netip"
)

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// randomAddr returns an IPv4 address (half the time) or an IPv6 address,
// most IPv6 ones under 2001:db8::/32 so that they meet generated prefixes.
func randomAddr(r *rand.Rand) netip.Addr {
	if r.IntN(2) == 0 {
		var b [4]byte
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		// Crowd a tenth of them into 10.0.0.0/8.
		if r.IntN(10) == 0 {
			b[0] = 10
		}
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	if r.IntN(4) != 0 {
		b[0], b[1], b[2], b[3] = 0x20, 0x01, 0x0d, 0xb8
	}
	if b[0] == 0 {
		b[0] = 0x20 // keep clear of the IPv4-mapped range
	}
	return netip.AddrFrom16(b)
}

// randomPrefixes returns n prefixes, a mix of IPv4 (/8 to /32) and IPv6
// (/16 to /128), with overlaps.
func randomPrefixes(r *rand.Rand, n int) []netip.Prefix {
	out := make([]netip.Prefix, 0, n)
	for len(out) < n {
		a := randomAddr(r)
		var bits int
		if a.Is4() {
			bits = 8 + r.IntN(25)
		} else {
			bits = 16 + r.IntN(113)
		}
		p, err := a.Prefix(bits)
		if err != nil {
			continue
		}
		out = append(out, p)
	}
	return out
}
