package e2e

// Signature keys through the real Envoy: the gateway signs what it forwards
// and a backend verifies it by re-signing the request it received with the
// official Huawei Go SDK signer (the backend's side of the platform's
// "signature keys"). The fixtures are in the suite's configuration:
// startGateway starts the verifying backends (startSigKeyBackends) and the
// templates below add two APIs and the key.

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"text/template"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/signer"
	sdkrequest "github.com/huaweicloud/huaweicloud-sdk-go-v3/core/request"
)

// The gateway's signature key (signature_keys) of the suite.
const (
	sigKeyAccess = "e2e-gateway-key"
	sigKeySecret = "e2e-gateway-signing-secret"
)

var (
	_ = template.Must(configTemplate.New("sigkeyAPIs").Parse(strings.TrimSuffix(`      - {name: signed, method: ANY, path: /signed/, match: prefix, auth: app, backend: {url: "http://{{.SigKeyBackend}}/verify/"}}
      - {name: signed-wrong, method: GET, path: /signed-wrong, auth: none, backend: {url: "http://{{.SigKeyWrongBackend}}/verify"}}
`, "\n")))
	_ = template.Must(configTemplate.New("sigkeyTop").Parse(strings.TrimSuffix(`signature_keys:
  - name: e2e-gw
    type: hmac
    key: `+sigKeyAccess+`
    secret: {value: `+sigKeySecret+`}
    bindings: [{api: e2e/signed}, {api: e2e/signed-wrong}]
`, "\n")))
)

// sigVerdict is what the verifying backend answers.
type sigVerdict struct {
	Verified      bool   `json:"verified"`
	Method        string `json:"method"`
	Path          string `json:"path"`
	Query         string `json:"query"`
	Host          string `json:"host"`
	Authorization string `json:"authorization"`
	Expected      string `json:"expected"`
	Body          string `json:"body"`
}

// startSigKeyBackends starts two backends that verify the gateway's
// signature with the SDK: one with the right secret, one with a wrong one.
// It returns their host:port.
func startSigKeyBackends(t *testing.T) (right, wrong string) {
	r := httptest.NewServer(sigVerifier(sigKeySecret))
	t.Cleanup(r.Close)
	w := httptest.NewServer(sigVerifier("not-the-gateway-secret"))
	t.Cleanup(w.Close)
	return strings.TrimPrefix(r.URL, "http://"), strings.TrimPrefix(w.URL, "http://")
}

// sigVerifier re-signs each request it receives with the official SDK
// signer (host, path, query, X-Sdk-Date, the body or UNSIGNED-PAYLOAD) and
// answers 200 when the Authorization matches, 401 otherwise.
func sigVerifier(secret string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b := sdkrequest.NewHttpRequestBuilder().WithMethod(r.Method).WithEndpoint("http://" + r.Host).WithPath(r.URL.Path)
		for k, vs := range r.URL.Query() {
			if len(vs) == 1 {
				b.AddQueryParam(k, reflect.ValueOf(vs[0]))
			} else {
				b.AddQueryParam(k, reflect.ValueOf(vs))
			}
		}
		b.AddHeaderParam("Host", r.Host)
		b.AddHeaderParam("X-Sdk-Date", r.Header.Get("X-Sdk-Date"))
		if v := r.Header.Get("X-Sdk-Content-Sha256"); v != "" {
			b.AddHeaderParam("X-Sdk-Content-Sha256", v)
		}
		if len(body) > 0 {
			b.WithBody("body", string(body))
		}
		v := sigVerdict{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Host: r.Host, Authorization: r.Header.Get("Authorization"), Body: string(body)}
		if added, err := signer.Sign(b.Build(), sigKeyAccess, secret); err == nil {
			v.Expected = added["Authorization"]
		}
		v.Verified = v.Authorization != "" && v.Authorization == v.Expected
		w.Header().Set("Content-Type", "application/json")
		if !v.Verified {
			w.WriteHeader(http.StatusUnauthorized)
		}
		json.NewEncoder(w).Encode(v)
	})
}

// testSignatureKeys is TestEndToEnd's "signature keys" subtest.
func testSignatureKeys(t *testing.T, g *gateway) {
	send := func(t *testing.T, req *http.Request) (int, sigVerdict) {
		t.Helper()
		code, _, body, err := g.do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", req.Method, req.URL, err)
		}
		var v sigVerdict
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("%s %s = %d %s, want the verifying backend's answer", req.Method, req.URL, code, body)
		}
		return code, v
	}
	t.Run("the backend verifies the gateway's signature with the SDK", func(t *testing.T) {
		body := []byte(`{"order":42,"note":"` + strings.Repeat("n", 4096) + `"}`)
		req := g.signed(t, "POST", "/signed/orders/7?b=2&a=x+y", body, map[string]string{"Content-Type": "application/json"})
		clientAuth := req.Header.Get("Authorization")
		code, v := send(t, req)
		if code != http.StatusOK || !v.Verified {
			t.Fatalf("backend did not verify: %d %+v", code, v)
		}
		if v.Path != "/verify/orders/7" || v.Body != string(body) {
			t.Errorf("backend saw %s %s?%s (%d bytes), want POST /verify/orders/7 with the body", v.Method, v.Path, v.Query, len(v.Body))
		}
		if v.Authorization == clientAuth || !strings.Contains(v.Authorization, "Access="+sigKeyAccess+",") {
			t.Errorf("backend got Authorization %q, want the gateway's (client sent %q)", v.Authorization, clientAuth)
		}
	})
	t.Run("GET without a body", func(t *testing.T) {
		code, v := send(t, g.signed(t, "GET", "/signed/x", nil, nil))
		if code != http.StatusOK || !v.Verified {
			t.Fatalf("backend did not verify: %d %+v", code, v)
		}
	})
	t.Run("a backend with the wrong secret rejects the request", func(t *testing.T) {
		code, v := send(t, g.request(t, "GET", "/signed-wrong?q=1", nil))
		if code != http.StatusUnauthorized || v.Verified || v.Authorization == "" {
			t.Fatalf("wrong-secret backend: %d %+v, want 401 with a signature it cannot verify", code, v)
		}
	})
}
