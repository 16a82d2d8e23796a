package config

// Groups and their APIs: routes, CORS and the API model.

import (
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/apigwio/apigw/internal/apigerr"
	"github.com/apigwio/apigw/internal/model"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

func (b *builder) groups(list []*configv1.Group) {
	if len(list) == 0 && !b.allowEmpty {
		b.ps.add("groups", "no groups: refusing to publish an empty configuration (set allow_empty: true to serve no APIs on purpose)")
	}
	seenGroup := map[string]bool{}
	routes := map[string]string{}      // route key -> path of first declaration
	domainOwner := map[string]string{} // lower-cased domain -> group (Envoy: one virtual host per domain)
	for i, g := range list {
		path := idx("groups", i)
		if !reGroupName.MatchString(g.GetName()) {
			b.ps.add(field(path, "name"), "%q is not a valid group name (letters, digits, _ . -; at most 64)", g.GetName())
			continue
		}
		if seenGroup[g.GetName()] {
			b.ps.add(field(path, "name"), "group %q is defined twice", g.GetName())
			continue
		}
		seenGroup[g.GetName()] = true
		grp := &model.Group{Name: g.GetName(), Domains: g.GetDomains()}
		switch g.GetErrorDialect() {
		case "", "apig":
		case "tencent":
			grp.Dialect = apigerr.Tencent
		default:
			b.ps.add(field(path, "error_dialect"), "%q is not apig or tencent", g.GetErrorDialect())
		}
		b.responseSet(path, g, grp)
		if pe := g.GetPathEnvironments(); pe.GetEnabled() {
			grp.PathEnvironments = b.pathEnvironments(field(path, "path_environments"), pe)
		}
		if len(grp.Domains) == 0 {
			grp.Domains = []string{"*"}
		}
		for j, d := range grp.Domains {
			if d == "" || strings.ContainsAny(d, " /\t") {
				b.ps.add(idx(field(path, "domains"), j), "%q is not a domain", d)
				continue
			}
			switch owner, dup := domainOwner[strings.ToLower(d)]; {
			case dup && owner == grp.Name:
				b.ps.add(idx(field(path, "domains"), j), "domain %q is listed twice", d)
			case dup:
				b.ps.add(idx(field(path, "domains"), j), "domain %q is already used by group %q (give each group its own domains)", d, owner)
			default:
				domainOwner[strings.ToLower(d)] = grp.Name
			}
		}
		b.groupTLS(path, grp, g.GetTls())
		grp.Digest = b.digests.groups[i]
		if old := b.reuse[grp.Digest]; old != nil {
			// Same definition and same surroundings: the same model, but
			// for the policy bindings made below (apps, usage plans, ACL
			// and throttle policies bind this snapshot's objects): shared
			// when it binds none of them (see shareable), copied when it
			// does.
			grp.APIs = make([]*model.API, 0, len(old.APIs))
			for _, a := range old.APIs {
				api := a
				if b.shareable(a, grp) {
					b.sharedAPIs = append(b.sharedAPIs, a)
				} else {
					api = b.reuseAPI(a)
					api.Responses = grp.Responses
				}
				grp.APIs = append(grp.APIs, api)
				if api == a && b.baseAPIs {
					// In snap.APIs already (baseAPIs).
					b.countAPI(api)
				} else {
					b.addAPI(api)
				}
			}
			grp.Warnings = old.Warnings
			b.snap.Warnings = append(b.snap.Warnings, old.Warnings...)
			b.snap.Groups = append(b.snap.Groups, grp)
			continue
		}
		warned := len(b.snap.Warnings)
		prev := b.previousAPIs(grp.Name)
		for j, a := range g.GetApis() {
			var api *model.API
			shared := false
			digest := b.apiDigest(i, j)
			if old := prev[digest]; old != nil {
				api, shared = b.reusedAPI(idx(field(path, "apis"), j), old, grp, routes)
			} else {
				api = b.api(idx(field(path, "apis"), j), grp.Name, a, routes)
			}
			if api != nil && shared {
				// As resolved before (its replay protection is off:
				// nothing to check or warn about again).
				if api.Variant != "" && grp.PathEnvironments == nil {
					b.variantPreflight(idx(field(path, "apis"), j), api)
				}
				grp.APIs = append(grp.APIs, api)
				b.addAPI(api)
				continue
			}
			if api != nil {
				api.Digest = digest
				api.Dialect = grp.Dialect
				api.Responses = grp.Responses
				if api.HideCredentials == nil && g.HideCredentials != nil {
					v := g.GetHideCredentials()
					api.HideCredentials = &v
				}
				b.replay(idx(field(path, "apis"), j), path, g, a, api)
				if api.Variant != "" && grp.PathEnvironments == nil {
					b.variantPreflight(idx(field(path, "apis"), j), api)
				}
				grp.APIs = append(grp.APIs, api)
				b.addAPI(api)
			}
		}
		grp.Warnings = slices.Clone(b.snap.Warnings[warned:])
		b.snap.Groups = append(b.snap.Groups, grp)
	}
}

// addAPI adds api to the snapshot, under its key (a later variant of an
// API under its ID and environments).
func (b *builder) addAPI(api *model.API) {
	b.snap.APIs[api.Key()] = api
	b.countAPI(api)
}

// countAPI counts api, an API of the snapshot, and records it when it is
// a later variant (see definitions).
func (b *builder) countAPI(api *model.API) {
	if api.Variant == "" {
		b.apiCount++
		return
	}
	b.later[api.ID] = append(b.later[api.ID], api)
}

// definitions returns the definitions of the API id added so far, in
// declaration order (more than one: variants, see model.API.Variant);
// nil when there is none.
func (b *builder) definitions(id string) []*model.API {
	first := b.snap.APIs[id]
	if first == nil {
		return nil
	}
	later := b.later[id]
	if len(later) == 0 {
		return []*model.API{first}
	}
	return append([]*model.API{first}, later...)
}

// variantPreflight refuses a variant whose CORS policy differs from that
// of an earlier variant with the same method, path and match: a browser's
// preflight request does not say the environment (X-Stage is not sent on
// it), so one preflight route answers for both.
func (b *builder) variantPreflight(path string, api *model.API) {
	for _, p := range b.definitions(api.ID) {
		if p.Method == api.Method && p.Path == api.Path && p.Match == api.Match && (p.CORS != nil || api.CORS != nil) && !reflect.DeepEqual(p.CORS, api.CORS) {
			b.ps.add(field(path, "cors"), "API %q: variants with the same method and path must have the same cors (a preflight request does not say its environment; %s and %s would share one preflight answer)",
				api.Name, envList(p.Environments), envList(api.Environments))
			return
		}
	}
}

// apiDigest is the digest of API j of group i (zero when unknown).
func (b *builder) apiDigest(i, j int) model.Digest {
	if i < len(b.digests.apis) && j < len(b.digests.apis[i]) {
		return b.digests.apis[i][j]
	}
	return model.Digest{}
}

// previousAPIs returns the API models of the reused snapshot's group
// named group, by API digest (nil if there is none). An API digest
// covers the group's own fields, so only that group can hold an API
// with the digest of one of this group's.
func (b *builder) previousAPIs(group string) map[model.Digest]*model.API {
	for _, g := range b.reuse {
		if g.Name != group {
			continue
		}
		out := make(map[model.Digest]*model.API, len(g.APIs))
		for _, a := range g.APIs {
			if !a.Digest.IsZero() {
				out[a.Digest] = a
			}
		}
		return out
	}
	return nil
}

// reusedAPI is api for an API whose digest is that of old, an API of the
// previous snapshot, with what depends on the other APIs of the group
// checked again (duplicate routes, variants): old itself when it can be
// shared (shared true: see shareable; and without replay protection, so
// that the group's settings have nothing to change in it), else a copy
// (reuseAPI) in which the caller sets what comes from the group
// (dialect, responses, replay protection) again.
func (b *builder) reusedAPI(path string, old *model.API, grp *model.Group, routes map[string]string) (api *model.API, shared bool) {
	for _, e := range old.Environments {
		b.routeKey(path, old, e, routes)
	}
	variant, ok := b.variantOf(path, old)
	if !ok {
		return nil, false
	}
	if variant == old.Variant && old.Replay == nil && b.shareable(old, grp) {
		b.sharedAPIs = append(b.sharedAPIs, old)
		return old, true
	}
	api = b.reuseAPI(old)
	api.Variant, api.Replay = variant, nil
	return api, false
}

// shareable reports whether old, the model of an API of a previous
// snapshot whose digest is unchanged, can be this snapshot's as it is
// (shared, never changed) instead of copied: when nothing in it is an
// object of its own snapshot, that is it has no authorizer, no gateway
// responses and no policy bindings on its deployments. The bindings of
// an API depend only on the definitions outside the groups and on the
// API's ID and environments, all in its digest: an API that had none has
// none again (and should a binding be made to it all the same, own
// copies it first).
func (b *builder) shareable(old *model.API, grp *model.Group) bool {
	if old.Authorizer != nil || old.Responses != nil || grp.Responses != nil {
		return false
	}
	for _, d := range old.Deployments {
		if len(d.ACLs) > 0 || d.Throttle != nil || len(d.UsagePlans) > 0 {
			return false
		}
	}
	return true
}

// own returns d, a deployment of this snapshot, ready to take a policy
// binding: when d belongs to an API shared with a previous snapshot, the
// API is copied first (and replaced by its copy in the snapshot), and the
// copy's deployment is returned.
func (b *builder) own(d *model.Deployment) *model.Deployment {
	if len(b.sharedAPIs) == 0 {
		return d
	}
	if c := b.owned[d]; c != nil {
		return c
	}
	if b.sharedDeps == nil {
		b.sharedDeps = map[*model.Deployment]*model.API{}
		b.owned = map[*model.Deployment]*model.Deployment{}
		for _, api := range b.sharedAPIs {
			for _, sd := range api.Deployments {
				b.sharedDeps[sd] = api
			}
		}
	}
	api := b.sharedDeps[d]
	if api == nil {
		return d
	}
	c := b.reuseAPI(api)
	b.snap.APIs[c.Key()] = c
	if i := slices.Index(b.later[c.ID], api); i >= 0 {
		b.later[c.ID][i] = c
	}
	if g := b.group(c.Group); g != nil {
		if i := slices.Index(g.APIs, api); i >= 0 {
			g.APIs[i] = c
		}
	}
	for env, sd := range api.Deployments {
		delete(b.sharedDeps, sd)
		b.owned[sd] = c.Deployments[env]
	}
	return b.owned[d]
}

// routeKey records the route of api in environment e, refusing a second
// API with the same method, match and path in e.
func (b *builder) routeKey(path string, api *model.API, e string, routes map[string]string) {
	rk := strings.Join([]string{api.Group, api.Method, api.Match.String(), routePath(api), e}, "\x00")
	if first, dup := routes[rk]; dup {
		b.ps.add(path, "duplicate route: %s %s (%s match) in environment %s is already defined at %s", api.Method, api.Path, api.Match, e, first)
	} else {
		routes[rk] = path
	}
}

// reuseAPI copies an API of a previous snapshot's group with the same
// digest: what the group defines is shared (read-only), what the rest of
// the configuration binds to its deployments is left for this build to
// bind (model.Deployment's bound fields), and the authorizer is this
// snapshot's.
func (b *builder) reuseAPI(old *model.API) *model.API {
	api := *old
	api.Deployments = make(map[string]*model.Deployment, len(old.Deployments))
	for env, d := range old.Deployments {
		dep := *d
		dep.ACLs, dep.Throttle, dep.UsagePlans = nil, nil, nil
		api.Deployments[env] = &dep
	}
	if old.Authorizer != nil {
		api.Authorizer = b.authorizerByName[old.Authorizer.Name]
	}
	return &api
}

func (b *builder) api(path, group string, a *configv1.Api, routes map[string]string) *model.API {
	if !reGroupName.MatchString(a.GetName()) {
		b.ps.add(field(path, "name"), "%q is not a valid API name (letters, digits, _ . -; at most 64)", a.GetName())
		return nil
	}
	b.apiURLs = b.apiURLs[:0]
	api := &model.API{
		ID:          group + "/" + a.GetName(),
		Name:        a.GetName(),
		Group:       group,
		Method:      strings.ToUpper(a.GetMethod()),
		Path:        a.GetPath(),
		WebSocket:   a.GetWebsocket(),
		Deployments: map[string]*model.Deployment{},
	}
	if api.Method == "" {
		api.Method = model.MethodAny
	} else if !methods[api.Method] {
		b.ps.add(field(path, "method"), "%q is not one of GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS, ANY", a.GetMethod())
	}
	if !strings.HasPrefix(api.Path, "/") || len(api.Path) > 1024 || strings.ContainsAny(api.Path, "?# \t\r\n") {
		b.ps.add(field(path, "path"), "%q must start with / and contain no query, fragment or spaces (at most 1024 bytes)", api.Path)
	}
	switch a.GetMatch() {
	case "", "exact":
		api.Match = model.MatchExact
	case "prefix":
		api.Match = model.MatchPrefix
	default:
		b.ps.add(field(path, "match"), "%q is not exact or prefix", a.GetMatch())
	}
	switch a.GetAuth() {
	case "", "app":
		api.Auth = model.AuthApp
	case "iam":
		api.Auth = model.AuthIAM
	case "none":
		api.Auth = model.AuthNone
	case "hmac":
		api.Auth = model.AuthHMAC
	case "token":
		api.Auth = model.AuthToken
	case "app_code":
		api.Auth = model.AuthAppCode
	case "mtls":
		api.Auth = model.AuthMTLS
	case "authorizer":
		api.Auth = model.AuthAuthorizer
		api.Authorizer = b.authorizerByName[a.GetAuthorizer()]
		if api.Authorizer == nil {
			b.ps.add(field(path, "authorizer"), "authorizer %q is not defined (auth authorizer names one of authorizers[])", a.GetAuthorizer())
		}
	default:
		b.ps.add(field(path, "auth"), "%q is not one of app, iam, hmac, token, app_code, authorizer, mtls, none", a.GetAuth())
	}
	if a.GetAuthorizer() != "" && api.Auth != model.AuthAuthorizer {
		b.ps.add(field(path, "authorizer"), "authorizer applies to auth authorizer only")
	}
	api.AppCode = a.GetAppCode() || api.Auth == model.AuthAppCode
	if a.HideCredentials != nil {
		v := a.GetHideCredentials()
		api.HideCredentials = &v
	}
	if a.GetAppCode() && api.Auth != model.AuthApp {
		b.ps.add(field(path, "app_code"), "app_code applies to auth app only")
	}
	api.HMAC = b.snap.Settings.HMAC
	if a.GetHmac() != nil {
		if api.Auth != model.AuthHMAC {
			b.ps.add(field(path, "hmac"), "hmac settings apply to auth hmac only")
		}
		api.HMAC = b.hmac(field(path, "hmac"), a.GetHmac(), api.HMAC)
	}
	for k, name := range a.GetTokenIssuers() {
		if !b.issuerNames[name] {
			b.ps.add(idx(field(path, "token_issuers"), k), "token issuer %q is not defined", name)
		}
	}
	api.TokenIssuers = a.GetTokenIssuers()
	if api.Auth == model.AuthToken && len(b.snap.TokenIssuers) == 0 {
		b.ps.add(field(path, "auth"), "auth token needs at least one token_issuers entry")
	}
	if c := a.GetCors(); c != nil {
		api.CORS = b.cors(field(path, "cors"), c)
	}
	api.Parameters = b.parameters(path, a, api)
	api.Body = b.bodyValidation(path, a)
	envs := a.GetEnvironments()
	if len(envs) == 0 {
		envs = []string{b.snap.Settings.DefaultEnvironment}
	}
	for k, e := range envs {
		env := b.envs[e]
		if env == nil {
			b.ps.add(idx(field(path, "environments"), k), "environment %q is not defined", e)
			continue
		}
		if api.Deployments[e] != nil {
			b.ps.add(idx(field(path, "environments"), k), "environment %q is listed twice", e)
			continue
		}
		b.routeKey(path, api, e, routes)
		dep := &model.Deployment{Environment: e}
		dep.Backend = b.backend(field(path, "backend"), a.GetBackend(), env)
		b.backendPathTemplate(backendPathField(field(path, "backend"), a.GetBackend()), api, dep.Backend, true)
		for m, p := range a.GetBackendPolicies() {
			pp := idx(field(path, "backend_policies"), m)
			if p.GetBackend() == nil {
				b.ps.add(field(pp, "backend"), "a backend policy needs a backend")
				continue
			}
			pb := b.backend(field(pp, "backend"), p.GetBackend(), env)
			b.backendPathTemplate(backendPathField(field(pp, "backend"), p.GetBackend()), api, pb, false)
			dep.Policies = append(dep.Policies, model.BackendPolicy{
				Name:       p.GetName(),
				Conditions: b.conditions(pp, p.GetConditions(), env.Default),
				Backend:    pb,
			})
		}
		api.Deployments[e] = dep
		api.Environments = append(api.Environments, e)
	}
	sort.Slice(api.Environments, func(i, j int) bool {
		ei, ej := b.envs[api.Environments[i]], b.envs[api.Environments[j]]
		if ei.Default != ej.Default {
			return ei.Default
		}
		return ei.Name < ej.Name
	})
	v, ok := b.variantOf(path, api)
	if !ok {
		return nil
	}
	api.Variant = v
	return api
}

// variantOf checks api against the earlier definitions of its ID in its
// group, and returns its Variant: "" if there are none, its environments
// if there are; false if it cannot be a variant (reported).
func (b *builder) variantOf(path string, api *model.API) (string, bool) {
	if prev := b.definitions(api.ID); len(prev) > 0 {
		// Variants: definitions of one API published in different
		// environments.
		var shared []string
		for _, p := range prev {
			for _, e := range api.Environments {
				if p.Deployments[e] != nil && !slices.Contains(shared, e) {
					shared = append(shared, e)
				}
			}
		}
		if len(shared) > 0 {
			b.ps.add(field(path, "name"), "API %q is defined twice in group %q, both published in %s (definitions of one API must be published in different environments)",
				api.Name, api.Group, envList(shared))
			return "", false
		}
		if len(api.Environments) == 0 {
			return "", false // none of its environments is defined (reported)
		}
		return strings.Join(api.Environments, ","), true
	}
	return "", true
}

// envList names environments in a message: "BETA and RELEASE".
func envList(envs []string) string {
	switch len(envs) {
	case 0:
		return ""
	case 1:
		return envs[0]
	}
	return strings.Join(envs[:len(envs)-1], ", ") + " and " + envs[len(envs)-1]
}

func (b *builder) cors(path string, c *configv1.Cors) *model.CORS {
	out := &model.CORS{
		AllowOrigins:     c.GetAllowOrigins(),
		AllowMethods:     c.GetAllowMethods(),
		AllowHeaders:     c.GetAllowHeaders(),
		ExposeHeaders:    c.GetExposeHeaders(),
		AllowCredentials: c.GetAllowCredentials(),
	}
	if len(out.AllowOrigins) == 0 {
		b.ps.add(field(path, "allow_origins"), "list at least one origin, or \"*\"")
	}
	if out.AllowCredentials && slices.Contains(out.AllowOrigins, "*") {
		b.ps.add(field(path, "allow_credentials"), "allow_credentials cannot be combined with allow_origins \"*\": browsers refuse credentialed responses to any origin, and echoing the caller's origin instead would let every site make authenticated calls; list the origins")
	}
	for i, m := range out.AllowMethods {
		if !methods[strings.ToUpper(m)] || strings.ToUpper(m) == model.MethodAny {
			b.ps.add(idx(field(path, "allow_methods"), i), "%q is not an HTTP method", m)
		}
	}
	for _, hs := range []struct {
		name string
		list []string
	}{{"allow_headers", out.AllowHeaders}, {"expose_headers", out.ExposeHeaders}} {
		for i, h := range hs.list {
			if !reHeader.MatchString(h) {
				b.ps.add(idx(field(path, hs.name), i), "%q is not a header name", h)
			}
		}
	}
	if c.GetMaxAge() != "" {
		out.MaxAge = b.duration(field(path, "max_age"), c.GetMaxAge(), 0, time.Second, 24*time.Hour)
	}
	return out
}
