package acl

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func mustList(t testing.TB, entries ...string) *IPList {
	t.Helper()
	l, errs := CompileIPs(entries)
	if len(errs) > 0 {
		t.Fatalf("CompileIPs(%q): %v", entries, errs)
	}
	return l
}

func TestContains(t *testing.T) {
	cases := []struct {
		name    string
		entries []string
		in      []string
		out     []string
	}{
		{"ipv4 address", []string{"203.0.113.7"},
			[]string{"203.0.113.7", "::ffff:203.0.113.7"},
			[]string{"203.0.113.6", "203.0.113.8", "::203.0.113.7", "2001:db8::1"}},
		{"ipv4 /32", []string{"203.0.113.7/32"},
			[]string{"203.0.113.7"}, []string{"203.0.113.8"}},
		{"ipv4 /24", []string{"198.51.100.0/24"},
			[]string{"198.51.100.0", "198.51.100.255", "::ffff:198.51.100.9"},
			[]string{"198.51.99.255", "198.51.101.0"}},
		{"ipv4 host bits ignored", []string{"10.1.2.3/8"},
			[]string{"10.0.0.0", "10.255.255.255"}, []string{"11.0.0.0", "9.255.255.255"}},
		{"ipv4 /0", []string{"0.0.0.0/0"},
			[]string{"0.0.0.0", "255.255.255.255", "::ffff:1.2.3.4"},
			[]string{"::", "::1", "2001:db8::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}},
		{"ipv6 address", []string{"2001:db8::1"},
			[]string{"2001:db8::1", "2001:db8::1%eth0"}, []string{"2001:db8::2", "0.0.0.1"}},
		{"ipv6 /128", []string{"2001:db8::1/128"},
			[]string{"2001:db8::1"}, []string{"2001:db8::"}},
		{"ipv6 /32", []string{"2001:db8::/32"},
			[]string{"2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"},
			[]string{"2001:db9::", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"}},
		{"ipv6 /64 and /65", []string{"2001:db8:0:1::/64", "2001:db8:0:2:8000::/65"},
			[]string{"2001:db8:0:1:ffff:ffff:ffff:ffff", "2001:db8:0:2:8000::", "2001:db8:0:2:ffff::1"},
			[]string{"2001:db8:0:2::", "2001:db8:0:2:7fff:ffff:ffff:ffff", "2001:db8:0:3::"}},
		{"ipv6 /0 does not cover ipv4", []string{"::/0"},
			[]string{"::", "::1", "2001:db8::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
			[]string{"1.2.3.4", "::ffff:1.2.3.4"}},
		{"mapped entry is ipv4", []string{"::ffff:192.0.2.0/120", "::ffff:198.51.100.1"},
			[]string{"192.0.2.1", "::ffff:192.0.2.255", "198.51.100.1"},
			[]string{"192.0.3.0", "198.51.100.2", "::192.0.2.1"}},
		{"mapped /96 is all ipv4", []string{"::ffff:0:0/96"},
			[]string{"0.0.0.0", "255.255.255.255"}, []string{"::1"}},
		{"overlapping", []string{"10.0.0.0/8", "10.1.0.0/16", "10.1.2.3", "9.255.255.255-10.0.0.5"},
			[]string{"9.255.255.255", "10.0.0.0", "10.1.2.3", "10.255.255.255"},
			[]string{"9.255.255.254", "11.0.0.0"}},
		{"adjacent", []string{"10.0.0.0/25", "10.0.0.128/25", "10.0.1.0"},
			[]string{"10.0.0.0", "10.0.0.127", "10.0.0.128", "10.0.1.0"},
			[]string{"10.0.1.1", "9.255.255.255"}},
		{"ranges", []string{"192.0.2.10 - 192.0.2.20", "2001:db8::a-2001:db8::14"},
			[]string{"192.0.2.10", "192.0.2.15", "192.0.2.20", "2001:db8::a", "2001:db8::14"},
			[]string{"192.0.2.9", "192.0.2.21", "2001:db8::9", "2001:db8::15"}},
		{"edges", []string{"255.255.255.255", "0.0.0.0", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
			[]string{"255.255.255.255", "0.0.0.0", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
			[]string{"255.255.255.254", "0.0.0.1", "::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"}},
		{"max range merge", []string{"255.255.255.0/24", "255.255.255.128/25", "ffff::/16", "ffff:ffff::/32"},
			[]string{"255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
			[]string{"255.255.254.255", "fffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}},
		{"empty", nil, nil, []string{"1.2.3.4", "::1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := mustList(t, c.entries...)
			for _, s := range c.in {
				if !l.Contains(netip.MustParseAddr(s)) {
					t.Errorf("%s not contained", s)
				}
			}
			for _, s := range c.out {
				if l.Contains(netip.MustParseAddr(s)) {
					t.Errorf("%s contained", s)
				}
			}
			if l.Contains(netip.Addr{}) {
				t.Error("zero Addr contained")
			}
		})
	}
}

func TestNilList(t *testing.T) {
	var l *IPList
	if l.Contains(netip.MustParseAddr("1.2.3.4")) || l.Len() != 0 || !l.Empty() {
		t.Fatal("nil list is not empty")
	}
}

func TestMergedLen(t *testing.T) {
	l := mustList(t, "10.0.0.0/8", "10.1.0.0/16", "10.0.0.1", "11.0.0.0/8", "2001:db8::/32", "2001:db8:1::/48")
	if got := l.Len(); got != 2 {
		t.Fatalf("Len = %d, want 2 (10/8+11/8 merged, 2001:db8::/32)", got)
	}
}

func TestCompileErrors(t *testing.T) {
	entries := []string{
		"10.0.0.0/8",              // 0 ok
		"",                        // 1
		"10.0.0.0/33",             // 2
		"300.1.1.1",               // 3
		"010.1.1.1",               // 4 leading zero
		"fe80::1%eth0",            // 5 zone
		"1.2.3.4-::1",             // 6 mixed families
		"1.2.3.9-1.2.3.1",         // 7 reversed
		"2001:db8::/129",          // 8
		"example.com",             // 9
		"  192.0.2.1  ",           // 10 ok
		strings.Repeat("1", 200),  // 11
		"1.2.3.4/",                // 12
		"1.2.3.4-",                // 13
		"2001:db8::1-2001:db8::1", // 14 ok
		"1.2.3.4/24/1",            // 15
	}
	l, errs := CompileIPs(entries)
	want := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 15}
	if len(errs) != len(want) {
		t.Fatalf("got %d errors, want %d: %v", len(errs), len(want), errs)
	}
	for i, err := range errs {
		var ee *EntryError
		if !errors.As(err, &ee) {
			t.Fatalf("error %d is %T", i, err)
		}
		if ee.Index != want[i] {
			t.Errorf("error %d index %d, want %d (%v)", i, ee.Index, want[i], err)
		}
		if len(ee.Entry) > maxEcho+3 || ee.Reason == "" {
			t.Errorf("error %d: %q", i, err)
		}
	}
	// Good entries are still compiled.
	for _, s := range []string{"10.9.9.9", "192.0.2.1", "2001:db8::1"} {
		if !l.Contains(netip.MustParseAddr(s)) {
			t.Errorf("%s missing from partial list", s)
		}
	}
	if got := errs[0].Error(); got != `entry 1 "": empty entry` {
		t.Errorf("message %q", got)
	}
}

func TestClip(t *testing.T) {
	if got := clip("a\x00b"); got != "a?b" {
		t.Errorf("clip = %q", got)
	}
	if got := clip(strings.Repeat("x", 100)); got != strings.Repeat("x", 64)+"..." {
		t.Errorf("clip long = %q", got)
	}
}

// TestContainsAgainstPrefixes checks Contains against netip.Prefix.Contains
// on generated prefixes.
func TestContainsAgainstPrefixes(t *testing.T) {
	r := newRand(1)
	prefixes := randomPrefixes(r, 300)
	entries := make([]string, len(prefixes))
	for i, p := range prefixes {
		entries[i] = p.String()
	}
	l := mustList(t, entries...)
	for i := 0; i < 20000; i++ {
		var a netip.Addr
		if i%2 == 0 {
			// Near a prefix boundary, to exercise the edges.
			p := prefixes[r.IntN(len(prefixes))]
			a = p.Masked().Addr()
			if r.IntN(2) == 0 {
				a = a.Prev()
			}
			if !a.IsValid() {
				continue
			}
		} else {
			a = randomAddr(r)
		}
		want := false
		for _, p := range prefixes {
			if p.Contains(a) {
				want = true
				break
			}
		}
		if got := l.Contains(a); got != want {
			t.Fatalf("Contains(%s) = %v, want %v", a, got, want)
		}
	}
}

func TestContainsNoAlloc(t *testing.T) {
	l := mustList(t, "10.0.0.0/8", "2001:db8::/32")
	v4, v6 := netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("2001:db8::1")
	n := testing.AllocsPerRun(100, func() {
		_ = l.Contains(v4)
		_ = l.Contains(v6)
	})
	if n != 0 {
		t.Fatalf("Contains allocates %v times", n)
	}
}
