package xds

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	headertometadatav3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_to_metadata/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// matchRoute returns the first route of routes that a request matches, as
// Envoy's route table does for the subset of matchers the translator uses
// for these routes (path, prefix, path_separated_prefix; header exact,
// regex and present matchers).
func matchRoute(t testing.TB, routes []*routev3.Route, method, target string, headers map[string]string) *routev3.Route {
	t.Helper()
	path, _, _ := strings.Cut(target, "?")
	hdr := map[string]string{":method": method, ":path": target}
	for k, v := range headers {
		hdr[k] = v
	}
	for _, r := range routes {
		m := r.GetMatch()
		switch {
		case m.GetPath() != "":
			if path != m.GetPath() {
				continue
			}
		case m.GetPathSeparatedPrefix() != "":
			p := m.GetPathSeparatedPrefix()
			if path != p && !strings.HasPrefix(path, p+"/") {
				continue
			}
		case m.GetPrefix() != "":
			if !strings.HasPrefix(path, m.GetPrefix()) {
				continue
			}
		case m.GetSafeRegex() != nil:
			if !regexp.MustCompile(`^(?:` + m.GetSafeRegex().GetRegex() + `)$`).MatchString(path) {
				continue
			}
		default:
			t.Fatalf("route %s: unsupported path matcher %v", r.GetName(), m)
		}
		if len(m.GetQueryParameters()) > 0 {
			t.Fatalf("route %s: query matchers unsupported here", r.GetName())
		}
		if headersMatch(t, m.GetHeaders(), hdr) {
			return r
		}
	}
	return nil
}

func headersMatch(t testing.TB, ms []*routev3.HeaderMatcher, hdr map[string]string) bool {
	t.Helper()
	for _, h := range ms {
		v, ok := hdr[h.GetName()]
		if !ok && h.GetTreatMissingHeaderAsEmpty() {
			v, ok = "", true
		}
		switch {
		case h.GetPresentMatch():
			if !ok {
				return false
			}
		case h.GetStringMatch().GetSafeRegex() != nil:
			if !ok || !regexp.MustCompile("^(?:"+h.GetStringMatch().GetSafeRegex().GetRegex()+")$").MatchString(v) {
				return false
			}
		case h.GetStringMatch() != nil:
			if !ok || v != h.GetStringMatch().GetExact() {
				return false
			}
		default:
			t.Fatalf("unsupported header matcher %v", h)
		}
	}
	return true
}

// missMessage applies the route's header_to_metadata rule as Envoy does
// (RE2 GlobalReplace of the header value, "\1" being the first group) and
// returns the stored message, "" when the route has no rule.
func missMessage(t testing.TB, r *routev3.Route, hdr map[string]string) string {
	t.Helper()
	a := r.GetTypedPerFilterConfig()[FilterHeaderToMetadata]
	if a == nil {
		return ""
	}
	cfg := &headertometadatav3.Config{}
	if err := a.UnmarshalTo(cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.GetRequestRules()) != 1 {
		t.Fatalf("route %s: %d rules", r.GetName(), len(cfg.GetRequestRules()))
	}
	rule := cfg.GetRequestRules()[0]
	kv := rule.GetOnHeaderPresent()
	if kv.GetMetadataNamespace() != RouteMissNamespace || kv.GetKey() != routeMissKey {
		t.Fatalf("route %s: metadata %s:%s", r.GetName(), kv.GetMetadataNamespace(), kv.GetKey())
	}
	rw := kv.GetRegexValueRewrite()
	re := regexp.MustCompile(rw.GetPattern().GetRegex())
	sub := regexp.MustCompile(`\\(\d)`).ReplaceAllString(rw.GetSubstitution(), "$${$1}")
	return re.ReplaceAllString(hdr[rule.GetHeader()], sub)
}

// TestTencentRouteMissesWithStage follows requests through the routes of
// a tencent group without path environments (X-Stage selects the
// environment): "method[...]" where an API of that environment has the
// path, "uri[<path>]" for anything else.
func TestTencentRouteMissesWithStage(t *testing.T) {
	snap := loadYAML(t, "stage", `
environments: [{name: BETA}]
groups:
  - name: tc
    error_dialect: tencent
    apis:
      - {name: get-user, method: GET, path: /users, environments: [RELEASE, BETA], backend: {url: "http://10.0.0.1"}}
      - {name: new-user, method: POST, path: /users, environments: [BETA], backend: {url: "http://10.0.0.1"}}
      - {name: files, method: ANY, match: prefix, path: /files, backend: {url: "http://10.0.0.1"}}
      - {name: docs, method: GET, match: prefix, path: /docs/, environments: [BETA], backend: {url: "http://10.0.0.1"}}
`)
	routes := routesOf(t, translate(t, snap), "tc")
	beta := map[string]string{"x-stage": "BETA"}
	tests := []struct {
		name, method, target string
		headers              map[string]string
		wantRoute            string
		wantMessage          string
	}{
		{"API", "GET", "/users?x=1", nil, "tc/get-user|RELEASE", ""},
		{"API in BETA", "POST", "/users", beta, "tc/new-user|BETA", ""},
		{"path of an API, other method", "PUT", "/users", nil, "apigw.not_found|method|/users|RELEASE", "There is no api match method[PUT]"},
		{"method of an API of another environment", "POST", "/users", nil, "apigw.not_found|method|/users|RELEASE", "There is no api match method[POST]"},
		{"path of an API, other method, BETA", "DELETE", "/users", beta, "apigw.not_found|method|/users|BETA", "There is no api match method[DELETE]"},
		{"ANY prefix API", "DELETE", "/files/a", nil, "tc/files|RELEASE", ""},
		{"ANY API not published in BETA", "GET", "/files/a?b=/c", beta, "apigw.not_found", "There is no api match uri[/files/a]"},
		{"prefix API, other method", "POST", "/docs/x", beta, "apigw.not_found|method|/docs/|BETA", "There is no api match method[POST]"},
		{"prefix API of another environment", "GET", "/docs/x", nil, "apigw.not_found", "There is no api match uri[/docs/x]"},
		{"no such path, query dropped", "GET", "/nothing?a=1", nil, "apigw.not_found", "There is no api match uri[/nothing]"},
		{"root", "GET", "/", nil, "apigw.not_found", "There is no api match uri[/]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := matchRoute(t, routes, tt.method, tt.target, tt.headers)
			if r == nil {
				t.Fatal("no route matched")
			}
			if r.GetName() != tt.wantRoute {
				t.Fatalf("route %s, want %s", r.GetName(), tt.wantRoute)
			}
			if msg := missMessage(t, r, map[string]string{":method": tt.method, ":path": tt.target}); msg != tt.wantMessage {
				t.Errorf("message %q, want %q", msg, tt.wantMessage)
			}
		})
	}
}

// TestTencentRouteMisses follows requests through the routes of
// testdata/path_environments_tencent.input.yaml: API routes where one
// matches, otherwise the miss route and the message Envoy would answer.
func TestTencentRouteMisses(t *testing.T) {
	res := translate(t, load(t, filepath.Join("testdata", "path_environments_tencent.input.yaml")))
	tests := []struct {
		name, group, method, target string
		wantRoute                   string
		wantMessage                 string // "" for an API route or the plain catch-all
	}{
		{"API", "tc", "GET", "/release/users?x=1", "tc/users|RELEASE|/release", ""},
		{"other API, same path", "tc", "POST", "/release/users", "tc/create-user|RELEASE|/release", ""},
		{"path of two APIs, neither method", "tc", "PUT", "/release/users", "apigw.not_found|method|/release/users", "There is no api match method[PUT]"},
		{"method of an API not published in the segment's environment", "tc", "POST", "/test/users", "apigw.not_found|method|/test/users", "There is no api match method[POST]"},
		{"ANY prefix API", "tc", "DELETE", "/release/files/a/b", "tc/files|RELEASE|/release", ""},
		{"prefix API, other method", "tc", "POST", "/test/docs/x", "apigw.not_found|method|/test/docs", "There is no api match method[POST]"},
		{"prefix API", "tc", "GET", "/test/docs/x", "tc/docs|TEST|/test", ""},
		{"API not published in the segment's environment", "tc", "GET", "/release/docs", "apigw.not_found|uri|/release", "There is no api match uri[/docs]"},
		{"no such path, query dropped", "tc", "GET", "/release/nothing/here?a=/b", "apigw.not_found|uri|/release", "There is no api match uri[/nothing/here]"},
		{"segment alone", "tc", "GET", "/test", "apigw.not_found|uri|/test", "There is no api match uri[]"},
		{"segment and slash", "tc", "GET", "/test/", "apigw.not_found|uri|/test", "There is no api match uri[/]"},
		{"segment with a query", "tc", "GET", "/test?x=1", "apigw.not_found|uri|/test", "There is no api match uri[]"},
		{"unmapped segment", "tc", "GET", "/beta/users", "apigw.not_found", "There is no api match env_mapping[beta]"},
		{"unmapped segment, longer than a mapped one", "tc", "GET", "/releases/users", "apigw.not_found", "There is no api match env_mapping[releases]"},
		{"unmapped segment with a query", "tc", "GET", "/beta?x=/y", "apigw.not_found", "There is no api match env_mapping[beta]"},
		{"root", "tc", "GET", "/", "apigw.not_found", "There is no api match env_mapping[]"},
		{"apig dialect: API", "apig", "GET", "/release/ping", "apig/ping|RELEASE|/release", ""},
		{"apig dialect: method miss is APIG.0101", "apig", "POST", "/release/ping", "apigw.not_found", ""},
		{"apig dialect: unmapped segment is APIG.0101", "apig", "GET", "/beta/ping", "apigw.not_found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := matchRoute(t, routesOf(t, res, tt.group), tt.method, tt.target, nil)
			if r == nil {
				t.Fatal("no route matched")
			}
			if r.GetName() != tt.wantRoute {
				t.Fatalf("route %s, want %s", r.GetName(), tt.wantRoute)
			}
			msg := missMessage(t, r, map[string]string{":method": tt.method, ":path": tt.target})
			if msg != tt.wantMessage {
				t.Errorf("message %q, want %q", msg, tt.wantMessage)
			}
			if strings.HasPrefix(r.GetName(), "apigw.not_found") {
				if r.GetRoute().GetCluster() != NotFoundCluster || r.GetRoute().GetClusterNotFoundResponseCode() != routev3.RouteAction_NOT_FOUND ||
					!authzDisabled(t, r) || len(r.GetRoute().GetRateLimits()) > 0 {
					t.Errorf("miss route %s must 404 (NC) without Check or rate limits: %v", r.GetName(), r)
				}
			}
		})
	}
}

func authzDisabled(t testing.TB, r *routev3.Route) bool {
	t.Helper()
	api, _ := deploymentOf(t, r)
	return api == "" && r.GetTypedPerFilterConfig()[FilterExtAuthz] != nil
}

// TestRouteMissMapper: the miss message mapper answers NC replies that
// carry the message in dynamic metadata, before the catch-all mappers, and
// exists only with tencent groups; the header_to_metadata filter likewise.
func TestRouteMissMapper(t *testing.T) {
	tests := []struct {
		file       string
		wantMapper int // index of the miss mapper, -1 when absent
	}{
		{"path_environments_tencent.input.yaml", 12}, // after the quota, rate-limit, RLSE, path and upgrade mappers
		{"path_environments.input.yaml", -1},
		{"dialect.input.yaml", 12},
		{"environments.input.yaml", -1},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			h := hcmOf(t, translate(t, load(t, filepath.Join("testdata", tt.file))))
			at := -1
			for i, m := range h.GetLocalReplyConfig().GetMappers() {
				if m.GetBodyFormatOverride().GetJsonFormat().GetFields()["message"].GetStringValue() == "%DYNAMIC_METADATA("+RouteMissNamespace+":"+routeMissKey+")%" {
					at = i
					checkMissMapper(t, m)
				}
			}
			if at != tt.wantMapper {
				t.Errorf("miss mapper at %d, want %d", at, tt.wantMapper)
			}
			hasFilter := false
			for _, f := range h.GetHttpFilters() {
				hasFilter = hasFilter || f.GetName() == FilterHeaderToMetadata
			}
			if hasFilter != (tt.wantMapper >= 0) {
				t.Errorf("header_to_metadata filter present %v", hasFilter)
			}
		})
	}
}

func checkMissMapper(t *testing.T, m *hcmv3.ResponseMapper) {
	t.Helper()
	fs := m.GetFilter().GetAndFilter().GetFilters()
	if len(fs) != 2 || strings.Join(fs[0].GetResponseFlagFilter().GetFlags(), ",") != "NC" || m.GetStatusCode().GetValue() != 404 {
		t.Fatalf("miss mapper %v", m)
	}
	md := fs[1].GetMetadataFilter().GetMatcher()
	if md.GetFilter() != RouteMissNamespace || md.GetPath()[0].GetKey() != routeMissKey ||
		!md.GetValue().GetPresentMatch() || fs[1].GetMetadataFilter().GetMatchIfKeyNotFound().GetValue() {
		t.Fatalf("miss mapper metadata filter %v", md)
	}
}
