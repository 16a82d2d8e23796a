package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
)

// checkBodies records, per request path (with its query), how many body
// bytes the Check service received: the suite's server runs
// checkInterceptors around every unary call.
var checkBodies = struct {
	sync.Mutex
	byPath map[string]int
}{byPath: map[string]int{}}

var checkInterceptors = []grpc.UnaryServerInterceptor{func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if cr, ok := req.(*authv3.CheckRequest); ok {
		hr := cr.GetAttributes().GetRequest().GetHttp()
		checkBodies.Lock()
		checkBodies.byPath[hr.GetPath()] = len(hr.GetRawBody()) + len(hr.GetBody())
		checkBodies.Unlock()
	}
	return h(ctx, req)
}}

// checkBody returns the body bytes Check received for path, and whether
// Check was called for it.
func checkBody(path string) (int, bool) {
	checkBodies.Lock()
	defer checkBodies.Unlock()
	n, ok := checkBodies.byPath[path]
	return n, ok
}

// The security fixtures' APIs (at the end of the e2e group): a prefix API
// with auth none and a stricter API served by the same backend, the layout
// path confusion attacks.
var _ = template.Must(configTemplate.New("securityAPIs").Parse(strings.TrimSuffix(`      - {name: files, method: GET, path: /files, match: prefix, auth: none, backend: {url: "http://#{backend}#/files"}}
      - {name: files-admin, method: GET, path: /admin, auth: app, backend: {url: "http://#{backend}#/admin"}}
`, "\n")))

// rawRequest sends request (a whole HTTP/1.1 request, as written on the
// wire) to Envoy's listener and returns the response. Go's http client
// would clean the path; this does not.
func (g *gateway) rawRequest(t *testing.T, request string) (*http.Response, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", g.envoyPort), requestTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(requestTimeout))
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%q: %v", request, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// rawGet sends GET target with Connection: close.
func (g *gateway) rawGet(t *testing.T, target string) (*http.Response, string) {
	t.Helper()
	return g.rawRequest(t, "GET "+target+" HTTP/1.1\r\nHost: gateway.example.com\r\nConnection: close\r\n\r\n")
}

// runSecuritySubtests runs the security subtests of TestEndToEnd.
func (g *gateway) runSecuritySubtests(t *testing.T) {
	t.Run("security: paths a backend could read differently get 400 APIG.0201", func(t *testing.T) {
		for _, tt := range []struct {
			target    string
			requestID bool // Envoy refuses encoded slashes before it generates the request id
		}{
			{"/files/..%2Fadmin", false}, {"/files/..%2fadmin", false}, {"/files/..%5Cadmin", false}, {"/files/..%5cadmin", false},
			{"/files/a;jsessionid=1", true}, {"/files/a;b/c", true}, {"/admin;x=1", true},
		} {
			resp, body := g.rawGet(t, tt.target)
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("GET %s = %d %s, want 400 APIG.0201", tt.target, resp.StatusCode, body)
				continue
			}
			var e struct {
				Code      string  `json:"error_code"`
				Msg       string  `json:"error_msg"`
				RequestID *string `json:"request_id"`
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Code != "APIG.0201" || !strings.Contains(e.Msg, "the path contains") ||
				(e.RequestID != nil && *e.RequestID != "") != tt.requestID || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("GET %s = 400 (%s) %s, want the APIG.0201 JSON naming the path (request id %v)", tt.target, resp.Header.Get("Content-Type"), body, tt.requestID)
			}
		}
	})

	t.Run("security: dot segments, even encoded or with ';', are resolved before routing", func(t *testing.T) {
		// Envoy's normalisation resolves these to /admin, the API that
		// needs an app signature, and forwards the resolved path: the
		// route and the backend see the same path.
		for _, target := range []string{"/files/../admin", "/files/..;/admin", "/files/..;x=1/admin", `/files/..\admin`, "/files/%2e%2e/admin", "/files/%2E%2E/admin", "/files/.%2e/admin"} {
			resp, body := g.rawGet(t, target)
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "APIG.0303") {
				t.Errorf("GET %s = %d %s, want 401 APIG.0303 (the /admin API)", target, resp.StatusCode, body)
			}
		}
		for target, want := range map[string]string{"/files/x/..;/y": "/files/y", `/files/x\y`: "/files/x/y", "/files/x/%2e%2e/y": "/files/y"} {
			resp, body := g.rawGet(t, target)
			var r struct{ Path string }
			if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &r) != nil || r.Path != want {
				t.Errorf("GET %s = %d %s, want 200 with the backend seeing %s", target, resp.StatusCode, body, want)
			}
		}
	})

	t.Run("security: ordinary paths, and queries with ';' or encoded characters, pass", func(t *testing.T) {
		for _, target := range []string{"/files/a/b.txt", "/files/a%20b", "/files/x?q=a;b&r=%2F..%2e%5C"} {
			if resp, body := g.rawGet(t, target); resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s = %d %s, want 200", target, resp.StatusCode, body)
			}
		}
	})

	t.Run("security: the body goes to Check only where verification reads it", func(t *testing.T) {
		body := bytes.Repeat([]byte("b"), 512<<10)
		r := g.echoed(t, g.request(t, "POST", "/upload?probe=none", body))
		if r.BodySize != int64(len(body)) {
			t.Errorf("backend got %d bytes, want %d", r.BodySize, len(body))
		}
		if n, called := checkBody("/upload?probe=none"); !called || n != 0 {
			t.Errorf("auth none: Check called %v with %d body bytes, want called with none", called, n)
		}
		r = g.echoed(t, g.signed(t, "POST", "/submit?probe=app", body, nil))
		if r.BodySize != int64(len(body)) {
			t.Errorf("backend got %d bytes, want %d", r.BodySize, len(body))
		}
		if n, called := checkBody("/submit?probe=app"); !called || n != len(body) {
			t.Errorf("auth app: Check called %v with %d body bytes, want %d (the signature covers the body)", called, n, len(body))
		}
		// Over the limit with a Content-Length: Check answers 413 without
		// the body.
		code, _, resp, err := g.do(g.request(t, "POST", "/upload?probe=big", bytes.Repeat([]byte("x"), 1<<20+1)))
		if err == nil && (code != http.StatusRequestEntityTooLarge || !strings.Contains(resp, "APIG.0201")) {
			t.Errorf("POST /upload over the limit = %d %s, want 413 APIG.0201", code, resp)
		}
	})
}
