package release

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// ComposeError is Compose's refusal: every difference between the
// releases on an object they share.
type ComposeError struct {
	// Differences, one line each (no secret value is ever in them).
	Differences []string
}

// Error lists the differences, one per line.
func (e *ComposeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the current releases cannot be served together: %d difference(s)", len(e.Differences))
	for _, d := range e.Differences {
		b.WriteString("\n  ")
		b.WriteString(d)
	}
	return b.String()
}

// Compose builds the gateway a replica serves: server, listener, settings
// (and allow_empty) from local; each environment's APIs from its current
// release; refuses (error listing every difference) when releases disagree
// on a shared object.
//
// The rules, for the environments of current in sorted order:
//
//   - environments: E's entry from E's release (E is defined without
//     variables when the release has no entry for it), every other entry
//     from local, else from the first release that has it;
//   - groups: each group of a release that holds APIs published in its
//     environment, in the order first seen. A group in several releases
//     must have the same group-level fields (everything but apis);
//   - APIs: the APIs of E's release published in E. The same API
//     (group/name) in several releases is one API published in all of them
//     when its definitions are equal (environments aside), else one API
//     per definition, each with its own environments (API variants, see
//     docs/configuration.md);
//   - shared objects (apps, IAM users, channels, key pairs, usage plans,
//     token issuers, policies, authorizers, signature keys, gateway
//     responses): the union by name. An object in several releases must be
//     equal once its per-environment parts are cleared (app grants, usage
//     plan apis and environments, policy and signature-key bindings); those
//     parts are then concatenated. A usage plan's apis apply in every
//     environment the API is published in, so a plan may not bind an API by
//     name in one release unless every release that publishes it binds it
//     too.
//
// The result is not validated: the caller builds it (config.Build) as any
// configuration, which refuses what no release could see alone (two
// groups of different releases claiming one domain, say). current's
// releases are not modified; a nil release or configuration is a
// difference, never a panic.
func Compose(local *configv1.Gateway, current map[string]*Release) (*configv1.Gateway, error) {
	return compose(local, current, nil)
}

// compose is Compose; groups, when not nil, adds the groups of every
// release (in the order of srcs) instead of addGroups adding them source
// by source, and returns false when it cannot (the caller then composes
// again with Compose). The differences are then not in Compose's order.
func compose(local *configv1.Gateway, current map[string]*Release, groups func(c *composer, srcs []source) bool) (*configv1.Gateway, error) {
	c := &composer{groups: map[string]*groupAcc{}, plans: map[string]*planUse{}}
	out := &configv1.Gateway{
		Server:     clone(local.GetServer()),
		Listener:   clone(local.GetListener()),
		Settings:   clone(local.GetSettings()),
		AllowEmpty: local.GetAllowEmpty(),
	}
	envs := slices.Sorted(maps.Keys(current))
	var srcs []source
	for _, env := range envs {
		rel := current[env]
		if rel == nil || rel.Config == nil {
			c.diffs = append(c.diffs, fmt.Sprintf("environment %s: its current release has no configuration", env))
			continue
		}
		srcs = append(srcs, source{env: env, number: rel.Number, gw: rel.Config})
	}
	out.Environments = composeEnvironments(local, srcs)
	apps := merged[*configv1.App]{kind: "app", name: (*configv1.App).GetName,
		strip: func(a *configv1.App) { a.Grants = nil },
		join:  func(dst, src *configv1.App) { dst.Grants = append(dst.Grants, cloneAll(src.GetGrants())...) }}
	users := merged[*configv1.IamUser]{kind: "IAM user", name: func(u *configv1.IamUser) string { return u.GetAccount() + "/" + u.GetUser() }}
	channels := merged[*configv1.Channel]{kind: "channel", name: (*configv1.Channel).GetName}
	keyPairs := merged[*configv1.KeyPair]{kind: "key pair", name: (*configv1.KeyPair).GetId}
	plans := merged[*configv1.UsagePlan]{kind: "usage plan", name: (*configv1.UsagePlan).GetName,
		strip: func(p *configv1.UsagePlan) { p.Apis, p.Environments = nil, nil },
		join: func(dst, src *configv1.UsagePlan) {
			dst.Environments = appendNew(dst.Environments, src.GetEnvironments()...)
			dst.Apis = appendNewSet(dst.Apis, src.GetApis())
		}}
	issuers := merged[*configv1.TokenIssuer]{kind: "token issuer", name: (*configv1.TokenIssuer).GetName}
	acls := merged[*configv1.AclPolicy]{kind: "ACL policy", name: (*configv1.AclPolicy).GetName,
		strip: func(p *configv1.AclPolicy) { p.Bindings = nil },
		join: func(dst, src *configv1.AclPolicy) {
			dst.Bindings = append(dst.Bindings, cloneAll(src.GetBindings())...)
		}}
	throttles := merged[*configv1.ThrottlePolicy]{kind: "throttle policy", name: (*configv1.ThrottlePolicy).GetName,
		strip: func(p *configv1.ThrottlePolicy) { p.Bindings = nil },
		join: func(dst, src *configv1.ThrottlePolicy) {
			dst.Bindings = append(dst.Bindings, cloneAll(src.GetBindings())...)
		}}
	authorizers := merged[*configv1.Authorizer]{kind: "authorizer", name: (*configv1.Authorizer).GetName}
	sigKeys := merged[*configv1.SignatureKey]{kind: "signature key", name: (*configv1.SignatureKey).GetName,
		strip: func(k *configv1.SignatureKey) { k.Bindings = nil },
		join: func(dst, src *configv1.SignatureKey) {
			dst.Bindings = append(dst.Bindings, cloneAll(src.GetBindings())...)
		}}
	responses := merged[*configv1.GatewayResponse]{kind: "gateway response", name: (*configv1.GatewayResponse).GetName}
	if groups != nil && !groups(c, srcs) {
		return Compose(local, current)
	}
	for _, s := range srcs {
		if groups == nil {
			c.addGroups(s)
		}
		gw := s.gw
		apps.add(c, s, gw.GetApps())
		users.add(c, s, gw.GetIamUsers())
		channels.add(c, s, gw.GetChannels())
		keyPairs.add(c, s, gw.GetKeyPairs())
		plans.add(c, s, gw.GetUsagePlans())
		c.recordPlans(s)
		issuers.add(c, s, gw.GetTokenIssuers())
		acls.add(c, s, gw.GetAclPolicies())
		throttles.add(c, s, gw.GetThrottlePolicies())
		authorizers.add(c, s, gw.GetAuthorizers())
		sigKeys.add(c, s, gw.GetSignatureKeys())
		responses.add(c, s, gw.GetGatewayResponses())
	}
	out.Groups = c.composedGroups()
	c.checkPlans(plans.list())
	if len(c.diffs) > 0 {
		if groups != nil {
			return Compose(local, current) // the refusal, in Compose's order
		}
		return nil, &ComposeError{Differences: c.diffs}
	}
	out.Apps = apps.list()
	out.IamUsers = users.list()
	out.Channels = channels.list()
	out.KeyPairs = keyPairs.list()
	out.UsagePlans = plans.list()
	out.TokenIssuers = issuers.list()
	out.AclPolicies = acls.list()
	out.ThrottlePolicies = throttles.list()
	out.Authorizers = authorizers.list()
	out.SignatureKeys = sigKeys.list()
	out.GatewayResponses = responses.list()
	return out, nil
}

// source is one environment's current release.
type source struct {
	env    string
	number uint64
	gw     *configv1.Gateway
}

// String names the release as messages do: "BETA #4".
func (s source) String() string {
	if s.number == 0 { // not written yet: the release being published
		return s.env + " (being published)"
	}
	return fmt.Sprintf("%s #%d", s.env, s.number)
}

// composer accumulates the composition and its differences.
type composer struct {
	diffs  []string
	groups map[string]*groupAcc
	order  []string // group names, first seen first
	plans  map[string]*planUse
}

// differ records that two releases define the object differently.
func (c *composer) differ(kind, name string, a, b source, fields []string) {
	what := "its definition"
	if len(fields) > 0 {
		what = strings.Join(fields, ", ")
	}
	c.diffs = append(c.diffs, fmt.Sprintf("%s %q: differs between %s and %s (%s); publish both environments together", kind, name, a, b, what))
}

// composeEnvironments returns the environments of the composition (see
// Compose), local's order first, then the others in the order first seen.
func composeEnvironments(local *configv1.Gateway, srcs []source) []*configv1.Environment {
	released := map[string]*configv1.Environment{} // env -> its release's entry (nil: none)
	has := map[string]bool{}
	for _, s := range srcs {
		has[s.env] = true
		for _, e := range s.gw.GetEnvironments() {
			if e.GetName() == s.env && released[s.env] == nil {
				released[s.env] = e
			}
		}
	}
	var out []*configv1.Environment
	seen := map[string]bool{}
	put := func(e *configv1.Environment) {
		if seen[e.GetName()] {
			return
		}
		seen[e.GetName()] = true
		if has[e.GetName()] {
			e = released[e.GetName()]
			if e == nil {
				return // added below, without variables
			}
		}
		out = append(out, clone(e))
	}
	for _, e := range local.GetEnvironments() {
		put(e)
	}
	for _, s := range srcs {
		for _, e := range s.gw.GetEnvironments() {
			put(e)
		}
	}
	def := defaultEnv(local)
	for _, s := range srcs {
		if released[s.env] == nil && s.env != def {
			out = append(out, &configv1.Environment{Name: s.env})
		}
	}
	return out
}

// groupAcc is a group of the composition.
type groupAcc struct {
	head *configv1.Group // the group-level fields (no apis)
	from source
	apis []*apiAcc
	// byName indexes apis by API name (several: variants).
	byName map[string][]*apiAcc
	// done: head is the composed group (see message).
	done bool
}

// apiAcc is one API definition of the composition and where it is
// published.
type apiAcc struct {
	def  *configv1.Api // without environments
	envs []string
}

// addGroups adds the groups and APIs of s published in s.env.
func (c *composer) addGroups(s source) {
	def := defaultEnv(s.gw)
	for _, g := range s.gw.GetGroups() {
		if apis := publishedAPIs(g, s.env, def); len(apis) > 0 {
			c.addGroup(s, g, apis)
		}
	}
}

// publishedAPIs lists the APIs of g published in env (def: the default
// environment).
func publishedAPIs(g *configv1.Group, env, def string) []*configv1.Api {
	var apis []*configv1.Api
	for _, a := range g.GetApis() {
		if a != nil && publishedIn(a, env, def) {
			apis = append(apis, a)
		}
	}
	return apis
}

// addGroup adds group g of s with apis, its APIs published in s.env.
func (c *composer) addGroup(s source, g *configv1.Group, apis []*configv1.Api) {
	head := groupHead(g)
	acc := c.groups[g.GetName()]
	if acc == nil {
		acc = &groupAcc{head: head, from: s, byName: map[string][]*apiAcc{}}
		c.groups[g.GetName()] = acc
		c.order = append(c.order, g.GetName())
	} else if !proto.Equal(acc.head, head) {
		c.differ("group", g.GetName(), acc.from, s, changedFields(acc.head, head))
	}
next:
	for _, a := range apis {
		d := clone(a)
		d.Environments = nil
		for _, x := range acc.byName[d.GetName()] {
			if proto.Equal(x.def, d) {
				x.envs = appendNew(x.envs, s.env)
				continue next
			}
		}
		x := &apiAcc{def: d, envs: []string{s.env}}
		acc.apis = append(acc.apis, x)
		acc.byName[d.GetName()] = append(acc.byName[d.GetName()], x)
	}
}

// composedGroups returns the groups of the composition.
func (c *composer) composedGroups() []*configv1.Group {
	out := make([]*configv1.Group, 0, len(c.order))
	for _, name := range c.order {
		out = append(out, c.groups[name].message())
	}
	return out
}

// message returns the composed group (built once: the APIs' environments
// are set and the APIs appended to the head).
func (acc *groupAcc) message() *configv1.Group {
	if acc.done {
		return acc.head
	}
	acc.done = true
	g := acc.head
	for _, a := range acc.apis {
		a.def.Environments = a.envs
		g.Apis = append(g.Apis, a.def)
	}
	return g
}

// planUse is how the releases bind one usage plan: per environment, the
// environment itself and the APIs named.
type planUse struct {
	env  map[string]bool
	apis map[string]map[string]bool // env -> API reference -> bound
}

// recordPlans records how s binds its usage plans.
func (c *composer) recordPlans(s source) {
	for _, p := range s.gw.GetUsagePlans() {
		u := c.plans[p.GetName()]
		if u == nil {
			u = &planUse{env: map[string]bool{}, apis: map[string]map[string]bool{}}
			c.plans[p.GetName()] = u
		}
		if slices.Contains(p.GetEnvironments(), s.env) {
			u.env[s.env] = true
		}
		if u.apis[s.env] == nil {
			u.apis[s.env] = map[string]bool{}
		}
		for _, ref := range p.GetApis() {
			u.apis[s.env][ref] = true
		}
	}
}

// checkPlans records a difference for each usage plan whose apis would
// bind an API, in the composition, in an environment whose release does
// not bind it (a plan's apis apply in every environment the API is
// published in).
func (c *composer) checkPlans(plans []*configv1.UsagePlan) {
	for _, p := range plans {
		u := c.plans[p.GetName()]
		if u == nil {
			continue
		}
		for _, ref := range p.GetApis() {
			var by, missing []string
			for _, env := range c.refEnvs(ref) {
				switch {
				case u.apis[env][ref]:
					by = append(by, env)
				case !u.env[env]:
					missing = append(missing, env)
				}
			}
			if len(missing) > 0 {
				c.diffs = append(c.diffs, fmt.Sprintf("usage plan %q: binds %s in %s but not in %s, where it is also published (a plan's apis apply in every environment); publish both environments together",
					p.GetName(), ref, strings.Join(by, ", "), strings.Join(missing, ", ")))
			}
		}
	}
}

// refEnvs lists, sorted, the environments the composition publishes ref
// ("<group>/<api>" or "<group>/*") in.
func (c *composer) refEnvs(ref string) []string {
	group, name, ok := strings.Cut(ref, "/")
	acc := c.groups[group]
	if !ok || acc == nil {
		return nil
	}
	apis := acc.byName[name]
	if name == "*" {
		apis = acc.apis
	}
	var out []string
	for _, a := range apis {
		out = appendNew(out, a.envs...)
	}
	slices.Sort(out)
	return out
}

// merged is the union by name of one kind of shared object.
type merged[M proto.Message] struct {
	kind string
	name func(M) string
	// strip clears the per-environment parts (nil: none).
	strip func(M)
	// join appends the per-environment parts of src to dst (nil: none).
	join   func(dst, src M)
	byName map[string]*mergedEntry[M]
	order  []string
}

type mergedEntry[M proto.Message] struct {
	head M // without the per-environment parts
	out  M
	from source
}

// add merges the objects of s.
func (m *merged[M]) add(c *composer, s source, list []M) {
	if m.byName == nil {
		m.byName = map[string]*mergedEntry[M]{}
	}
	for _, x := range list {
		if !x.ProtoReflect().IsValid() {
			continue // a nil element
		}
		n := m.name(x)
		head := clone(x)
		if m.strip != nil {
			m.strip(head)
		}
		e := m.byName[n]
		if e == nil {
			m.byName[n] = &mergedEntry[M]{head: head, out: clone(x), from: s}
			m.order = append(m.order, n)
			continue
		}
		if !proto.Equal(e.head, head) {
			c.differ(m.kind, n, e.from, s, changedFields(e.head, head))
			continue
		}
		if m.join != nil {
			m.join(e.out, x)
		}
	}
}

// list returns the merged objects, first seen first.
func (m *merged[M]) list() []M {
	if len(m.order) == 0 {
		return nil
	}
	out := make([]M, 0, len(m.order))
	for _, n := range m.order {
		out = append(out, m.byName[n].out)
	}
	return out
}

// appendNewSet is appendNew for long lists.
func appendNewSet(list, vs []string) []string {
	have := make(map[string]bool, len(list))
	for _, v := range list {
		have[v] = true
	}
	for _, v := range vs {
		if !have[v] {
			have[v] = true
			list = append(list, v)
		}
	}
	return list
}

// appendNew appends the values of vs that list does not hold yet.
func appendNew(list []string, vs ...string) []string {
	for _, v := range vs {
		if !slices.Contains(list, v) {
			list = append(list, v)
		}
	}
	return list
}
