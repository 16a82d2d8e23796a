package authz

import (
	"slices"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

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
