package xds

import (
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"

	"github.com/apigwio/apigw/internal/model"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	earlymutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/early_header_mutation/header_mutation/v3"
)

func TestPrefixExceptRegex(t *testing.T) {
	for _, tt := range []struct {
		except []string
		match  []string
		not    []string
	}{
		{
			except: []string{"x-apig-appcode"},
			match:  []string{"x-apig-", "x-apig-a", "x-apig-app", "x-apig-app-id", "x-apig-appcod", "x-apig-appcodes", "x-apig-appcode-x", "x-apig-context-role", "x-apig-b", "x-apig-api-id"},
			not:    []string{"x-apig-appcode", "x-apig", "x-apigw-dialect", "authorization", "x-apig-appcode\n", "y-apig-app-id"},
		},
		{
			except: []string{"x-apig-appcode", "x-apig-token", "x-apig-token-id", "x-apig-a"},
			match:  []string{"x-apig-", "x-apig-ab", "x-apig-tok", "x-apig-tokens", "x-apig-token-", "x-apig-token-idx", "x-apig-appcodex", "x-apig-b"},
			not:    []string{"x-apig-appcode", "x-apig-token", "x-apig-token-id", "x-apig-a"},
		},
		{
			except: nil,
			match:  []string{"x-apig-", "x-apig-appcode"},
			not:    []string{"x-apig"},
		},
	} {
		expr := prefixExceptRegex("x-apig-", tt.except)
		re := regexp.MustCompile("^(?:" + expr + ")$")
		for _, s := range tt.match {
			if !re.MatchString(s) {
				t.Errorf("except %v: %s does not match %q", tt.except, expr, s)
			}
		}
		for _, s := range tt.not {
			if re.MatchString(s) {
				t.Errorf("except %v: %s matches %q", tt.except, expr, s)
			}
		}
	}
}

// TestStripClientHeaders: the connection manager's early header mutation
// removes client x-apig-* headers but X-Apig-AppCode and authorizer
// identity headers in the namespace, before any HTTP filter.
func TestStripClientHeaders(t *testing.T) {
	snap := loadYAML(t, "strip", `
authorizers:
  - name: auth
    url: http://127.0.0.1:9000/auth
    identity_headers: [X-Apig-Token, authorization]
groups:
  - name: g
    apis:
      - {name: a, path: /a, auth: authorizer, authorizer: auth, backend: {mock: {body: a}}}
`)
	re := stripRegex(t, hcmOf(t, translate(t, snap)))
	for h, removed := range map[string]bool{
		"x-apig-app-id": true, "x-apig-context-role": true, "x-apig-tokens": true,
		"x-apig-token": false, "x-apig-appcode": false, "authorization": false, "x-apigw-ip-tags": false,
	} {
		if re.MatchString(h) != removed {
			t.Errorf("%s removed: %v, want %v (regex %s)", h, !removed, removed, re)
		}
	}
}

// TestIdentityHeadersNeverFromClient: every identity header a client sends
// is removed before Check and the backend see it, by the client-header strip or,
// where the filter leaves it (a custom authorizer's identity header), by
// internal_only_headers; the IP tags and the dialect mark always by
// internal_only_headers, and upstream (request_headers_to_remove) exactly
// when a filter of the chain sets them.
func TestIdentityHeadersNeverFromClient(t *testing.T) {
	tests := []struct {
		name, config string
		internal     []string // internal_only_headers besides the two marks
		toRemove     []string // request_headers_to_remove
	}{
		{"plain", `
groups:
  - name: g
    apis:
      - {name: a, path: /a, auth: none, backend: {mock: {body: a}}}
`, nil, nil},
		{"authorizer keeps identity headers", `
authorizers:
  - name: auth
    url: http://127.0.0.1:9000/auth
    identity_headers: [X-Apig-User-Id, X-Apig-Token]
groups:
  - name: g
    apis:
      - {name: a, path: /a, auth: authorizer, authorizer: auth, backend: {mock: {body: a}}}
`, []string{"x-apig-user-id"}, nil},
		{"tencent dialect", `
groups:
  - name: g
    error_dialect: tencent
    apis:
      - {name: a, path: /a, auth: none, backend: {mock: {body: a}}}
`, nil, []string{DialectHeader}},
		{"source_ip condition", `
groups:
  - name: g
    apis:
      - name: a
        path: /a
        auth: none
        backend: {url: "http://10.0.0.1"}
        backend_policies:
          - {name: office, conditions: [{type: source_ip, values: [10.0.0.0/8]}], backend: {url: "http://10.0.0.2"}}
`, nil, []string{IPTagsHeader}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := translate(t, loadYAML(t, "s", tt.config))
			rc := res.Routes[0]
			want := append([]string{DialectHeader, IPTagsHeader}, tt.internal...)
			slices.Sort(want)
			if got := rc.GetInternalOnlyHeaders(); !slices.Equal(got, want) {
				t.Errorf("internal_only_headers %v, want %v", got, want)
			}
			if got := rc.GetRequestHeadersToRemove(); !slices.Equal(got, tt.toRemove) {
				t.Errorf("request_headers_to_remove %v, want %v", got, tt.toRemove)
			}
			var names []string
			for _, f := range hcmOf(t, res).GetHttpFilters() {
				names = append(names, f.GetName())
			}
			if slices.Contains(names, FilterHeaderMutation) != slices.Contains(tt.toRemove, DialectHeader) ||
				slices.Contains(names, FilterIPTagging) != slices.Contains(tt.toRemove, IPTagsHeader) {
				t.Errorf("filters %v, request_headers_to_remove %v", names, tt.toRemove)
			}
			re := stripRegex(t, hcmOf(t, res))
			for _, h := range model.IdentityHeaders {
				if !re.MatchString(h) && !slices.Contains(rc.GetInternalOnlyHeaders(), h) {
					t.Errorf("a client's %s reaches Check and the backend", h)
				}
			}
		})
	}
}

// stripRegex returns the regex of the connection manager's one early
// header mutation, strip_client_headers, matched whole (as Envoy's
// safe_regex is), and fails the test if the strip is missing, is not the
// only early mutation, or is (also) an HTTP filter.
func stripRegex(t *testing.T, hcm *hcmv3.HttpConnectionManager) *regexp.Regexp {
	t.Helper()
	early := hcm.GetEarlyHeaderMutationExtensions()
	if len(early) != 1 || early[0].GetName() != FilterStripClientHeaders {
		t.Fatalf("early header mutations %v, want %s only", early, FilterStripClientHeaders)
	}
	for _, f := range hcm.GetHttpFilters() {
		if f.GetName() == FilterStripClientHeaders {
			t.Errorf("%s is also an HTTP filter", f.GetName())
		}
	}
	cfg := &earlymutationv3.HeaderMutation{}
	if err := early[0].GetTypedConfig().UnmarshalTo(cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.GetMutations()) != 1 {
		t.Fatalf("mutations %v, want one remove_on_match", cfg.GetMutations())
	}
	return regexp.MustCompile("^(?:" + cfg.GetMutations()[0].GetRemoveOnMatch().GetKeyMatcher().GetSafeRegex().GetRegex() + ")$")
}

// TestBackendClustersDropTrailers: the early strip removes the client's
// x-apig-* headers, not its request trailers. Those never reach a backend
// because backends are spoken to over HTTP/1.1 and Envoy's HTTP/1 codec
// drops proxied trailers unless enable_trailers is set; the listener's
// HTTP/1 codec does not read them either. A backend protocol that forwards
// trailers (HTTP/2, gRPC, enable_trailers) needs the strip extended to
// request trailers first (header_mutation's request_trailers_mutations),
// and this test fails until it is. The real-Envoy check is the e2e test
// "forged x-apig trailers never reach the backend".
func TestBackendClustersDropTrailers(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.input.yaml")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no inputs: %v", err)
	}
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			res := translate(t, load(t, in))
			if hcmOf(t, res).GetHttpProtocolOptions().GetEnableTrailers() {
				t.Error("the listener reads HTTP/1 request trailers")
			}
			for _, c := range res.Clusters {
				if c.GetName() == AuthzCluster {
					continue // apigw's own gRPC service, not a backend
				}
				// Deprecated, still honoured by Envoy: checked on purpose.
				if c.GetHttp2ProtocolOptions() != nil || c.GetHttpProtocolOptions().GetEnableTrailers() { //nolint:staticcheck // SA1019
					t.Errorf("cluster %s forwards trailers (deprecated protocol fields)", c.GetName())
				}
				packed, ok := c.GetTypedExtensionProtocolOptions()[httpProtocolOptionsKey]
				if !ok {
					continue
				}
				var o upstreamhttpv3.HttpProtocolOptions
				if err := packed.UnmarshalTo(&o); err != nil {
					t.Fatalf("cluster %s: %v", c.GetName(), err)
				}
				explicit := o.GetExplicitHttpConfig()
				if explicit == nil || explicit.GetHttp2ProtocolOptions() != nil || explicit.GetHttp3ProtocolOptions() != nil ||
					explicit.GetHttpProtocolOptions().GetEnableTrailers() {
					t.Errorf("cluster %s may forward request trailers: %v", c.GetName(), &o)
				}
			}
		})
	}
}
