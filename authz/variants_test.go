package authz

import (
	"net/http"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/model"
)

// TestVariantDecisions: an API defined twice in its group (v1 in
// RELEASE, v2 in BETA) is checked, per environment, against the variant
// published there: authentication, grants, ACLs and parameters all come
// from that variant, and both carry the API's id upstream.
func TestVariantDecisions(t *testing.T) {
	snap, err := config.Load("variants", []byte(`
environments: [{name: BETA}]
groups:
  - name: shop
    apis:
      - {name: getUser, method: GET, path: /users, auth: app, environments: [RELEASE], backend: {url: "http://10.0.0.1:8080"}}
      - name: getUser
        method: GET
        path: /users
        auth: none
        environments: [BETA]
        request: {parameters: [{name: id, in: query, required: true}]}
        backend: {url: "http://10.0.0.2:8080"}
apps:
  - {name: shopper, key: `+appKey+`, secret: {value: `+appSecret+`}, grants: [{api: shop/getUser}]}
acl_policies:
  - {name: office, type: ip, action: allow, values: [10.0.0.0/8], bindings: [{api: shop/getUser, environments: [BETA]}]}
`), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{now: testNow, snap: snap}
	f.svc = mustNew(t, snap, Options{Now: func() time.Time { return f.now }})
	signed := func(path string) *http.Request {
		hr, _ := signWithSDK(t, sdkRequest{method: "GET", path: path}, appKey, appSecret)
		return hr
	}
	anonymous := func(path string) *http.Request {
		hr, _ := http.NewRequest("GET", "http://"+testHost+path, nil)
		return hr
	}
	for _, tt := range []struct {
		name   string
		req    *http.Request
		env    string
		peer   string
		status int
		code   string
	}{
		{"RELEASE: v1 wants a signature", anonymous("/users"), "RELEASE", "192.0.2.1", 401, "APIG.0303"},
		{"RELEASE: v1 with the app's signature", signed("/users"), "RELEASE", "192.0.2.1", 200, ""},
		{"BETA: v2 is open", anonymous("/users?id=7"), "BETA", "10.1.2.3", 200, ""},
		{"BETA: v2 declares id", anonymous("/users"), "BETA", "10.1.2.3", 400, "APIG.0201"},
		{"BETA: v2 has the ACL", anonymous("/users?id=7"), "BETA", "192.0.2.1", 403, "APIG.0402"},
		{"TEST: not published", anonymous("/users?id=7"), "TEST", "10.1.2.3", 404, "APIG.0101"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cr := envoyCheck(tt.req, nil, "shop/getUser", tt.env)
			cr.Attributes.Source = &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
				SocketAddress: &corev3.SocketAddress{Address: tt.peer, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 40000}}}}}
			status, body, resp := f.check(t, cr)
			if status != tt.status || body.Code != tt.code {
				t.Fatalf("status %d %s, want %d %s", status, body.Code, tt.status, tt.code)
			}
			if status == 200 {
				h := upstreamHeaders(resp)
				if h[model.HeaderAPIID] != "shop/getUser" || h[model.HeaderStage] != tt.env {
					t.Errorf("upstream headers %v", h)
				}
			}
		})
	}
}
