package release

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/apigwio/apigw/internal/config"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// Restrict returns the part of gw environment env serves, validated whole
// by config.Build; the error lists every problem.
//
// gw is validated first as written (its problems are the publisher's,
// whatever environment they concern), then restricted:
//
//   - the APIs published in env (an API without environments is published
//     in the default environment, as config resolves it), each with
//     environments [env]; the groups left without APIs are dropped;
//   - grants, policy bindings and signature-key bindings that apply in env
//     to an API kept, each with environments [env] written out (so that
//     Compose can concatenate them exactly); the others are dropped;
//   - usage plans bound to env (environments [env]) or to APIs kept;
//   - every credential (apps, with the grants left, IAM users, key pairs):
//     a caller known to the gateway but not allowed in env gets the same
//     answer from the release as from the whole configuration;
//   - the other shared objects when the result references them: channels
//     of the backends kept, token issuers when an API kept uses auth token
//     or names issuers, authorizers named by an API kept, gateway
//     responses named by a group kept, policies and signature keys left
//     with a binding. An unreferenced object serves nothing in env, and
//     leaving it out keeps it from conflicting with another environment's
//     release.
//
// Server, listener, settings, allow_empty and every environment's entry are
// kept as written (the release is validated with them; Compose serves a
// replica's own server, listener and settings). gw is not modified.
func Restrict(gw *configv1.Gateway, env string) (*configv1.Gateway, error) {
	return restrict(gw, env, config.Options{})
}

// restrict is Restrict resolving secrets and files with opts.
func restrict(gw *configv1.Gateway, env string, opts config.Options) (*configv1.Gateway, error) {
	if gw == nil {
		gw = &configv1.Gateway{}
	}
	envs := definedEnvs(gw)
	if !slices.Contains(envs, env) {
		return nil, fmt.Errorf("environment %q is not defined (defined: %s)", env, strings.Join(envs, ", "))
	}
	if _, err := config.Build("configuration", gw, opts); err != nil {
		return nil, err
	}
	out := restricted(gw, env)
	if _, err := config.Build("release "+env, out, opts); err != nil {
		return nil, err
	}
	return out, nil
}

// definedEnvs lists the environments gw defines: the default one, then
// those of environments[] in order (each once).
func definedEnvs(gw *configv1.Gateway) []string {
	out := []string{defaultEnv(gw)}
	for _, e := range gw.GetEnvironments() {
		if !slices.Contains(out, e.GetName()) {
			out = append(out, e.GetName())
		}
	}
	return out
}

// defaultEnv is the name of gw's default environment.
func defaultEnv(gw *configv1.Gateway) string {
	if d := gw.GetSettings().GetDefaultEnvironment(); d != "" {
		return d
	}
	return config.DefaultEnvironment
}

// publishedIn reports whether a is published in env, def being the
// default environment.
func publishedIn(a *configv1.Api, env, def string) bool {
	if len(a.GetEnvironments()) == 0 {
		return env == def
	}
	return slices.Contains(a.GetEnvironments(), env)
}

// scope is what a restriction keeps: the groups and APIs (group/name).
type scope struct {
	groups map[string]bool
	apis   map[string]bool
}

// has reports whether ref ("<group>/<api>" or "<group>/*") names something
// kept.
func (s scope) has(ref string) bool {
	group, name, ok := strings.Cut(ref, "/")
	switch {
	case !ok:
		return false
	case name == "*":
		return s.groups[group]
	default:
		return s.apis[ref]
	}
}

// reduceEnvs reduces the environments of a grant or binding to env: nil
// when it does not apply in env, else [env].
func reduceEnvs(envs []string, env string) []string {
	if len(envs) > 0 && !slices.Contains(envs, env) {
		return nil
	}
	return []string{env}
}

// restricted is gw restricted to env (see Restrict), without validation.
func restricted(gw *configv1.Gateway, env string) *configv1.Gateway {
	def := defaultEnv(gw)
	out := &configv1.Gateway{
		Server:       clone(gw.GetServer()),
		Listener:     clone(gw.GetListener()),
		Settings:     clone(gw.GetSettings()),
		Environments: cloneAll(gw.GetEnvironments()),
		AllowEmpty:   gw.GetAllowEmpty(),
	}
	sc := scope{groups: map[string]bool{}, apis: map[string]bool{}}
	channels := map[string]bool{}
	authorizers := map[string]bool{}
	responses := map[string]bool{}
	var token bool
	for _, g := range gw.GetGroups() {
		var apis []*configv1.Api
		for _, a := range g.GetApis() {
			if a == nil || !publishedIn(a, env, def) {
				continue
			}
			c := clone(a)
			c.Environments = []string{env}
			apis = append(apis, c)
			sc.apis[g.GetName()+"/"+a.GetName()] = true
			if a.GetAuth() == "token" || len(a.GetTokenIssuers()) > 0 {
				token = true
			}
			if n := a.GetAuthorizer(); n != "" {
				authorizers[n] = true
			}
			channels[a.GetBackend().GetChannel()] = true
			for _, p := range a.GetBackendPolicies() {
				channels[p.GetBackend().GetChannel()] = true
			}
		}
		if len(apis) == 0 {
			continue
		}
		grp := groupHead(g)
		grp.Apis = apis
		out.Groups = append(out.Groups, grp)
		sc.groups[g.GetName()] = true
		if r := g.GetGatewayResponse(); r != "" {
			responses[r] = true
		}
	}
	for _, a := range gw.GetApps() {
		if a == nil {
			continue
		}
		c := clone(a)
		c.Grants = nil
		for _, g := range a.GetGrants() {
			if envs := reduceEnvs(g.GetEnvironments(), env); envs != nil && sc.has(g.GetApi()) {
				c.Grants = append(c.Grants, &configv1.Grant{Api: g.GetApi(), Environments: envs})
			}
		}
		out.Apps = append(out.Apps, c)
	}
	out.IamUsers = cloneAll(gw.GetIamUsers())
	out.KeyPairs = cloneAll(gw.GetKeyPairs())
	for _, c := range gw.GetChannels() {
		if channels[c.GetName()] {
			out.Channels = append(out.Channels, clone(c))
		}
	}
	for _, p := range gw.GetUsagePlans() {
		if p == nil {
			continue
		}
		c := clone(p)
		c.Environments, c.Apis = nil, nil
		if slices.Contains(p.GetEnvironments(), env) {
			c.Environments = []string{env}
		}
		for _, ref := range p.GetApis() {
			if sc.has(ref) {
				c.Apis = append(c.Apis, ref)
			}
		}
		if len(c.Environments) == 0 && len(c.Apis) == 0 {
			continue
		}
		out.UsagePlans = append(out.UsagePlans, c)
	}
	if token {
		out.TokenIssuers = cloneAll(gw.GetTokenIssuers())
	}
	for _, p := range gw.GetAclPolicies() {
		if bs := reduceBindings(p.GetBindings(), env, sc); bs != nil {
			c := clone(p)
			c.Bindings = bs
			out.AclPolicies = append(out.AclPolicies, c)
		}
	}
	for _, p := range gw.GetThrottlePolicies() {
		if bs := reduceBindings(p.GetBindings(), env, sc); bs != nil {
			c := clone(p)
			c.Bindings = bs
			out.ThrottlePolicies = append(out.ThrottlePolicies, c)
		}
	}
	for _, a := range gw.GetAuthorizers() {
		if authorizers[a.GetName()] {
			out.Authorizers = append(out.Authorizers, clone(a))
		}
	}
	for _, k := range gw.GetSignatureKeys() {
		if bs := reduceBindings(k.GetBindings(), env, sc); bs != nil {
			c := clone(k)
			c.Bindings = bs
			out.SignatureKeys = append(out.SignatureKeys, c)
		}
	}
	for _, r := range gw.GetGatewayResponses() {
		if responses[r.GetName()] {
			out.GatewayResponses = append(out.GatewayResponses, clone(r))
		}
	}
	return out
}

// reduceBindings keeps the bindings that apply in env to something kept,
// each with environments [env]; nil when none is left.
func reduceBindings(list []*configv1.Binding, env string, sc scope) []*configv1.Binding {
	var out []*configv1.Binding
	for _, b := range list {
		if envs := reduceEnvs(b.GetEnvironments(), env); envs != nil && sc.has(b.GetApi()) {
			out = append(out, &configv1.Binding{Api: b.GetApi(), Environments: envs})
		}
	}
	return out
}

// groupHead is a deep copy of g without its APIs (which are not copied
// first, unlike clone(g)).
func groupHead(g *configv1.Group) *configv1.Group {
	h := &configv1.Group{}
	g.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Number() != groupApisField {
			h.ProtoReflect().Set(fd, v) // shared until the clone below
		}
		return true
	})
	return clone(h)
}

// groupApisField is the number of Group.apis.
var groupApisField = (&configv1.Group{}).ProtoReflect().Descriptor().Fields().ByName("apis").Number()

// clone is a deep copy of m (nil for nil).
func clone[M proto.Message](m M) M {
	return proto.Clone(m).(M)
}

// cloneAll is a deep copy of list.
func cloneAll[M proto.Message](list []M) []M {
	if list == nil {
		return nil
	}
	out := make([]M, len(list))
	for i, m := range list {
		out[i] = clone(m)
	}
	return out
}
