package e2e

// Routing through a real Envoy (TestEndToEnd calls testRouting): exact and
// prefix paths, methods, hosts, environments, backend policies, mocks,
// channels with health checks, retries. The APIs are those of the group
// "route" (domain route.example.com) of the suite's configuration, and of
// the group "pe" (pe.example.com: path environments, source-IP policies).

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apigwio/apigw/authz/signing"
	"github.com/apigwio/apigw/examples/echo/echoserver"
)

const routeHost = "route.example.com"

// routeReq is a request to the group "route".
func (g *gateway) routeReq(t *testing.T, method, path string) *http.Request {
	t.Helper()
	req := g.request(t, method, path, nil)
	req.Host = routeHost
	return req
}

// expectNoAPI checks a 404 APIG.0101 whose request id is the one Envoy
// returned in X-Request-Id.
func (g *gateway) expectNoAPI(t *testing.T, req *http.Request) {
	t.Helper()
	code, hdr, body, err := g.do(req)
	if err != nil {
		t.Fatalf("%s %s%s: %v", req.Method, req.Host, req.URL.RequestURI(), err)
	}
	var e apigError
	if code != http.StatusNotFound || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") ||
		json.Unmarshal([]byte(body), &e) != nil || e.Code != "APIG.0101" ||
		e.Msg != "The API does not exist or has not been published in the environment." {
		t.Errorf("%s %s%s (X-Stage %q) = %d (%s) %s, want 404 APIG.0101", req.Method, req.Host, req.URL.RequestURI(), req.Header.Get("X-Stage"), code, hdr.Get("Content-Type"), body)
		return
	}
	if e.RequestID == "" || e.RequestID != hdr.Get("X-Request-Id") {
		t.Errorf("%s %s%s: request_id %q, X-Request-Id %q: want the same, not empty", req.Method, req.Host, req.URL.RequestURI(), e.RequestID, hdr.Get("X-Request-Id"))
	}
}

// routed sends req and checks which backend answered, with which path and
// for which API.
func (g *gateway) routed(t *testing.T, req *http.Request, backend, path, api string) echoserver.Response {
	t.Helper()
	r := g.echoed(t, req)
	if r.Name != backend || r.Path != path || r.Headers["x-apig-api-id"] != api {
		t.Errorf("%s %s%s reached %s %s as %q, want %s %s as %s", req.Method, req.Host, req.URL.RequestURI(), r.Name, r.Path, r.Headers["x-apig-api-id"], backend, path, api)
	}
	return r
}

func testRouting(t *testing.T, g *gateway) {
	t.Run("exact and prefix paths", func(t *testing.T) {
		g.routed(t, g.routeReq(t, "GET", "/r/a"), "release", "/exact", "route/exact")
		// /r/a/ is not /r/a: the prefix API.
		g.routed(t, g.routeReq(t, "GET", "/r/a/"), "release", "/prefix/", "route/prefix")
		r := g.routed(t, g.routeReq(t, "GET", "/r/a/x/y?q=1"), "release", "/prefix/x/y", "route/prefix")
		if r.Query != "q=1" {
			t.Errorf("query %q, want q=1", r.Query)
		}
		g.expectNoAPI(t, g.routeReq(t, "GET", "/r/ab"))
		g.expectNoAPI(t, g.routeReq(t, "GET", "/r/a/../b")) // normalised to /r/b
		g.expectNoAPI(t, g.routeReq(t, "GET", "/r"))
	})
	t.Run("method mismatch", func(t *testing.T) {
		g.expectNoAPI(t, g.routeReq(t, "POST", "/r/a"))
		g.expectNoAPI(t, g.routeReq(t, "GET", "/r/post"))
		g.routed(t, g.routeReq(t, "POST", "/r/post"), "release", "/post", "route/post")
	})
	t.Run("unknown host", func(t *testing.T) {
		// Group e2e serves every other host, and has no /r/a.
		req := g.request(t, "GET", "/r/a", nil)
		req.Host = "unknown.example.com"
		g.expectNoAPI(t, req)
	})
	t.Run("unpublished environment", func(t *testing.T) {
		req := g.routeReq(t, "GET", "/r/a")
		req.Header.Set("X-Stage", "BETA")
		g.expectNoAPI(t, req)
		req = g.routeReq(t, "GET", "/r/a")
		req.Header.Set("X-Stage", "NOSUCHENV")
		g.expectNoAPI(t, req)
	})
	t.Run("tencent group: unpublished environment and unknown path", func(t *testing.T) {
		for _, tt := range []struct{ stage, path, want string }{
			// The path exists, not in BETA: docs/errors.md's "otherwise".
			{"BETA", "/ping", "There is no api match uri[/ping]"},
			{"", "/ping/", "There is no api match uri[/ping/]"},
		} {
			req := g.request(t, "GET", tt.path, nil)
			req.Host = "tc.example.com"
			if tt.stage != "" {
				req.Header.Set("X-Stage", tt.stage)
			}
			code, hdr, body, err := g.do(req)
			if err != nil {
				t.Fatal(err)
			}
			var got struct{ Message string }
			if code != http.StatusNotFound || json.Unmarshal([]byte(body), &got) != nil || got.Message != tt.want {
				t.Errorf("GET tc.example.com%s (X-Stage %q) = %d (%s) %s, want 404 {\"message\": %q}", tt.path, tt.stage, code, hdr.Get("Content-Type"), body, tt.want)
			}
		}
	})
	t.Run("path environments: the first segment selects the environment", func(t *testing.T) {
		pe := func(path string) *http.Request {
			req := g.request(t, "GET", path, nil)
			req.Host = "pe.example.com"
			return req
		}
		for _, tt := range []struct{ path, backend, stage string }{
			{"/release/users", "release", "RELEASE"},
			{"/beta/users?x=1", "beta", "BETA"},
		} {
			if r := g.routed(t, pe(tt.path), tt.backend, "/users", "pe/users"); r.Headers["x-apig-stage"] != tt.stage {
				t.Errorf("GET pe.example.com%s: backend saw x-apig-stage %q, want %s", tt.path, r.Headers["x-apig-stage"], tt.stage)
			}
		}
		for _, tt := range []struct{ path, want string }{
			{"/gamma/users", "There is no api match env_mapping[gamma]"},
			{"/beta/office", "There is no api match uri[/office]"}, // RELEASE only
			{"/users", "There is no api match env_mapping[users]"},
		} {
			code, _, body, err := g.do(pe(tt.path))
			if err != nil {
				t.Fatal(err)
			}
			var got struct{ Message string }
			if code != http.StatusNotFound || json.Unmarshal([]byte(body), &got) != nil || got.Message != tt.want {
				t.Errorf("GET pe.example.com%s = %d %s, want 404 {\"message\": %q}", tt.path, code, body, tt.want)
			}
		}
	})
	t.Run("source-IP backend policies see the client address", func(t *testing.T) {
		req := g.request(t, "GET", "/release/office", nil)
		req.Host = "pe.example.com"
		g.routed(t, req, "beta", "/office-loopback", "pe/office") // the suite's client is 127.0.0.1
		req = g.request(t, "GET", "/release/elsewhere", nil)
		req.Host = "pe.example.com"
		g.routed(t, req, "release", "/elsewhere", "pe/elsewhere")
	})
	t.Run("backend policies choose the backend", func(t *testing.T) {
		g.routed(t, g.routeReq(t, "GET", "/r/policy"), "release", "/policy", "route/policy")
		req := g.routeReq(t, "GET", "/r/policy")
		req.Header.Set("X-Variant", "beta")
		g.routed(t, req, "beta", "/policy-header", "route/policy")
		g.routed(t, g.routeReq(t, "GET", "/r/policy?v=b"), "beta", "/policy-query", "route/policy")
		g.routed(t, g.routeReq(t, "GET", "/r/policy?v=c"), "release", "/policy", "route/policy")
		req = g.routeReq(t, "GET", "/r/policy?v=beta")
		req.Header.Set("X-Variant", "beta")
		g.routed(t, req, "beta", "/policy-header", "route/policy") // the first policy that holds
	})
	t.Run("app backend policy re-routes after Check", func(t *testing.T) {
		req := g.routeReq(t, "GET", "/r/policy-app")
		if err := signing.SignRequest(req, nil, signing.SignOptions{Access: appKey, Secret: appSecret}); err != nil {
			t.Fatal(err)
		}
		r := g.routed(t, req, "beta", "/policy-app-beta", "route/policy-app")
		if r.Headers["x-apig-app-id"] != appName {
			t.Errorf("backend saw app %q, want %s", r.Headers["x-apig-app-id"], appName)
		}
		// A client cannot pre-select the app route.
		req = g.routeReq(t, "GET", "/r/policy-app")
		req.Header.Set("X-Apig-App-Id", appName)
		g.expectError(t, req, http.StatusUnauthorized, "APIG.0303")
	})
	t.Run("mock backend", func(t *testing.T) {
		code, hdr, body, err := g.do(g.routeReq(t, "GET", "/r/mock"))
		if err != nil || code != http.StatusCreated || body != `{"mock":true}` || hdr.Get("X-Mock") != "yes" ||
			hdr.Get("Content-Type") != "application/json" || hdr.Get("X-Echo-Name") != "" {
			t.Errorf("GET /r/mock = %d %q, headers %v, %v; want the mock's 201", code, body, hdr, err)
		}
	})
	t.Run("retries reach the live member of a channel", func(t *testing.T) {
		// flaky = a dead member and a live one, round robin.
		for i := range 10 {
			g.routed(t, g.routeReq(t, "GET", fmt.Sprintf("/r/retry?i=%d", i)), "release", "/retry", "route/retry")
		}
		// Without retries, the dead member's turns fail.
		failed := 0
		for range 10 {
			code, _, body, err := g.do(g.routeReq(t, "GET", "/r/noretry"))
			if err != nil {
				t.Fatal(err)
			}
			if code != http.StatusOK {
				failed++
				expectErrorBody(t, body, "APIG.0202", "APIG.0610")
			}
		}
		if failed == 0 {
			t.Error("no request to the channel without retries failed: the dead member is not in rotation, so the retry test proves nothing")
		}
	})
	t.Run("channel health check takes a stopped member out", func(t *testing.T) {
		seen := map[string]int{}
		g.eventually(t, 10*time.Second, "both members of channel pair answer", func() (bool, string) {
			code, _, body, err := g.do(g.routeReq(t, "GET", "/r/channel"))
			var r echoserver.Response
			if err == nil && code == http.StatusOK && json.Unmarshal([]byte(body), &r) == nil {
				seen[r.Name]++
			}
			return seen["chan-a"] > 0 && seen["chan-b"] > 0, fmt.Sprint(seen)
		})
		g.chanA.Close()
		// Within about the health-check interval (1 s, one failure marks
		// it unhealthy), every request goes to chan-b.
		streak := 0
		g.eventually(t, 10*time.Second, "chan-a taken out of channel pair", func() (bool, string) {
			code, _, body, err := g.do(g.routeReq(t, "GET", "/r/channel"))
			var r echoserver.Response
			if err == nil && code == http.StatusOK && json.Unmarshal([]byte(body), &r) == nil && r.Name == "chan-b" {
				streak++
			} else {
				streak = 0
			}
			_, _, clusters, _ := g.do(mustRequest(t, "GET", fmt.Sprintf("http://127.0.0.1:%d/clusters", g.envoyAdminPort), nil))
			var pair []string
			for _, l := range strings.Split(clusters, "\n") {
				if strings.Contains(l, "pair") && (strings.Contains(l, "health_flags") || strings.Contains(l, "rq_error")) {
					pair = append(pair, l)
				}
			}
			return streak >= 10, fmt.Sprintf("%d %s %v; Envoy /clusters: %v", code, body, err, pair)
		})
		for i := range 20 {
			g.routed(t, g.routeReq(t, "GET", fmt.Sprintf("/r/channel?i=%d", i)), "chan-b", "/channel", "route/channel")
		}
	})
}
