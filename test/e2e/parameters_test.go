package e2e

// Request and backend parameters through a real Envoy (TestEndToEnd calls
// testParameters): Check validates and maps, the route's URI template
// moves the path parameter, the route sets constants and Envoy-formatted
// system values, and client-sent values of system parameters never
// arrive.

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"text/template"
)

var _ = template.Must(configTemplate.New("paramsAPIs").Parse(strings.TrimSuffix(`      - name: params
        method: GET
        path: /params/orders/{id}
        auth: app
        request:
          parameters:
            - {name: id, in: path, type: number, min_value: 1}
            - {name: user, in: query, required: true, pattern: "[a-z]+"}
            - {name: page, in: query, type: number, default: 1, max_value: 100}
        backend:
          url: "http://#{backend}#/echo/{ver}/items/{item}"
          parameters:
            - {name: item, in: path, from: id}
            - {name: ver, in: path, constant: v2}
            - {name: x-user, in: header, from: user}
            - {name: x-page, in: header, from: page}
            - {name: x-const, in: header, constant: "100% const"}
            - {name: x-source-ip, in: header, system: source_ip}
            - {name: x-rid, in: header, system: request_id}
            - {name: x-app, in: header, system: app_id}
            - {name: x-time, in: header, system: server_time}
            - {name: rid, in: query, system: request_id}
            - {name: api, in: query, system: api_id}
            - {name: who, in: query, from: user}
`, "\n")))

func testParameters(t *testing.T, g *gateway) {
	t.Run("mapped, moved, constant and system parameters reach the backend; forged system values do not", func(t *testing.T) {
		req := g.signed(t, "GET", "/params/orders/7?user=alice&rid=forged&x=1&r%69d=forged2&%77ho=forged3", nil, map[string]string{
			"X-Source-Ip": "6.6.6.6", "X-App": "forged-app", "X-Rid": "forged-rid", "X-Const": "forged", "X-Page": "99",
		})
		r := g.echoed(t, req)
		if r.Path != "/echo/v2/items/7" {
			t.Errorf("backend path %q, want /echo/v2/items/7", r.Path)
		}
		q, err := url.ParseQuery(r.Query)
		if err != nil {
			t.Fatal(err)
		}
		rid := r.Headers["x-request-id"]
		wantQ := url.Values{"rid": {rid}, "api": {"e2e/params"}, "who": {"alice"}, "x": {"1"}}
		if rid == "" || q.Encode() != wantQ.Encode() {
			t.Errorf("backend query %q, want %q (user and page moved, rid the gateway's)", r.Query, wantQ.Encode())
		}
		want := map[string]string{
			"x-user": "alice", "x-page": "1", "x-const": "100% const", "x-source-ip": "127.0.0.1",
			"x-rid": rid, "x-app": appName,
		}
		for k, v := range want {
			if r.Headers[k] != v {
				t.Errorf("backend saw %s = %q, want %q", k, r.Headers[k], v)
			}
		}
		if ts := r.Headers["x-time"]; len(ts) != 13 || strings.Trim(ts, "0123456789") != "" {
			t.Errorf("backend saw x-time %q, want Unix milliseconds", ts)
		}
	})
	t.Run("missing or invalid request parameters get APIG.0201", func(t *testing.T) {
		for _, tt := range []struct{ path, msg string }{
			{"/params/orders/7", `API request error: parameter "user" (query) is required`},
			{"/params/orders/0?user=alice", `API request error: parameter "id" (path) is less than 1`},
			{"/params/orders/x?user=alice", `API request error: parameter "id" (path) is not a number`},
			{"/params/orders/7?user=alice&page=500", `API request error: parameter "page" (query) is more than 100`},
		} {
			code, _, body, err := g.do(g.signed(t, "GET", tt.path, nil, nil))
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Code string `json:"error_code"`
				Msg  string `json:"error_msg"`
			}
			if code != http.StatusBadRequest || json.Unmarshal([]byte(body), &got) != nil || got.Code != "APIG.0201" || got.Msg != tt.msg {
				t.Errorf("GET %s = %d %s, want 400 APIG.0201 %q", tt.path, code, body, tt.msg)
			}
		}
	})
}
