package authz

import (
	"net/netip"

	"github.com/apigwio/apigw/authz/acl"
	"github.com/apigwio/apigw/internal/apigerr"
	"github.com/apigwio/apigw/internal/model"
)

// compileACLs builds the access-control set of a deployment. IP lists are
// compiled once per policy and shared by every deployment it is bound to.
func compileACLs(policies []*model.ACLPolicy, cache map[*model.ACLPolicy]*acl.Policy) *acl.Set {
	if len(policies) == 0 {
		return nil
	}
	compiled := make([]*acl.Policy, 0, len(policies))
	for _, p := range policies {
		cp := cache[p]
		if cp == nil {
			cp = &acl.Policy{Name: p.Name, Action: acl.Deny}
			if p.Allow {
				cp.Action = acl.Allow
			}
			switch p.Type {
			case model.ACLIP:
				cp.Type = acl.IP
				cp.IPs, _ = acl.CompileIPs(p.Values) // validated by config
			case model.ACLAccount:
				cp.Type = acl.Account
				cp.Accounts = make(map[string]struct{}, len(p.Values))
				for _, v := range p.Values {
					cp.Accounts[v] = struct{}{}
				}
			}
			cache[p] = cp
		}
		compiled = append(compiled, cp)
	}
	return acl.NewSet(compiled...)
}

// compileTrustedIPs builds an app's trusted address list (nil: any).
func compileTrustedIPs(prefixes []netip.Prefix) *acl.IPList {
	if len(prefixes) == 0 {
		return nil
	}
	entries := make([]string, len(prefixes))
	for i, p := range prefixes {
		entries[i] = p.String()
	}
	l, _ := acl.CompileIPs(entries)
	return l
}

// clientIP resolves the caller's address once per request, the way the
// listener is configured (connection peer, or X-Forwarded-For with trusted
// hops).
func (r *request) clientIP(trustedHops uint32) (netip.Addr, bool) {
	if !r.ipResolved {
		xff, _ := r.header("x-forwarded-for")
		r.ip, r.ipOK = acl.ClientIP(r.peer, xff, int(trustedHops))
		r.ipResolved = true
	}
	return r.ip, r.ipOK
}

// checkIPACL applies the IP policies of a deployment (before
// authentication: an address that may not call is refused without work).
func checkIPACL(t *tables, dep *deployment, r *request) *apigerr.Error {
	if !dep.acls.HasIP() {
		return nil
	}
	ip, ok := r.clientIP(t.snap.Listener.XFFNumTrustedHops)
	if !ok {
		return apigerr.New(apigerr.UnknownClientIP)
	}
	if !dep.acls.DecideIP(ip) {
		return apigerr.New(apigerr.IPNotAuthorized)
	}
	return nil
}

// checkAccountACL applies the account policies to the authenticated caller.
func checkAccountACL(dep *deployment, account string) *apigerr.Error {
	if dep.acls.HasAccount() && !dep.acls.DecideAccount(account) {
		return apigerr.New(apigerr.AccessDenied)
	}
	return nil
}

// checkAppTrustedIP applies an app's trusted address list (APIG.0405).
func checkAppTrustedIP(t *tables, c *caller, r *request) *apigerr.Error {
	if c == nil || c.trustedIPs == nil {
		return nil
	}
	ip, ok := r.clientIP(t.snap.Listener.XFFNumTrustedHops)
	if !ok {
		return apigerr.New(apigerr.UnknownClientIP)
	}
	if !c.trustedIPs.Contains(ip) {
		return apigerr.New(apigerr.AppUntrustedIP)
	}
	return nil
}
