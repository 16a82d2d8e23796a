package authz

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/model"
)

// removed returns the headers an OK response removes upstream.
func removed(resp *authv3.CheckResponse) []string {
	return resp.GetOkResponse().GetHeadersToRemove()
}

// TestForgedGatewayHeadersRemoved: every x-apig-* header a client sends
// that Check does not set itself is removed, whatever the auth type.
func TestForgedGatewayHeadersRemoved(t *testing.T) {
	forged := map[string]string{
		"X-Apig-Context-Role": "admin",
		"X-APIG-Whatever":     "x",
		model.HeaderAPIID:     "other/api", // set by Check: overwritten, not removed
	}
	t.Run("auth none", func(t *testing.T) {
		f := newFixture(t)
		status, d, resp := f.check(t, plain("shop/open", "10.0.0.1", "https", forged))
		if status != 200 {
			t.Fatalf("status %d %+v", status, d)
		}
		rm := removed(resp)
		for _, h := range []string{"x-apig-context-role", "x-apig-whatever"} {
			if !slices.Contains(rm, h) {
				t.Errorf("%s not removed: %v", h, rm)
			}
		}
		if slices.Contains(rm, model.HeaderAPIID) {
			t.Errorf("a header Check sets is also removed: %v", rm)
		}
		if got := upstreamHeaders(resp)[model.HeaderAPIID]; got != "shop/open" {
			t.Errorf("api id header %q", got)
		}
	})
	t.Run("app signed, header_map form", func(t *testing.T) {
		f := newFixture(t)
		hr, body := signWithSDK(t, sdkRequest{method: "GET", path: "/items/1"}, appKey, appSecret)
		req := envoyCheck(hr, body, "shop/items", "RELEASE")
		// The same headers as Envoy's raw header_map, plus a forged one.
		h := req.Attributes.Request.Http
		var m = appendRawHeader(nil, "X-Apig-Context-Role", "admin")
		for k, v := range h.Headers {
			m = appendRawHeader(m, k, v)
		}
		h.Headers = nil
		h.HeaderMap = m
		status, d, resp := f.check(t, req)
		if status != 200 {
			t.Fatalf("status %d %+v", status, d)
		}
		if rm := removed(resp); !slices.Contains(rm, "x-apig-context-role") {
			t.Errorf("forged header not removed: %v", rm)
		}
	})
}

// TestAuthorizerCacheScope: a cached answer is replayed only for the API,
// environment, method and path it was given for, unless the authorizer
// scopes it wider.
func TestAuthorizerCacheScope(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var in authorizerRequest
		_ = json.NewDecoder(r.Body).Decode(&in)
		switch in.Headers["x-token"] {
		case "narrow":
			if in.API != "g/a" {
				w.WriteHeader(http.StatusForbidden)
				return
			}
			fmt.Fprint(w, `{}`)
		case "api":
			fmt.Fprint(w, `{"scope":"api"}`)
		case "all":
			fmt.Fprint(w, `{"scope":"authorizer"}`)
		default:
			w.WriteHeader(http.StatusForbidden)
		}
	}))
	t.Cleanup(srv.Close)
	snap, err := config.Load("az", []byte(fmt.Sprintf(`
authorizers:
  - {name: fn, url: %q, timeout: 500ms, identity_headers: [X-Token], cache_ttl: 1m}
groups:
  - name: g
    apis:
      - {name: a, path: /a, auth: authorizer, authorizer: fn, backend: {url: "http://10.0.0.1"}}
      - {name: b, path: /b, auth: authorizer, authorizer: fn, backend: {url: "http://10.0.0.1"}}
`, srv.URL)), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{now: time.Now(), snap: snap}
	f.svc = mustNew(t, snap, Options{Now: func() time.Time { return f.now }})
	req := func(api, path, tok string) *authv3.CheckRequest {
		r := plain(api, "10.0.0.1", "https", map[string]string{"X-Token": tok})
		r.Attributes.Request.Http.Path = path
		return r
	}
	expect := func(r *authv3.CheckRequest, status int, newCalls int32) {
		t.Helper()
		before := calls.Load()
		got, d, _ := f.check(t, r)
		if got != status {
			t.Errorf("status %d %+v, want %d", got, d, status)
		}
		if n := calls.Load() - before; n != newCalls {
			t.Errorf("%d authorizer calls, want %d", n, newCalls)
		}
	}
	// Default scope: the request.
	expect(req("g/a", "/a", "narrow"), 200, 1)
	expect(req("g/a", "/a", "narrow"), 200, 0)     // cached
	expect(req("g/b", "/b", "narrow"), 401, 1)     // another API: asked
	expect(req("g/a", "/a?x=1", "narrow"), 200, 1) // another path: asked
	// scope api: any path of the API, not another API.
	expect(req("g/a", "/a", "api"), 200, 1)
	expect(req("g/a", "/a?y=2", "api"), 200, 0)
	expect(req("g/b", "/b", "api"), 200, 1)
	// scope authorizer: every API.
	expect(req("g/a", "/a", "all"), 200, 1)
	expect(req("g/b", "/b?z", "all"), 200, 0)
}
