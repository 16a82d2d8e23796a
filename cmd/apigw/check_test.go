package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/apigwio/apigw/authz/signing"
	"github.com/apigwio/apigw/internal/explain"
)

// The quickstart's credentials (examples/quickstart/gateway.yaml).
const (
	qsAppKey    = "4f5a1c2e9b8d4e6f8a7b6c5d4e3f2a1b"
	qsAppSecret = "quickstart-app-secret-change-me"
	qsAK        = "QUICKSTARTAK0000000001"
	qsSK        = "quickstart-iam-secret-change-me"
)

// signedCurl signs a request as `apigw sign` does and returns it in the
// curl form `apigw sign -o curl` prints.
func signedCurl(t *testing.T, method, rawURL, key, secret string, headers map[string]string, body string) string {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if err := signing.SignRequest(req, []byte(body), signing.SignOptions{Access: key, Secret: secret}); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := printCurl(&b, req, []byte(body)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// tamper changes the last character of the signature.
func tamper(curl string) string {
	i := strings.Index(curl, "Signature=")
	j := i + strings.IndexByte(curl[i:], '\'')
	last := curl[j-1]
	repl := byte('0')
	if last == '0' {
		repl = '1'
	}
	return curl[:j-1] + string(repl) + curl[j:]
}

func TestCheck(t *testing.T) {
	const base = "http://127.0.0.1:10080"
	tests := []struct {
		name  string
		stdin string
		args  []string
		code  int
		want  func(t *testing.T, r *explain.Report)
	}{
		{"allowed signed request", signedCurl(t, "GET", base+"/hello", qsAppKey, qsAppSecret, nil, ""), nil, 0, func(t *testing.T, r *explain.Report) {
			if r.Outcome != explain.OutcomeForwarded || r.Route.Name != "demo/hello|RELEASE" || r.Auth.Caller["app"] != "demo-app" {
				t.Fatalf("%+v", r)
			}
			if r.Upstream.URL != "http://127.0.0.1:18080/echo/hello" || r.Upstream.HeadersAdded["x-apig-app-id"] != "demo-app" {
				t.Fatalf("upstream %+v", r.Upstream)
			}
			if r.Policies.Grant == nil || !r.Policies.Grant.Granted || r.Policies.Grant.App != "demo-app" {
				t.Fatalf("grant %+v", r.Policies.Grant)
			}
		}},
		{"tampered signature", tamper(signedCurl(t, "GET", base+"/hello", qsAppKey, qsAppSecret, nil, "")), nil, 3, func(t *testing.T, r *explain.Report) {
			if r.Outcome != explain.OutcomeDenied || r.Status != 401 || r.Auth.Code != "APIG.0303" {
				t.Fatalf("%+v %+v", r, r.Auth)
			}
			if !strings.Contains(r.Auth.Body, "verify signature fail, canonicalRequest:GET|/hello/||host:127.0.0.1:10080|") {
				t.Fatalf("body %s", r.Auth.Body)
			}
		}},
		{"X-Stage BETA", signedCurl(t, "GET", base+"/hello", qsAppKey, qsAppSecret, map[string]string{"X-Stage": "BETA"}, ""), nil, 0, func(t *testing.T, r *explain.Report) {
			if r.Route.Name != "demo/hello|BETA" || r.API.Environment != "BETA" || r.Upstream.URL != "http://127.0.0.1:18081/echo/hello" {
				t.Fatalf("%+v %+v", r.Route, r.Upstream)
			}
		}},
		{"IAM POST with a body, prefix rewrite", signedCurl(t, "POST", base+"/orders/7?x=1", qsAK, qsSK, map[string]string{"Content-Type": "application/json"}, `{"n":1}`), nil, 0, func(t *testing.T, r *explain.Report) {
			if r.Auth.Caller["user"] != "alice" || r.Auth.Caller["account"] != "demo-account" {
				t.Fatalf("caller %+v", r.Auth.Caller)
			}
			if r.Upstream.Path != "/echo/orders/7?x=1" || r.Upstream.Timeout != "3s" || r.Upstream.Retries != 1 {
				t.Fatalf("upstream %+v", r.Upstream)
			}
		}},
		{"unknown path", "", []string{"--url", base + "/nope"}, 3, func(t *testing.T, r *explain.Report) {
			if r.Outcome != explain.OutcomeNotFound || r.Status != 404 || r.Route.Name != "apigw.not_found" || !strings.Contains(r.Response.Body, `"error_code":"APIG.0101"`) {
				t.Fatalf("%+v", r)
			}
		}},
		{"method mismatch", "", []string{"-X", "DELETE", "--url", base + "/hello"}, 3, func(t *testing.T, r *explain.Report) {
			if r.Outcome != explain.OutcomeNotFound || len(r.Notes) == 0 || !strings.Contains(strings.Join(r.Notes, "\n"), ":method does not match") {
				t.Fatalf("%+v", r)
			}
		}},
		{"mock backend", "", []string{"--url", base + "/public"}, 0, func(t *testing.T, r *explain.Report) {
			if r.Outcome != explain.OutcomeMock || r.Response.Body != `{"hello":"world"}` || r.Response.Headers["content-type"] != "application/json" || r.Auth.Caller != nil {
				t.Fatalf("%+v", r)
			}
		}},
		{"unsigned request to an app API", "", []string{"--url", base + "/hello"}, 3, func(t *testing.T, r *explain.Report) {
			if r.Auth.Code != "APIG.0303" || !strings.Contains(r.Auth.Body, "Authorization not found") {
				t.Fatalf("%+v", r.Auth)
			}
		}},
		{"normalised path", "", []string{"--url", base + "/x/..//public"}, 0, func(t *testing.T, r *explain.Report) {
			if r.Request.Path != "/public" || r.Request.RawPath != "/x/..//public" {
				t.Fatalf("%+v", r.Request)
			}
		}},
		{"CORS preflight", "", []string{"-X", "OPTIONS", "--url", base + "/public", "-H", "Origin: https://a.example", "-H", "Access-Control-Request-Method: GET"}, 0, func(t *testing.T, r *explain.Report) {
			if r.Outcome != explain.OutcomePreflight || r.Response.Headers["access-control-allow-origin"] != "https://a.example" {
				t.Fatalf("%+v", r)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"check", "--config", quickstart, "-o", "json"}, tt.args...)
			code, out, errOut := runCLI(tt.stdin, args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %s; stdout %s", code, tt.code, errOut, out)
			}
			var r explain.Report
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			tt.want(t, &r)
		})
	}
}

// TestSignCheckPipe runs `apigw sign -o curl | apigw check` through the
// cobra commands, text output.
func TestSignCheckPipe(t *testing.T) {
	t.Setenv("APIGW_KEY", qsAppKey)
	t.Setenv("APIGW_SECRET", qsAppSecret)
	code, curl, errOut := runCLI("", "sign", "--url", "http://127.0.0.1:10080/hello", "-H", "X-Stage: BETA", "-o", "curl")
	if code != 0 {
		t.Fatalf("sign: exit %d: %s", code, errOut)
	}
	for _, args := range [][]string{
		{"check", "--config", quickstart},
		{"check", "--config", quickstart, "--request-file", "-"},
	} {
		code, out, errOut := runCLI(curl, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s%s", args, code, errOut, out)
		}
		for _, want := range []string{"route #1 demo/hello|BETA", "app demo-app", "GET http://127.0.0.1:18081/echo/hello", "verdict   ALLOWED"} {
			if !strings.Contains(out, want) {
				t.Errorf("%v: output lacks %q:\n%s", args, want, out)
			}
		}
	}
	code, out, _ := runCLI(tamper(curl), "check", "--config", quickstart)
	if code != 3 || !strings.Contains(out, "denied 401 APIG.0303") || !strings.Contains(out, "canonicalRequest:GET|/hello/|") {
		t.Fatalf("tampered: exit %d:\n%s", code, out)
	}
}

func TestCheckUsage(t *testing.T) {
	req := writeFile(t, "req.curl", "curl -sS -X GET 'http://127.0.0.1:10080/public'\n")
	tests := []struct {
		name  string
		stdin string
		args  []string
		code  int
		err   string
	}{
		{"no --config", "", []string{"check", "--url", "http://h/"}, 2, `required flag(s) "config" not set`},
		{"bad -o", "", []string{"check", "--config", quickstart, "--url", "http://h/", "-o", "xml"}, 2, `--output "xml"`},
		{"bad --url", "", []string{"check", "--config", quickstart, "--url", "h/x"}, 2, "need http://host/path"},
		{"--request-file with --url", "", []string{"check", "--config", quickstart, "--url", "http://h/", "--request-file", req}, 2, "cannot be used together"},
		{"stdin twice", "", []string{"check", "--config", "-", "--request-file", "-"}, 2, "cannot both read standard input"},
		{"not curl", "wget http://h/", []string{"check", "--config", quickstart}, 1, "expected a curl command"},
		{"empty stdin", "", []string{"check", "--config", quickstart}, 1, "empty request"},
		{"bad config", "", []string{"check", "--config", writeFile(t, "bad.yaml", badConfig), "--url", "http://h/"}, 1, "groups[0].apis[0].path"},
		{"request file", "", []string{"check", "--config", quickstart, "--request-file", req}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCLI(tt.stdin, tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.err) {
				t.Fatalf("exit %d, stderr %q; want %d, %q", code, errOut, tt.code, tt.err)
			}
		})
	}
}
