package e2e

// Gateway responses through a real Envoy (TestEndToEnd calls
// testGatewayResponses): the group "gwr" (domain gwr.example.com) is bound
// to the response set "brand" of the suite's configuration; its denials by
// the Check service and Envoy's own replies use the set's status, body and
// headers, while the other groups keep the built-in answers.

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/apigwio/apigw/authz/signing"
)

const gwrHost = "gwr.example.com"

// BrandBody is the body template of every type of the set "brand".
func (params) BrandBody() string {
	return `{"brand":"acme","code":"$context.error.code","msg":"$context.error.message","type":"$context.error.type","rid":"$context.requestId","v":1,"meta":{"ok":true,"pct":"100%"}}`
}

// brandError is the body BrandBody renders.
type brandError struct {
	Brand, Code, Msg, Type, RID string
	V                           int
	Meta                        struct {
		OK  bool
		Pct string
	}
}

// fixed reports whether the template's literal values came through.
func (e *brandError) fixed() bool {
	return e.Brand == "acme" && e.V == 1 && e.Meta.OK && e.Meta.Pct == "100%"
}

// gwrReq is a request to the group "gwr".
func (g *gateway) gwrReq(t *testing.T, method, path string, body []byte) *http.Request {
	t.Helper()
	req := g.request(t, method, path, body)
	req.Host = gwrHost
	return req
}

// expectBrand sends req and checks the set's answer: status, JSON body with
// code, message prefix and type, the request id Envoy returned, and the
// x-brand header.
func (g *gateway) expectBrand(t *testing.T, req *http.Request, status int, code, msgPrefix, typ, xBrand string) http.Header {
	t.Helper()
	st, hdr, body, err := g.do(req)
	if err != nil {
		t.Fatalf("%s %s%s: %v", req.Method, req.Host, req.URL.RequestURI(), err)
	}
	var e brandError
	if st != status || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") || json.Unmarshal([]byte(body), &e) != nil ||
		!e.fixed() || e.Code != code || !strings.HasPrefix(e.Msg, msgPrefix) || e.Type != typ {
		t.Fatalf("%s %s%s = %d (%s) %s, want %d with the brand body %s %q… %s", req.Method, req.Host, req.URL.RequestURI(), st, hdr.Get("Content-Type"), body, status, code, msgPrefix, typ)
	}
	if e.RID == "" || e.RID != hdr.Get("X-Request-Id") {
		t.Errorf("rid %q, X-Request-Id %q: want the same, not empty", e.RID, hdr.Get("X-Request-Id"))
	}
	if got := hdr.Get("X-Brand"); got != xBrand {
		t.Errorf("x-brand %q, want %q", got, xBrand)
	}
	return hdr
}

func testGatewayResponses(t *testing.T, g *gateway) {
	t.Run("NOT_FOUND: a miss in the group", func(t *testing.T) {
		g.expectBrand(t, g.gwrReq(t, "GET", "/g/nothing", nil), 410, "APIG.0101", "The API does not exist", "NOT_FOUND", "nf APIG.0101")
		g.expectBrand(t, g.gwrReq(t, "POST", "/g/app", nil), 410, "APIG.0101", "The API does not exist", "NOT_FOUND", "nf APIG.0101")
	})
	t.Run("AUTH_FAILURE: bad signature, missing Authorization (AUTH_HEADER_MISSING falls back)", func(t *testing.T) {
		req := g.signed(t, "GET", "/g/app", nil, nil)
		req.Host = gwrHost
		// Signed for 127.0.0.1:port, sent to gwr.example.com: the host is
		// signed, so the signature does not match.
		g.expectBrand(t, req, 403, "APIG.0303", "Incorrect app authentication information: verify signature fail", "AUTH_FAILURE", "auth AUTH_FAILURE")
		g.expectBrand(t, g.gwrReq(t, "GET", "/g/app", nil), 403, "APIG.0303", "Incorrect app authentication information: Authorization not found", "AUTH_HEADER_MISSING", "auth AUTH_HEADER_MISSING")
		// Signed for the group's host, it passes.
		req = g.request(t, "GET", "/g/app", nil)
		req.Host = gwrHost
		if err := signing.SignRequest(req, nil, signing.SignOptions{Access: appKey, Secret: appSecret}); err != nil {
			t.Fatal(err)
		}
		if r := g.echoed(t, req); r.Path != "/g/app" {
			t.Errorf("backend saw %s, want /g/app", r.Path)
		}
	})
	t.Run("BACKEND_UNAVAILABLE: backend down", func(t *testing.T) {
		st, _, body, err := g.do(g.gwrReq(t, "GET", "/g/down", nil))
		if err != nil {
			t.Fatal(err)
		}
		// UF (APIG.0202) or UH (APIG.0610): both BACKEND_UNAVAILABLE.
		code := "APIG.0202"
		if strings.Contains(body, "APIG.0610") {
			code = "APIG.0610"
		}
		if st != 503 {
			t.Fatalf("GET /g/down = %d %s, want 503", st, body)
		}
		g.expectBrand(t, g.gwrReq(t, "GET", "/g/down", nil), 503, code, "", "BACKEND_UNAVAILABLE", "down")
	})
	t.Run("THROTTLED: the rate-limit filter's reply", func(t *testing.T) {
		for i := range 10 {
			st, _, body, err := g.do(g.gwrReq(t, "GET", "/g/limited", nil))
			if err != nil {
				t.Fatal(err)
			}
			if st == http.StatusOK {
				continue
			}
			if st != 420 {
				t.Fatalf("GET /g/limited #%d = %d %s, want 200 or 420", i, st, body)
			}
			hdr := g.expectBrand(t, g.gwrReq(t, "GET", "/g/limited", nil), 420, "APIG.0308", "The throttling threshold", "THROTTLED", "slow")
			if rid := hdr.Get("X-Brand-Rid"); rid == "" || rid != hdr.Get("X-Request-Id") {
				t.Errorf("x-brand-rid %q, X-Request-Id %q: want the request id in the header", rid, hdr.Get("X-Request-Id"))
			}
			return
		}
		t.Fatal("10 requests against 1/s were never limited")
	})
	t.Run("REQUEST_ENTITY_TOO_LARGE: body over the limit", func(t *testing.T) {
		big := bytes.Repeat([]byte("x"), 1<<20+64<<10) // max_body_size is 1MB
		var err error
		for range 3 { // see "body over the limit gets 413"
			req := g.gwrReq(t, "POST", "/g/upload", big)
			req.Header.Set("Content-Type", "application/octet-stream")
			var st int
			var hdr http.Header
			var body string
			if st, hdr, body, err = g.do(req); err != nil {
				continue
			}
			var e brandError
			if st != 400 || json.Unmarshal([]byte(body), &e) != nil || !e.fixed() || e.Code != "APIG.0201" ||
				e.Type != "REQUEST_ENTITY_TOO_LARGE" || e.Msg != "Request entity too large." || hdr.Get("X-Brand") != "big" {
				t.Fatalf("POST /g/upload with %d bytes = %d %v %s, want 400 with the brand body", len(big), st, hdr, body)
			}
			return
		}
		t.Fatalf("POST /g/upload: %v", err)
	})
	t.Run("groups without a binding keep the built-in answers", func(t *testing.T) {
		g.expectError(t, g.request(t, "GET", "/no/such/api", nil), http.StatusNotFound, "APIG.0101")
		g.expectError(t, g.request(t, "GET", "/hello", nil), http.StatusUnauthorized, "APIG.0303")
		code, hdr, body, err := g.do(g.request(t, "GET", "/down", nil))
		if err != nil || hdr.Get("X-Brand") != "" || strings.Contains(body, "acme") || (code != http.StatusBadGateway && code != http.StatusServiceUnavailable) {
			t.Errorf("GET /down = %d %v %s (%v), want the built-in 502", code, hdr, body, err)
		}
		req := g.request(t, "GET", "/nothing", nil)
		req.Host = "tc.example.com"
		g.tencentError(t, req, http.StatusNotFound, "There is no api match uri[/nothing]")
	})
}
