package explain

import (
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	uritemplatematchv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/path/match/uri_template/v3"
	uritemplaterewritev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/path/rewrite/uri_template/v3"
)

// URI templates (path parameters): what the translator generates, whole
// segment {name} variables only.

// matchTemplate returns the path template of a URI-template match, "".
func matchTemplate(m *routev3.RouteMatch) string {
	tc := m.GetPathMatchPolicy()
	cfg := &uritemplatematchv3.UriTemplateMatchConfig{}
	if tc == nil || tc.GetTypedConfig().UnmarshalTo(cfg) != nil {
		return ""
	}
	return cfg.GetPathTemplate()
}

// templateRewrite applies a URI-template rewrite to path (no query), with
// the variables the match template captured.
func templateRewrite(m *routev3.RouteMatch, policy *corev3.TypedExtensionConfig, path string) (string, bool) {
	cfg := &uritemplaterewritev3.UriTemplateRewriteConfig{}
	tmpl := matchTemplate(m)
	if tmpl == "" || policy.GetTypedConfig().UnmarshalTo(cfg) != nil {
		return path, false
	}
	vars := map[string]string{}
	want, got := strings.Split(tmpl, "/"), strings.Split(path, "/")
	if len(want) != len(got) {
		return path, false
	}
	for i, w := range want {
		if len(w) >= 2 && w[0] == '{' && w[len(w)-1] == '}' {
			vars[w] = got[i]
		}
	}
	out := cfg.GetPathTemplateRewrite()
	for k, v := range vars {
		out = strings.ReplaceAll(out, k, v)
	}
	return out, true
}

// applyQuery applies Check's query-parameter mutations to target (path
// and query) as Envoy's ext_authz filter does: set (overwrite) first, then
// remove, keys compared as sent.
func applyQuery(target string, set []*corev3.QueryParameter, remove []string) string {
	if len(set) == 0 && len(remove) == 0 {
		return target
	}
	path, query, _ := strings.Cut(target, "?")
	type kv struct{ k, v string }
	var pairs []kv
	for query != "" {
		var p string
		p, query, _ = strings.Cut(query, "&")
		k, v, _ := strings.Cut(p, "=")
		pairs = append(pairs, kv{k, v})
	}
	for _, s := range set {
		done := false
		out := pairs[:0:0]
		for _, p := range pairs {
			if p.k == s.GetKey() {
				if done {
					continue
				}
				p.v, done = s.GetValue(), true
			}
			out = append(out, p)
		}
		if !done {
			out = append(out, kv{s.GetKey(), s.GetValue()})
		}
		pairs = out
	}
	var parts []string
	for _, p := range pairs {
		drop := false
		for _, r := range remove {
			drop = drop || p.k == r
		}
		if !drop {
			parts = append(parts, p.k+"="+p.v)
		}
	}
	if len(parts) == 0 {
		return path
	}
	return path + "?" + strings.Join(parts, "&")
}
