package authz

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/apigwio/apigw/internal/config"
)

// TestIdentityMetadata: an allow publishes the caller identity as dynamic
// metadata only for a deployment whose rate-limit descriptors read it (a
// throttle policy with a user or app limit, a usage plan with a rate or
// quota), or everywhere with settings.identity_metadata: always. Each
// configuration is applied to one Service in turn by Update (reusing the
// unchanged groups' compiled deployments, as a reload does), and each
// request is checked twice (the second answer comes from the allow
// cache), so a stale deployment or cached answer fails the test.
func TestIdentityMetadata(t *testing.T) {
	const (
		appLimit = "throttle_policies:\n  - {name: p, unit: second, app_limit: 100, bindings: [{api: shop/items}]}\n"
		apiLimit = "throttle_policies:\n  - {name: p, unit: second, api_limit: 100, ip_limit: 5, bindings: [{api: shop/items}]}\n"
		userLim  = "throttle_policies:\n  - {name: p, unit: second, user_limit: 100, bindings: [{api: shop/orders}]}\n"
		always   = "settings:\n  identity_metadata: always\n"
		explicit = "settings:\n  identity_metadata: throttled\n"
	)
	tests := []struct {
		name string
		edit func(string) string
		// want: the APIs whose allows carry metadata (auth of the caller).
		items, orders, open bool
	}{
		{"unthrottled", nil, false, false, false},
		{"app limit on items", func(s string) string { return s + appLimit }, true, false, false},
		{"api and ip limits only: no descriptor reads the metadata", func(s string) string { return s + apiLimit }, false, false, false},
		{"user limit on orders", func(s string) string { return s + userLim }, false, true, false},
		{"identity_metadata: always", func(s string) string { return strings.Replace(s, "settings:\n", always, 1) }, true, true, true},
		{"identity_metadata: throttled, app limit", func(s string) string { return strings.Replace(s, "settings:\n", explicit, 1) + appLimit }, true, false, false},
		{"back to unthrottled", nil, false, false, false},
	}
	var p config.Parser
	snap, err := p.Load("m", []byte(testConfig), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{now: testNow, snap: snap}
	f.svc = mustNew(t, snap, Options{Now: func() time.Time { return f.now }})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig
			if tt.edit != nil {
				cfg = tt.edit(cfg)
			}
			snap, err := p.Load("m", []byte(cfg), config.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := f.svc.Update(context.Background(), snap); err != nil {
				t.Fatal(err)
			}
			hr, body := signWithSDK(t, sdkRequest{method: "GET", path: "/items/1"}, appKey, appSecret)
			appReq := envoyCheck(hr, body, "shop/items", "RELEASE")
			hr, body = signWithSDK(t, sdkRequest{method: "POST", path: "/orders", headers: map[string]string{"Content-Type": "application/json"}, body: &order{"pen", 1}}, iamAK, iamSK)
			iamReq := envoyCheck(hr, body, "shop/orders", "RELEASE")
			hr, err = http.NewRequest("GET", "http://"+testHost+"/open", nil)
			if err != nil {
				t.Fatal(err)
			}
			openReq := envoyCheck(hr, nil, "shop/open", "RELEASE")
			for _, c := range []struct {
				what string
				req  *authv3.CheckRequest
				want bool
				auth string
			}{
				{"app on shop/items", appReq, tt.items, "app"},
				{"iam on shop/orders", iamReq, tt.orders, "iam"},
				{"none on shop/open", openReq, tt.open, "none"},
			} {
				for i := range 2 {
					status, deny, resp := f.check(t, c.req)
					if status != 200 {
						t.Fatalf("%s: status %d %+v", c.what, status, deny)
					}
					md := resp.GetDynamicMetadata()
					if got := md != nil; got != c.want {
						t.Errorf("%s (check %d): metadata %v, want published %v", c.what, i+1, md, c.want)
					}
					if c.want && md.GetFields()["auth"].GetStringValue() != c.auth {
						t.Errorf("%s: metadata auth = %v, want %s", c.what, md.GetFields()["auth"], c.auth)
					}
					if len(upstreamHeaders(resp)) == 0 {
						t.Errorf("%s: no identity headers upstream", c.what)
					}
				}
			}
		})
	}
}

// TestIdentityMetadataSetting: settings.identity_metadata accepts
// throttled and always, and nothing else.
func TestIdentityMetadataSetting(t *testing.T) {
	for _, tt := range []struct {
		value string
		ok    bool
	}{
		{"throttled", true},
		{"always", true},
		{"never", false},
		{"Always", false},
	} {
		_, err := config.Load("s", []byte(strings.Replace(testConfig, "settings:\n", "settings:\n  identity_metadata: "+tt.value+"\n", 1)), config.Options{})
		if (err == nil) != tt.ok {
			t.Errorf("identity_metadata %q: error %v, want ok %v", tt.value, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "settings.identity_metadata") {
			t.Errorf("identity_metadata %q: error %v does not name the setting", tt.value, err)
		}
	}
}
