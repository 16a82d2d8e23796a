package authz

import (
	"encoding/base64"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/signer"
	sdkrequest "github.com/huaweicloud/huaweicloud-sdk-go-v3/core/request"

	"github.com/apigwio/apigw/internal/config"
)

const (
	sigKey    = "gw-key-1"
	sigSecret = "gw-signing-secret-1"
)

const sigkeyConfig = `
environments:
  - name: BETA
groups:
  - name: sig
    apis:
      - {name: items, method: ANY, path: /items/, match: prefix, auth: app, backend: {url: "http://backend.internal:8080/v1/"}}
      - {name: exact, method: GET, path: /exact, auth: none, backend: {url: "http://10.0.0.2/api/x", host_header: b.example.com}}
      - {name: keep, method: ANY, path: /keep, match: prefix, auth: none, environments: [RELEASE, BETA], backend: {url: "http://10.0.0.2:81"}}
      - {name: strip, method: GET, path: /strip, match: prefix, auth: none, backend: {url: "http://10.0.0.2/"}}
      - {name: basic, method: GET, path: /basic, auth: none, backend: {url: "http://10.0.0.2"}}
      - {name: plain, method: GET, path: /plain, auth: none, backend: {url: "http://10.0.0.2"}}
  - name: penv
    domains: [penv.example.com]
    path_environments: {enabled: true, mapping: {release: RELEASE}}
    apis:
      - {name: p, method: GET, path: /p, match: prefix, auth: none, backend: {url: "http://10.0.0.3/q"}}
apps:
  - name: shopper
    key: ` + appKey + `
    secret: {value: ` + appSecret + `}
    grants: [{api: "sig/*"}]
signature_keys:
  - name: gw
    type: hmac
    key: ` + sigKey + `
    secret: {value: ` + sigSecret + `}
    bindings: [{api: sig/items}, {api: sig/exact}, {api: sig/keep, environments: [RELEASE]}, {api: sig/strip}, {api: penv/p}]
  - {name: b, type: basic, key: gateway, secret: {value: pass-word-1}, bindings: [{api: sig/basic}]}
`

func newSigkeyFixture(t testing.TB) *fixture {
	t.Helper()
	snap, err := config.Load("test", []byte(sigkeyConfig), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{now: testNow, snap: snap}
	f.svc = mustNew(t, snap, Options{Now: func() time.Time { return f.now }})
	return f
}

// backendView is a request as the backend receives it.
type backendView struct {
	method, host, path, query string
	headers                   map[string]string // besides X-Sdk-Date
	body                      string
}

// sdkResign is what a backend does to verify the gateway: re-sign the
// request it received with the official Huawei SDK signer, the key and
// secret and the received X-Sdk-Date, and return the Authorization the
// gateway should have sent.
func sdkResign(t testing.TB, v backendView, date, key, secret string) string {
	t.Helper()
	b := sdkrequest.NewHttpRequestBuilder().WithMethod(v.method).WithEndpoint("http://" + v.host).WithPath(v.path)
	q, err := url.ParseQuery(v.query)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range q {
		if len(vs) == 1 {
			b.AddQueryParam(k, reflect.ValueOf(vs[0]))
		} else {
			b.AddQueryParam(k, reflect.ValueOf(vs))
		}
	}
	// The backend signs the Host it received (the SDK signs the headers
	// it is given).
	b.AddHeaderParam("Host", v.host)
	b.AddHeaderParam("X-Sdk-Date", date)
	for k, val := range v.headers {
		b.AddHeaderParam(k, val)
	}
	if v.body != "" {
		b.WithBody("body", v.body)
	}
	added, err := signer.Sign(b.Build(), key, secret)
	if err != nil {
		t.Fatal(err)
	}
	return added["Authorization"]
}

// allowedUpstream runs req and returns the headers set and removed upstream.
func allowedUpstream(t *testing.T, f *fixture, req *authv3.CheckRequest) (map[string]string, []string) {
	t.Helper()
	st, body, resp := f.check(t, req)
	if st != 200 {
		t.Fatalf("status %d %+v, want allowed", st, body)
	}
	return upstreamHeaders(resp), resp.GetOkResponse().GetHeadersToRemove()
}

func TestSignatureKeyHMACVerifiesWithTheSDK(t *testing.T) {
	f := newSigkeyFixture(t)
	body := `{"order":42,"note":"` + strings.Repeat("x", 300) + `"}`
	hr, raw := signWithSDK(t, sdkRequest{method: "POST", path: "/items/7", query: map[string]any{"b": "2", "a": "x y"},
		headers: map[string]string{"Content-Type": "application/json"}, body: body}, appKey, appSecret)
	clientAuth := hr.Header.Get("Authorization")
	set, removed := allowedUpstream(t, f, envoyCheck(hr, raw, "sig/items", "RELEASE"))
	auth, date := set["authorization"], set["x-sdk-date"]
	if date != testDate {
		t.Fatalf("x-sdk-date = %q, want the Check time %s", date, testDate)
	}
	if auth == "" || auth == clientAuth || !strings.HasPrefix(auth, "SDK-HMAC-SHA256 Access="+sigKey+", SignedHeaders=host;x-sdk-date, Signature=") {
		t.Fatalf("authorization upstream = %q (client's %q)", auth, clientAuth)
	}
	if slices.Contains(removed, "authorization") || slices.Contains(removed, "x-sdk-date") {
		t.Errorf("headers removed upstream %v include what the signature sets", removed)
	}
	// The backend receives /v1/7 (prefix /items/ -> /v1/) on the URL host.
	got := backendView{method: "POST", host: "backend.internal:8080", path: "/v1/7", query: "a=x%20y&b=2", body: body}
	if want := sdkResign(t, got, date, sigKey, sigSecret); want != auth {
		t.Fatalf("the SDK re-signs the received request as\n%s\nthe gateway sent\n%s", want, auth)
	}
	// Anything altered after the gateway, or the wrong secret, fails.
	alter := map[string]func(v *backendView){
		"body":   func(v *backendView) { v.body = strings.Replace(v.body, "42", "43", 1) },
		"path":   func(v *backendView) { v.path = "/v1/8" },
		"query":  func(v *backendView) { v.query = "a=x%20y&b=3" },
		"method": func(v *backendView) { v.method = "PUT" },
		"host":   func(v *backendView) { v.host = "evil.internal:8080" },
	}
	for name, fn := range alter {
		v := got
		fn(&v)
		if sdkResign(t, v, date, sigKey, sigSecret) == auth {
			t.Errorf("a request with its %s altered still verifies", name)
		}
	}
	if sdkResign(t, got, date, sigKey, "another-secret-1") == auth {
		t.Error("a backend with the wrong secret accepts the signature")
	}
}

func TestSignatureKeyUpstreamRequest(t *testing.T) {
	f := newSigkeyFixture(t)
	tests := []struct {
		name, api, env, method, target, host string
		want                                 backendView
	}{
		{"exact API, host_header", "sig/exact", "RELEASE", "GET", "/exact?z=1", "api.example.com",
			backendView{method: "GET", host: "b.example.com", path: "/api/x", query: "z=1"}},
		{"no backend path keeps the request path", "sig/keep", "RELEASE", "DELETE", "/keep/a/b", "api.example.com",
			backendView{method: "DELETE", host: "10.0.0.2:81", path: "/keep/a/b"}},
		{"prefix to /", "sig/strip", "RELEASE", "GET", "/strip/a?x=1", "api.example.com",
			backendView{method: "GET", host: "10.0.0.2", path: "/a", query: "x=1"}},
		{"prefix to / (the prefix itself)", "sig/strip", "RELEASE", "GET", "/strip", "api.example.com",
			backendView{method: "GET", host: "10.0.0.2", path: "/"}},
		{"path environment segment", "penv/p", "RELEASE", "GET", "/release/p/deep", "penv.example.com",
			backendView{method: "GET", host: "10.0.0.3", path: "/q/deep"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := plainCheck(tt.method, tt.target, tt.host, tt.api, tt.env)
			set, _ := allowedUpstream(t, f, req)
			if want := sdkResign(t, tt.want, set["x-sdk-date"], sigKey, sigSecret); want != set["authorization"] {
				t.Fatalf("SDK re-sign of %+v\n%s\ngateway sent\n%s", tt.want, want, set["authorization"])
			}
		})
	}
	t.Run("not bound in BETA: nothing added", func(t *testing.T) {
		set, _ := allowedUpstream(t, f, plainCheck("GET", "/keep", "api.example.com", "sig/keep", "BETA"))
		if set["authorization"] != "" || set["x-sdk-date"] != "" {
			t.Errorf("unbound deployment got %v", set)
		}
	})
	t.Run("unbound API: nothing added", func(t *testing.T) {
		set, _ := allowedUpstream(t, f, plainCheck("GET", "/plain", "api.example.com", "sig/plain", "RELEASE"))
		if set["authorization"] != "" {
			t.Errorf("unbound API got %v", set)
		}
	})
}

func TestSignatureKeyUnsignedPayload(t *testing.T) {
	f := newSigkeyFixture(t)
	req := plainCheck("POST", "/keep/x", "api.example.com", "sig/keep", "RELEASE")
	// Envoy reports a body larger than what it forwarded.
	req.Attributes.Request.Http.Size = 4096
	req.Attributes.Request.Http.RawBody = []byte("partial")
	set, _ := allowedUpstream(t, f, req)
	if set["x-sdk-content-sha256"] != "UNSIGNED-PAYLOAD" || !strings.Contains(set["authorization"], "SignedHeaders=host;x-sdk-content-sha256;x-sdk-date,") {
		t.Fatalf("upstream %v, want UNSIGNED-PAYLOAD signed", set)
	}
	v := backendView{method: "POST", host: "10.0.0.2:81", path: "/keep/x", body: "whatever the body is",
		headers: map[string]string{"X-Sdk-Content-Sha256": "UNSIGNED-PAYLOAD"}}
	if want := sdkResign(t, v, set["x-sdk-date"], sigKey, sigSecret); want != set["authorization"] {
		t.Fatalf("SDK re-sign\n%s\ngateway sent\n%s", want, set["authorization"])
	}
}

func TestSignatureKeyClientContentHashRemoved(t *testing.T) {
	f := newSigkeyFixture(t)
	req := plainCheck("GET", "/keep", "api.example.com", "sig/keep", "RELEASE")
	req.Attributes.Request.Http.Headers["x-sdk-content-sha256"] = "UNSIGNED-PAYLOAD"
	_, removed := allowedUpstream(t, f, req)
	if !slices.Contains(removed, "x-sdk-content-sha256") {
		t.Errorf("removed %v: a client's content hash would break the body hash", removed)
	}
}

func TestSignatureKeyBasic(t *testing.T) {
	f := newSigkeyFixture(t)
	req := plainCheck("GET", "/basic", "api.example.com", "sig/basic", "RELEASE")
	req.Attributes.Request.Http.Headers["authorization"] = "Bearer client"
	set, removed := allowedUpstream(t, f, req)
	if want := "Basic " + base64.StdEncoding.EncodeToString([]byte("gateway:pass-word-1")); set["authorization"] != want {
		t.Errorf("authorization = %q, want %q", set["authorization"], want)
	}
	if slices.Contains(removed, "authorization") {
		t.Errorf("authorization removed: %v", removed)
	}
}

// plainCheck is an unsigned CheckRequest for a route of api in env.
func plainCheck(method, target, host, api, env string) *authv3.CheckRequest {
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		ContextExtensions: map[string]string{"apigw.api": api, "apigw.env": env},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: method, Path: target, Host: host, Protocol: "HTTP/1.1",
			Headers: map[string]string{":method": method, ":path": target, ":authority": host, "x-request-id": "rid-1"},
		}},
	}}
}
