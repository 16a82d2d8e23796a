package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apigwio/apigw/internal/apigerr"
	"github.com/apigwio/apigw/internal/envoybin"
)

// TestEndToEnd runs apigw, two echo backends (RELEASE and BETA) and a real
// Envoy on loopback, and checks through real HTTP what a client of the
// gateway sees. Each subtest depends only on the configuration, not on the
// others, except the last ones (configuration change, xDS status).
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end suite skipped in -short mode")
	}
	bin := envoybin.Require(t)
	g := startGateway(t)
	g.startEnvoy(t, bin)

	t.Run("signed app request reaches the backend with the app identity", func(t *testing.T) {
		r := g.echoed(t, g.signed(t, "GET", "/hello?a=1&b=two", nil, nil))
		want := map[string]string{"x-apig-app-id": appName, "x-apig-api-id": "e2e/hello", "x-apig-stage": "RELEASE"}
		for k, v := range want {
			if r.Headers[k] != v {
				t.Errorf("backend saw %s = %q, want %q (headers %v)", k, r.Headers[k], v, r.Headers)
			}
		}
		if r.Name != "release" || r.Path != "/echo/hello" || r.Query != "a=1&b=two" {
			t.Errorf("backend %q saw %s?%s, want release /echo/hello?a=1&b=two", r.Name, r.Path, r.Query)
		}
	})

	t.Run("tampered signature gets APIG.0303", func(t *testing.T) {
		req := g.signed(t, "GET", "/hello", nil, nil)
		auth := req.Header.Get("Authorization")
		last := auth[len(auth)-1]
		flipped := byte('0')
		if last == '0' {
			flipped = '1'
		}
		req.Header.Set("Authorization", auth[:len(auth)-1]+string(flipped))
		e := g.expectError(t, req, http.StatusUnauthorized, "APIG.0303")
		if !strings.Contains(e.Msg, "verify signature fail") {
			t.Errorf("error_msg %q, want a signature mismatch", e.Msg)
		}
	})

	t.Run("unsigned request to an app API gets APIG.0303", func(t *testing.T) {
		g.expectError(t, g.request(t, "GET", "/hello", nil), http.StatusUnauthorized, "APIG.0303")
	})

	t.Run("signed POST with a body reaches the backend whole; a changed body gets APIG.0303", func(t *testing.T) {
		body := []byte(`{"order":42,"note":"` + strings.Repeat("x", 200<<10) + `"}`)
		headers := map[string]string{"Content-Type": "application/json"}
		r := g.echoed(t, g.signed(t, "POST", "/submit?dry=1", body, headers))
		if r.Method != "POST" || r.BodySize != int64(len(body)) || r.Headers["x-apig-app-id"] != appName {
			t.Errorf("backend saw %s with %d bytes, app %q; want POST with %d bytes from %s", r.Method, r.BodySize, r.Headers["x-apig-app-id"], len(body), appName)
		}
		req := g.signed(t, "POST", "/submit", body, headers)
		changed := bytes.Replace(body, []byte("42"), []byte("43"), 1)
		req.Body = io.NopCloser(bytes.NewReader(changed))
		g.expectError(t, req, http.StatusUnauthorized, "APIG.0303")
	})

	t.Run("X-Stage BETA selects the BETA backend", func(t *testing.T) {
		r := g.echoed(t, g.signed(t, "GET", "/hello", nil, map[string]string{"X-Stage": "BETA"}))
		if r.Name != "beta" || r.Headers["x-apig-stage"] != "BETA" || r.Headers["x-apig-app-id"] != appName {
			t.Errorf("backend %q, stage %q, app %q; want beta, BETA, %s", r.Name, r.Headers["x-apig-stage"], r.Headers["x-apig-app-id"], appName)
		}
	})

	t.Run("unpublished path or environment gets APIG.0101", func(t *testing.T) {
		g.expectError(t, g.request(t, "GET", "/no/such/api", nil), http.StatusNotFound, "APIG.0101")
		req := g.request(t, "GET", "/public", nil)
		req.Header.Set("X-Stage", "BETA") // public is published in RELEASE only
		g.expectError(t, req, http.StatusNotFound, "APIG.0101")
	})

	t.Run("tencent group: routing misses and backend failures get Tencent's messages", func(t *testing.T) {
		tencent := func(method, path string) *http.Request {
			req := g.request(t, method, path, nil)
			req.Host = "tc.example.com"
			return req
		}
		if code, _, body, err := g.do(tencent("GET", "/ping")); err != nil || code != http.StatusOK || body != "pong" {
			t.Fatalf("GET tc.example.com/ping = %d %q %v, want 200 pong", code, body, err)
		}
		for _, tt := range []struct{ method, path, want string }{
			{"POST", "/ping", "There is no api match method[POST]"},
			{"GET", "/nothing/here?x=/y", "There is no api match uri[/nothing/here]"},
		} {
			code, hdr, body, err := g.do(tencent(tt.method, tt.path))
			if err != nil {
				t.Fatal(err)
			}
			var got struct{ Message string }
			if code != http.StatusNotFound || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") ||
				json.Unmarshal([]byte(body), &got) != nil || got.Message != tt.want {
				t.Errorf("%s tc.example.com%s = %d (%s) %s, want 404 {\"message\":%q}", tt.method, tt.path, code, hdr.Get("Content-Type"), body, tt.want)
			}
		}
		// Replies to requests that went upstream: the router removed the
		// dialect header before forwarding, the mark in metadata remains.
		for _, tt := range []struct {
			path  string
			codes []int
			want  []string
		}{
			{"/down", []int{http.StatusBadGateway}, []string{apigerr.BackendUnavailable.Message, apigerr.NoBackendAvailable.Message}},
			{"/slow?ms=3000", []int{http.StatusGatewayTimeout}, []string{apigerr.BackendTimeout.Message}},
		} {
			code, _, body, err := g.do(tencent("GET", tt.path))
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if !slices.Contains(tt.codes, code) || json.Unmarshal([]byte(body), &got) != nil || len(got) != 1 || !slices.Contains(tt.want, fmt.Sprint(got["message"])) {
				t.Errorf("GET tc.example.com%s = %d %s, want %v {\"message\": one of %q}", tt.path, code, body, tt.codes, tt.want)
			}
		}
	})

	t.Run("forged identity headers do not reach the backend", func(t *testing.T) {
		req := g.request(t, "GET", "/public", nil)
		req.Header.Set("X-Apig-App-Id", "forged-app")
		req.Header.Set("X-Apig-User-Id", "forged-user")
		r := g.echoed(t, req)
		if v, ok := r.Headers["x-apig-app-id"]; ok {
			t.Errorf("backend saw x-apig-app-id %q", v)
		}
		if v, ok := r.Headers["x-apig-user-id"]; ok {
			t.Errorf("backend saw x-apig-user-id %q", v)
		}
		if r.Headers["x-apig-api-id"] != "e2e/public" {
			t.Errorf("backend saw x-apig-api-id %q, want e2e/public", r.Headers["x-apig-api-id"])
		}
	})

	t.Run("routing", func(t *testing.T) { testRouting(t, g) })     // routing_test.go
	t.Run("websocket", func(t *testing.T) { testWebSocket(t, g) }) // websocket_test.go

	t.Run("forged x-apig headers never reach the backend", func(t *testing.T) { testForgedHeaders(t, g) }) // identity_test.go
	t.Run("parameters", func(t *testing.T) { testParameters(t, g) })                                       // parameters_test.go
	t.Run("request validation", func(t *testing.T) { testValidation(t, g) })                               // validation_test.go

	t.Run("backend down gets APIG.0202 or APIG.0610", func(t *testing.T) {
		code, _, body, err := g.do(g.request(t, "GET", "/down", nil))
		if err != nil {
			t.Fatal(err)
		}
		if code != http.StatusBadGateway && code != http.StatusServiceUnavailable {
			t.Fatalf("GET /down = %d %s, want 502", code, body)
		}
		g.expectError(t, g.request(t, "GET", "/down", nil), code, "APIG.0202", "APIG.0610")
	})

	t.Run("https backend with a certificate from the configured CA naming it", func(t *testing.T) {
		r := g.echoed(t, g.request(t, "GET", "/secure", nil))
		if r.Name != "secure" || r.Path != "/secure" {
			t.Errorf("backend %q saw %s, want secure /secure", r.Name, r.Path)
		}
	})

	t.Run("https backend whose certificate does not name it gets APIG.0202", func(t *testing.T) {
		code, _, body, err := g.do(g.request(t, "GET", "/wrong-name", nil))
		if err != nil {
			t.Fatal(err)
		}
		if code != http.StatusBadGateway && code != http.StatusServiceUnavailable {
			t.Fatalf("GET /wrong-name = %d %s, want 502 (certificate verification fails)", code, body)
		}
		g.expectError(t, g.request(t, "GET", "/wrong-name", nil), code, "APIG.0202", "APIG.0610")
	})

	t.Run("slow backend gets APIG.0203 after the backend timeout", func(t *testing.T) {
		start := time.Now()
		g.expectError(t, g.signed(t, "GET", "/slow?ms=3000", nil, nil), http.StatusGatewayTimeout, "APIG.0203")
		if d := time.Since(start); d > 2500*time.Millisecond {
			t.Errorf("answered after %v, want about the 1s backend timeout", d)
		}
		// Under the timeout the backend answers.
		if r := g.echoed(t, g.signed(t, "GET", "/slow?ms=50", nil, nil)); r.SleptMS != 50 {
			t.Errorf("slept %d ms, want 50", r.SleptMS)
		}
	})

	t.Run("CORS preflight is answered without authentication", func(t *testing.T) {
		req := g.request(t, "OPTIONS", "/public", nil)
		req.Header.Set("Origin", "https://app.example.com")
		req.Header.Set("Access-Control-Request-Method", "GET")
		code, hdr, body, err := g.do(req)
		if err != nil {
			t.Fatal(err)
		}
		if code != http.StatusOK || hdr.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
			t.Errorf("preflight = %d, allow-origin %q, body %q; want 200 allowing https://app.example.com", code, hdr.Get("Access-Control-Allow-Origin"), body)
		}
		if hdr.Get("X-Echo-Name") != "" {
			t.Error("the preflight reached the backend")
		}
		// A preflight from an origin that is not allowed is answered by
		// Envoy's CORS filter too, without Access-Control-Allow-Origin
		// (browsers refuse it), and does not reach the backend.
		req = g.request(t, "OPTIONS", "/public", nil)
		req.Header.Set("Origin", "https://evil.example.com")
		req.Header.Set("Access-Control-Request-Method", "GET")
		code, hdr, _, err = g.do(req)
		if err != nil {
			t.Fatal(err)
		}
		if code != http.StatusOK || hdr.Get("Access-Control-Allow-Origin") != "" || hdr.Get("X-Echo-Name") != "" {
			t.Errorf("preflight from a foreign origin = %d, allow-origin %q, backend %q; want 200 from Envoy without allow-origin", code, hdr.Get("Access-Control-Allow-Origin"), hdr.Get("X-Echo-Name"))
		}
		// The actual request carries the CORS response headers.
		req = g.request(t, "GET", "/public", nil)
		req.Header.Set("Origin", "https://app.example.com")
		code, hdr, _, err = g.do(req)
		if err != nil || code != http.StatusOK || hdr.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
			t.Errorf("GET with Origin = %d, allow-origin %q (%v)", code, hdr.Get("Access-Control-Allow-Origin"), err)
		}
	})

	t.Run("body over the limit gets 413", func(t *testing.T) {
		big := bytes.Repeat([]byte("x"), 1<<20+64<<10) // max_body_size is 1MB
		// Envoy may answer before the whole body is sent and close the
		// connection; retry the rare write error that can cause.
		var code int
		var body string
		var err error
		for range 3 {
			req := g.request(t, "POST", "/upload", big)
			req.Header.Set("Content-Type", "application/octet-stream")
			if code, _, body, err = g.do(req); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("POST /upload: %v", err)
		}
		if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "APIG.0201") {
			t.Fatalf("POST /upload with %d bytes = %d %s, want 413 APIG.0201", len(big), code, body)
		}
		// A body under the limit goes through, whole.
		small := bytes.Repeat([]byte("y"), 100<<10)
		r := g.echoed(t, g.request(t, "POST", "/upload", small))
		if r.BodySize != int64(len(small)) {
			t.Errorf("backend got %d bytes, want %d", r.BodySize, len(small))
		}
	})

	t.Run("headers over the limit get 494 APIG.0201", func(t *testing.T) {
		req := g.request(t, "GET", "/public", nil)
		req.Header.Set("X-Big", strings.Repeat("b", 120<<10)) // over max_request_headers_kb
		code, hdr, body, err := g.do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e apigError
		if code != 494 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") ||
			json.Unmarshal([]byte(body), &e) != nil || e.Code != "APIG.0201" || e.Msg != "Request headers too large." {
			t.Errorf("GET /public with a 120KB header = %d (%s) %s, want 494 APIG.0201 Request headers too large.", code, hdr.Get("Content-Type"), body)
		}
	})

	t.Run("throttle policy gives 429", func(t *testing.T) {
		if !g.rateLimited {
			t.Fatal("the generated listener has no rate-limit filter, though the configuration has a throttle policy")
		}
		var ok, limited int
		var body429 string
		for range 12 {
			code, _, body, err := g.do(g.request(t, "GET", "/limited", nil))
			if err != nil {
				t.Fatal(err)
			}
			switch code {
			case http.StatusOK:
				ok++
			case http.StatusTooManyRequests:
				limited++
				body429 = body
			default:
				t.Fatalf("GET /limited = %d %s", code, body)
			}
		}
		// 12 requests in well under a second against 2/s: at most 2 per
		// second window pass (4 if they straddle a second).
		if ok == 0 || limited == 0 || ok > 4 {
			t.Fatalf("%d passed, %d limited; want 2-4 passed and the rest 429", ok, limited)
		}
		expectErrorBody(t, body429, "APIG.0308")
	})

	// Every auth type, and the official SDK signers as clients
	// (auth_test.go, sdk_test.go).
	g.runAuthSubtests(t)
	g.runSDKSubtests(t)
	t.Run("throttled answer: 429 APIG.0308 with X-RateLimit headers", func(t *testing.T) { testThrottleAnswer(t, g) }) // throttle_test.go

	t.Run("signature keys", func(t *testing.T) { testSignatureKeys(t, g) })
	g.runSecuritySubtests(t)
	g.runReplaySubtests(t)                                                        // replay_test.go
	t.Run("gateway responses", func(t *testing.T) { testGatewayResponses(t, g) }) // responses_test.go

	t.Run("configuration change is served without restarting Envoy", func(t *testing.T) {
		g.expectError(t, g.request(t, "GET", "/added", nil), http.StatusNotFound, "APIG.0101")
		p := g.params
		p.Added = true
		writeFileAtomic(t, g.configPath, renderConfig(t, p))
		g.eventually(t, reloadTimeout, "GET /added after adding the API", func() (bool, string) {
			code, _, body, err := g.do(g.request(t, "GET", "/added", nil))
			return err == nil && code == http.StatusOK && body == "added", body
		})
		if g.envoy.exited() {
			t.Errorf("Envoy exited: %v", g.envoy.err)
		}
		// What was there still works.
		g.echoed(t, g.signed(t, "GET", "/hello", nil, nil))
	})

	t.Run("Envoy acknowledged every configuration", func(t *testing.T) {
		version := g.srv.Reloader().Current().Version
		// Delta xDS sends only the types that changed: the routes changed
		// with the last configuration, the listener may be older.
		g.eventually(t, 10*time.Second, "Envoy ACKs the current routes", func() (bool, string) {
			for _, n := range g.xds.Status().Nodes {
				if n.ID == "apigw-e2e" && n.Connected && n.Acked["route"] == version && n.Acked["listener"] != "" && n.Acked["cluster"] != "" {
					return true, ""
				}
			}
			return false, mustJSON(g.xds.Status())
		})
		for _, n := range g.xds.Status().Nodes {
			if n.LastNACK != nil {
				t.Errorf("node %s rejected a configuration: %+v", n.ID, *n.LastNACK)
			}
		}
	})

	// Rewrites the configuration; puts the one above back (large_test.go).
	t.Run("a route configuration over 256 KiB reaches Envoy", func(t *testing.T) {
		base := g.params
		base.Added = true
		testLargeRouteConfig(t, g, base)
	})
	// Rewrites the configuration; puts the one above back (reload_test.go).
	t.Run("hot reload under traffic", func(t *testing.T) {
		base := g.params
		base.Added = true
		testReloadUnderTraffic(t, g, base)
	})
	t.Run("Envoy's NACK shows in /debug/xds and /metrics", func(t *testing.T) {
		base := g.params
		base.Added = true
		testNACK(t, g, base)
	})
}
