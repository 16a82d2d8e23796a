package e2e

// Identity headers through a real Envoy: the ones apigw sets reach the
// backend, every x-apig-* header a client sends does not (TestEndToEnd
// calls testForgedHeaders).

import (
	"net/http"
	"strings"
	"testing"
)

// forgedHeaders are client-sent headers in the gateway's x-apig- namespace:
// identity headers apigw sets, context headers of custom authorizers, and
// names apigw does not use.
var forgedHeaders = map[string]string{
	"X-Apig-App-Id":        "forged-app",
	"X-Apig-App-Key":       "forged-key",
	"X-Apig-User-Id":       "forged-user",
	"X-Apig-Account":       "forged-account",
	"X-Apig-Api-Id":        "forged/api",
	"X-Apig-Stage":         "FORGED",
	"X-Apig-Context-Role":  "admin",
	"X-Apig-Context-User":  "root",
	"X-Apig-Whatever":      "forged",
	"X-APIG-Upper-Case":    "forged",
	"X-Apigw-Ip-Tags":      "ip-forged",
	"X-Apigw-Dialect":      "tencent",
	"X-Apig-Key-Id":        "forged-key-id",
	"X-Apig-Project-Id":    "forged-project",
	"X-Apig-Access-Key":    "forged-ak",
	"X-Apig-Context-Empty": "",
}

// checkNoForged checks what the backend saw: no forged value, and exactly
// the identity apigw set (want).
func checkNoForged(t *testing.T, what string, seen map[string]string, want map[string]string) {
	t.Helper()
	for k, v := range seen {
		if !strings.HasPrefix(k, "x-apig") {
			continue
		}
		if w, ok := want[k]; ok {
			if v != w {
				t.Errorf("%s: backend saw %s = %q, want %q", what, k, v, w)
			}
			continue
		}
		t.Errorf("%s: backend saw the client's %s = %q", what, k, v)
	}
	for k, w := range want {
		if _, ok := seen[k]; !ok {
			t.Errorf("%s: backend did not get %s (want %q)", what, k, w)
		}
	}
}

func testForgedHeaders(t *testing.T, g *gateway) {
	forge := func(req *http.Request) *http.Request {
		for k, v := range forgedHeaders {
			req.Header.Set(k, v)
		}
		return req
	}
	t.Run("app route", func(t *testing.T) {
		// Signed with the forged headers unsigned (added after signing).
		r := g.echoed(t, forge(g.signed(t, "GET", "/hello", nil, nil)))
		checkNoForged(t, "GET /hello (auth app)", r.Headers, map[string]string{
			"x-apig-app-id": appName, "x-apig-app-key": appKey, "x-apig-api-id": "e2e/hello", "x-apig-stage": "RELEASE",
		})
	})
	t.Run("none route", func(t *testing.T) {
		r := g.echoed(t, forge(g.request(t, "GET", "/public", nil)))
		checkNoForged(t, "GET /public (auth none)", r.Headers, map[string]string{"x-apig-api-id": "e2e/public", "x-apig-stage": "RELEASE"})
	})
	t.Run("CORS request", func(t *testing.T) {
		req := forge(g.request(t, "GET", "/public", nil))
		req.Header.Set("Origin", "https://app.example.com")
		r := g.echoed(t, req)
		checkNoForged(t, "GET /public with Origin", r.Headers, map[string]string{"x-apig-api-id": "e2e/public", "x-apig-stage": "RELEASE"})
	})
	t.Run("signed x-apig headers", func(t *testing.T) {
		// Signing them does not help: Envoy removes them before the
		// Check service verifies the signature, which then misses a
		// signed header.
		for _, h := range []string{"X-Apig-Context-Role", "X-Apig-App-Id"} {
			e := g.expectError(t, g.signed(t, "GET", "/hello", nil, map[string]string{h: "forged"}), http.StatusUnauthorized, "APIG.0303")
			if want := "signed header not found: " + strings.ToLower(h); !strings.Contains(e.Msg, want) {
				t.Errorf("signed %s: error_msg %q, want %q", h, e.Msg, want)
			}
		}
	})
	t.Run("backend-policy and channel routes", func(t *testing.T) {
		req := forge(g.routeReq(t, "GET", "/r/policy"))
		req.Header.Set("X-Variant", "beta")
		r := g.routed(t, req, "beta", "/policy-header", "route/policy")
		checkNoForged(t, "GET route.example.com/r/policy (backend policy)", r.Headers, map[string]string{"x-apig-api-id": "route/policy", "x-apig-stage": "RELEASE"})
		r = g.echoed(t, forge(g.routeReq(t, "GET", "/r/retry")))
		checkNoForged(t, "GET route.example.com/r/retry (channel)", r.Headers, map[string]string{"x-apig-api-id": "route/retry", "x-apig-stage": "RELEASE"})
	})
	t.Run("mock route", func(t *testing.T) {
		req := forge(g.request(t, "GET", "/ping", nil))
		req.Host = "tc.example.com"
		if code, _, body, err := g.do(req); err != nil || code != http.StatusOK || body != "pong" {
			t.Errorf("GET tc.example.com/ping with forged headers = %d %q %v, want 200 pong", code, body, err)
		}
	})
}
