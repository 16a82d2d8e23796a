package authz

import (
	"net/http"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/apigwio/apigw/authz/keypair"
	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/model"
)

const keyPairConfig = `
environments: [{name: PREPUB}]
groups:
  - name: tc
    domains: [tc.example.com]
    error_dialect: tencent
    apis:
      - {name: k, method: GET, path: /k, auth: hmac, environments: [RELEASE, PREPUB], backend: {url: "http://10.0.0.1"}}
      - {name: strict, method: POST, path: /strict, auth: hmac, hmac: {algorithms: [hmac-sha256], enforce_headers: [request-line], validate_body: true}, backend: {url: "http://10.0.0.1"}}
      - {name: unplanned, method: GET, path: /u, auth: hmac, backend: {url: "http://10.0.0.1"}}
  - name: ap
    domains: [ap.example.com]
    apis:
      - {name: k, method: GET, path: /k, auth: hmac, backend: {url: "http://10.0.0.1"}}
key_pairs:
  - {id: AKIDgold, secret: {value: gold-secret-key}}
  - {id: AKIDother, secret: {value: other-secret-key}}
  - {id: AKIDoff, secret: {value: off-secret-key0}, disabled: true}
usage_plans:
  - {name: gold, key_pairs: [AKIDgold, AKIDoff], environments: [RELEASE], rate_per_second: 100}
  - {name: strict, key_pairs: [AKIDgold], apis: [tc/strict, ap/k], rate_per_second: 100}
`

func keyPairFixture(t *testing.T) *fixture {
	snap, err := config.Load("kp", []byte(keyPairConfig), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{now: testNow, snap: snap}
	f.svc = mustNew(t, snap, Options{Now: func() time.Time { return f.now }})
	return f
}

// keyPairRequest signs a request with the key-pair client and returns the
// CheckRequest Envoy would send for it.
func keyPairRequest(t *testing.T, method, target, body, id, secret string, alg keypair.Algorithm, headers []string, api, env string) *authv3.CheckRequest {
	t.Helper()
	r, _ := http.NewRequest(method, "http://gw.example.com"+target, strings.NewReader(body))
	r.Header.Set("Source", "test")
	if err := keypair.Sign(r, []byte(body), id, secret, alg, headers, testNow); err != nil {
		t.Fatal(err)
	}
	c := envoyCheck(r, []byte(body), api, env)
	c.Attributes.Request.Http.Protocol = "HTTP/1.1"
	return c
}

// tencentBody decodes {"message": ...}.
func (f *fixture) tencent(t *testing.T, req *authv3.CheckRequest) (int, string, *authv3.CheckResponse) {
	t.Helper()
	resp, err := f.svc.Check(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetOkResponse() != nil {
		return 200, "", resp
	}
	body := resp.GetDeniedResponse().GetBody()
	msg, ok := strings.CutPrefix(body, `{"message":"`)
	if !ok {
		t.Fatalf("not a tencent body: %s", body)
	}
	return int(resp.GetDeniedResponse().GetStatus().GetCode()), strings.TrimSuffix(msg, `"}`), resp
}

func TestKeyPairAuth(t *testing.T) {
	f := keyPairFixture(t)
	std := []string{"x-date", "source"}
	tests := []struct {
		name   string
		req    *authv3.CheckRequest
		status int
		msg    string
	}{
		{"valid", keyPairRequest(t, "GET", "/k?a=1", "", "AKIDgold", "gold-secret-key", keypair.HMACSHA1, std, "tc/k", "RELEASE"), 200, ""},
		{"valid sha512 request-line", keyPairRequest(t, "GET", "/k?a=1", "", "AKIDgold", "gold-secret-key", keypair.HMACSHA512, []string{"x-date", "request-line"}, "tc/k", "RELEASE"), 200, ""},
		{"unknown key", keyPairRequest(t, "GET", "/k", "", "AKIDnope", "whatever-secret", keypair.HMACSHA256, std, "tc/k", "RELEASE"), 403, keypair.MsgUnknownKey},
		{"disabled key", keyPairRequest(t, "GET", "/k", "", "AKIDoff", "off-secret-key0", keypair.HMACSHA256, std, "tc/k", "RELEASE"), 403, keypair.MsgUnknownKey},
		{"key not in a plan of this env", keyPairRequest(t, "GET", "/k", "", "AKIDother", "other-secret-key", keypair.HMACSHA256, std, "tc/k", "RELEASE"), 403, keypair.MsgUnknownKey},
		{"no plan bound to env", keyPairRequest(t, "GET", "/k", "", "AKIDgold", "gold-secret-key", keypair.HMACSHA256, std, "tc/k", "PREPUB"), 403, keypair.MsgNoUsagePlan},
		{"plan bound through the environment", keyPairRequest(t, "GET", "/u", "", "AKIDgold", "gold-secret-key", keypair.HMACSHA256, std, "tc/unplanned", "RELEASE"), 200, ""},
		{"wrong secret", keyPairRequest(t, "GET", "/k", "", "AKIDgold", "not-the-secret", keypair.HMACSHA256, std, "tc/k", "RELEASE"), 403, keypair.MsgSignatureMismatch},
		{"algorithm not allowed", keyPairRequest(t, "POST", "/strict", "{}", "AKIDgold", "gold-secret-key", keypair.HMACSHA1, []string{"x-date", "request-line", "digest"}, "tc/strict", "RELEASE"), 403, "HMAC algorithm hmac-sha1 not supported."},
		{"enforced header not signed", keyPairRequest(t, "POST", "/strict", "{}", "AKIDgold", "gold-secret-key", keypair.HMACSHA256, []string{"x-date", "digest"}, "tc/strict", "RELEASE"), 403, ""},
		{"digest valid", keyPairRequest(t, "POST", "/strict", `{"a":1}`, "AKIDgold", "gold-secret-key", keypair.HMACSHA256, []string{"x-date", "request-line", "digest"}, "tc/strict", "RELEASE"), 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, msg, resp := f.tencent(t, tt.req)
			if status != tt.status || (tt.msg != "" && msg != tt.msg) {
				t.Fatalf("got %d %q, want %d %q", status, msg, tt.status, tt.msg)
			}
			if status == 200 {
				if upstreamHeaders(resp)[model.HeaderKeyID] != "AKIDgold" {
					t.Errorf("key id not passed upstream: %v", upstreamHeaders(resp))
				}
				md := resp.GetDynamicMetadata().GetFields()
				if md["auth"].GetStringValue() != "hmac" || md["key"].GetStringValue() != "AKIDgold" || md["plan"].GetStringValue() == "" {
					t.Errorf("metadata lacks the key and its usage plan: %v", md)
				}
			}
		})
	}
}

func TestKeyPairTamperedAndMissing(t *testing.T) {
	f := keyPairFixture(t)
	req := keyPairRequest(t, "GET", "/k", "", "AKIDgold", "gold-secret-key", keypair.HMACSHA256, []string{"x-date", "source"}, "tc/k", "RELEASE")
	req.Attributes.Request.Http.Headers["source"] = "evil"
	if status, msg, _ := f.tencent(t, req); status != 403 || msg != keypair.MsgSignatureMismatch {
		t.Errorf("tampered: %d %q", status, msg)
	}
	delete(req.Attributes.Request.Http.Headers, "authorization")
	if status, msg, _ := f.tencent(t, req); status != 401 || msg != keypair.MsgMissingAuthorization {
		t.Errorf("missing: %d %q", status, msg)
	}
	req.Attributes.Request.Http.Headers["authorization"] = `hmac id="AKIDgold", algorithm="hmac-sha256", headers="x-date", signature="`
	if status, msg, _ := f.tencent(t, req); status != 403 || msg != keypair.MsgInvalidAuthorization {
		t.Errorf("unterminated: %d %q", status, msg)
	}
	// Out-of-date X-Date.
	f.now = testNow.Add(16 * time.Minute)
	late := keyPairRequest(t, "GET", "/k", "", "AKIDgold", "gold-secret-key", keypair.HMACSHA256, []string{"x-date"}, "tc/k", "RELEASE")
	if status, msg, _ := f.tencent(t, late); status != 403 || msg != keypair.MsgDateOutOfRange {
		t.Errorf("late: %d %q", status, msg)
	}
}

func TestKeyPairAPIGDialect(t *testing.T) {
	f := keyPairFixture(t)
	req := keyPairRequest(t, "GET", "/k", "", "AKIDgold", "wrong-secret-key", keypair.HMACSHA256, []string{"x-date"}, "ap/k", "RELEASE")
	status, d, _ := f.check(t, req)
	if status != 401 || d.Code != "APIG.0305" || d.Msg != "Incorrect authentication information: HMAC signature does not match" {
		t.Errorf("apig dialect: %d %+v", status, d)
	}
	ok := keyPairRequest(t, "GET", "/k", "", "AKIDgold", "gold-secret-key", keypair.HMACSHA256, []string{"x-date"}, "ap/k", "RELEASE")
	if status, d, _ := f.check(t, ok); status != 200 {
		t.Errorf("plan bound by API refused: %+v", d)
	}
}

func TestTencentDialectForUnknownAPI(t *testing.T) {
	f := keyPairFixture(t)
	hr, _ := http.NewRequest("GET", "http://gw/none", nil)
	req := envoyCheck(hr, nil, "tc/none", "RELEASE")
	req.Attributes.ContextExtensions[model.ContextKeyDialect] = "tencent"
	if status, msg, _ := f.tencent(t, req); status != 404 || msg != "The API does not exist or has not been published in the environment." {
		t.Errorf("%d %q", status, msg)
	}
}
