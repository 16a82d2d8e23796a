package authz

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/apigwio/apigw/internal/config"
)

const paramsConfig = `
settings: {app_code_allow_http: true}
groups:
  - name: p
    apis:
      - name: orders
        method: GET
        path: /orders/{id}
        auth: none
        request:
          parameters:
            - {name: id, in: path, type: number, min_value: 1}
            - {name: page, in: query, type: number, default: 1, max_value: 100}
            - {name: X-Mode, in: header, enum: [fast, slow], default: fast}
            - {name: flag, in: query, type: boolean}
            - {name: q, in: query, min_length: 2, max_length: 8, pattern: "[a-z]+"}
            - {name: tag, in: query, required: true}
        backend:
          url: http://10.0.0.1:8080/v1/items/{item}
          parameters:
            - {name: item, in: path, from: id}
            - {name: x-page, in: header, from: page}
            - {name: mode, in: query, from: x-mode}
            - {name: q, in: query, from: q}
            - {name: x-flag, in: header, from: flag}
            - {name: x-id, in: header, from: id}
            - {name: c, in: query, constant: "a b"}
            - {name: x-const, in: header, constant: "42"}
            - {name: x-ip, in: header, system: source_ip}
            - {name: rid, in: query, system: request_id}
            - {name: x-app, in: header, system: app_id}
            - {name: stage, in: query, system: stage}
            - {name: ts, in: query, system: server_time}
      - name: plain
        path: /plain
        auth: none
        request:
          parameters:
            - {name: size, in: query, default: "10"}
            - {name: x-lang, in: header, default: en}
        backend: {url: "http://10.0.0.1:8080"}
      - name: coded
        path: /coded
        auth: app
        app_code: true
        backend:
          url: http://10.0.0.1:8080
          parameters:
            - {name: x-app, in: header, system: app_id}
            - {name: app, in: query, system: app_key}
apps:
  - name: shopper
    key: shopper-key-0001
    secret: {value: shopper-secret-0001}
    codes: [{value: code0001code0001code0001code0001code0001code0001code0001code0001code0001}]
    grants: [{api: p/coded}]
`

func newParamsFixture(t testing.TB) *fixture {
	snap, err := config.Load("params", []byte(paramsConfig), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{now: testNow, snap: snap}
	f.svc = mustNew(t, snap, Options{Now: func() time.Time { return f.now }})
	return f
}

func paramsRequest(api, target string, headers map[string]string) *authv3.CheckRequest {
	hr, _ := http.NewRequest("GET", "http://gw"+target, nil)
	for k, v := range headers {
		hr.Header.Set(k, v)
	}
	req := envoyCheck(hr, nil, api, "RELEASE")
	req.Attributes.Source = &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
		SocketAddress: &corev3.SocketAddress{Address: "192.0.2.7", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 40000}}}}}
	req.Attributes.Request.Http.Headers["x-request-id"] = "rid-1"
	return req
}

// mutations renders an OK answer's header and query mutations, sorted:
// "h:name=value", "-h:name", "q:name=value", "-q:name".
func mutations(ok *authv3.OkHttpResponse) []string {
	var out []string
	for _, h := range ok.GetHeaders() {
		if strings.HasPrefix(h.GetHeader().GetKey(), "x-apig-") {
			continue
		}
		out = append(out, "h:"+h.GetHeader().GetKey()+"="+h.GetHeader().GetValue())
	}
	for _, h := range ok.GetHeadersToRemove() {
		if !strings.HasPrefix(h, "x-apig-") {
			out = append(out, "-h:"+h)
		}
	}
	for _, q := range ok.GetQueryParametersToSet() {
		out = append(out, "q:"+q.GetKey()+"="+q.GetValue())
	}
	for _, q := range ok.GetQueryParametersToRemove() {
		out = append(out, "-q:"+q)
	}
	sort.Strings(out)
	return out
}

func TestParametersValidation(t *testing.T) {
	f := newParamsFixture(t)
	tests := []struct {
		name, target string
		headers      map[string]string
		detail       string // "" allowed
	}{
		{"all good", "/orders/7?tag=t&q=abc&flag=true", map[string]string{"X-Mode": "slow"}, ""},
		{"defaults", "/orders/7?tag=t", nil, ""},
		{"required missing", "/orders/7?q=abc", nil, `parameter "tag" (query) is required`},
		{"required empty", "/orders/7?tag=", nil, `parameter "tag" (query) is required`},
		{"path not a number", "/orders/x?tag=t", nil, `parameter "id" (path) is not a number`},
		{"path below minimum", "/orders/0?tag=t", nil, `parameter "id" (path) is less than 1`},
		{"above maximum", "/orders/7?tag=t&page=101", nil, `parameter "page" (query) is more than 100`},
		{"not a boolean", "/orders/7?tag=t&flag=yes", nil, `parameter "flag" (query) is not true or false`},
		{"enum", "/orders/7?tag=t", map[string]string{"X-Mode": "turbo"}, `parameter "x-mode" (header) is not one of the allowed values`},
		{"too short", "/orders/7?tag=t&q=a", nil, `parameter "q" (query) is shorter than 2 characters`},
		{"too long", "/orders/7?tag=t&q=abcdefghi", nil, `parameter "q" (query) is longer than 8 characters`},
		{"pattern", "/orders/7?tag=t&q=AB1", nil, `parameter "q" (query) does not match the pattern`},
		{"encoded value decoded", "/orders/7?tag=t&q=%61%62", nil, ""},
		{"bad encoding", "/orders/7?tag=t&q=%zz", nil, `parameter "q" (query) is not valid percent-encoding`},
		{"first of repeated", "/orders/7?tag=t&page=2&page=500", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, body, _ := f.check(t, paramsRequest("p/orders", tt.target, tt.headers))
			if tt.detail == "" {
				if st != 200 {
					t.Fatalf("status %d %+v, want 200", st, body)
				}
				return
			}
			want := "API request error: " + tt.detail
			if st != 400 || body.Code != "APIG.0201" || body.Msg != want {
				t.Errorf("got %d %s %q, want 400 APIG.0201 %q", st, body.Code, body.Msg, want)
			}
		})
	}
}

func TestParametersMapping(t *testing.T) {
	f := newParamsFixture(t)
	tests := []struct {
		name, api, target string
		headers           map[string]string
		want              []string
	}{
		{"mapped, constants, systems, forged removed", "p/orders", "/orders/7?tag=t&page=3&q=ab&rid=forged&ts=1",
			map[string]string{"X-Mode": "slow", "X-Page": "forged", "X-App": "forged", "X-Flag": "forged"},
			[]string{
				"-h:x-app", "-h:x-const", "-h:x-flag", "-h:x-ip", "-h:x-mode",
				"-q:flag", "-q:page", "-q:tag",
				"h:x-id=7", "h:x-page=3",
				"q:c=a+b", "q:mode=slow", "q:q=ab", "q:rid=rid-1", "q:stage=RELEASE", fmt.Sprintf("q:ts=%d", testNow.UnixMilli()),
			}},
		{"defaults mapped", "p/orders", "/orders/7?tag=t", nil,
			[]string{
				"-h:x-app", "-h:x-const", "-h:x-flag", "-h:x-ip", "-h:x-mode",
				"-q:flag", "-q:page", "-q:q", "-q:tag",
				"h:x-id=7", "h:x-page=1",
				"q:c=a+b", "q:mode=fast", "q:rid=rid-1", "q:stage=RELEASE", fmt.Sprintf("q:ts=%d", testNow.UnixMilli()),
			}},
		{"encoded spelling of a managed name removed", "p/orders", "/orders/7?tag=t&%70age=9&r%69d=x", nil,
			[]string{
				"-h:x-app", "-h:x-const", "-h:x-flag", "-h:x-ip", "-h:x-mode",
				"-q:%70age", "-q:flag", "-q:page", "-q:q", "-q:r%69d", "-q:tag",
				"h:x-id=7", "h:x-page=9",
				"q:c=a+b", "q:mode=fast", "q:rid=rid-1", "q:stage=RELEASE", fmt.Sprintf("q:ts=%d", testNow.UnixMilli()),
			}},
		{"in place defaults without backend parameters", "p/plain", "/plain", nil, []string{"h:x-lang=en", "q:size=10"}},
		{"in place: sent values untouched", "p/plain", "/plain?size=3", map[string]string{"X-Lang": "fr"}, nil},
		{"caller identity", "p/coded", "/coded", map[string]string{"X-Apig-AppCode": "code0001code0001code0001code0001code0001code0001code0001code0001code0001"},
			[]string{"h:x-app=shopper", "q:app=shopper-key-0001"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, body, resp := f.check(t, paramsRequest(tt.api, tt.target, tt.headers))
			if st != 200 {
				t.Fatalf("status %d %+v", st, body)
			}
			if got := mutations(resp.GetOkResponse()); !slices.Equal(got, tt.want) {
				t.Errorf("mutations\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// An API without parameters gets no plan: nothing more is done.
func TestParametersNoPlanWithout(t *testing.T) {
	f := newFixture(t)
	for _, p := range f.svc.tables.Load().parts {
		for k, d := range p.deployments {
			if d.params != nil {
				t.Errorf("%v has a parameter plan", k)
			}
		}
	}
}

// BenchmarkParametersValidate validates 10 declared parameters (path,
// query, header; numbers, enums, lengths, a pattern) of one request.
func BenchmarkParametersValidate(b *testing.B) {
	cfg := `
groups:
  - name: p
    apis:
      - name: ten
        path: /a/{id}/b/{sub}
        auth: none
        request:
          parameters:
            - {name: id, in: path, type: number, min_value: 1}
            - {name: sub, in: path, max_length: 16}
            - {name: page, in: query, type: number, max_value: 100}
            - {name: size, in: query, type: number, default: 20}
            - {name: sort, in: query, enum: [asc, desc]}
            - {name: q, in: query, pattern: "[a-z]+", max_length: 32}
            - {name: flag, in: query, type: boolean}
            - {name: x-mode, in: header, enum: [fast, slow]}
            - {name: x-tenant, in: header, required: true, min_length: 3}
            - {name: x-trace, in: header}
        backend: {url: "http://10.0.0.1:8080"}
`
	snap, err := config.Load("bench", []byte(cfg), config.Options{})
	if err != nil {
		b.Fatal(err)
	}
	plan := compileParams(snap, snap.APIs["p/ten"], "RELEASE")
	req := paramsRequest("p/ten", "/a/42/b/x1?page=3&sort=asc&q=abc&flag=true&other=1", map[string]string{"X-Mode": "fast", "X-Tenant": "acme", "X-Trace": "t"})
	r := newRequest(req)
	if _, e := plan.validate(&r); e != nil {
		b.Fatal(e)
	}
	b.ReportAllocs()
	for b.Loop() {
		plan.validate(&r)
	}
}

var _ = context.Background
