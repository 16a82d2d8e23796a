package authz

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/signer"
	sdkrequest "github.com/huaweicloud/huaweicloud-sdk-go-v3/core/request"

	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/envoycheck"
	"github.com/apigwio/apigw/internal/model"
)

const (
	appKey    = "app-key-0001"
	appSecret = "app-secret-0001-abcdef"
	iamAK     = "IAMAK000000000000001"
	iamSK     = "iam-secret-key-000001"
	testHost  = "api.example.com"
	testDate  = "20221208T015751Z"
)

var testNow = time.Date(2022, 12, 8, 1, 57, 51, 0, time.UTC)

const testConfig = `
settings:
  lockout: {max_failures: 5, duration: 5m}
  max_body_size: 1MB
  max_uri_size: 1KB
environments:
  - name: BETA
groups:
  - name: shop
    apis:
      - {name: items, method: ANY, path: /items/, match: prefix, auth: app, environments: [RELEASE, BETA], backend: {url: "http://10.0.0.1:8080"}}
      - {name: orders, method: POST, path: /orders, auth: iam, backend: {url: "http://10.0.0.1:8080"}}
      - {name: open, method: GET, path: /open, auth: none, backend: {url: "http://10.0.0.1:8080"}}
      - {name: secret, method: GET, path: /secret, auth: app, backend: {url: "http://10.0.0.1:8080"}}
apps:
  - name: shopper
    key: ` + appKey + `
    secret: {value: ` + appSecret + `}
    grants:
      - {api: shop/items}
      - {api: shop/open}
iam_users:
  - account: acme
    user: alice
    access_keys:
      - {id: ` + iamAK + `, secret: {value: ` + iamSK + `}}
`

// fixture is a Service on the test config with a controllable clock.
type fixture struct {
	svc  *Service
	now  time.Time
	snap *model.Snapshot
}

func newFixture(t testing.TB) *fixture {
	snap, err := config.Load("test", []byte(testConfig), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{now: testNow, snap: snap}
	f.svc = mustNew(t, snap, Options{Now: func() time.Time { return f.now }})
	return f
}

func mustNew(t testing.TB, snap *model.Snapshot, opts Options) *Service {
	t.Helper()
	s, err := New(context.Background(), snap, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// sdkRequest describes a request to sign with the official Huawei SDK.
type sdkRequest struct {
	method  string
	path    string
	query   map[string]any
	headers map[string]string
	body    any // JSON-serialised by the SDK
	date    string
}

// signWithSDK signs r with the official Huawei Go SDK signer and returns the
// resulting net/http request (as the SDK would send it) and its body.
func signWithSDK(t testing.TB, r sdkRequest, ak, sk string) (*http.Request, []byte) {
	t.Helper()
	return signWith(t, r, func(req *sdkrequest.DefaultHttpRequest) (map[string]string, error) { return signer.Sign(req, ak, sk) })
}

// signWith signs r with one of the official SDK's signers.
func signWith(t testing.TB, r sdkRequest, sign func(*sdkrequest.DefaultHttpRequest) (map[string]string, error)) (*http.Request, []byte) {
	t.Helper()
	b := sdkrequest.NewHttpRequestBuilder().WithMethod(r.method).WithEndpoint("http://" + testHost).WithPath(r.path)
	for k, v := range r.query {
		b.AddQueryParam(k, reflect.ValueOf(v))
	}
	date := r.date
	if date == "" {
		date = testDate
	}
	b.AddHeaderParam("X-Sdk-Date", date)
	for k, v := range r.headers {
		b.AddHeaderParam(k, v)
	}
	if r.body != nil {
		b.WithBody("body", r.body)
	}
	req := b.Build()
	added, err := sign(req)
	if err != nil {
		t.Fatal(err)
	}
	hr, err := req.ConvertRequest()
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range added {
		hr.Header.Set(k, v)
	}
	var body []byte
	if hr.Body != nil {
		body, _ = io.ReadAll(hr.Body)
	}
	return hr, body
}

// envoyCheck builds the CheckRequest Envoy sends for hr on the route of
// apiID in env.
func envoyCheck(hr *http.Request, body []byte, apiID, env string) *authv3.CheckRequest {
	return envoycheck.FromHTTP(hr, body, apiID, env)
}

// apigBody decodes a denial's APIG JSON body.
type apigBody struct {
	Code      string `json:"error_code"`
	Msg       string `json:"error_msg"`
	RequestID string `json:"request_id"`
}

// check runs one Check and decodes the outcome: status 200 for OK.
func (f *fixture) check(t testing.TB, req *authv3.CheckRequest) (int, apigBody, *authv3.CheckResponse) {
	t.Helper()
	resp, err := f.svc.Check(context.Background(), req)
	if err != nil {
		t.Fatalf("Check returned a gRPC error: %v", err)
	}
	if ok := resp.GetOkResponse(); ok != nil {
		if resp.GetStatus().GetCode() != 0 {
			t.Fatalf("OK response with status %v", resp.GetStatus())
		}
		return 200, apigBody{}, resp
	}
	d := resp.GetDeniedResponse()
	if d == nil {
		t.Fatalf("neither OK nor denied: %v", resp)
	}
	if resp.GetStatus().GetCode() == 0 {
		t.Fatalf("denied response with OK gRPC status")
	}
	var body apigBody
	if err := json.Unmarshal([]byte(d.GetBody()), &body); err != nil {
		t.Fatalf("denial body is not JSON: %q", d.GetBody())
	}
	if ct := d.GetHeaders(); len(ct) == 0 || ct[0].GetHeader().GetKey() != "content-type" || ct[0].GetHeader().GetValue() != "application/json" {
		t.Errorf("denial headers = %v, want content-type: application/json", ct)
	}
	for _, h := range d.GetHeaders()[1:] {
		// Only a quota denial adds headers.
		if k := h.GetHeader().GetKey(); body.Code != "APIG.0501" || (!strings.HasPrefix(k, "x-ratelimit-") && k != "retry-after") {
			t.Errorf("denial header %s in a %s answer", k, body.Code)
		}
	}
	return int(d.GetStatus().GetCode()), body, resp
}

// upstreamHeaders returns the headers an OK response sets upstream.
func upstreamHeaders(resp *authv3.CheckResponse) map[string]string {
	out := map[string]string{}
	for _, h := range resp.GetOkResponse().GetHeaders() {
		out[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
	}
	return out
}

func appendRawHeader(m *corev3.HeaderMap, k, v string) *corev3.HeaderMap {
	if m == nil {
		m = &corev3.HeaderMap{}
	}
	m.Headers = append(m.Headers, &corev3.HeaderValue{Key: k, RawValue: []byte(v)})
	return m
}
