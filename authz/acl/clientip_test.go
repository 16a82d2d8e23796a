package acl

import (
	"net/netip"
	"strings"
	"testing"
)

func TestClientIP(t *testing.T) {
	cases := []struct {
		name string
		peer string
		xff  string
		hops int
		want string // "" = not ok
	}{
		// No trusted hops: the peer, whatever X-Forwarded-For says.
		{"peer ipv4", "203.0.113.7", "", 0, "203.0.113.7"},
		{"peer ipv4 with port", "203.0.113.7:5000", "", 0, "203.0.113.7"},
		{"peer ipv6", "2001:db8::7", "", 0, "2001:db8::7"},
		{"peer ipv6 brackets", "[2001:db8::7]", "", 0, "2001:db8::7"},
		{"peer ipv6 brackets port", "[2001:db8::7]:443", "", 0, "2001:db8::7"},
		{"peer mapped", "[::ffff:203.0.113.7]:80", "", 0, "203.0.113.7"},
		{"peer zone dropped", "fe80::1%eth0", "", 0, "fe80::1"},
		{"peer spaces", " 203.0.113.7 ", "", 0, "203.0.113.7"},
		{"0 hops: spoofed xff ignored", "203.0.113.7:5000", "10.0.0.1", 0, "203.0.113.7"},
		{"0 hops: spoofed xff chain ignored", "203.0.113.7:5000", "10.0.0.1, 10.0.0.2, 203.0.113.7", 0, "203.0.113.7"},
		{"0 hops: garbage xff ignored", "203.0.113.7", "<script>", 0, "203.0.113.7"},
		{"peer missing", "", "10.0.0.1", 0, ""},
		{"peer garbage", "not-an-ip", "", 0, ""},
		{"peer hostname with port", "example.com:80", "", 0, ""},
		{"peer unspecified", "0.0.0.0:80", "", 0, ""},
		{"peer ipv6 unspecified", "[::]:80", "", 0, ""},
		{"peer bad port", "203.0.113.7:99999", "", 0, ""},
		{"peer empty port", "203.0.113.7:", "", 0, ""},
		{"peer port letters", "203.0.113.7:8a", "", 0, ""},
		{"peer ipv6 port no brackets is an address", "2001:db8::7:80", "", 0, "2001:db8::7:80"},
		{"peer brackets around ipv4", "[203.0.113.7]:80", "", 0, ""},
		{"peer unclosed bracket", "[2001:db8::7:80", "", 0, ""},
		{"peer junk after bracket", "[2001:db8::7]x", "", 0, ""},
		{"peer two ports", "203.0.113.7:80:81", "", 0, ""},

		// One trusted hop: Envoy appended the load balancer (the peer), the
		// load balancer appended the client.
		{"1 hop", "198.51.100.2:41000", "203.0.113.7, 198.51.100.2", 1, "203.0.113.7"},
		{"1 hop: spoofed entry ignored", "198.51.100.2:41000", "10.0.0.1, 203.0.113.7, 198.51.100.2", 1, "203.0.113.7"},
		{"1 hop: many spoofed entries", "198.51.100.2", "1.1.1.1,2.2.2.2,3.3.3.3, 203.0.113.7,198.51.100.2", 1, "203.0.113.7"},
		{"1 hop: spoofed garbage on the left", "198.51.100.2", "garbage, 203.0.113.7, 198.51.100.2", 1, "203.0.113.7"},
		{"1 hop: load balancer added nothing", "198.51.100.2", "198.51.100.2", 1, ""},
		{"1 hop: no xff at all", "198.51.100.2", "", 1, ""},
		{"1 hop: selected entry garbage", "198.51.100.2", "10.0.0.1, bogus, 198.51.100.2", 1, ""},
		{"1 hop: selected entry empty", "198.51.100.2", "10.0.0.1,, 198.51.100.2", 1, ""},
		{"1 hop: leading empty entry", "198.51.100.2", ",198.51.100.2", 1, ""},
		{"1 hop: tabs", "198.51.100.2", "\t203.0.113.7\t,198.51.100.2", 1, "203.0.113.7"},
		{"1 hop: entry with port", "198.51.100.2", "203.0.113.7:5555, 198.51.100.2", 1, "203.0.113.7"},
		{"1 hop: ipv6 entry", "[2001:db8::2]:1", "2001:db8::7, 2001:db8::2", 1, "2001:db8::7"},
		{"1 hop: bracketed ipv6 entry with port", "198.51.100.2", "[2001:db8::7]:443, 198.51.100.2", 1, "2001:db8::7"},
		{"1 hop: mapped entry", "198.51.100.2", "::ffff:203.0.113.7, 198.51.100.2", 1, "203.0.113.7"},
		{"1 hop: peer is ignored", "garbage", "203.0.113.7, 198.51.100.2", 1, "203.0.113.7"},

		// Two trusted hops (Envoy's documentation example).
		{"2 hops", "192.0.2.5", "203.0.113.128, 203.0.113.10, 203.0.113.1, 192.0.2.5", 2, "203.0.113.10"},
		{"2 hops: too few", "192.0.2.5", "203.0.113.1, 192.0.2.5", 2, ""},
		{"2 hops: exactly enough", "192.0.2.5", "203.0.113.10,203.0.113.1,192.0.2.5", 2, "203.0.113.10"},

		{"negative hops", "203.0.113.7", "", -1, ""},
		{"huge hops", "203.0.113.7", "1.1.1.1, 2.2.2.2", 1 << 30, ""},
		{"xff too long", "198.51.100.2", strings.Repeat("1.1.1.1,", MaxXFFBytes/8) + "203.0.113.7, 198.51.100.2", 1, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := ClientIP(c.peer, c.xff, c.hops)
			if c.want == "" {
				if ok {
					t.Fatalf("ClientIP(%q, %q, %d) = %v, want failure", c.peer, c.xff, c.hops, got)
				}
				if got.IsValid() {
					t.Fatalf("failure returned valid address %v", got)
				}
				return
			}
			if !ok || got != netip.MustParseAddr(c.want) {
				t.Fatalf("ClientIP(%q, %q, %d) = %v, %v; want %s", c.peer, c.xff, c.hops, got, ok, c.want)
			}
		})
	}
}

// TestClientIPEnvoyChain simulates the headers Envoy hands to ext_authz and
// checks that a client cannot pick its own address by sending
// X-Forwarded-For, with and without a trusted load balancer.
func TestClientIPEnvoyChain(t *testing.T) {
	const client, lb = "203.0.113.7", "198.51.100.2"
	// envoyAppend is what Envoy does with use_remote_address: true.
	envoyAppend := func(xff, peer string) string {
		if xff == "" {
			return peer
		}
		return xff + ", " + peer
	}
	for _, spoof := range []string{"", "10.0.0.1", "10.0.0.1, 10.0.0.2", "127.0.0.1", lb, "junk"} {
		// Direct: client -> Envoy (0 hops).
		got, ok := ClientIP(client+":5000", envoyAppend(spoof, client), 0)
		if !ok || got.String() != client {
			t.Errorf("0 hops, spoof %q: %v %v", spoof, got, ok)
		}
		// Via a load balancer: client -> LB -> Envoy (1 hop).
		atLB := envoyAppend(spoof, client) // the LB appends its peer too
		got, ok = ClientIP(lb+":41000", envoyAppend(atLB, lb), 1)
		if !ok || got.String() != client {
			t.Errorf("1 hop, spoof %q: %v %v", spoof, got, ok)
		}
	}
}

func TestClientIPNoAlloc(t *testing.T) {
	n := testing.AllocsPerRun(100, func() {
		if _, ok := ClientIP("198.51.100.2:41000", "10.0.0.1, [2001:db8::7]:443, 198.51.100.2", 1); !ok {
			t.Fatal("not ok")
		}
	})
	if n != 0 {
		t.Fatalf("ClientIP allocates %v times", n)
	}
}
