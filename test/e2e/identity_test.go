package e2e

// Identity headers through a real Envoy: the ones apigw sets reach the
// backend, every x-apig-* header a client sends does not (TestEndToEnd
// calls testForgedHeaders).

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/apigwio/apigw/authz/signing"
	"github.com/apigwio/apigw/examples/echo/echoserver"
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
	// Whether Envoy strips a header before Check is seen through a
	// signature that covers it (Check then misses a signed header; a
	// forged header that reached Check would verify): the Check service
	// also removes forged x-apig-* headers, so the backend alone cannot
	// tell.
	stripped := func(t *testing.T, what string, code int, body, header string) {
		t.Helper()
		var e apigError
		if err := json.Unmarshal([]byte(body), &e); code != http.StatusUnauthorized || err != nil || e.Code != "APIG.0303" ||
			!strings.Contains(e.Msg, "signed header not found: "+header) {
			t.Errorf("%s: %d %s, want 401 APIG.0303 signed header not found: %s (Envoy did not strip it before Check)", what, code, body, header)
		}
	}
	t.Run("signed x-apig headers upper case, repeated, over HTTP/2", func(t *testing.T) {
		upper := g.request(t, "GET", "/hello", nil)
		upper.Header["X-APIG-CONTEXT-ROLE"] = []string{"admin"} // sent as written
		repeated := g.request(t, "GET", "/hello", nil)
		repeated.Header.Add("X-Apig-App-Id", "forged-1")
		repeated.Header.Add("X-Apig-App-Id", "forged-2")
		for _, tc := range []struct {
			what   string
			req    *http.Request
			client *http.Client
			header string
		}{
			{"HTTP/1.1 upper case", upper, g.client, "x-apig-context-role"},
			{"HTTP/1.1 repeated", repeated, g.client, "x-apig-app-id"},
			{"HTTP/2 upper case", upper.Clone(upper.Context()), h2cClient(), "x-apig-context-role"},
			{"HTTP/2 repeated", repeated.Clone(repeated.Context()), h2cClient(), "x-apig-app-id"},
		} {
			if err := signing.SignRequest(tc.req, nil, signing.SignOptions{Access: appKey, Secret: appSecret}); err != nil {
				t.Fatal(err)
			}
			resp, err := tc.client.Do(tc.req)
			if err != nil {
				t.Fatalf("%s: %v", tc.what, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if tc.client != g.client && resp.ProtoMajor != 2 {
				t.Errorf("%s: answered over %s", tc.what, resp.Proto)
			}
			stripped(t, tc.what, resp.StatusCode, string(b), tc.header)
		}
	})
	t.Run("signed x-apig header on a WebSocket upgrade", func(t *testing.T) {
		req := g.wsUpgrade(t, "/r/ws-app")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		req.Header.Set("X-Apig-App-Id", "forged-app")
		if err := signing.SignRequest(req, nil, signing.SignOptions{Access: appKey, Secret: appSecret}); err != nil {
			t.Fatal(err)
		}
		resp, conn, _ := g.wsDial(t, req)
		if conn != nil {
			t.Fatalf("upgrade with a signed forged X-Apig-App-Id = 101 (backend saw app %q), want 401", resp.Header.Get("X-Seen-App-Id"))
		}
		b, _ := io.ReadAll(resp.Body)
		stripped(t, "upgrade", resp.StatusCode, string(b), "x-apig-app-id")
	})
	t.Run("HTTP/2 and repeated forged headers", func(t *testing.T) {
		req := forge(g.request(t, "GET", "/public", nil))
		req.Header.Add("X-Apig-App-Id", "forged-again")
		req.Header.Add("X-Apig-Context-Role", "root")
		for _, c := range []*http.Client{g.client, h2cClient()} {
			resp, err := c.Do(req.Clone(req.Context()))
			if err != nil {
				t.Fatal(err)
			}
			var r echoserver.Response
			err = json.NewDecoder(resp.Body).Decode(&r)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || err != nil {
				t.Fatalf("GET /public over %s = %d %v, want 200 from the backend", resp.Proto, resp.StatusCode, err)
			}
			checkNoForged(t, "GET /public over "+resp.Proto, r.Headers, map[string]string{"x-apig-api-id": "e2e/public", "x-apig-stage": "RELEASE"})
		}
	})
	t.Run("forged x-apig trailers never reach the backend", func(t *testing.T) {
		// The early strip sees headers only. Request trailers reach a
		// backend only where the upstream codec forwards them: backends
		// are HTTP/1.1, whose codec drops proxied trailers unless
		// enable_trailers is set (TestBackendClustersDropTrailers keeps
		// it unset). /submit is an app route: Check buffers the body,
		// which over HTTP/2 ends with the trailers, and verifies the
		// signature over it.
		body := []byte(`{"upload":1}`)
		trailers := http.Header{"X-Apig-App-Id": {"forged-app"}, "X-Apig-Api-Id": {"forged/api"}, "X-Apig-Context-Role": {"admin"}, "X-Checksum": {"abc"}}
		for _, tc := range []struct {
			what   string
			client *http.Client
			req    *http.Request
			want   map[string]string
		}{
			{"POST /upload (auth none) over HTTP/1.1 chunked", g.client, g.request(t, "POST", "/upload", nil),
				map[string]string{"x-apig-api-id": "e2e/upload", "x-apig-stage": "RELEASE"}},
			{"POST /upload (auth none) over HTTP/2", h2cClient(), g.request(t, "POST", "/upload", nil),
				map[string]string{"x-apig-api-id": "e2e/upload", "x-apig-stage": "RELEASE"}},
			{"signed POST /submit (auth app) over HTTP/1.1 chunked", g.client, g.signed(t, "POST", "/submit", body, nil),
				map[string]string{"x-apig-app-id": appName, "x-apig-app-key": appKey, "x-apig-api-id": "e2e/submit", "x-apig-stage": "RELEASE"}},
			{"signed POST /submit (auth app) over HTTP/2", h2cClient(), g.signed(t, "POST", "/submit", body, nil),
				map[string]string{"x-apig-app-id": appName, "x-apig-app-key": appKey, "x-apig-api-id": "e2e/submit", "x-apig-stage": "RELEASE"}},
		} {
			resp, err := tc.client.Do(withTrailers(tc.req, body, trailers))
			if err != nil {
				t.Fatalf("%s: %v", tc.what, err)
			}
			var r echoserver.Response
			err = json.NewDecoder(resp.Body).Decode(&r)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || err != nil || r.Body != string(body) {
				t.Fatalf("%s with trailers = %d %v (body %q), want 200 from the backend with the body", tc.what, resp.StatusCode, err, r.Body)
			}
			if tc.client != g.client && resp.ProtoMajor != 2 {
				t.Errorf("%s: answered over %s", tc.what, resp.Proto)
			}
			for k, v := range r.Trailers {
				if strings.HasPrefix(k, "x-apig") {
					t.Errorf("%s: backend got the client's trailer %s = %q", tc.what, k, v)
				}
			}
			t.Logf("%s: trailers the backend got: %v", tc.what, r.Trailers)
			checkNoForged(t, tc.what+" with trailers", r.Headers, tc.want)
		}
	})
	t.Run("a signed header sent as a trailer is not found", func(t *testing.T) {
		// Check sees the headers and the body, never the trailers: a
		// header the signature covers cannot come as a trailer (over
		// HTTP/2, where Envoy reads them).
		body := []byte(`{"upload":1}`)
		req := g.signed(t, "POST", "/submit", body, map[string]string{"X-Order": "42"})
		req.Header.Del("X-Order")
		resp, err := h2cClient().Do(withTrailers(req, body, http.Header{"X-Order": {"42"}}))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusUnauthorized || resp.ProtoMajor != 2 {
			t.Fatalf("signed POST /submit with X-Order as a trailer over %s = %d %v %s, want 401 over HTTP/2", resp.Proto, resp.StatusCode, err, b)
		}
		if e := expectErrorBody(t, string(b), "APIG.0303"); !strings.Contains(e.Msg, "signed header not found: x-order") {
			t.Errorf("error_msg %q, want signed header not found: x-order", e.Msg)
		}
	})
	t.Run("forged headers on a WebSocket upgrade", func(t *testing.T) {
		req := forge(g.wsUpgrade(t, "/r/ws"))
		resp, conn, _ := g.wsDial(t, req)
		if conn == nil {
			t.Fatalf("upgrade = %d, want 101", resp.StatusCode)
		}
		if resp.Header.Get("X-Seen-App-Id") != "" || resp.Header.Get("X-Seen-Api-Id") != "route/ws" {
			t.Errorf("backend saw app %q api %q, want none and route/ws", resp.Header.Get("X-Seen-App-Id"), resp.Header.Get("X-Seen-Api-Id"))
		}
	})
	t.Run("x-apig headers with underscores are refused", func(t *testing.T) {
		// The strip's regex matches dashes only; Envoy refuses names with
		// underscores (headers_with_underscores_action: REJECT_REQUEST)
		// before a backend could read one as x-apig-* (CGI-style servers
		// map both to HTTP_X_APIG_...).
		for _, c := range []*http.Client{g.client, h2cClient()} {
			req := g.request(t, "GET", "/public", nil)
			req.Header["X_Apig_App_Id"] = []string{"forged-app"}
			resp, err := c.Do(req)
			if err != nil {
				t.Logf("GET /public with X_Apig_App_Id: %v (the stream is reset)", err)
				continue
			}
			t.Logf("GET /public with X_Apig_App_Id over %s: %d", resp.Proto, resp.StatusCode)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("GET /public with X_Apig_App_Id over %s = %d %s, want 400 from Envoy", resp.Proto, resp.StatusCode, b)
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

// withTrailers makes req send body chunked (no Content-Length), then
// trailers after it.
func withTrailers(req *http.Request, body []byte, trailers http.Header) *http.Request {
	pr, pw := io.Pipe()
	req.Body, req.ContentLength = pr, -1
	req.Trailer = http.Header{}
	for k := range trailers {
		req.Trailer[k] = nil
	}
	go func() {
		_, _ = pw.Write(body)
		for k, v := range trailers {
			req.Trailer[k] = v
		}
		pw.Close()
	}()
	return req
}
