package release

import (
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// Kinds of Change.
const (
	Added   = "added"
	Removed = "removed"
	Changed = "changed"
)

// Change is one difference between two configurations.
type Change struct {
	// Kind is Added, Removed or Changed.
	Kind string
	// Object names what changed in the configuration's vocabulary: "api
	// shop/getUser", "app web", "settings". An API defined more than once
	// in its group (variants) is named with its environments: "api
	// shop/getUser (BETA)".
	Object string
	// Detail lists, for a change, the fields that differ ("backend.url,
	// auth"); a secret is named ("secret"), never shown. Empty for an
	// object added or removed.
	Detail string
}

// String renders the change as one line: "changed api shop/getUser:
// backend.url".
func (c Change) String() string {
	s := c.Kind + " " + c.Object
	if c.Detail != "" {
		s += ": " + c.Detail
	}
	return s
}

// Diff lists what changed from a to b in the configuration's vocabulary.
//
// The changes come in the order of the schema (server, listener,
// settings, allow_empty, environments, groups, APIs, apps, IAM users,
// channels, key pairs, usage plans, token issuers, ACL policies, throttle
// policies, authorizers, signature keys, gateway responses), then by
// object name. A group's change lists its own fields; its APIs are
// objects of their own. Nil when a and b are the same.
func Diff(a, b *configv1.Gateway) []Change {
	var out []Change
	single := func(object string, x, y proto.Message) {
		if f := changedFields(x, y); len(f) > 0 {
			out = append(out, Change{Kind: Changed, Object: object, Detail: strings.Join(f, ", ")})
		}
	}
	single("server", a.GetServer(), b.GetServer())
	single("listener", a.GetListener(), b.GetListener())
	single("settings", a.GetSettings(), b.GetSettings())
	if a.GetAllowEmpty() != b.GetAllowEmpty() {
		out = append(out, Change{Kind: Changed, Object: "allow_empty"})
	}
	out = append(out, diffNamed("environment", a.GetEnvironments(), b.GetEnvironments(), (*configv1.Environment).GetName)...)
	heads := func(gw *configv1.Gateway) []*configv1.Group {
		var hs []*configv1.Group
		for _, g := range gw.GetGroups() {
			if g == nil {
				continue
			}
			h := clone(g)
			h.Apis = nil
			hs = append(hs, h)
		}
		return hs
	}
	out = append(out, diffNamed("group", heads(a), heads(b), (*configv1.Group).GetName)...)
	out = append(out, diffAPIs(a, b)...)
	out = append(out, diffNamed("app", a.GetApps(), b.GetApps(), (*configv1.App).GetName)...)
	out = append(out, diffNamed("iam user", a.GetIamUsers(), b.GetIamUsers(), func(u *configv1.IamUser) string { return u.GetAccount() + "/" + u.GetUser() })...)
	out = append(out, diffNamed("channel", a.GetChannels(), b.GetChannels(), (*configv1.Channel).GetName)...)
	out = append(out, diffNamed("key pair", a.GetKeyPairs(), b.GetKeyPairs(), (*configv1.KeyPair).GetId)...)
	out = append(out, diffNamed("usage plan", a.GetUsagePlans(), b.GetUsagePlans(), (*configv1.UsagePlan).GetName)...)
	out = append(out, diffNamed("token issuer", a.GetTokenIssuers(), b.GetTokenIssuers(), (*configv1.TokenIssuer).GetName)...)
	out = append(out, diffNamed("acl policy", a.GetAclPolicies(), b.GetAclPolicies(), (*configv1.AclPolicy).GetName)...)
	out = append(out, diffNamed("throttle policy", a.GetThrottlePolicies(), b.GetThrottlePolicies(), (*configv1.ThrottlePolicy).GetName)...)
	out = append(out, diffNamed("authorizer", a.GetAuthorizers(), b.GetAuthorizers(), (*configv1.Authorizer).GetName)...)
	out = append(out, diffNamed("signature key", a.GetSignatureKeys(), b.GetSignatureKeys(), (*configv1.SignatureKey).GetName)...)
	out = append(out, diffNamed("gateway response", a.GetGatewayResponses(), b.GetGatewayResponses(), (*configv1.GatewayResponse).GetName)...)
	return out
}

// diffNamed compares two lists of objects identified by name (the first
// of a name counts), sorted by name.
func diffNamed[M proto.Message](kind string, a, b []M, name func(M) string) []Change {
	index := func(list []M) map[string]M {
		m := make(map[string]M, len(list))
		for _, x := range list {
			if !x.ProtoReflect().IsValid() {
				continue
			}
			if _, dup := m[name(x)]; !dup {
				m[name(x)] = x
			}
		}
		return m
	}
	ia, ib := index(a), index(b)
	names := make([]string, 0, len(ia)+len(ib))
	for n := range ia {
		names = append(names, n)
	}
	for n := range ib {
		if _, ok := ia[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	var out []Change
	for _, n := range names {
		x, inA := ia[n]
		y, inB := ib[n]
		object := kind + " " + n
		switch {
		case !inB:
			out = append(out, Change{Kind: Removed, Object: object})
		case !inA:
			out = append(out, Change{Kind: Added, Object: object})
		default:
			if f := changedFields(x, y); len(f) > 0 {
				out = append(out, Change{Kind: Changed, Object: object, Detail: strings.Join(f, ", ")})
			}
		}
	}
	return out
}

// diffAPIs compares the APIs by id (group/name). An id defined more than
// once on either side (variants) is compared definition by definition,
// matched by their environments.
func diffAPIs(a, b *configv1.Gateway) []Change {
	index := func(gw *configv1.Gateway) map[string][]*configv1.Api {
		m := map[string][]*configv1.Api{}
		for _, g := range gw.GetGroups() {
			for _, x := range g.GetApis() {
				if x != nil {
					id := g.GetName() + "/" + x.GetName()
					m[id] = append(m[id], x)
				}
			}
		}
		return m
	}
	ia, ib := index(a), index(b)
	ids := make([]string, 0, len(ia)+len(ib))
	for id := range ia {
		ids = append(ids, id)
	}
	for id := range ib {
		if _, ok := ia[id]; !ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	var out []Change
	for _, id := range ids {
		xs, ys := ia[id], ib[id]
		if len(xs) <= 1 && len(ys) <= 1 {
			var x, y *configv1.Api
			if len(xs) == 1 {
				x = xs[0]
			}
			if len(ys) == 1 {
				y = ys[0]
			}
			out = append(out, diffAPI("api "+id, x, y)...)
			continue
		}
		// Variants: each definition of a is compared with the definition
		// of b that shares the most environments with it.
		type pair struct {
			label string
			x, y  *configv1.Api
		}
		var pairs []pair
		used := make([]bool, len(ys))
		for _, x := range xs {
			best, most := -1, 0
			for k, y := range ys {
				if n := overlap(x.GetEnvironments(), y.GetEnvironments()); !used[k] && n > most {
					best, most = k, n
				}
			}
			if best < 0 {
				pairs = append(pairs, pair{envLabel(x.GetEnvironments()), x, nil})
				continue
			}
			used[best] = true
			pairs = append(pairs, pair{envLabel(ys[best].GetEnvironments()), x, ys[best]})
		}
		for k, y := range ys {
			if !used[k] {
				pairs = append(pairs, pair{envLabel(y.GetEnvironments()), nil, y})
			}
		}
		slices.SortStableFunc(pairs, func(p, q pair) int { return strings.Compare(p.label, q.label) })
		for _, p := range pairs {
			out = append(out, diffAPI("api "+id+" ("+p.label+")", p.x, p.y)...)
		}
	}
	return out
}

// diffAPI compares one API definition (nil: absent).
func diffAPI(object string, x, y *configv1.Api) []Change {
	switch {
	case x == nil && y == nil:
		return nil
	case y == nil:
		return []Change{{Kind: Removed, Object: object}}
	case x == nil:
		return []Change{{Kind: Added, Object: object}}
	}
	if f := changedFields(x, y); len(f) > 0 {
		return []Change{{Kind: Changed, Object: object, Detail: strings.Join(f, ", ")}}
	}
	return nil
}

// overlap counts the environments a and b share (a definition without
// environments is in the default one: "" stands for it).
func overlap(a, b []string) int {
	if len(a) == 0 {
		a = []string{""}
	}
	if len(b) == 0 {
		b = []string{""}
	}
	n := 0
	for _, e := range a {
		if slices.Contains(b, e) {
			n++
		}
	}
	return n
}

// envLabel names a set of environments: sorted, comma-separated, or
// "default environment" for none.
func envLabel(envs []string) string {
	if len(envs) == 0 {
		return "default environment"
	}
	s := slices.Clone(envs)
	slices.Sort(s)
	return strings.Join(s, ",")
}
