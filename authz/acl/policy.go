package acl

import (
	"errors"
	"net/netip"
	"strconv"
)

// Action is what a policy does with the callers it matches.
type Action uint8

// Actions. The zero Action is invalid.
const (
	// Allow admits only the callers the policy matches (an allow list).
	Allow Action = iota + 1
	// Deny rejects the callers the policy matches (a deny list).
	Deny
)

// String returns "allow" or "deny".
func (a Action) String() string {
	switch a {
	case Allow:
		return "allow"
	case Deny:
		return "deny"
	}
	return "Action(" + strconv.Itoa(int(a)) + ")"
}

// PolicyType says what a policy matches on.
type PolicyType uint8

// Policy types. The zero PolicyType is invalid; [Set.Decide] returns it when
// nothing denied.
const (
	// IP policies match the client IP address ([ClientIP]).
	IP PolicyType = iota + 1
	// Account policies match the caller's account name (for example the
	// account of a verified token's identity).
	Account
)

// String returns "ip" or "account".
func (t PolicyType) String() string {
	switch t {
	case IP:
		return "ip"
	case Account:
		return "account"
	}
	return "PolicyType(" + strconv.Itoa(int(t)) + ")"
}

// Policy is one access-control policy.
type Policy struct {
	// Name identifies the policy in configuration and logs.
	Name string
	// Type is IP or Account.
	Type PolicyType
	// Action is Allow or Deny.
	Action Action
	// IPs is the address list of an IP policy; nil is the empty list.
	IPs *IPList
	// Accounts is the account-name set of an Account policy, matched
	// exactly (case-sensitive). The empty name (anonymous) never matches.
	Accounts map[string]struct{}
}

// Validate checks that p has a known Type and Action and only the field its
// Type uses.
func (p *Policy) Validate() error {
	if p == nil {
		return errors.New("acl: nil policy")
	}
	name := strconv.Quote(clip(p.Name))
	switch p.Type {
	case IP:
		if len(p.Accounts) > 0 {
			return errors.New("acl: policy " + name + ": an ip policy has no accounts")
		}
	case Account:
		if p.IPs != nil {
			return errors.New("acl: policy " + name + ": an account policy has no IP list")
		}
	default:
		return errors.New("acl: policy " + name + ": unknown type " + p.Type.String())
	}
	if p.Action != Allow && p.Action != Deny {
		return errors.New("acl: policy " + name + ": unknown action " + p.Action.String())
	}
	return nil
}

// Set is the compiled group of policies bound to one API in one
// environment. It is immutable and safe for concurrent use. The nil *Set,
// like an empty one, allows everything.
//
// Decisions, per policy type:
//   - a caller matched by any Deny policy of the type is denied (deny wins);
//   - otherwise, when the set has at least one Allow policy of the type, a
//     caller matched by none of them is denied;
//   - otherwise the caller is allowed.
//
// Policy types are independent: IP policies never affect the account
// decision and the other way round. The IP lists of all policies with the
// same action are merged when the Set is built, so a decision costs two
// binary searches whatever the number of policies.
type Set struct {
	ipAllow, ipDeny     *IPList
	hasIPAllow          bool
	hasIPDeny           bool
	acctAllow, acctDeny map[string]struct{}
	hasAcctAllow        bool
	// broken is set when a policy failed Validate: the set then denies
	// everything (fail closed).
	broken bool
}

// NewSet compiles policies into a Set. Nil policies are skipped. An Allow
// policy with an empty list still makes its type an allow-list type, so it
// admits nobody of that type.
//
// A policy that fails [Policy.Validate] makes the whole Set deny every
// request (fail closed); validate policies when loading configuration so that
// never happens in service.
func NewSet(policies ...*Policy) *Set {
	s := &Set{}
	var ipAllow, ipDeny []*IPList
	for _, p := range policies {
		if p == nil {
			continue
		}
		if p.Validate() != nil {
			s.broken = true
			continue
		}
		switch p.Type {
		case IP:
			if p.Action == Allow {
				s.hasIPAllow = true
				ipAllow = append(ipAllow, p.IPs)
			} else {
				s.hasIPDeny = true
				ipDeny = append(ipDeny, p.IPs)
			}
		case Account:
			if p.Action == Allow {
				s.hasAcctAllow = true
				s.acctAllow = addAccounts(s.acctAllow, p.Accounts)
			} else {
				s.acctDeny = addAccounts(s.acctDeny, p.Accounts)
			}
		}
	}
	if s.hasIPAllow {
		s.ipAllow = union(ipAllow)
	}
	if s.hasIPDeny {
		s.ipDeny = union(ipDeny)
	}
	return s
}

func addAccounts(dst, src map[string]struct{}) map[string]struct{} {
	if dst == nil {
		dst = make(map[string]struct{}, len(src))
	}
	for a := range src {
		if a != "" {
			dst[a] = struct{}{}
		}
	}
	return dst
}

// HasIP reports whether the set has any IP policy, that is whether the
// client IP address matters to it.
func (s *Set) HasIP() bool { return s != nil && (s.broken || s.hasIPAllow || s.hasIPDeny) }

// HasAccount reports whether the set has any Account policy.
func (s *Set) HasAccount() bool {
	return s != nil && (s.broken || s.hasAcctAllow || len(s.acctDeny) > 0)
}

// DecideIP reports whether the IP policies admit addr. The invalid (zero)
// Addr, meaning the client address is unknown, is denied when the set has
// any IP policy and allowed otherwise. DecideIP does not allocate.
func (s *Set) DecideIP(addr netip.Addr) (allowed bool) {
	if s == nil {
		return true
	}
	if s.broken {
		return false
	}
	if !s.hasIPAllow && !s.hasIPDeny {
		return true
	}
	if !addr.IsValid() {
		return false
	}
	if s.hasIPDeny && s.ipDeny.Contains(addr) {
		return false
	}
	return !s.hasIPAllow || s.ipAllow.Contains(addr)
}

// DecideAccount reports whether the Account policies admit account. The
// empty account (an anonymous caller) is denied by any Account allow policy
// and is matched by no deny policy. DecideAccount does not allocate.
func (s *Set) DecideAccount(account string) (allowed bool) {
	if s == nil {
		return true
	}
	if s.broken {
		return false
	}
	if account != "" {
		if _, denied := s.acctDeny[account]; denied {
			return false
		}
	}
	if !s.hasAcctAllow {
		return true
	}
	if account == "" {
		return false
	}
	_, ok := s.acctAllow[account]
	return ok
}

// Decide applies the IP policies, then the Account policies, and returns
// whether the request is allowed and, when it is not, which type of policy
// denied it (IP maps to APIG.0402, Account to APIG.0306 in the gateway).
func (s *Set) Decide(addr netip.Addr, account string) (allowed bool, deniedBy PolicyType) {
	if !s.DecideIP(addr) {
		return false, IP
	}
	if !s.DecideAccount(account) {
		return false, Account
	}
	return true, 0
}
