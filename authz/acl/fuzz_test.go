package acl

import (
	"net/netip"
	"strings"
	"testing"
)

func FuzzClientIP(f *testing.F) {
	f.Add("203.0.113.7:5000", "10.0.0.1, 203.0.113.7", 0)
	f.Add("198.51.100.2", "10.0.0.1, 203.0.113.7, 198.51.100.2", 1)
	f.Add("[2001:db8::1]:443", "[2001:db8::7]:1,,", 2)
	f.Add("fe80::1%eth0", "::ffff:1.2.3.4", 1)
	f.Add("", "", -1)
	f.Add("[", "]", 3)
	f.Fuzz(func(t *testing.T, peer, xff string, hops int) {
		hops %= 16
		a, ok := ClientIP(peer, xff, hops)
		if !ok {
			if a.IsValid() {
				t.Fatalf("failure with valid address %v", a)
			}
			return
		}
		if !a.IsValid() || a.Zone() != "" || a.Is4In6() || a.IsUnspecified() {
			t.Fatalf("bad result %v", a)
		}
		if hops == 0 {
			// The peer alone decides.
			b, ok2 := ClientIP(peer, xff+", 6.6.6.6", 0)
			if !ok2 || b != a {
				t.Fatalf("xff changed the 0-hop result: %v vs %v", a, b)
			}
		} else {
			// Whatever is prepended (client-controlled) cannot change it.
			b, ok2 := ClientIP(peer, "6.6.6.6, "+xff, hops)
			if !ok2 || b != a {
				t.Fatalf("prepended entry changed the result: %v vs %v", a, b)
			}
		}
	})
}

func FuzzCompileIPs(f *testing.F) {
	f.Add("10.0.0.0/8", "2001:db8::/32", "192.0.2.1-192.0.2.9", "10.1.2.3")
	f.Add("::ffff:1.2.3.0/120", "::/0", "0.0.0.0/0", "::ffff:1.2.3.4")
	f.Add("1.2.3.4/33", "", "fe80::1%1", "a-b")
	f.Add("255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "::", "1.1.1.1 - 1.1.1.1")
	f.Fuzz(func(t *testing.T, e0, e1, e2, probe string) {
		entries := []string{e0, e1, e2}
		l, errs := CompileIPs(entries)
		if l == nil {
			t.Fatal("nil list")
		}
		bad := map[int]bool{}
		for _, err := range errs {
			ee, ok := err.(*EntryError)
			if !ok || ee.Index < 0 || ee.Index > 2 || bad[ee.Index] || len(ee.Entry) > maxEcho+3 {
				t.Fatalf("bad error %#v", err)
			}
			bad[ee.Index] = true
		}
		// Oracle: each good entry, one at a time.
		var ones []*IPList
		for i, e := range entries {
			if bad[i] {
				continue
			}
			one, errs := CompileIPs([]string{e})
			if len(errs) != 0 {
				t.Fatalf("entry %q good in a list, bad alone", e)
			}
			ones = append(ones, one)
			// A single prefix agrees with netip, except that an IPv6 prefix
			// never covers IPv4-mapped addresses (see CompileIPs).
			s := strings.TrimSpace(e)
			if p, err := netip.ParsePrefix(s); err == nil && !p.Addr().Is4In6() {
				for _, a := range []netip.Addr{p.Masked().Addr(), lastOf(p), p.Masked().Addr().Prev(), lastOf(p).Next()} {
					if a.IsValid() && !(p.Addr().Is6() && a.Is4In6()) && one.Contains(a) != p.Contains(a) {
						t.Fatalf("%q contains %v: %v", e, a, one.Contains(a))
					}
				}
			}
		}
		if a, err := netip.ParseAddr(strings.TrimSpace(probe)); err == nil {
			want := false
			for _, one := range ones {
				want = want || one.Contains(a)
			}
			if got := l.Contains(a); got != want {
				t.Fatalf("Contains(%v) = %v, entries say %v", a, got, want)
			}
		}
	})
}

// lastOf returns the last address of p.
func lastOf(p netip.Prefix) netip.Addr {
	p = p.Masked()
	b := p.Addr().AsSlice()
	bits := p.Bits()
	for i := range b {
		for j := 0; j < 8; j++ {
			if i*8+j >= bits {
				b[i] |= 0x80 >> j
			}
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
