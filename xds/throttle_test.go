package xds

import (
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	ratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ratelimit/v3"

	"github.com/apigwio/apigw/internal/model"
	"github.com/apigwio/apigw/ratelimit"
	"github.com/apigwio/apigw/ratelimit/throttle"
)

// sendDescriptor builds the descriptor Envoy sends for rl, as its rate-limit
// filter does: generic_key gives its key and value, metadata the value of
// the ext_authz dynamic metadata key (meta), remote_address the client
// address under "remote_address". A metadata action whose key is absent
// drops the whole descriptor (ok false).
func sendDescriptor(t testing.TB, rl *routev3.RateLimit, meta map[string]string, addr string) (entries []ratelimit.Entry, ok bool) {
	t.Helper()
	for _, a := range rl.GetActions() {
		switch {
		case a.GetGenericKey() != nil:
			entries = append(entries, ratelimit.Entry{Key: a.GetGenericKey().GetDescriptorKey(), Value: a.GetGenericKey().GetDescriptorValue()})
		case a.GetMetadata() != nil:
			m := a.GetMetadata()
			if m.GetSource() != routev3.RateLimit_Action_MetaData_DYNAMIC || m.GetMetadataKey().GetKey() != ExtAuthzMetadataNamespace ||
				len(m.GetMetadataKey().GetPath()) != 1 || m.GetSkipIfAbsent() || m.GetDefaultValue() != "" {
				t.Fatalf("unexpected metadata action %v", m)
			}
			v, present := meta[m.GetMetadataKey().GetPath()[0].GetKey()]
			if !present {
				return nil, false
			}
			entries = append(entries, ratelimit.Entry{Key: m.GetDescriptorKey(), Value: v})
		case a.GetRemoteAddress() != nil:
			entries = append(entries, ratelimit.Entry{Key: "remote_address", Value: addr})
		default:
			t.Fatalf("unexpected action %v", a)
		}
	}
	return entries, true
}

// deploymentOf reads the API and environment a route serves from its
// ext_authz context extensions ("" for routes that do not call Check).
func deploymentOf(t testing.TB, r *routev3.Route) (api, env string) {
	t.Helper()
	a := r.GetTypedPerFilterConfig()[FilterExtAuthz]
	if a == nil {
		return "", ""
	}
	pr := &extauthzv3.ExtAuthzPerRoute{}
	if err := a.UnmarshalTo(pr); err != nil {
		t.Fatal(err)
	}
	ext := pr.GetCheckSettings().GetContextExtensions()
	return ext[model.ContextKeyAPI], ext[model.ContextKeyEnv]
}

// rateLimitFilterOf returns the listener's rate-limit filter, nil if none.
func rateLimitFilterOf(t testing.TB, res *Resources) *ratelimitv3.RateLimit {
	t.Helper()
	for _, f := range hcmOf(t, res).GetHttpFilters() {
		if f.GetName() == FilterRateLimit {
			rl := &ratelimitv3.RateLimit{}
			if err := f.GetTypedConfig().UnmarshalTo(rl); err != nil {
				t.Fatal(err)
			}
			return rl
		}
	}
	return nil
}

// TestRateLimitsMatchServiceConfig: the two halves of the throttle package
// agree as translated. For every route of every test configuration, each
// descriptor Envoy can send (with sample caller metadata: a general and
// every special user and app, every usage plan, a key pair, an address)
// is matched by a limit of throttle.Config(snap); the route sends exactly
// the deployment's throttle.Descriptors, at the filter's stage; routes that
// serve no deployment send none.
func TestRateLimitsMatchServiceConfig(t *testing.T) {
	inputs, _ := filepath.Glob(filepath.Join("testdata", "*.input.yaml"))
	inputs = append(inputs, filepath.Join("..", "examples", "quickstart", "gateway.yaml"))
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			snap := load(t, in)
			res := translate(t, snap)
			cfg := throttle.Config(snap)
			if errs := cfg.Validate(); len(errs) > 0 && len(cfg.Descriptors) > 0 {
				t.Fatalf("service config invalid: %v", errs)
			}
			users, apps, plans := []string{"acme/someone"}, []string{"some-app"}, []string(nil)
			for _, p := range snap.ThrottlePolicies {
				users = append(users, slices.Sorted(maps.Keys(p.SpecialUsers))...)
				apps = append(apps, slices.Sorted(maps.Keys(p.SpecialApps))...)
			}
			for _, p := range snap.UsagePlans {
				plans = append(plans, p.Name)
			}
			routes := 0
			for _, vh := range res.Routes[0].GetVirtualHosts() {
				for _, r := range vh.GetRoutes() {
					rls := r.GetRoute().GetRateLimits()
					apiID, env := deploymentOf(t, r)
					if apiID == "" || r.GetRoute() == nil {
						if len(rls) > 0 {
							t.Errorf("route %s serves no deployment but has rate limits", r.GetName())
						}
						continue
					}
					want := throttle.Descriptors(snap, snap.LookupAPI(apiID, env), env)
					if len(rls) != len(want) {
						t.Errorf("route %s: %d rate limits, want %d", r.GetName(), len(rls), len(want))
						continue
					}
					for i, rl := range rls {
						routes++
						if rl.GetStage().GetValue() != rateLimitStage || len(rl.GetActions()) != len(want[i]) {
							t.Errorf("route %s rate limit %d: stage %d, %d actions, want stage %d, %d", r.GetName(), i, rl.GetStage().GetValue(), len(rl.GetActions()), rateLimitStage, len(want[i]))
						}
						if !anyMatches(t, cfg, rl, users, apps, plans) {
							t.Errorf("route %s: no sample of descriptor %d %v matches the rate-limit service configuration", r.GetName(), i, rl.GetActions())
						}
					}
				}
			}
			f := rateLimitFilterOf(t, res)
			if (f != nil) != (routes > 0) {
				t.Errorf("rate-limit filter present %v, routes with descriptors %d", f != nil, routes)
			}
			if f != nil && (f.GetStage() != rateLimitStage || f.GetDomain() != cfg.Domain) {
				t.Errorf("filter stage %d domain %q, want %d %q", f.GetStage(), f.GetDomain(), rateLimitStage, cfg.Domain)
			}
		})
	}
}

// anyMatches reports whether some sample of the descriptor has a limit.
func anyMatches(t testing.TB, cfg *ratelimit.Config, rl *routev3.RateLimit, users, apps, plans []string) bool {
	for _, user := range users {
		for _, app := range apps {
			for _, plan := range append(plans, "no-plan") {
				meta := map[string]string{
					throttle.MetaUser: user, throttle.MetaApp: app,
					throttle.MetaPlan: plan, throttle.MetaKey: "some-key",
				}
				entries, ok := sendDescriptor(t, rl, meta, "192.0.2.1")
				if !ok {
					t.Fatalf("descriptor %v dropped with all metadata present", rl)
				}
				if l, _ := cfg.Match(entries); l != nil {
					return true
				}
			}
		}
	}
	return false
}

// TestThrottlingLimits follows requests of testdata/throttling.input.yaml
// through the translated route rate limits and the service configuration:
// which limits apply to which caller.
func TestThrottlingLimits(t *testing.T) {
	snap := load(t, filepath.Join("testdata", "throttling.input.yaml"))
	res := translate(t, snap)
	cfg := throttle.Config(snap)
	byName := map[string]*routev3.Route{}
	for _, vh := range res.Routes[0].GetVirtualHosts() {
		for _, r := range vh.GetRoutes() {
			byName[r.GetName()] = r
		}
	}
	tests := []struct {
		name  string
		route string
		meta  map[string]string // ext_authz dynamic metadata
		want  []string          // the limits that apply, in descriptor order
	}{
		{"anonymous caller: API and IP limits", "shop/orders|RELEASE", nil,
			[]string{"100/minute", "30/minute"}},
		{"app caller", "shop/orders|RELEASE", map[string]string{"app": "someone"},
			[]string{"100/minute", "20/minute", "30/minute"}},
		{"special app", "shop/orders|RELEASE", map[string]string{"app": "vip"},
			[]string{"100/minute", "50/minute", "30/minute"}},
		{"user caller", "shop/orders|RELEASE", map[string]string{"user": "acme/alice"},
			[]string{"100/minute", "10/minute", "30/minute"}},
		{"backend-policy route: the same limits", "shop/orders|RELEASE|policy:beta", map[string]string{"app": "vip"},
			[]string{"100/minute", "50/minute", "30/minute"}},
		{"no policy in TEST: the default API limit", "shop/orders|TEST", map[string]string{"app": "vip"},
			[]string{"300/second"}},
		{"default API limit", "shop/catalog|RELEASE", nil, []string{"300/second"}},
		{"key pair with a usage plan: rate and quota", "partners/feed|RELEASE", map[string]string{"plan": "gold", "key": "partner-1"},
			[]string{"300/second", "5/second", "1000/day"}},
		{"key pair unknown to the plan: the plan limits still count per key", "partners/feed|RELEASE", map[string]string{"plan": "gold", "key": "other"},
			[]string{"300/second", "5/second", "1000/day"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := byName[tt.route]
			if r == nil {
				t.Fatalf("no route %s", tt.route)
			}
			var got []string
			for _, rl := range r.GetRoute().GetRateLimits() {
				entries, ok := sendDescriptor(t, rl, tt.meta, "192.0.2.1")
				if !ok {
					continue
				}
				l, _ := cfg.Match(entries)
				if l == nil {
					t.Errorf("descriptor %v has no limit", entries)
					continue
				}
				got = append(got, strconv.FormatUint(uint64(l.Requests), 10)+"/"+l.Unit.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("limits %v, want %v", got, tt.want)
			}
		})
	}
	for _, name := range []string{"shop/ping|RELEASE", "shop/catalog|cors-preflight", "apigw.not_found"} {
		if r := byName[name]; r == nil || len(r.GetRoute().GetRateLimits()) > 0 {
			t.Errorf("route %s: missing, or has rate limits", name)
		}
	}
}

// TestRateLimitFilter checks the filter settings: domain, service, stage,
// timeout, failure mode and headers, with failure_mode open and closed.
func TestRateLimitFilter(t *testing.T) {
	tests := []struct {
		name       string
		cfg        string
		opts       Options
		wantFilter bool
		wantDeny   bool
		wantTO     time.Duration
	}{
		{"default limit, fail open", `groups: [{name: g, apis: [{name: a, path: /a, backend: {url: "http://10.0.0.1"}}]}]`, Options{}, true, false, 100 * time.Millisecond},
		{"fail closed, custom timeout", `settings: {throttling: {failure_mode: closed}}
groups: [{name: g, apis: [{name: a, path: /a, backend: {url: "http://10.0.0.1"}}]}]`, Options{RateLimitTimeout: 250 * time.Millisecond}, true, true, 250 * time.Millisecond},
		{"default limit off: no filter", `settings: {throttling: {default_disabled: true}}
groups: [{name: g, apis: [{name: a, path: /a, backend: {url: "http://10.0.0.1"}}]}]`, Options{}, false, false, 0},
		{"only mocks: no filter", `groups: [{name: g, apis: [{name: a, path: /a, backend: {mock: {body: x}}}]}]`, Options{}, false, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Translate(loadYAML(t, tt.name, tt.cfg), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := res.Validate(); err != nil {
				t.Fatal(err)
			}
			f := rateLimitFilterOf(t, res)
			if (f != nil) != tt.wantFilter {
				t.Fatalf("filter present %v, want %v", f != nil, tt.wantFilter)
			}
			if f == nil {
				return
			}
			svc := f.GetRateLimitService()
			if f.GetDomain() != throttle.Domain || f.GetStage() != 0 || f.GetFailureModeDeny() != tt.wantDeny ||
				f.GetTimeout().AsDuration() != tt.wantTO ||
				f.GetEnableXRatelimitHeaders() != ratelimitv3.RateLimit_DRAFT_VERSION_03 ||
				svc.GetGrpcService().GetEnvoyGrpc().GetClusterName() != AuthzCluster ||
				svc.GetTransportApiVersion().String() != "V3" || f.GetStatusOnError().GetCode() != 503 {
				t.Errorf("rate-limit filter %v", f)
			}
		})
	}
}

// TestRateLimitedReply: Envoy's 429 (flag RL) becomes APIG.0308, or the
// tencent message for marked requests, right after the ext_authz
// pass-through; RLSE (rate-limit service error, fail closed) keeps its 503
// with APIG.0601.
func TestRateLimitedReply(t *testing.T) {
	mappers := hcmOf(t, translate(t, load(t, filepath.Join("testdata", "throttling.input.yaml")))).GetLocalReplyConfig().GetMappers()
	tests := []struct {
		index  int
		flag   string
		tc     bool // tencent variant
		status uint32
		field  string
		want   string
	}{
		{3, "RL", true, 429, "message", "API quota exceeded."},
		{4, "RL", true, 429, "message", "API rate limit exceeded."},
		{5, "RL", false, 429, "error_code", "APIG.0308"},
		{5, "RL", false, 429, "error_msg", "The throttling threshold has been reached."},
		{5, "RL", false, 429, "request_id", "%REQ(X-REQUEST-ID)%"},
		{6, "RLSE", true, 0, "message", "Internal server error."},
		{7, "RLSE", false, 0, "error_code", "APIG.0601"},
	}
	// The quota variant also requires the exceeded limit to be a quota.
	quota := mappers[3].GetFilter().GetAndFilter().GetFilters()
	if len(quota) != 3 || quota[2].GetMetadataFilter().GetMatcher().GetFilter() != "envoy.filters.http.ratelimit" ||
		quota[2].GetMetadataFilter().GetMatcher().GetValue().GetStringMatch().GetPrefix() != throttle.QuotaLimitPrefix {
		t.Errorf("quota mapper filter = %v", mappers[3].GetFilter())
	}
	if len(mappers) < 8 || len(mappers[2].GetFilter().GetResponseFlagFilter().GetFlags()) != 1 || mappers[2].GetFilter().GetResponseFlagFilter().GetFlags()[0] != "UAEX" {
		t.Fatalf("mappers %v", mappers)
	}
	for _, tt := range tests {
		m := mappers[tt.index]
		f := m.GetFilter()
		if tt.tc {
			f = f.GetAndFilter().GetFilters()[0]
		}
		if flags := f.GetResponseFlagFilter().GetFlags(); len(flags) != 1 || flags[0] != tt.flag {
			t.Errorf("mapper %d: flags %v, want %s", tt.index, flags, tt.flag)
		}
		if m.GetStatusCode().GetValue() != tt.status {
			t.Errorf("mapper %d: status %d, want %d", tt.index, m.GetStatusCode().GetValue(), tt.status)
		}
		if got := m.GetBodyFormatOverride().GetJsonFormat().GetFields()[tt.field].GetStringValue(); got != tt.want {
			t.Errorf("mapper %d: %s %q, want %q", tt.index, tt.field, got, tt.want)
		}
		if len(m.GetHeadersToAdd()) > 0 {
			t.Errorf("mapper %d adds headers", tt.index)
		}
	}
}
