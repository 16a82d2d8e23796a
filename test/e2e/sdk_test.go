package e2e

// The official Huawei Cloud SDK signers as clients, through the real Envoy:
// the Go SDK (core/auth/signer, a test dependency) for queries, JSON bodies
// up to and over settings.max_body_size and URIs up to and over
// settings.max_uri_size, with one-byte tampering of each; the Node.js SDK
// (@huaweicloud/huaweicloud-sdk-core's AKSKSigner) and the Python SDK
// (huaweicloudsdkcore's Signer) through the scripts of testdata/, installed
// by scripts/install-sdks.sh.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/signer"
	sdkrequest "github.com/huaweicloud/huaweicloud-sdk-go-v3/core/request"

	"github.com/apigwio/apigw/internal/envoybin"
)

// The suite's limits (settings of configTemplate: max_body_size 1MB, and
// the default max_uri_size 32KB).
const (
	suiteMaxBody = 1 << 20
	suiteMaxURI  = 32 << 10
)

// sdkSigned builds and signs a request with the official Go SDK, as its
// HcClient does (sdkrequest builder, signer.Sign, ConvertRequest), to
// Envoy's listener. query keeps its order; body (when not nil) is sent as
// is with content-type application/json, so the SDK signs its hash.
func (g *gateway) sdkSigned(t *testing.T, method, path string, query [][2]string, body []byte, ak, sk string) *http.Request {
	t.Helper()
	b := sdkrequest.NewHttpRequestBuilder().WithMethod(method).
		WithEndpoint(fmt.Sprintf("http://127.0.0.1:%d", g.envoyPort)).WithPath(path)
	for _, kv := range query {
		b.AddQueryParam(kv[0], reflect.ValueOf(kv[1]))
	}
	if body != nil {
		b.AddHeaderParam("Content-Type", "application/json")
		b.WithBody("body", string(body))
	}
	sreq := b.Build()
	added, err := signer.Sign(sreq, ak, sk)
	if err != nil {
		t.Fatal(err)
	}
	req, err := sreq.ConvertRequest()
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range added {
		req.Header.Set(k, v)
	}
	if body != nil {
		// ConvertRequest's body reader does not let net/http know the
		// length; send a Content-Length as the SDK's HTTP client does.
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	return req
}

// jsonBody is a JSON document of exactly n bytes (n >= 32).
func jsonBody(n int) []byte {
	head := []byte(`{"order":42,"pad":"`)
	tail := []byte(`"}`)
	return append(append(head, bytes.Repeat([]byte("p"), n-len(head)-len(tail))...), tail...)
}

// changeByte returns b with the byte at i replaced by another one.
func changeByte(b []byte, i int) []byte {
	c := bytes.Clone(b)
	if c[i] == 'q' {
		c[i] = 'r'
	} else {
		c[i] = 'q'
	}
	return c
}

// expectMismatch sends req and checks the app signature mismatch answer
// with the canonical request echoed, starting with prefix.
func (g *gateway) expectMismatch(t *testing.T, req *http.Request, prefix string) {
	t.Helper()
	e := g.expectError(t, req, http.StatusUnauthorized, "APIG.0303")
	want := "Incorrect app authentication information: verify signature fail, canonicalRequest:" + prefix
	if !strings.HasPrefix(e.Msg, want) {
		t.Errorf("error_msg %q, want it to start with %q", e.Msg, want)
	}
}

// doRetry sends a request built by mk, retrying (twice) the write errors
// of a body Envoy refuses before reading it whole.
func (g *gateway) doRetry(t *testing.T, mk func() *http.Request) (int, http.Header, string) {
	t.Helper()
	var err error
	for range 3 {
		var code int
		var hdr http.Header
		var body string
		if code, hdr, body, err = g.do(mk()); err == nil {
			return code, hdr, body
		}
	}
	t.Fatalf("request failed: %v", err)
	return 0, nil, ""
}

// runSDKSubtests runs the official-SDK subtests of TestEndToEnd.
func (g *gateway) runSDKSubtests(t *testing.T) {
	t.Run("Go SDK signer: GET with a query is allowed; one changed byte of query or signature gets APIG.0303", func(t *testing.T) {
		q := [][2]string{{"b", "two"}, {"a", "1"}, {"name", "a b+c/é"}}
		r := g.echoed(t, g.sdkSigned(t, "GET", "/hello", q, nil, appKey, appSecret))
		if r.Headers["x-apig-app-id"] != appName || r.Path != "/echo/hello" {
			t.Errorf("backend saw app %q path %s", r.Headers["x-apig-app-id"], r.Path)
		}
		if got, _ := url.ParseQuery(r.Query); got.Get("name") != "a b+c/é" || got.Get("b") != "two" {
			t.Errorf("backend saw query %q", r.Query)
		}
		req := g.sdkSigned(t, "GET", "/hello", q, nil, appKey, appSecret)
		req.URL.RawQuery = strings.Replace(req.URL.RawQuery, "two", "twp", 1)
		g.expectMismatch(t, req, "GET|/hello/|a=1&b=twp&name=")
		req = g.sdkSigned(t, "GET", "/hello", q, nil, appKey, appSecret)
		tamperSignature(req)
		g.expectMismatch(t, req, "GET|/hello/|a=1&b=two&name=")
	})

	t.Run("Go SDK signer: POST with a 1 KiB JSON body is allowed; one changed byte gets APIG.0303", func(t *testing.T) {
		body := jsonBody(1 << 10)
		r := g.echoed(t, g.sdkSigned(t, "POST", "/submit", [][2]string{{"dry", "1"}}, body, appKey, appSecret))
		if r.BodySize != int64(len(body)) || r.Headers["x-apig-app-id"] != appName {
			t.Errorf("backend got %d bytes from %q, want %d from %s", r.BodySize, r.Headers["x-apig-app-id"], len(body), appName)
		}
		req := g.sdkSigned(t, "POST", "/submit", [][2]string{{"dry", "1"}}, body, appKey, appSecret)
		changed := changeByte(body, 500)
		req.Body = io.NopCloser(bytes.NewReader(changed))
		// The Go SDK signs x-sdk-date only (not content-type, not host).
		g.expectMismatch(t, req, "POST|/submit/|dry=1|x-sdk-date:")
		req = g.sdkSigned(t, "POST", "/submit", [][2]string{{"dry", "1"}}, body, appKey, appSecret)
		tamperSignature(req)
		g.expectMismatch(t, req, "POST|/submit/|dry=1|")
	})

	t.Run("Go SDK signer: 1 MiB body (max_body_size) and one byte under are allowed; one changed byte gets APIG.0303", func(t *testing.T) {
		for _, n := range []int{suiteMaxBody, suiteMaxBody - 1} {
			body := jsonBody(n)
			r := g.echoed(t, g.sdkSigned(t, "POST", "/submit", nil, body, appKey, appSecret))
			if r.BodySize != int64(n) {
				t.Errorf("%d bytes: backend got %d", n, r.BodySize)
			}
		}
		body := jsonBody(suiteMaxBody)
		req := g.sdkSigned(t, "POST", "/submit", nil, body, appKey, appSecret)
		req.Body = io.NopCloser(bytes.NewReader(changeByte(body, suiteMaxBody-10)))
		g.expectMismatch(t, req, "POST|/submit/||x-sdk-date:")
	})

	t.Run("Go SDK signer: a body one byte over max_body_size gets 413 APIG.0201", func(t *testing.T) {
		body := jsonBody(suiteMaxBody + 1)
		code, hdr, resp := g.doRetry(t, func() *http.Request { return g.sdkSigned(t, "POST", "/submit", nil, body, appKey, appSecret) })
		if code != http.StatusRequestEntityTooLarge || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
			t.Fatalf("POST /submit with %d bytes = %d (%s) %s, want 413 APIG JSON", len(body), code, hdr.Get("Content-Type"), resp)
		}
		if e := expectErrorBody(t, resp, "APIG.0201"); e.Msg != "Request entity too large." {
			t.Errorf("error_msg %q, want Request entity too large.", e.Msg)
		}
	})

	t.Run("Go SDK signer: a URI of max_uri_size is allowed, one byte over gets 414 APIG.0201", func(t *testing.T) {
		// path + "?" + "pad=" + value
		pad := func(total int) [][2]string {
			return [][2]string{{"pad", strings.Repeat("u", total-len("/hello?pad="))}}
		}
		req := g.sdkSigned(t, "GET", "/hello", pad(suiteMaxURI), nil, appKey, appSecret)
		if n := len(req.URL.RequestURI()); n != suiteMaxURI {
			t.Fatalf("request URI of %d bytes, want %d", n, suiteMaxURI)
		}
		g.echoed(t, req)
		req = g.sdkSigned(t, "GET", "/hello", pad(suiteMaxURI+1), nil, appKey, appSecret)
		e := g.expectError(t, req, http.StatusRequestURITooLong, "APIG.0201")
		if e.Msg != "Request URI too large." {
			t.Errorf("error_msg %q, want Request URI too large.", e.Msg)
		}
	})

	t.Run("Node.js SDK signer (AKSKSigner): GET with a query and POST with a JSON body are allowed; tampered gets APIG.0303", func(t *testing.T) {
		g.runScriptSigner(t, "node")
	})
	t.Run("Python SDK signer (huaweicloudsdkcore Signer): GET with a query and POST with a JSON body are allowed; tampered gets APIG.0303", func(t *testing.T) {
		g.runScriptSigner(t, "python")
	})
}

// scriptSigned is what the testdata/sdk_sign.* scripts print.
type scriptSigned struct {
	URI     string            `json:"uri"` // Python: the path and query the SDK sends
	Headers map[string]string `json:"headers"`
	Body    *string           `json:"body"`
}

// sdkScript returns the command that runs the signing script of lang, or
// skips (fails with APIGW_REQUIRE_ENVOY=1) when its SDK is not installed.
func sdkScript(t *testing.T, lang string, args ...string) *exec.Cmd {
	t.Helper()
	root, err := filepath.Abs(repo)
	if err != nil {
		t.Fatal(err)
	}
	var cmd *exec.Cmd
	var missing string
	switch lang {
	case "node":
		mods := filepath.Join(root, ".tools", "node", "node_modules")
		node, err := exec.LookPath("node")
		if _, serr := os.Stat(filepath.Join(mods, "@huaweicloud", "huaweicloud-sdk-core", "package.json")); err != nil || serr != nil {
			missing = fmt.Sprintf("node or @huaweicloud/huaweicloud-sdk-core in %s missing", mods)
			break
		}
		cmd = exec.Command(node, append([]string{filepath.Join(root, "test", "e2e", "testdata", "sdk_sign.js")}, args...)...)
		cmd.Env = append(os.Environ(), "NODE_PATH="+mods)
	case "python":
		py := filepath.Join(root, ".tools", "pysdk", "bin", "python")
		if _, err := os.Stat(py); err != nil {
			missing = fmt.Sprintf("the huaweicloudsdkcore venv %s missing", filepath.Dir(filepath.Dir(py)))
			break
		}
		cmd = exec.Command(py, append([]string{filepath.Join(root, "test", "e2e", "testdata", "sdk_sign.py")}, args...)...)
	}
	if missing != "" {
		if os.Getenv(envoybin.RequireEnv) == "1" {
			t.Fatalf("%s (%s=1: the SDK signers are required; scripts/install-sdks.sh installs them)", missing, envoybin.RequireEnv)
		}
		t.Skipf("%s: scripts/install-sdks.sh installs it", missing)
	}
	return cmd
}

// scriptSign runs the signing script of lang and returns the request to
// send to Envoy.
func (g *gateway) scriptSign(t *testing.T, lang, method, pathAndQuery, ak, sk string, body []byte) *http.Request {
	t.Helper()
	u := fmt.Sprintf("http://127.0.0.1:%d%s", g.envoyPort, pathAndQuery)
	args := []string{method, u, ak, sk}
	if body != nil {
		args = append(args, string(body))
	}
	var stderr bytes.Buffer
	cmd := sdkScript(t, lang, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s signer: %v\n%s", lang, err, stderr.String())
	}
	var s scriptSigned
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("%s signer printed %q: %v", lang, out, err)
	}
	target := u
	if s.URI != "" {
		target = fmt.Sprintf("http://127.0.0.1:%d%s", g.envoyPort, s.URI)
	}
	var sent []byte
	if s.Body != nil {
		sent = []byte(*s.Body)
	}
	req := mustRequest(t, method, target, sent)
	for k, v := range s.Headers {
		if strings.EqualFold(k, "host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	if !strings.HasPrefix(req.Header.Get("Authorization"), "SDK-HMAC-SHA256 Access="+ak+", ") {
		t.Fatalf("%s signer: Authorization %q", lang, req.Header.Get("Authorization"))
	}
	return req
}

// runScriptSigner: a GET with a query and a POST with a JSON body signed
// by the SDK of lang are allowed; a changed query byte, body byte or
// signature gets APIG.0303 with the canonical request.
func (g *gateway) runScriptSigner(t *testing.T, lang string) {
	t.Helper()
	r := g.echoed(t, g.scriptSign(t, lang, "GET", "/hello?b=two&a=1", appKey, appSecret, nil))
	if r.Headers["x-apig-app-id"] != appName {
		t.Errorf("GET: backend saw app %q", r.Headers["x-apig-app-id"])
	}
	body := []byte(`{"order":42,"items":["a","b"],"note":"x"}`)
	r = g.echoed(t, g.scriptSign(t, lang, "POST", "/submit?dry=1", appKey, appSecret, body))
	if r.Headers["x-apig-app-id"] != appName || r.BodySize != int64(len(body)) {
		t.Errorf("POST: backend saw app %q and %d bytes, want %d", r.Headers["x-apig-app-id"], r.BodySize, len(body))
	}
	// IAM: the same signer with an AK/SK.
	if r := g.echoed(t, g.scriptSign(t, lang, "GET", "/iam?x=1", iamAK, iamSK, nil)); r.Headers["x-apig-user-id"] != iamUser {
		t.Errorf("IAM GET: backend saw user %q", r.Headers["x-apig-user-id"])
	}

	req := g.scriptSign(t, lang, "GET", "/hello?b=two&a=1", appKey, appSecret, nil)
	req.URL.RawQuery = strings.Replace(req.URL.RawQuery, "two", "twp", 1)
	g.expectMismatch(t, req, "GET|/hello/|a=1&b=twp|")
	req = g.scriptSign(t, lang, "POST", "/submit?dry=1", appKey, appSecret, body)
	req.Body = io.NopCloser(bytes.NewReader(changeByte(body, 10)))
	g.expectMismatch(t, req, "POST|/submit/|dry=1|content-type:application/json|")
	req = g.scriptSign(t, lang, "POST", "/submit?dry=1", appKey, appSecret, body)
	tamperSignature(req)
	g.expectMismatch(t, req, "POST|/submit/|dry=1|")
}
