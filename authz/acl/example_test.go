package acl_test

import (
	"fmt"
	"net/netip"

	"github.com/apigwio/apigw/authz/acl"
)

func ExampleClientIP() {
	// One trusted load balancer (xff_num_trusted_hops: 1). The client sent a
	// forged X-Forwarded-For: 10.0.0.1; the load balancer appended the
	// client, Envoy appended the load balancer.
	ip, ok := acl.ClientIP("198.51.100.2:41000", "10.0.0.1, 203.0.113.7, 198.51.100.2", 1)
	fmt.Println(ip, ok)

	// No trusted hops: the peer, whatever X-Forwarded-For says.
	ip, ok = acl.ClientIP("203.0.113.7:5000", "10.0.0.1, 203.0.113.7", 0)
	fmt.Println(ip, ok)

	// Too few entries for the configured hops: unknown (APIG.0401).
	ip, ok = acl.ClientIP("198.51.100.2:41000", "198.51.100.2", 1)
	fmt.Println(ip, ok)
	// Output:
	// 203.0.113.7 true
	// 203.0.113.7 true
	// invalid IP false
}

func ExampleNewSet() {
	office, errs := acl.CompileIPs([]string{"203.0.113.0/24", "2001:db8::/32"})
	if errs != nil {
		panic(errs)
	}
	blocked, _ := acl.CompileIPs([]string{"203.0.113.66"})
	set := acl.NewSet(
		&acl.Policy{Name: "office", Type: acl.IP, Action: acl.Allow, IPs: office},
		&acl.Policy{Name: "blocked", Type: acl.IP, Action: acl.Deny, IPs: blocked},
		&acl.Policy{Name: "partners", Type: acl.Account, Action: acl.Allow,
			Accounts: map[string]struct{}{"acme": {}}},
	)
	for _, c := range []struct{ ip, account string }{
		{"203.0.113.7", "acme"},
		{"203.0.113.66", "acme"},
		{"198.51.100.1", "acme"},
		{"::ffff:203.0.113.7", ""},
	} {
		allowed, by := set.Decide(netip.MustParseAddr(c.ip), c.account)
		fmt.Println(c.ip, c.account, allowed, by)
	}
	_, errs = acl.CompileIPs([]string{"10.0.0.0/8", "10.0.0.300", "fe80::1%eth0"})
	for _, err := range errs {
		fmt.Println(err)
	}
	// Output:
	// 203.0.113.7 acme true PolicyType(0)
	// 203.0.113.66 acme false ip
	// 198.51.100.1 acme false ip
	// ::ffff:203.0.113.7  false account
	// entry 1 "10.0.0.300": not an IP address, CIDR prefix or range
	// entry 2 "fe80::1%eth0": IPv6 zones are not allowed
}
