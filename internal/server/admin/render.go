package admin

import (
	"fmt"
	"net/netip"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/apigwio/apigw/internal/apigerr"
	"github.com/apigwio/apigw/internal/model"
)

// Render returns the resolved snapshot as the user would write it, for
// /debug/config: snake_case keys named as in the configuration file,
// durations as strings ("15m0s"), enums by name, URLs and addresses as
// strings (URL userinfo redacted), and every secret "[redacted]". It walks
// the model by reflection, so a new model field shows up without a change
// here; names that differ between the model and the file are in
// renderNames.
func Render(snap *model.Snapshot) any {
	if snap == nil {
		return map[string]any{"loaded": false}
	}
	return renderWith(snap, render(reflect.ValueOf(snap.Groups), ""))
}

// SummaryAbove is the number of APIs above which /debug/config shows the
// groups without their APIs (RenderSummary): the whole configuration of
// 10,000 APIs is ~22 MB of JSON and takes about a second of CPU to
// render, so a look at the settings would cost that much; each group is
// then at /debug/config?group=NAME, everything at ?full=true.
const SummaryAbove = 1000

// RenderSummary is Render with each group's APIs replaced by their count
// (api_count) and the address of the group's own view (apis_at).
func RenderSummary(snap *model.Snapshot) any {
	if snap == nil {
		return Render(snap)
	}
	return renderSummary(snap, snap.APICount())
}

// renderSummary is RenderSummary of snap, which has apis APIs.
func renderSummary(snap *model.Snapshot, apis int) map[string]any {
	apps := make([]*model.App, 0, len(snap.Apps))
	for _, a := range snap.Apps {
		apps = append(apps, a)
	}
	model.CountGrants(apps) // each group's pairs counted once, not once per app
	groups := make([]any, len(snap.Groups))
	for i, g := range snap.Groups {
		short := *g
		short.APIs = nil
		m, _ := render(reflect.ValueOf(&short), "").(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		delete(m, "apis")
		m["api_count"] = len(g.APIs)
		m["apis_at"] = "/debug/config?group=" + url.QueryEscape(g.Name)
		groups[i] = m
	}
	out := renderWith(snap, groups)
	out["groups_summarized"] = fmt.Sprintf("%d APIs (more than %d): each group's APIs at apis_at, everything at /debug/config?full=true", apis, SummaryAbove)
	return out
}

// RenderGroup is the group named name as Render shows it, with the
// configuration's version; nil when snap has no such group.
func RenderGroup(snap *model.Snapshot, name string) any {
	if snap == nil {
		return nil
	}
	for _, g := range snap.Groups {
		if g.Name == name {
			return map[string]any{"version": snap.Version, "group": render(reflect.ValueOf(g), "")}
		}
	}
	return nil
}

// renderWith renders snap with groups as its rendered groups.
func renderWith(snap *model.Snapshot, groups any) map[string]any {
	apps := make([]*model.App, 0, len(snap.Apps))
	for _, a := range snap.Apps {
		apps = append(apps, a)
	}
	sort.Slice(apps, func(i, j int) bool { return apps[i].Name < apps[j].Name })
	keys := make([]*model.AccessKey, 0, len(snap.AccessKeys))
	for _, k := range snap.AccessKeys {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].ID < keys[j].ID })
	pairs := make([]*model.KeyPair, 0, len(snap.KeyPairs))
	for _, k := range snap.KeyPairs {
		pairs = append(pairs, k)
	}
	sort.Slice(pairs, func(i, j int) bool { return pairs[i].ID < pairs[j].ID })
	return map[string]any{
		"version":           snap.Version,
		"server":            render(reflect.ValueOf(snap.Server), ""),
		"listener":          render(reflect.ValueOf(snap.Listener), ""),
		"settings":          render(reflect.ValueOf(snap.Settings), ""),
		"environments":      render(reflect.ValueOf(snap.Environments), ""),
		"groups":            groups,
		"channels":          render(reflect.ValueOf(snap.Channels), ""),
		"apps":              render(reflect.ValueOf(apps), ""),
		"iam_access_keys":   render(reflect.ValueOf(keys), ""),
		"key_pairs":         render(reflect.ValueOf(pairs), ""),
		"usage_plans":       render(reflect.ValueOf(snap.UsagePlans), ""),
		"token_issuers":     render(reflect.ValueOf(snap.TokenIssuers), ""),
		"acl_policies":      render(reflect.ValueOf(snap.ACLPolicies), ""),
		"throttle_policies": render(reflect.ValueOf(snap.ThrottlePolicies), ""),
	}
}

// renderNames maps "Type.Field" to its configuration name where the
// snake_case of the model name is not it; "-" leaves the field out.
var renderNames = map[string]string{
	"Settings.MaxBodyBytes":     "max_body_size",
	"Settings.MaxURIBytes":      "max_uri_size",
	"Settings.Throttling":       "throttling",
	"Group.PathEnvironments":    "path_environments",
	"Group.Digest":              "-",
	"Lockout.MaxTrackedKeys":    "max_tracked_keys",
	"API.Group":                 "-", // the enclosing group
	"API.Digest":                "-",
	"API.Deployments":           "deployments",
	"API.WebSocket":             "websocket",
	"Throttling.DefaultAPIRPS":  "default_api_rps",
	"KeyPair.Plans":             "usage_plans",
	"Backend.Kind":              "kind",
	"Authorizer.CacheTTL":       "cache_ttl",
	"Environment.Default":       "default",
	"TokenIssuer.JWKSURL":       "jwks_url",
	"TokenIssuer.JWKSFile":      "jwks_file",
	"ThrottlePolicy.APILimit":   "api_limit",
	"HMACPolicy.EnforceHeaders": "enforce_headers",
}

// enumNames names the values of the model's enums without a String method.
var enumNames = map[reflect.Type][]string{
	reflect.TypeFor[model.BackendKind]():   {"", "url", "channel", "mock"},
	reflect.TypeFor[model.ConditionType](): {"", "source_ip", "header", "query", "app"},
	reflect.TypeFor[model.LBPolicy]():      {"", "round_robin", "least_request", "random", "ring_hash"},
	reflect.TypeFor[model.ACLType]():       {"", "ip", "account"},
	reflect.TypeFor[apigerr.Dialect]():     {"apig", "tencent"},
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	secretType   = reflect.TypeFor[model.Secret]()
	urlType      = reflect.TypeFor[url.URL]()
	timeType     = reflect.TypeFor[time.Time]()
	appType      = reflect.TypeFor[model.App]()
	stringerType = reflect.TypeFor[fmt.Stringer]()
)

// Redaction marks.
const redactedMark = "[redacted]"

// render turns v into JSON-ready values; field is "Type.Field" of v's
// field, for string fields that carry URLs or secrets.
func render(v reflect.Value, field string) any {
	if !v.IsValid() {
		return nil
	}
	t := v.Type()
	switch t {
	case durationType:
		return time.Duration(v.Int()).String()
	case secretType:
		return redactedMark
	case urlType:
		u := v.Interface().(url.URL)
		return redactURL(&u)
	case timeType:
		return v.Interface().(time.Time).Format(time.RFC3339Nano)
	case reflect.TypeFor[netip.Addr](), reflect.TypeFor[netip.Prefix](), reflect.TypeFor[netip.AddrPort]():
		return v.Interface().(fmt.Stringer).String()
	}
	if names, ok := enumNames[t]; ok {
		if i := int(v.Uint()); i < len(names) {
			return names[i]
		}
		return fmt.Sprint(v.Uint())
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return render(v.Elem(), field)
	case reflect.Uint8, reflect.Uint16, reflect.Int8:
		if t.Implements(stringerType) {
			return strings.ToLower(v.Interface().(fmt.Stringer).String())
		}
		return v.Interface()
	case reflect.String:
		s := v.String()
		if secretField(field) && s != "" {
			return redactedMark
		}
		if strings.HasSuffix(field, "URL") || strings.HasSuffix(field, "Address") {
			if u, err := url.Parse(s); err == nil && u.User != nil {
				return redactURL(u)
			}
		}
		return s
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice && v.IsNil() {
			return []any{}
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = render(v.Index(i), field)
		}
		return out
	case reflect.Map:
		out := make(map[string]any, v.Len())
		iter := v.MapRange()
		for iter.Next() {
			out[fmt.Sprint(render(iter.Key(), ""))] = render(iter.Value(), field)
		}
		return out
	case reflect.Struct:
		out := map[string]any{}
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			key := t.Name() + "." + f.Name
			name := renderNames[key]
			if name == "-" {
				continue
			}
			if name == "" {
				name = snake(f.Name)
			}
			out[name] = render(v.Field(i), key)
		}
		if t == appType {
			out["grants"] = v.Addr().Interface().(*model.App).GrantCount()
		}
		return out
	}
	return v.Interface()
}

// secretField reports whether a string field holds secret material.
func secretField(field string) bool {
	_, name, _ := strings.Cut(field, ".")
	n := strings.ToLower(name)
	return strings.Contains(n, "secret") || strings.Contains(n, "password")
}

// redactURL is u with its userinfo replaced by [redacted].
func redactURL(u *url.URL) string {
	if u.User == nil {
		return u.String()
	}
	c := *u
	c.User = nil
	s := c.String()
	if i := strings.Index(s, "//"); i >= 0 {
		return s[:i+2] + redactedMark + "@" + s[i+2:]
	}
	return s
}

// snake converts a Go name to snake_case, keeping acronyms whole:
// GRPCAddress -> grpc_address, MaxURIBytes -> max_uri_bytes, APIs -> apis.
func snake(name string) string {
	rs := []rune(name)
	var b strings.Builder
	for i, r := range rs {
		if unicode.IsUpper(r) {
			prevLower := i > 0 && (unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1]))
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			// "APIs", "ACLs": a plural s after an acronym is not a word.
			pluralS := i+1 < len(rs) && rs[i+1] == 's' && i+2 == len(rs) && i > 0 && unicode.IsUpper(rs[i-1])
			if i > 0 && (prevLower || (nextLower && unicode.IsUpper(rs[i-1]) && !pluralS)) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
