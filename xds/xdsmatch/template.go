package xdsmatch

import (
	"fmt"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	uritemplatematchv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/path/match/uri_template/v3"
)

const uriTemplateMatcher = "envoy.path.match.uri_template.uri_template_matcher"

// templateMatch evaluates Envoy's URI template matcher for the templates
// the translator generates: literal segments and whole-segment {name}
// variables (one non-empty segment of RFC 3986 path characters each).
func templateMatch(p *routev3.RouteMatch_PathMatchPolicy, path string) (bool, error) {
	tc := p.PathMatchPolicy
	cfg := &uritemplatematchv3.UriTemplateMatchConfig{}
	if tc.GetName() != uriTemplateMatcher && tc.GetTypedConfig().MessageName() != cfg.ProtoReflect().Descriptor().FullName() {
		return false, fmt.Errorf("path match policy %q", tc.GetName())
	}
	if err := tc.GetTypedConfig().UnmarshalTo(cfg); err != nil {
		return false, fmt.Errorf("path match policy: %v", err)
	}
	want := strings.Split(cfg.GetPathTemplate(), "/")
	got := strings.Split(path, "/")
	if len(want) != len(got) {
		return false, nil
	}
	for i, w := range want {
		if len(w) >= 2 && w[0] == '{' && w[len(w)-1] == '}' {
			if strings.Contains(w, "=") {
				return false, fmt.Errorf("path template variable %s", w)
			}
			if got[i] == "" || strings.IndexFunc(got[i], func(r rune) bool { return !segmentChar(r) }) >= 0 {
				return false, nil
			}
			continue
		}
		if w != got[i] {
			return false, nil
		}
	}
	return true, nil
}

func segmentChar(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("-._~%!$&'()+,;:@=", r)
}
