package config

// Credentials and grants: secrets, apps, IAM users and what they may call.

import (
	"os"
	"strings"

	"github.com/apigwio/apigw/internal/model"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

func (b *builder) secret(path string, s *configv1.Secret) (model.Secret, bool) {
	return b.secretAllowShort(path, s, MinSecretBytes)
}

// secretAllowShort resolves a secret of at least min bytes.
func (b *builder) secretAllowShort(path string, s *configv1.Secret, min int) (model.Secret, bool) {
	var v []byte
	switch src := s.GetSource().(type) {
	case *configv1.Secret_Value:
		v = []byte(src.Value)
	case *configv1.Secret_Env:
		val, ok := b.opts.LookupEnv(src.Env)
		if !ok {
			b.ps.add(path, "environment variable %q is not set", src.Env)
			return model.Secret{}, false
		}
		v = []byte(val)
	case *configv1.Secret_File:
		data, err := b.opts.ReadFile(src.File)
		if err != nil {
			b.ps.add(path, "cannot read secret file %q: %v", src.File, unwrapPathError(err))
			return model.Secret{}, false
		}
		v = []byte(strings.TrimSpace(string(data)))
	default:
		b.ps.add(path, "a secret is required: give value, env or file")
		return model.Secret{}, false
	}
	if len(v) < min || len(v) > MaxSecretBytes {
		b.ps.add(path, "the secret must be %d to %d bytes long (it is %d)", min, MaxSecretBytes, len(v))
		return model.Secret{}, false
	}
	b.secrets = append(b.secrets, v)
	return model.NewSecret(v), true
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func (b *builder) apps(list []*configv1.App) {
	names := map[string]bool{}
	keys := map[string]string{}
	for i, a := range list {
		path := idx("apps", i)
		if !reGroupName.MatchString(a.GetName()) {
			b.ps.add(field(path, "name"), "%q is not a valid app name (letters, digits, _ . -; at most 64)", a.GetName())
		} else if names[a.GetName()] {
			b.ps.add(field(path, "name"), "app %q is defined twice", a.GetName())
		}
		names[a.GetName()] = true
		if !reKey.MatchString(a.GetKey()) {
			b.ps.add(field(path, "key"), "an app key is 1-128 letters, digits, _ . or -")
		} else if first, dup := keys[a.GetKey()]; dup {
			b.ps.add(field(path, "key"), "key is already used by %s", first)
		}
		keys[a.GetKey()] = path
		sec, _ := b.secret(field(path, "secret"), a.GetSecret())
		var grants []model.Grant
		for j, g := range a.GetGrants() {
			if gr, ok := b.grant(idx(field(path, "grants"), j), g); ok {
				grants = append(grants, gr...)
			}
		}
		app := model.NewApp(a.GetName(), a.GetKey(), sec, grants)
		b.appExtras(path, a, app)
		if q := a.GetQuota(); q != nil {
			app.Quota = b.calendarQuota(field(path, "quota"), q)
		}
		b.clientCertSubjects(path, a, app)
		if !a.GetDisabled() {
			b.snap.Apps[a.GetKey()] = app
		}
	}
}

// grant resolves one grant as written ("<group>/<api>" or "<group>/*" and
// its environments), reporting the problems expand would, without
// expanding it into (API, environment) pairs. A grant naming an API with
// variants is one model.Grant per variant.
func (b *builder) grant(path string, g *configv1.Grant) ([]model.Grant, bool) {
	ref, envs := g.GetApi(), g.GetEnvironments()
	group, name, ok := strings.Cut(ref, "/")
	var out model.Grant
	var apis []*model.API
	switch {
	case !ok:
		b.ps.add(field(path, "api"), "%q is not an API id (write <group>/<api> or <group>/*)", ref)
		return nil, false
	case name == "*":
		out.Group = b.group(group)
		if out.Group == nil {
			b.ps.add(field(path, "api"), "group %q is not defined", group)
			return nil, false
		}
		if len(out.Group.APIs) == 0 {
			return nil, false // grants nothing (expand checks no environment)
		}
	default:
		apis = b.definitions(ref)
		if len(apis) == 0 {
			b.ps.add(field(path, "api"), "API %q is not defined", ref)
			return nil, false
		}
	}
	for k, e := range envs {
		if b.envs[e] == nil {
			b.addOnce(idx(field(path, "environments"), k), "environment %q is not defined", e)
			continue
		}
		if len(apis) > 0 && !publishedIn(apis, e) {
			b.ps.add(idx(field(path, "environments"), k), "API %q is not published in environment %s", ref, e)
		}
	}
	out.Environments = envs
	if apis == nil {
		return []model.Grant{out}, true
	}
	list := make([]model.Grant, len(apis))
	for i, api := range apis {
		list[i] = model.Grant{API: api, Environments: envs}
	}
	return list, true
}

// publishedIn reports whether one of apis (the variants of an API) is
// published in env.
func publishedIn(apis []*model.API, env string) bool {
	for _, api := range apis {
		if api.Deployments[env] != nil {
			return true
		}
	}
	return false
}

// target is an API published in an environment.
type target struct {
	api *model.API
	env string
}

// expand resolves an API reference ("<group>/<api>" or "<group>/*") and a
// list of environments (default: every environment the API is published in)
// into published (API, environment) pairs. For a named API, an environment
// it is not published in (in any of its variants) is a problem; a group
// wildcard skips it.
func (b *builder) expand(path, ref string, envs []string) []target {
	var apis []*model.API
	group, name, ok := strings.Cut(ref, "/")
	switch {
	case !ok:
		b.ps.add(field(path, "api"), "%q is not an API id (write <group>/<api> or <group>/*)", ref)
		return nil
	case name == "*":
		grp := b.group(group)
		if grp == nil {
			b.ps.add(field(path, "api"), "group %q is not defined", group)
			return nil
		}
		apis = grp.APIs
	default:
		apis = b.definitions(ref)
		if len(apis) == 0 {
			b.ps.add(field(path, "api"), "API %q is not defined", ref)
			return nil
		}
	}
	if len(apis) > 0 {
		for k, e := range envs {
			if b.envs[e] == nil {
				b.addOnce(idx(field(path, "environments"), k), "environment %q is not defined", e)
			} else if name != "*" && !publishedIn(apis, e) {
				b.ps.add(idx(field(path, "environments"), k), "API %q is not published in environment %s", ref, e)
			}
		}
	}
	var out []target
	for _, api := range apis {
		list := envs
		if len(list) == 0 {
			list = api.Environments
		}
		for _, e := range list {
			if b.envs[e] != nil && api.Deployments[e] != nil {
				out = append(out, target{api, e})
			}
		}
	}
	return out
}

func (b *builder) group(name string) *model.Group {
	for _, g := range b.snap.Groups {
		if g.Name == name {
			return g
		}
	}
	return nil
}

func (b *builder) iamUsers(list []*configv1.IamUser) {
	users := map[string]bool{}
	keys := map[string]bool{}
	for i, u := range list {
		path := idx("iam_users", i)
		if !reGroupName.MatchString(u.GetAccount()) {
			b.ps.add(field(path, "account"), "%q is not a valid account name", u.GetAccount())
		}
		if !reGroupName.MatchString(u.GetUser()) {
			b.ps.add(field(path, "user"), "%q is not a valid user name", u.GetUser())
		}
		if id := u.GetAccount() + "/" + u.GetUser(); users[id] {
			b.ps.add(path, "user %q is defined twice", id)
		} else {
			users[id] = true
		}
		for j, k := range u.GetAccessKeys() {
			kp := idx(field(path, "access_keys"), j)
			if !reKey.MatchString(k.GetId()) {
				b.ps.add(field(kp, "id"), "an access key id is 1-128 letters, digits, _ . or -")
				continue
			}
			if keys[k.GetId()] {
				b.ps.add(field(kp, "id"), "access key %q is defined twice", k.GetId())
				continue
			}
			keys[k.GetId()] = true
			sec, _ := b.secret(field(kp, "secret"), k.GetSecret())
			if !k.GetDisabled() {
				b.snap.AccessKeys[k.GetId()] = &model.AccessKey{ID: k.GetId(), Secret: sec, Account: u.GetAccount(), User: u.GetUser()}
			}
		}
	}
}
