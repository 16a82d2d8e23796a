package acl

import (
	"net/netip"
	"testing"
)

// BenchmarkContains10kCIDRs binds 10,000 random CIDRs (IPv4 and IPv6 mixed,
// half in an allow policy and half in a deny policy) to one Set and decides
// random addresses.
func BenchmarkContains10kCIDRs(b *testing.B) {
	r := newRand(42)
	prefixes := randomPrefixes(r, 10000)
	allow := make([]string, 0, 5000)
	deny := make([]string, 0, 5000)
	for i, p := range prefixes {
		if i%2 == 0 {
			allow = append(allow, p.String())
		} else {
			deny = append(deny, p.String())
		}
	}
	s := NewSet(
		&Policy{Name: "allow", Type: IP, Action: Allow, IPs: mustList(b, allow...)},
		&Policy{Name: "deny", Type: IP, Action: Deny, IPs: mustList(b, deny...)},
	)
	addrs := make([]netip.Addr, 4096)
	for i := range addrs {
		addrs[i] = randomAddr(r)
	}
	b.ReportAllocs()
	i, n := 0, 0
	for b.Loop() {
		if s.DecideIP(addrs[i&(len(addrs)-1)]) {
			n++
		}
		i++
	}
	_ = n
}

func BenchmarkClientIP(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := ClientIP("198.51.100.2:41000", "10.0.0.1, 203.0.113.7, 198.51.100.2", 1); !ok {
			b.Fatal("not ok")
		}
	}
}
