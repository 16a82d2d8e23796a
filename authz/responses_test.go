package authz

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/apigwio/apigw/internal/config"
)

const responsesConfig = `
gateway_responses:
  - name: brand
    responses:
      AUTH_FAILURE:
        status: 400
        body: '{"c":"$context.error.code","m":"$context.error.message","t":"$context.error.type","r":"$context.requestId","n":1}'
        headers: {X-Brand: "$context.error.type $context.error.code"}
      ACCESS_DENIED: {body: '{"denied":"$context.error.message"}'}
      DEFAULT_4XX: {status: 499}
groups:
  - name: branded
    domains: [b.example.com]
    gateway_response: brand
    apis:
      - {name: a, method: GET, path: /a, auth: app, backend: {url: "http://10.0.0.1"}}
      - {name: ip, method: GET, path: /ip, auth: none, backend: {url: "http://10.0.0.1"}}
      - {name: ungranted, method: GET, path: /u, auth: app, backend: {url: "http://10.0.0.1"}}
  - name: plain
    domains: [p.example.com]
    apis:
      - {name: a, method: GET, path: /a, auth: app, backend: {url: "http://10.0.0.1"}}
acl_policies:
  - {name: no-local, type: ip, action: deny, values: [0.0.0.0/0, "::/0"], bindings: [{api: branded/ip}]}
apps:
  - {name: shopper, key: ` + appKey + `, secret: {value: ` + appSecret + `}, grants: [{api: branded/a}, {api: plain/a}]}
`

// TestCheckGatewayResponses: denials of a group bound to a response set are
// rendered from it (type fallbacks included); other groups are unchanged.
func TestCheckGatewayResponses(t *testing.T) {
	snap, err := config.Load("responses", []byte(responsesConfig), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{now: testNow, snap: snap}
	f.svc = mustNew(t, snap, Options{Now: func() time.Time { return f.now }})

	req := func(path string, sign bool) *http.Request {
		t.Helper()
		r, _ := http.NewRequest("GET", "http://"+testHost+path, nil)
		r.Header.Set("X-Request-Id", `rid-"1"`)
		if sign {
			r, _ = signWithSDK(t, sdkRequest{method: "GET", path: path, headers: map[string]string{"X-Request-Id": `rid-"1"`}}, appKey, "wrong-secret")
		}
		return r
	}
	deny := func(api string, hr *http.Request) (int, string, map[string]string) {
		t.Helper()
		resp, err := f.svc.Check(context.Background(), envoyCheck(hr, nil, api, "RELEASE"))
		if err != nil {
			t.Fatal(err)
		}
		d := resp.GetDeniedResponse()
		if d == nil {
			t.Fatalf("%s: not denied: %v", api, resp)
		}
		h := map[string]string{}
		for _, o := range d.GetHeaders() {
			h[o.GetHeader().GetKey()] = o.GetHeader().GetValue()
		}
		if h["content-type"] != "application/json" {
			t.Errorf("%s: content-type %q", api, h["content-type"])
		}
		return int(d.GetStatus().GetCode()), d.GetBody(), h
	}

	// Bad signature: AUTH_FAILURE with the set's status, body and header;
	// the request id JSON-escaped.
	st, body, h := deny("branded/a", req("/a", true))
	var got struct {
		C, M, T, R string
		N          int
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	if st != 400 || got.C != "APIG.0303" || got.T != "AUTH_FAILURE" || got.R != `rid-"1"` || got.N != 1 ||
		len(got.M) < 10 || got.M[:10] != "Incorrect " || h["x-brand"] != "AUTH_FAILURE APIG.0303" {
		t.Errorf("bad signature = %d %s %v", st, body, h)
	}
	// No Authorization: AUTH_HEADER_MISSING falls back to AUTH_FAILURE's
	// answer, with its own type.
	st, body, h = deny("branded/a", req("/a", false))
	if err := json.Unmarshal([]byte(body), &got); err != nil || st != 400 || got.T != "AUTH_HEADER_MISSING" ||
		got.M != "Incorrect app authentication information: Authorization not found" || h["x-brand"] != "AUTH_HEADER_MISSING APIG.0303" {
		t.Errorf("no Authorization = %d %s %v", st, body, h)
	}
	// IP denied: IP_DENIED falls back to ACCESS_DENIED (body only: the
	// error's own status).
	st, body, _ = deny("branded/ip", req("/ip", false))
	// (The test's CheckRequest has no source address: APIG.0401.)
	if st != 403 || body != `{"denied":"Unknown client IP address."}` {
		t.Errorf("IP denied = %d %s", st, body)
	}
	// App not granted: UNAUTHORIZED, not customised, falls back to
	// DEFAULT_4XX: its status with the built-in body.
	hr, _ := signWithSDK(t, sdkRequest{method: "GET", path: "/u"}, appKey, appSecret)
	st, body, _ = deny("branded/ungranted", hr)
	var apig apigBody
	if err := json.Unmarshal([]byte(body), &apig); err != nil || st != 499 || apig.Code != "APIG.0304" {
		t.Errorf("not granted = %d %s", st, body)
	}
	// The unbound group: built-in answers.
	st, body, h = deny("plain/a", req("/a", true))
	if err := json.Unmarshal([]byte(body), &apig); err != nil || st != 401 || apig.Code != "APIG.0303" || apig.RequestID != `rid-"1"` || len(h) != 1 {
		t.Errorf("plain group = %d %s %v", st, body, h)
	}
	// Allowed requests are untouched.
	hr, _ = signWithSDK(t, sdkRequest{method: "GET", path: "/a"}, appKey, appSecret)
	if code, _, _ := f.check(t, envoyCheck(hr, nil, "branded/a", "RELEASE")); code != 200 {
		t.Errorf("signed request = %d, want 200", code)
	}
}
