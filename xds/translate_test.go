package xds

import (
	"bytes"
	"maps"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"

	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/model"
)

// marshalAll marshals resources deterministically, as the xDS server does.
func marshalAll(t testing.TB, res *Resources) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, g := range res.groups() {
		for _, m := range g.list {
			b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			buf.Write(b)
		}
	}
	return buf.Bytes()
}

// TestDeterministic: the same configuration, loaded and translated again
// (new maps, new iteration orders), gives byte-identical resources.
func TestDeterministic(t *testing.T) {
	inputs, _ := filepath.Glob(filepath.Join("testdata", "*.input.yaml"))
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			first := marshalAll(t, translate(t, load(t, in)))
			for i := 0; i < 5; i++ {
				if again := marshalAll(t, translate(t, load(t, in))); !bytes.Equal(first, again) {
					t.Fatal("translation is not deterministic")
				}
			}
		})
	}
}

// hcmOf unpacks the HTTP connection manager of the listener.
func hcmOf(t testing.TB, res *Resources) *hcmv3.HttpConnectionManager {
	t.Helper()
	h := &hcmv3.HttpConnectionManager{}
	if err := res.Listeners[0].GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(h); err != nil {
		t.Fatal(err)
	}
	return h
}

func extAuthzOf(t testing.TB, res *Resources) *extauthzv3.ExtAuthz {
	t.Helper()
	for _, f := range hcmOf(t, res).GetHttpFilters() {
		if f.GetName() == FilterExtAuthz {
			e := &extauthzv3.ExtAuthz{}
			if err := f.GetTypedConfig().UnmarshalTo(e); err != nil {
				t.Fatal(err)
			}
			return e
		}
	}
	t.Fatal("no ext_authz filter")
	return nil
}

func TestFilterOrder(t *testing.T) {
	tests := []struct {
		file string
		want string
	}{
		{"listener.input.yaml", "envoy.filters.http.ext_authz envoy.filters.http.router"},
		{"policies.input.yaml", "envoy.filters.http.ip_tagging envoy.filters.http.ext_authz envoy.filters.http.ratelimit envoy.filters.http.router"},
		{"dialect.input.yaml", "envoy.filters.http.header_mutation envoy.filters.http.header_to_metadata envoy.filters.http.ext_authz envoy.filters.http.ratelimit envoy.filters.http.router"},
		{"path_environments_tencent.input.yaml", "envoy.filters.http.header_mutation envoy.filters.http.header_to_metadata envoy.filters.http.cors envoy.filters.http.ext_authz envoy.filters.http.ratelimit envoy.filters.http.router"},
		{"mock.input.yaml", "envoy.filters.http.ext_authz envoy.filters.http.router"},
		// The CORS filter only where an API has a CORS policy.
		{"cors.input.yaml", "envoy.filters.http.cors envoy.filters.http.ext_authz envoy.filters.http.ratelimit envoy.filters.http.router"},
	}
	for _, tt := range tests {
		var names []string
		for _, f := range hcmOf(t, translate(t, load(t, filepath.Join("testdata", tt.file)))).GetHttpFilters() {
			names = append(names, f.GetName())
		}
		if got := strings.Join(names, " "); got != tt.want {
			t.Errorf("%s: filters %s, want %s", tt.file, got, tt.want)
		}
	}
}

func TestExtAuthzSettings(t *testing.T) {
	tests := []struct {
		name       string
		maxBody    string
		wantBytes  uint32
		reroute    bool
		wantHeader string
	}{
		{"default body", "", 12 << 20, false, ""},
		{"largest body capped to uint32", "9536MB", math.MaxUint32, false, ""},
		{"app condition re-routes", "1MB", 1 << 20, true, model.HeaderAppID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := "settings: {max_body_size: " + tt.maxBody + "}\n"
			if tt.maxBody == "" {
				cfg = ""
			}
			cfg += `groups: [{name: g, apis: [{name: a, path: /a, backend: {url: "http://10.0.0.1"}`
			if tt.reroute {
				cfg += `,
  backend_policies: [{name: p, conditions: [{type: app, values: [x]}], backend: {url: "http://10.0.0.2"}}]`
			}
			cfg += "}]}]\n"
			res := translate(t, loadYAML(t, tt.name, cfg))
			e := extAuthzOf(t, res)
			if e.GetWithRequestBody() != nil {
				t.Errorf("filter-level with_request_body %v, want none (per route only)", e.GetWithRequestBody())
			}
			if e.GetFailureModeAllow() || e.GetIncludePeerCertificate() || e.GetStatusOnError().GetCode() != 503 ||
				e.GetGrpcService().GetEnvoyGrpc().GetClusterName() != AuthzCluster {
				t.Errorf("ext_authz settings %v", e)
			}
			if e.GetClearRouteCache() != tt.reroute || strings.Join(e.GetClearRouteCacheHeaders(), ",") != tt.wantHeader {
				t.Errorf("clear_route_cache %v %v, want %v %q", e.GetClearRouteCache(), e.GetClearRouteCacheHeaders(), tt.reroute, tt.wantHeader)
			}
			// Check may set identity and context headers, never the marks
			// the filters before it set, nor the stage header when the
			// route is resolved again after it.
			rules := e.GetDecoderHeaderMutationRules()
			if !rules.GetDisallowSystem().GetValue() || rules.GetAllowExpression() != nil || rules.GetAllowAllRouting().GetValue() || rules.GetAllowEnvoy().GetValue() {
				t.Errorf("decoder_header_mutation_rules %v", rules)
			}
			disallowed := regexp.MustCompile("^(?:" + rules.GetDisallowExpression().GetRegex() + ")$") // matched whole, as Envoy does
			for name, want := range map[string]bool{
				IPTagsHeader: true, DialectHeader: true, model.StageHeader: tt.reroute,
				"x-apig-context-role": false, "x-apigw-dialect-x": false, "x-stages": false,
			} {
				if disallowed.MatchString(name) != want {
					t.Errorf("Check may set %s: %v, want %v (disallow_expression %s)", name, !disallowed.MatchString(name), !want, disallowed)
				}
			}
			for _, h := range model.IdentityHeaders {
				if disallowed.MatchString(h) {
					t.Errorf("Check may not set identity header %s (disallow_expression %s)", h, disallowed)
				}
			}
			for _, r := range routesOf(t, res, "g") {
				if !strings.HasPrefix(r.GetName(), "g/a|") {
					continue
				}
				var pr extauthzv3.ExtAuthzPerRoute
				if err := r.GetTypedPerFilterConfig()[FilterExtAuthz].UnmarshalTo(&pr); err != nil {
					t.Fatal(err)
				}
				b := pr.GetCheckSettings().GetWithRequestBody()
				if b.GetMaxRequestBytes() != tt.wantBytes || b.GetAllowPartialMessage() || !b.GetPackAsBytes() {
					t.Errorf("route %s: with_request_body %v, want max_request_bytes %d, whole, as bytes", r.GetName(), b, tt.wantBytes)
				}
			}
		})
	}
}

// TestBodyBufferedOnlyWhereChecked: Envoy buffers the body and sends it to
// Check only on the routes whose verification reads it.
func TestBodyBufferedOnlyWhereChecked(t *testing.T) {
	res := translate(t, loadYAML(t, "auth", `groups:
  - name: g
    apis:
      - {name: none, path: /none, auth: none, backend: {url: "http://10.0.0.1"}}
      - {name: app, path: /app, auth: app, backend: {url: "http://10.0.0.1"}}
      - {name: iam, path: /iam, auth: iam, backend: {url: "http://10.0.0.1"}}
      - {name: code, path: /code, auth: app_code, backend: {url: "http://10.0.0.1"}}
      - {name: hmac, path: /hmac, auth: hmac, backend: {url: "http://10.0.0.1"}}
      - {name: digest, path: /digest, auth: hmac, hmac: {validate_body: true}, backend: {url: "http://10.0.0.1"}}
`))
	want := map[string]bool{"g/none": false, "g/app": true, "g/iam": true, "g/code": false, "g/hmac": false, "g/digest": true}
	seen := 0
	for _, r := range routesOf(t, res, "g") {
		api, _, ok := strings.Cut(r.GetName(), "|")
		if !ok {
			continue
		}
		var pr extauthzv3.ExtAuthzPerRoute
		if err := r.GetTypedPerFilterConfig()[FilterExtAuthz].UnmarshalTo(&pr); err != nil {
			t.Fatal(err)
		}
		if got := pr.GetCheckSettings().GetWithRequestBody() != nil; got != want[api] {
			t.Errorf("route %s: body buffered %v, want %v", r.GetName(), got, want[api])
		}
		seen++
	}
	if seen != len(want) {
		t.Errorf("%d API routes, want %d", seen, len(want))
	}
}

// routesOf lists the route names of the group's virtual host.
func routesOf(t testing.TB, res *Resources, group string) []*routev3.Route {
	t.Helper()
	for _, vh := range res.Routes[0].GetVirtualHosts() {
		if vh.GetName() == group {
			return vh.GetRoutes()
		}
	}
	t.Fatalf("no virtual host %q", group)
	return nil
}

func TestRouteOrder(t *testing.T) {
	tests := []struct {
		name string
		apis string // YAML list items, indented for the apis key
		want string
	}{
		{
			"declaration order when nothing overlaps",
			`
      - {name: b, path: /b, backend: {mock: {}}}
      - {name: a, path: /a, backend: {mock: {}}}`,
			"g/b|RELEASE g/a|RELEASE",
		},
		{
			"exact before prefix, longer prefix first",
			`
      - {name: root, path: /, match: prefix, backend: {mock: {}}}
      - {name: api, path: /api/, match: prefix, backend: {mock: {}}}
      - {name: api-v1, path: /api/v1, match: prefix, backend: {mock: {}}}
      - {name: exact, path: /api/v1/x, backend: {mock: {}}}`,
			"g/exact|RELEASE g/api-v1|RELEASE g/api|RELEASE g/root|RELEASE",
		},
		{
			"specific method before ANY on the same path",
			`
      - {name: any, path: /o, backend: {mock: {}}}
      - {name: other, path: /p, backend: {mock: {}}}
      - {name: get, method: GET, path: /o, backend: {mock: {}}}
      - {name: post, method: POST, path: /o, backend: {mock: {}}}`,
			"g/get|RELEASE g/post|RELEASE g/any|RELEASE g/other|RELEASE",
		},
		{
			"non-default environments before the default one",
			`
      - {name: a, path: /a, environments: [RELEASE, BETA, ALPHA], backend: {mock: {}}}`,
			"g/a|ALPHA g/a|BETA g/a|RELEASE",
		},
		{
			"policies before their deployment's route, CORS preflight first",
			`
      - name: a
        method: GET
        path: /a
        cors: {allow_origins: ["*"]}
        backend: {mock: {}}
        backend_policies:
          - {name: p1, conditions: [{type: header, name: h, values: [v]}], backend: {mock: {}}}
          - {name: p2, conditions: [{type: query, name: q, values: [v]}], backend: {mock: {}}}`,
			"g/a|cors-preflight g/a|RELEASE|policy:p1 g/a|RELEASE|policy:p2 g/a|RELEASE",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := "environments: [{name: BETA}, {name: ALPHA}]\ngroups:\n  - name: g\n    apis:" + tt.apis + "\n"
			res := translate(t, loadYAML(t, tt.name, cfg))
			var names []string
			for _, r := range routesOf(t, res, "g") {
				names = append(names, r.GetName())
			}
			if got := strings.Join(names, " "); got != PathRejectedRouteName+" "+tt.want+" apigw.not_found" {
				t.Errorf("routes:\n got %s\nwant %s %s apigw.not_found", got, PathRejectedRouteName, tt.want)
			}
		})
	}
}

// TestStageMatching checks the stage matchers: the default environment
// matches a missing, empty or explicit X-Stage; others need their name.
func TestStageMatching(t *testing.T) {
	res := translate(t, load(t, filepath.Join("testdata", "environments.input.yaml")))
	stage := map[string]*routev3.HeaderMatcher{}
	for _, r := range routesOf(t, res, "g") {
		for _, h := range r.GetMatch().GetHeaders() {
			if h.GetName() == model.StageHeader {
				stage[r.GetName()] = h
			}
		}
	}
	def := stage["g/everywhere|PROD"]
	if def == nil || !def.GetTreatMissingHeaderAsEmpty() || def.GetStringMatch().GetSafeRegex().GetRegex() != "^(?:PROD)?$" {
		t.Errorf("default stage matcher %v", def)
	}
	if beta := stage["g/everywhere|BETA"]; beta.GetStringMatch().GetExact() != "BETA" || beta.GetTreatMissingHeaderAsEmpty() {
		t.Errorf("BETA stage matcher %v", beta)
	}
	if _, ok := stage["g/beta-only|PROD"]; ok {
		t.Error("beta-only API has a default-environment route")
	}
}

func TestContextExtensions(t *testing.T) {
	res := translate(t, load(t, filepath.Join("testdata", "policies.input.yaml")))
	for _, r := range routesOf(t, res, "p") {
		pr := &extauthzv3.ExtAuthzPerRoute{}
		if err := r.GetTypedPerFilterConfig()[FilterExtAuthz].UnmarshalTo(pr); err != nil {
			t.Fatalf("%s: %v", r.GetName(), err)
		}
		if r.GetName() == "apigw.not_found" || r.GetName() == PathRejectedRouteName {
			if !pr.GetDisabled() {
				t.Errorf("ext_authz is not disabled on %s", r.GetName())
			}
			continue
		}
		env := strings.Split(r.GetName(), "|")[1]
		ce := pr.GetCheckSettings().GetContextExtensions()
		if ce[model.ContextKeyAPI] != "p/orders" || ce[model.ContextKeyEnv] != env || len(ce) != 2 {
			t.Errorf("%s: context extensions %v", r.GetName(), ce)
		}
	}
}

func TestLargeMockBody(t *testing.T) {
	body := strings.Repeat("x", 10000)
	res := translate(t, loadYAML(t, "mock", `groups: [{name: g, apis: [{name: a, path: /a, backend: {mock: {body: `+body+`}}}]}]`))
	if got := res.Routes[0].GetMaxDirectResponseBodySizeBytes().GetValue(); got != 10000 {
		t.Errorf("max_direct_response_body_size_bytes %d, want 10000", got)
	}
	if res := translate(t, loadYAML(t, "small", `groups: [{name: g, apis: [{name: a, path: /a, backend: {mock: {body: x}}}]}]`)); res.Routes[0].GetMaxDirectResponseBodySizeBytes() != nil {
		t.Error("limit set for a small body")
	}
}

func TestMaxRequestHeaders(t *testing.T) {
	for _, tt := range []struct {
		uri  string
		want uint32
	}{{"", 64}, {"1KB", 60}, {"1MB", 1056}} {
		cfg := "allow_empty: true\n"
		if tt.uri != "" {
			cfg += "settings: {max_uri_size: " + tt.uri + "}"
		}
		if got := hcmOf(t, translate(t, loadYAML(t, tt.uri, cfg))).GetMaxRequestHeadersKb().GetValue(); got != tt.want {
			t.Errorf("max_uri_size %q: max_request_headers_kb %d, want %d", tt.uri, got, tt.want)
		}
	}
}

// TestDuplicateDomains: two groups on one domain is refused by the config
// loader (and by Translate for hand-built snapshots).
func TestDuplicateDomains(t *testing.T) {
	for _, tt := range []struct{ cfg, want string }{
		{`groups: [{name: a}, {name: b}]`, `domain "*" is already used by group "a"`},
		{`groups: [{name: a, domains: [x.com]}, {name: b, domains: [X.com]}]`, `domain "X.com" is already used by group "a"`},
		{`groups: [{name: a, domains: [x.com, x.com]}]`, `domain "x.com" is listed twice`},
	} {
		_, err := config.Load("dup", []byte(tt.cfg), config.Options{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.cfg, err, tt.want)
		}
	}
	snap := loadYAML(t, "ok", `groups: [{name: a}]`)
	snap.Groups = append(snap.Groups, &model.Group{Name: "b", Domains: []string{"*"}})
	if _, err := Translate(snap, Options{}); err == nil || !strings.Contains(err.Error(), `group "b": domain "*" is already used by group "a"`) {
		t.Errorf("Translate: %v", err)
	}
}

// TestTranslateErrors: snapshots that cannot be translated give an error
// naming what is wrong, never a panic.
func TestTranslateErrors(t *testing.T) {
	base := `
channels: [{name: ch, members: [{address: "10.0.0.1:80"}]}]
groups:
  - name: g
    apis:
      - name: a
        path: /a
        backend: {url: "http://10.0.0.1"}
        backend_policies: [{name: p, conditions: [{type: header, name: h, values: [v]}], backend: {channel: ch}}]
`
	tests := []struct {
		name   string
		mutate func(s *model.Snapshot)
		want   string
	}{
		{"nil group", func(s *model.Snapshot) { s.Groups = append(s.Groups, nil) }, "groups[1] is nil"},
		{"nil API", func(s *model.Snapshot) { s.Groups[0].APIs = append(s.Groups[0].APIs, nil) }, `group "g": apis[1] is nil`},
		{"bad match", func(s *model.Snapshot) { s.Groups[0].APIs[0].Match = 9 }, `group "g" API "a": unknown match kind`},
		{"bad path", func(s *model.Snapshot) { s.Groups[0].APIs[0].Path = "a" }, `group "g" API "a": path "a"`},
		{"nil deployment", func(s *model.Snapshot) { s.Groups[0].APIs[0].Deployments["X"] = nil }, `deployment in environment "X" is nil`},
		{"no URL", func(s *model.Snapshot) { s.Groups[0].APIs[0].Deployments["RELEASE"].Backend.URL = nil }, `group "g" API "a" (environment RELEASE) backend: URL backend without a URL`},
		{"bad scheme", func(s *model.Snapshot) {
			s.Groups[0].APIs[0].Deployments["RELEASE"].Backend.URL = &url.URL{Scheme: "ftp", Host: "x"}
		}, `scheme "ftp"`},
		{"bad port", func(s *model.Snapshot) {
			s.Groups[0].APIs[0].Deployments["RELEASE"].Backend.URL = &url.URL{Scheme: "http", Host: "x:0"}
		}, "invalid port"},
		{"unknown kind", func(s *model.Snapshot) { s.Groups[0].APIs[0].Deployments["RELEASE"].Backend.Kind = 42 }, "unknown backend kind 42"},
		{"nil mock", func(s *model.Snapshot) {
			s.Groups[0].APIs[0].Deployments["RELEASE"].Backend = model.Backend{Kind: model.BackendMock}
		}, "mock backend without a response"},
		{"missing channel", func(s *model.Snapshot) { delete(s.Channels, "ch") }, `backend policy "p": channel "ch" is not defined`},
		{"empty channel", func(s *model.Snapshot) { s.Channels["ch"].Members = nil }, `channel "ch" has no members`},
		{"unknown condition", func(s *model.Snapshot) {
			s.Groups[0].APIs[0].Deployments["RELEASE"].Policies[0].Conditions[0].Type = 77
		}, `backend policy "p": condition 0: unknown type 77`},
		{"bad CIDR", func(s *model.Snapshot) {
			s.Groups[0].APIs[0].Deployments["RELEASE"].Policies[0].Conditions[0] = model.Condition{Type: model.ConditionSourceIP, Values: []string{"nope"}}
		}, `"nope" is not an IP address or CIDR`},
		{"no values", func(s *model.Snapshot) {
			s.Groups[0].APIs[0].Deployments["RELEASE"].Policies[0].Conditions[0].Values = nil
		}, "condition 0 has no values"},
		{"listener", func(s *model.Snapshot) { s.Listener.Address = "localhost" }, "listener"},
		{"advertise address", func(s *model.Snapshot) { s.Server.AdvertiseAddress = "" }, "advertise address"},
		{"body limit", func(s *model.Snapshot) { s.Settings.MaxBodyBytes = 0 }, "max body size"},
		{"invalid UTF-8 in an Any", func(s *model.Snapshot) { s.Groups[0].APIs[0].ID = "g/\xff" }, "cannot marshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := loadYAML(t, "base", base)
			tt.mutate(snap)
			res, err := Translate(snap, Options{})
			if err == nil {
				// Some defects only show when the resources are checked.
				if err = res.Validate(); err == nil {
					_, err = res.Snapshot("v")
				}
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := Translate(nil, Options{}); err == nil {
		t.Error("Translate(nil) succeeded")
	}
	if _, err := Translate(&model.Snapshot{}, Options{}); err == nil {
		t.Error("Translate(empty snapshot) succeeded")
	}
}

// FuzzTranslate: whatever configuration the loader accepts translates into
// valid resources, and nothing panics.
func FuzzTranslate(f *testing.F) {
	inputs, _ := filepath.Glob(filepath.Join("testdata", "*.input.yaml"))
	for _, in := range inputs {
		data, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		snap, err := config.Load("fuzz", data, config.Options{LookupEnv: func(string) (string, bool) { return "", false }})
		if err != nil {
			return
		}
		res, err := Translate(snap, Options{})
		if err != nil {
			return // refused with an error: fine, as long as it did not panic
		}
		if err := res.Validate(); err != nil {
			t.Fatalf("accepted configuration gives invalid resources: %v\n%s", err, data)
		}
		if _, err := res.Snapshot("v"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestAdvertisePortZero: a gRPC port picked at start (port 0, no advertise
// address) still translates, so the service can start; Publish warns.
func TestAdvertisePortZero(t *testing.T) {
	snap := loadYAML(t, "zero", `{allow_empty: true, server: {grpc_address: "127.0.0.1:0"}}`)
	res := translate(t, snap)
	for _, c := range res.Clusters {
		if c.GetName() == AuthzCluster && c.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress().GetPortValue() != 0 {
			t.Errorf("authz cluster %v", c)
		}
	}
}

// TestInternalOnlyHeaders: the IP tags and the dialect mark, which routes
// and local replies match on, are removed from client requests before
// routing; the identity headers are left to the strip_client_headers
// filter (TestStripClientHeaders): every one of them is in its namespace
// and none is kept by it, so none can reach a backend as the client sent
// it. They are named for removal upstream only when a filter of the chain
// sets them.
func TestInternalOnlyHeaders(t *testing.T) {
	rc := translate(t, loadYAML(t, "empty", "allow_empty: true")).Routes[0]
	if got, want := rc.GetInternalOnlyHeaders(), []string{DialectHeader, IPTagsHeader}; !slices.Equal(got, want) {
		t.Errorf("internal_only_headers %v, want %v", got, want)
	}
	if got := rc.GetRequestHeadersToRemove(); len(got) != 0 {
		t.Errorf("request_headers_to_remove %v without a filter setting them", got)
	}
}

// TestLocalReplies checks the order and content of the local-reply mappers:
// the ext_authz pass-through before anything that could rewrite a denial,
// then the rate limiter's 429 and errors, and tencent variants before their
// APIG counterparts.
func TestLocalReplies(t *testing.T) {
	tests := []struct {
		file string
		want []string // per mapper: status override and body keys
	}{
		{"mock.input.yaml", []string{
			"- error_code,error_msg,request_id", "- -",
			"429 error_code,error_msg,request_id", "- error_code,error_msg,request_id",
			"- error_code,error_msg,request_id",   // an encoded slash in the path
			"400 error_code,error_msg,request_id", // an Upgrade the API does not accept
			"404 error_code,error_msg,request_id",
			"502 error_code,error_msg,request_id", "502 error_code,error_msg,request_id",
			"504 error_code,error_msg,request_id", "413 error_code,error_msg,request_id",
			"494 error_code,error_msg,request_id",
		}},
		{"dialect.input.yaml", []string{
			"- message", "- error_code,error_msg,request_id", "- -",
			"429 message", "429 message", "429 error_code,error_msg,request_id", // quota, rate, APIG
			"- message", "- error_code,error_msg,request_id",
			"- message", "- error_code,error_msg,request_id", // an encoded slash in the path
			"400 message", "400 error_code,error_msg,request_id", // an Upgrade the API does not accept
			"404 message", // a tencent routing miss
			"404 message", "404 error_code,error_msg,request_id",
			"502 message", "502 error_code,error_msg,request_id",
			"502 message", "502 error_code,error_msg,request_id",
			"504 message", "504 error_code,error_msg,request_id",
			"413 message", "413 error_code,error_msg,request_id",
			"494 message", "494 error_code,error_msg,request_id",
		}},
	}
	for _, tt := range tests {
		var got []string
		for _, m := range hcmOf(t, translate(t, load(t, filepath.Join("testdata", tt.file)))).GetLocalReplyConfig().GetMappers() {
			status := "-"
			if m.GetStatusCode() != nil {
				status = strconv.Itoa(int(m.GetStatusCode().GetValue()))
			}
			keys := slices.Sorted(maps.Keys(m.GetBodyFormatOverride().GetJsonFormat().GetFields()))
			body := strings.Join(keys, ",")
			if body == "" {
				body = "-"
			}
			got = append(got, status+" "+body)
		}
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("%s: mappers\n got %q\nwant %q", tt.file, got, tt.want)
		}
	}
}

// TestContextExtensionsEncoding: the hand-encoded ExtAuthzPerRoute is
// byte for byte what a deterministic proto.Marshal gives.
func TestContextExtensionsEncoding(t *testing.T) {
	buf := &extauthzv3.BufferSettings{MaxRequestBytes: 1 << 20, PackAsBytes: true}
	tests := []struct {
		api, env string
		body     *extauthzv3.BufferSettings
	}{
		{"g/a", "RELEASE", nil},
		{"", "", nil},
		{"group-with-a-long-name/" + strings.Repeat("x", 300), "ENV", nil},
		{"g/ünïcode", "TEST", nil},
		{"g/a", "RELEASE", buf},
		{"g/b", "BETA", &extauthzv3.BufferSettings{MaxRequestBytes: math.MaxUint32, PackAsBytes: true}},
	}
	for _, tt := range tests {
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(&extauthzv3.ExtAuthzPerRoute{Override: &extauthzv3.ExtAuthzPerRoute_CheckSettings{
			CheckSettings: &extauthzv3.CheckSettings{ContextExtensions: map[string]string{model.ContextKeyAPI: tt.api, model.ContextKeyEnv: tt.env}, WithRequestBody: tt.body},
		}})
		if err != nil {
			t.Fatal(err)
		}
		var body []byte
		if tt.body != nil {
			body, _ = proto.MarshalOptions{Deterministic: true}.Marshal(tt.body)
		}
		if got := contextExtensions(tt.api, tt.env, body); !bytes.Equal(got, want) {
			t.Errorf("%q %q:\n got %x\nwant %x", tt.api, tt.env, got, want)
		}
	}
	if extAuthzPerRouteURL != "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute" {
		t.Errorf("type URL %s", extAuthzPerRouteURL)
	}
}

// TestCORSFilterFollowsConfiguration: the CORS filter is in the chain
// exactly when some API has a CORS policy, also when the translation
// reuses the previous one's APIs: adding a policy to one API brings the
// filter (and that API's policy and preflight route), removing it takes
// the filter away again.
func TestCORSFilterFollowsConfiguration(t *testing.T) {
	const without = `
groups:
  - name: g0
    apis:
      - {name: a, path: /a, auth: none, backend: {url: "http://10.0.0.1"}}
      - {name: b, path: /b, auth: none, backend: {url: "http://10.0.0.2"}}
`
	with := strings.Replace(without, `{name: b, path: /b, auth: none,`, `{name: b, path: /b, auth: none, cors: {allow_origins: ["https://x.example.com"]},`, 1)
	hasCORS := func(res *Resources) bool {
		for _, f := range hcmOf(t, res).GetHttpFilters() {
			if f.GetName() == FilterCORS {
				return true
			}
		}
		return false
	}
	steps := []struct {
		name, config string
		want         bool
	}{
		{"no API with CORS", without, false},
		{"one API given CORS", with, true},
		{"its CORS removed", without, false},
	}
	for _, workers := range []int{1, 2} {
		var last *prepared
		for _, s := range steps {
			snap := loadYAML(t, s.name, s.config)
			p := prepareStep(t, snap, Options{}, workers, last)
			if got := hasCORS(p.res); got != s.want {
				t.Errorf("%d workers, %s: CORS filter %v, want %v", workers, s.name, got, s.want)
			}
			if !bytes.Equal(p.served, marshalAll(t, translate(t, snap))) {
				t.Errorf("%d workers, %s: served resources differ from a fresh translation", workers, s.name)
			}
			last = p
		}
	}
}
