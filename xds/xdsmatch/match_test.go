package xdsmatch

import (
	"errors"
	"path/filepath"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/xds"
)

// routes translates testdata/<name>.input.yaml (or the quickstart) the way
// the xDS server does and returns its route configuration.
func routes(t *testing.T, name string) *routev3.RouteConfiguration {
	t.Helper()
	path := filepath.Join("..", "testdata", name+".input.yaml")
	if name == "quickstart" {
		path = filepath.Join("..", "..", "examples", "quickstart", "gateway.yaml")
	}
	snap, err := config.LoadFile(path, config.Options{LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	res, err := xds.Translate(snap, xds.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Routes[0]
}

func TestMatchTranslations(t *testing.T) {
	tests := []struct {
		config, name   string
		method, target string
		host           string
		headers        map[string][]string
		vhost, route   string // "" route: no route (NR)
	}{
		{"quickstart", "exact path, default environment", "GET", "/hello", "127.0.0.1:10080", nil, "demo", "demo/hello|RELEASE"},
		{"quickstart", "X-Stage BETA", "GET", "/hello", "127.0.0.1:10080", map[string][]string{"x-stage": {"BETA"}}, "demo", "demo/hello|BETA"},
		{"quickstart", "X-Stage naming the default", "GET", "/hello", "h", map[string][]string{"x-stage": {"RELEASE"}}, "demo", "demo/hello|RELEASE"},
		{"quickstart", "empty X-Stage", "GET", "/hello", "h", map[string][]string{"x-stage": {""}}, "demo", "demo/hello|RELEASE"},
		{"quickstart", "unknown stage", "GET", "/hello", "h", map[string][]string{"x-stage": {"NOPE"}}, "demo", "apigw.not_found"},
		{"quickstart", "stage is case-sensitive", "GET", "/hello", "h", map[string][]string{"x-stage": {"beta"}}, "demo", "apigw.not_found"},
		{"quickstart", "method mismatch", "POST", "/hello", "h", nil, "demo", "apigw.not_found"},
		{"quickstart", "exact path is exact", "GET", "/hello/x", "h", nil, "demo", "apigw.not_found"},
		{"quickstart", "query ignored by path", "GET", "/hello?a=1", "h", nil, "demo", "demo/hello|RELEASE"},
		{"quickstart", "dot segments normalised", "GET", "/x/../hello", "h", nil, "demo", "demo/hello|RELEASE"},
		{"quickstart", "merged slashes", "GET", "//hello", "h", nil, "demo", "demo/hello|RELEASE"},
		{"quickstart", "percent-encoded unreserved", "GET", "/h%65llo", "h", nil, "demo", "demo/hello|RELEASE"},
		{"quickstart", "prefix", "DELETE", "/orders/7", "h", nil, "demo", "demo/orders|RELEASE"},
		{"quickstart", "prefix ending in / needs the /", "GET", "/orders", "h", nil, "demo", "apigw.not_found"},
		{"quickstart", "CORS preflight", "OPTIONS", "/public", "h", map[string][]string{"origin": {"https://x"}, "access-control-request-method": {"GET"}}, "demo", "demo/public|cors-preflight"},
		{"quickstart", "OPTIONS without origin", "OPTIONS", "/public", "h", nil, "demo", "apigw.not_found"},
		{"paths", "exact before prefix", "GET", "/test", "h", nil, "paths", "paths/test-exact|RELEASE"},
		{"paths", "path-separated prefix", "GET", "/test/x", "h", nil, "paths", "paths/test-slash-prefix|RELEASE"},
		{"paths", "path-separated prefix is not a string prefix", "GET", "/testing", "h", nil, "paths", "paths/root|RELEASE"},
		{"paths", "separated prefix itself", "GET", "/strip", "h", nil, "paths", "paths/strip|RELEASE"},
		{"methods", "specific method before ANY", "POST", "/orders", "h", nil, "m", "m/post-orders|RELEASE"},
		{"methods", "ANY", "PUT", "/orders", "h", nil, "m", "m/any-orders|RELEASE"},
		{"policies", "header condition, second value", "GET", "/orders", "h", map[string][]string{"x-canary": {"true"}}, "p", "p/orders|RELEASE|policy:canary-header"},
		{"policies", "query and header conditions", "GET", "/orders?region=eu", "h", map[string][]string{"x-tier": {"gold"}}, "p", "p/orders|RELEASE|policy:region-query"},
		{"policies", "query condition alone is not enough", "GET", "/orders?region=eu", "h", nil, "p", "p/orders|RELEASE"},
		{"policies", "query value mismatch", "GET", "/orders?region=us", "h", map[string][]string{"x-tier": {"gold"}}, "p", "p/orders|RELEASE"},
		{"policies", "app condition after Check", "GET", "/orders", "h", map[string][]string{"x-apig-app-id": {"partner"}}, "p", "p/orders|RELEASE|policy:partner-app"},
		{"listener", "exact domain", "GET", "/ping", "shop.example.com", nil, "shop", "shop/ping|RELEASE"},
		{"listener", "port ignored", "GET", "/ping", "shop.example.com:8080", nil, "shop", "shop/ping|RELEASE"},
		{"listener", "domains are case-insensitive", "GET", "/ping", "SHOP.example.com", nil, "shop", "shop/ping|RELEASE"},
		{"listener", "suffix wildcard", "GET", "/ping", "eu.shop.example.com", nil, "shop", "shop/ping|RELEASE"},
		{"listener", "no virtual host", "GET", "/ping", "other.example.com", nil, "", ""},
		{"path_environments", "segment selects the environment", "GET", "/test/users", "tc.example.com", nil, "tc", "tc/users|TEST|/test"},
		{"path_environments", "X-Stage plays no part", "GET", "/release/users", "tc.example.com", map[string][]string{"x-stage": {"TEST"}}, "tc", "tc/users|RELEASE|/release"},
		{"parameters", "URI template", "GET", "/orders/7/lines/2?page=1", "h", nil, "shop", "shop/order|RELEASE"},
		{"parameters", "literal path before a template declared first", "GET", "/orders/all/lines/all", "h", nil, "shop", "shop/order-all|RELEASE"},
		{"parameters", "URI template, too few segments", "GET", "/orders/7/lines", "h", nil, "shop", "apigw.not_found"},
		{"parameters", "URI template, empty variable", "GET", "/orders//lines/2", "h", nil, "shop", "apigw.not_found"},
		{"parameters", "URI template, literal differs", "GET", "/orders/7/line/2", "h", nil, "shop", "apigw.not_found"},
		{"parameters", "URI template with path environment", "GET", "/release/items/9", "envs.example.com", nil, "envs", "envs/item|RELEASE|/release"},
		{"path_environments", "unmapped segment", "GET", "/prod/users", "tc.example.com", nil, "tc", "apigw.not_found"},
	}
	cache := map[string]*routev3.RouteConfiguration{}
	for _, tt := range tests {
		t.Run(tt.config+"/"+tt.name, func(t *testing.T) {
			rc := cache[tt.config]
			if rc == nil {
				rc = routes(t, tt.config)
				cache[tt.config] = rc
			}
			res, err := Match(rc, Request{Method: tt.method, Path: tt.target, Authority: tt.host, Headers: tt.headers})
			if err != nil {
				t.Fatal(err)
			}
			if got := res.VirtualHost.GetName(); got != tt.vhost {
				t.Fatalf("virtual host %q, want %q", got, tt.vhost)
			}
			if got := res.Route.GetName(); got != tt.route {
				t.Fatalf("route %q, want %q", got, tt.route)
			}
		})
	}
}

func TestSelectVirtualHost(t *testing.T) {
	vh := func(name string, domains ...string) *routev3.VirtualHost {
		return &routev3.VirtualHost{Name: name, Domains: domains}
	}
	vhs := []*routev3.VirtualHost{
		vh("star", "*"), vh("api-prefix", "api.*"), vh("short-suffix", "*.com"),
		vh("long-suffix", "*.example.com"), vh("exact", "www.example.com"), vh("longer-prefix", "api.example.*"),
	}
	for host, want := range map[string]string{
		"www.example.com": "exact",
		"a.example.com":   "long-suffix",
		"a.other.com":     "short-suffix",
		"api.example.org": "longer-prefix",
		"api.org":         "api-prefix",
		"example.com":     "short-suffix",
		"localhost":       "star",
		".example.com":    "short-suffix",
	} {
		if got := SelectVirtualHost(vhs, host).GetName(); got != want {
			t.Errorf("%s: %s, want %s", host, got, want)
		}
	}
}

func TestHeaderSemantics(t *testing.T) {
	exact := func(v string) *routev3.HeaderMatcher_StringMatch {
		return &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: v}}}
	}
	tests := []struct {
		name    string
		m       *routev3.HeaderMatcher
		headers map[string][]string
		want    bool
	}{
		{"exact", &routev3.HeaderMatcher{Name: "x", HeaderMatchSpecifier: exact("a")}, map[string][]string{"x": {"a"}}, true},
		{"values joined with a comma", &routev3.HeaderMatcher{Name: "x", HeaderMatchSpecifier: exact("a,b")}, map[string][]string{"x": {"a", "b"}}, true},
		{"missing fails", &routev3.HeaderMatcher{Name: "x", HeaderMatchSpecifier: exact("")}, nil, false},
		{"missing fails inverted too", &routev3.HeaderMatcher{Name: "x", InvertMatch: true, HeaderMatchSpecifier: exact("a")}, nil, false},
		{"treat missing as empty", &routev3.HeaderMatcher{Name: "x", TreatMissingHeaderAsEmpty: true, HeaderMatchSpecifier: exact("")}, nil, true},
		{"inverted", &routev3.HeaderMatcher{Name: "x", InvertMatch: true, HeaderMatchSpecifier: exact("a")}, map[string][]string{"x": {"b"}}, true},
		{"present", &routev3.HeaderMatcher{Name: "x", HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}}, map[string][]string{"x": {""}}, true},
		{"present, missing", &routev3.HeaderMatcher{Name: "x", HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}}, nil, false},
		{"inverted present, missing", &routev3.HeaderMatcher{Name: "x", InvertMatch: true, HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}}, nil, true},
		{"regex is anchored", &routev3.HeaderMatcher{Name: "x", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "a|b"}}}}}, map[string][]string{"x": {"ab"}}, false},
		{"ignore case", &routev3.HeaderMatcher{Name: "x", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{IgnoreCase: true, MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "AB"}}}}, map[string][]string{"x": {"abc"}}, true},
		{"method pseudo-header", &routev3.HeaderMatcher{Name: ":method", HeaderMatchSpecifier: exact("GET")}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := view{req: Request{Method: "GET", Headers: tt.headers}}.header(tt.m)
			if err != nil || got != tt.want {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestCannotEvaluate(t *testing.T) {
	rc := &routev3.RouteConfiguration{VirtualHosts: []*routev3.VirtualHost{{Name: "v", Domains: []string{"*"}, Routes: []*routev3.Route{
		{Name: "ci", Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}, CaseSensitive: wrapperspb.Bool(false)}},
	}}}}
	_, err := Match(rc, Request{Method: "GET", Path: "/x"})
	var ue *UnsupportedError
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v, want *UnsupportedError", err)
	}
}

func TestNormalizePath(t *testing.T) {
	for in, want := range map[string]string{
		"":               "/",
		"/":              "/",
		"/a/./b":         "/a/b",
		"/a/../b":        "/b",
		"/../../a":       "/a",
		"/a/..":          "/",
		"/a//b///c":      "/a/b/c",
		`/a\b`:           "/a/b",
		"/%7euser":       "/~user",
		"/a%2fb":         "/a%2Fb",
		"/%2e%2e/x":      "/x",
		"/a/b/":          "/a/b/",
		"/a%zz":          "/a%zz",
		"/hello%20world": "/hello%20world",
	} {
		if got := NormalizePath(in); got != want {
			t.Errorf("NormalizePath(%q) = %q, want %q", in, got, want)
		}
	}
}
