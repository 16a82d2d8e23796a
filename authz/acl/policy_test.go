package acl

import (
	"net/netip"
	"testing"
)

func accounts(names ...string) map[string]struct{} {
	m := make(map[string]struct{}, len(names))
	for _, n := range names {
		m[n] = struct{}{}
	}
	return m
}

func TestSetDecisions(t *testing.T) {
	ipAllow := func(e ...string) *Policy {
		return &Policy{Name: "ip-allow", Type: IP, Action: Allow, IPs: listOf(e...)}
	}
	ipDeny := func(e ...string) *Policy {
		return &Policy{Name: "ip-deny", Type: IP, Action: Deny, IPs: listOf(e...)}
	}
	acAllow := func(a ...string) *Policy {
		return &Policy{Name: "acct-allow", Type: Account, Action: Allow, Accounts: accounts(a...)}
	}
	acDeny := func(a ...string) *Policy {
		return &Policy{Name: "acct-deny", Type: Account, Action: Deny, Accounts: accounts(a...)}
	}
	type check struct {
		ip      string // "" = unknown client address
		account string
		allowed bool
		by      PolicyType
	}
	cases := []struct {
		name     string
		policies []*Policy
		checks   []check
	}{
		{"empty set allows", nil, []check{
			{"1.2.3.4", "", true, 0}, {"", "", true, 0}, {"::1", "acme", true, 0},
		}},
		{"nil policies skipped", []*Policy{nil, nil}, []check{{"1.2.3.4", "", true, 0}}},
		{"ip allow list", []*Policy{ipAllow("10.0.0.0/8")}, []check{
			{"10.1.1.1", "", true, 0},
			{"::ffff:10.1.1.1", "", true, 0},
			{"11.1.1.1", "", false, IP},
			{"", "", false, IP},
		}},
		{"ip deny list", []*Policy{ipDeny("10.0.0.0/8")}, []check{
			{"10.1.1.1", "", false, IP},
			{"11.1.1.1", "", true, 0},
			{"2001:db8::1", "", true, 0},
			{"", "", false, IP},
		}},
		{"deny wins over allow", []*Policy{ipAllow("10.0.0.0/8"), ipDeny("10.1.0.0/16")}, []check{
			{"10.2.0.1", "", true, 0},
			{"10.1.0.1", "", false, IP},
			{"12.0.0.1", "", false, IP},
		}},
		{"several allow lists: any match", []*Policy{ipAllow("10.0.0.0/8"), ipAllow("2001:db8::/32")}, []check{
			{"10.0.0.1", "", true, 0},
			{"2001:db8::5", "", true, 0},
			{"2001:db9::5", "", false, IP},
		}},
		{"empty allow list admits nobody", []*Policy{ipAllow()}, []check{
			{"10.0.0.1", "", false, IP},
		}},
		{"empty deny list denies nobody", []*Policy{ipDeny()}, []check{
			{"10.0.0.1", "", true, 0},
		}},
		{"account allow list", []*Policy{acAllow("acme", "globex")}, []check{
			{"1.2.3.4", "acme", true, 0},
			{"1.2.3.4", "globex", true, 0},
			{"1.2.3.4", "Acme", false, Account},
			{"1.2.3.4", "", false, Account},
			{"", "acme", true, 0},
		}},
		{"account deny list", []*Policy{acDeny("evil")}, []check{
			{"1.2.3.4", "evil", false, Account},
			{"1.2.3.4", "acme", true, 0},
			{"1.2.3.4", "", true, 0},
		}},
		{"anonymous never matches deny list", []*Policy{acDeny("")}, []check{
			{"1.2.3.4", "", true, 0},
		}},
		{"anonymous never matches allow list", []*Policy{acAllow("")}, []check{
			{"1.2.3.4", "", false, Account},
		}},
		{"account deny wins", []*Policy{acAllow("acme", "evil"), acDeny("evil")}, []check{
			{"1.2.3.4", "acme", true, 0},
			{"1.2.3.4", "evil", false, Account},
		}},
		{"mixed types are independent", []*Policy{ipAllow("10.0.0.0/8"), acDeny("evil")}, []check{
			{"10.0.0.1", "acme", true, 0},
			{"10.0.0.1", "", true, 0},
			{"10.0.0.1", "evil", false, Account},
			{"11.0.0.1", "acme", false, IP},
			{"11.0.0.1", "evil", false, IP}, // IP is decided first
		}},
		{"mixed allow lists", []*Policy{ipAllow("10.0.0.0/8"), acAllow("acme")}, []check{
			{"10.0.0.1", "acme", true, 0},
			{"10.0.0.1", "other", false, Account},
			{"11.0.0.1", "acme", false, IP},
		}},
		{"invalid policy fails closed", []*Policy{{Name: "bad", Type: IP}}, []check{
			{"10.0.0.1", "acme", false, IP},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := NewSet(c.policies...)
			for _, ch := range c.checks {
				var addr netip.Addr
				if ch.ip != "" {
					addr = netip.MustParseAddr(ch.ip)
				}
				allowed, by := s.Decide(addr, ch.account)
				if allowed != ch.allowed || by != ch.by {
					t.Errorf("Decide(%q, %q) = %v, %v; want %v, %v", ch.ip, ch.account, allowed, by, ch.allowed, ch.by)
				}
			}
		})
	}
}

func TestNilSet(t *testing.T) {
	var s *Set
	if ok, by := s.Decide(netip.Addr{}, ""); !ok || by != 0 {
		t.Fatal("nil set denies")
	}
	if s.HasIP() || s.HasAccount() {
		t.Fatal("nil set has policies")
	}
}

func TestHas(t *testing.T) {
	s := NewSet(&Policy{Type: IP, Action: Deny})
	if !s.HasIP() || s.HasAccount() {
		t.Fatal("ip-only set")
	}
	s = NewSet(&Policy{Type: Account, Action: Allow})
	if s.HasIP() || !s.HasAccount() {
		t.Fatal("account-only set")
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		p  *Policy
		ok bool
	}{
		{nil, false},
		{&Policy{Type: IP, Action: Allow}, true},
		{&Policy{Type: Account, Action: Deny, Accounts: accounts("a")}, true},
		{&Policy{Type: 0, Action: Allow}, false},
		{&Policy{Type: 9, Action: Allow}, false},
		{&Policy{Type: IP, Action: 0}, false},
		{&Policy{Type: IP, Action: Allow, Accounts: accounts("a")}, false},
		{&Policy{Type: Account, Action: Allow, IPs: listOf("1.2.3.4")}, false},
	}
	for i, c := range cases {
		if err := c.p.Validate(); (err == nil) != c.ok {
			t.Errorf("%d: Validate() = %v", i, err)
		}
	}
}

func TestStrings(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{Allow.String(), "allow"}, {Deny.String(), "deny"}, {Action(7).String(), "Action(7)"},
		{IP.String(), "ip"}, {Account.String(), "account"}, {PolicyType(0).String(), "PolicyType(0)"},
	} {
		if c.got != c.want {
			t.Errorf("%q != %q", c.got, c.want)
		}
	}
}

func TestDecideNoAlloc(t *testing.T) {
	s := NewSet(
		&Policy{Type: IP, Action: Allow, IPs: listOf("10.0.0.0/8")},
		&Policy{Type: IP, Action: Deny, IPs: listOf("10.1.0.0/16")},
		&Policy{Type: Account, Action: Allow, Accounts: accounts("acme")},
	)
	a := netip.MustParseAddr("10.2.3.4")
	n := testing.AllocsPerRun(100, func() {
		if ok, _ := s.Decide(a, "acme"); !ok {
			t.Fatal("denied")
		}
	})
	if n != 0 {
		t.Fatalf("Decide allocates %v times", n)
	}
}

// listOf compiles known-good entries for tests; bad entries give an
// empty list, which the tests would notice.
func listOf(entries ...string) *IPList {
	l, _ := CompileIPs(entries)
	return l
}
