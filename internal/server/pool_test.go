package server

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/apigwio/apigw/authz/signing"
	"github.com/apigwio/apigw/internal/envoycheck"
)

const poolCfg = `
server: {grpc_address: "127.0.0.1:0", admin_address: "127.0.0.1:0"}
settings:
  # The tampered request fails from 4 callers in parallel, so its
  # consecutive failures (201 in all) would lock the key now and then: not
  # this test's subject.
  lockout: {disabled: true}
groups:
  - name: g
    apis:
      - {name: open, path: /open, auth: none, backend: {url: "http://10.0.0.1"}}
      - {name: app, method: POST, path: /app, auth: app, backend: {url: "http://10.0.0.1"}}
      - {name: hidden, method: POST, path: /hidden, auth: app, hide_credentials: true, backend: {url: "http://10.0.0.1"}}
      - name: big
        method: POST
        path: /big
        auth: app
        validate_request: true
        request:
          body_schema: '{"type":"object","required":["n"],"properties":{"n":{"type":"string"}}}'
        backend: {url: "http://10.0.0.1"}
apps:
  - {name: one, key: pool-app-key-0001, secret: {value: pool-app-secret-0001}, grants: [{api: g/*}]}
  - {name: two, key: pool-app-key-0002, secret: {value: pool-app-secret-0002}, grants: [{api: g/open}]}
`

// poison overwrites everything of a decoded CheckRequest that the codec
// reuses for the next request — the maps and nested messages, and the
// buffer its bytes fields are slices of — as the next request decoded into
// it would.
func poison(req *authv3.CheckRequest) {
	a := req.GetAttributes()
	if a == nil {
		return
	}
	stale := func(m map[string]string) {
		for k := range m {
			m[k] = "stale"
		}
		m["x-apig-stale"] = "stale"
	}
	for _, p := range []*authv3.AttributeContext_Peer{a.Source, a.Destination} {
		if p != nil {
			stale(p.Labels)
			p.Principal, p.Service = "stale", "stale"
			if sa := p.GetAddress().GetSocketAddress(); sa != nil {
				sa.Address, sa.PortSpecifier = "192.0.2.1", &corev3.SocketAddress_PortValue{PortValue: 1}
			}
		}
	}
	stale(a.ContextExtensions)
	if h := a.GetRequest().GetHttp(); h != nil {
		stale(h.Headers)
		// raw_body and raw values are slices of the buffer the request was
		// decoded from, which the next request is read into.
		for i := range h.RawBody {
			h.RawBody[i] = 'x'
		}
		for _, hv := range h.GetHeaderMap().GetHeaders() {
			for i := range hv.RawValue {
				hv.RawValue[i] = 'x'
			}
		}
		h.Id, h.Method, h.Path, h.Host, h.Query, h.Protocol, h.Body = "stale", "PUT", "/stale", "stale", "stale", "stale", "stale"
		h.RawBody, h.Size = []byte("stale"), 5
	}
	if a.TlsSession != nil {
		a.TlsSession.Sni = "stale"
	}
	a.Request, a.Source, a.Destination, a.ContextExtensions = nil, nil, nil, map[string]string{"stale": "stale"}
}

// TestPooledRequestsNotRetained: Check requests are decoded into pooled
// messages that the next request reuses once Check has returned, while
// gRPC encodes the answer after; their bodies are slices of a buffer that
// is reused too (gRPC's, or a pooled one for a 64 KiB body in several
// frames). An interceptor overwrites every request and its body after its
// Check (as a reuse would) and the answers — allowed and denied, with
// identity headers, x-apig- removals, hidden credentials, bodies that
// verify or not and match the schema or not — must stay those given
// without it, also with callers in parallel: the answers hold no map,
// message or body of the request.
func TestPooledRequestsNotRetained(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.yaml")
	if err := os.WriteFile(path, []byte(poolCfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var poisonOn atomic.Bool
	_, conn := startReplica(t, path, Options{
		ShutdownTimeout: time.Second,
		UnaryInterceptors: []grpc.UnaryServerInterceptor{func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			resp, err := h(ctx, req)
			if cr, ok := req.(*authv3.CheckRequest); ok && poisonOn.Load() {
				poison(cr)
			}
			return resp, err
		}},
	})
	client := authv3.NewAuthorizationClient(conn)

	now := time.Now()
	var signBody func(target, key, secret, api string, headers map[string]string, body []byte) *authv3.CheckRequest
	small := []byte(`{"n":"` + strings.Repeat("b", 100) + `"}`)
	sign := func(target, key, secret, api string, headers map[string]string) *authv3.CheckRequest {
		return signBody(target, key, secret, api, headers, small)
	}
	signBody = func(target, key, secret, api string, headers map[string]string, body []byte) *authv3.CheckRequest {
		r, err := http.NewRequest("POST", "http://pool.example.com"+target, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Content-Type", "application/json")
		for k, v := range headers {
			r.Header.Set(k, v)
		}
		if err := signing.SignRequest(r, body, signing.SignOptions{Access: key, Secret: secret, Time: now}); err != nil {
			t.Fatal(err)
		}
		return envoycheck.FromHTTP(r, body, api, "RELEASE")
	}
	open := func(headers map[string]string) *authv3.CheckRequest {
		r, _ := http.NewRequest("GET", "http://pool.example.com/open", nil)
		for k, v := range headers {
			r.Header.Set(k, v)
		}
		return envoycheck.FromHTTP(r, nil, "g/open", "RELEASE")
	}
	big := func(n string) []byte { return []byte(`{"n":` + n + `,"pad":"` + strings.Repeat("p", 64<<10) + `"}`) }
	bigTampered := signBody("/big", "pool-app-key-0001", "pool-app-secret-0001", "g/big", nil, big(`"v"`))
	bigTampered.Attributes.Request.Http.RawBody = big(`"w"`)
	tampered := sign("/app?a=1", "pool-app-key-0001", "pool-app-secret-0001", "g/app", nil)
	tampered.Attributes.Request.Http.Path = "/app?a=2"
	requests := map[string]*authv3.CheckRequest{
		"open":                     open(nil),
		"open, x-apig- headers":    open(map[string]string{"X-Apig-Forged": "f", "X-Apig-Appcode": "c"}),
		"app one":                  sign("/app?a=1", "pool-app-key-0001", "pool-app-secret-0001", "g/app", map[string]string{"X-Apig-Other": "o"}),
		"app one, hidden":          sign("/hidden", "pool-app-key-0001", "pool-app-secret-0001", "g/hidden", nil),
		"app two, not granted":     sign("/app", "pool-app-key-0002", "pool-app-secret-0002", "g/app", nil),
		"app one, tampered":        tampered,
		"unknown API":              open(nil),
		"app one, unknown API env": sign("/app", "pool-app-key-0001", "pool-app-secret-0001", "g/nope", nil),
		"app one, 64 KiB body":     signBody("/big", "pool-app-key-0001", "pool-app-secret-0001", "g/big", nil, big(`"v"`)),
		"app one, 64 KiB, invalid": signBody("/big", "pool-app-key-0001", "pool-app-secret-0001", "g/big", nil, big(`5`)),
		"app one, 64 KiB tampered": bigTampered,
	}
	requests["unknown API"].Attributes.ContextExtensions["apigw.api"] = "g/none"
	check := func(req *authv3.CheckRequest) *authv3.CheckResponse {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := client.Check(ctx, req)
		if err != nil {
			t.Error(err)
		}
		return resp
	}
	want := map[string]*authv3.CheckResponse{}
	allowed := 0
	for name, req := range requests {
		want[name] = check(req)
		if want[name].GetOkResponse() != nil {
			allowed++
		}
	}
	if allowed != 5 {
		t.Fatalf("%d requests allowed, want 5: %v", allowed, want)
	}
	for name, code := range map[string]typev3.StatusCode{"app one, 64 KiB, invalid": typev3.StatusCode_BadRequest, "app one, 64 KiB tampered": typev3.StatusCode_Unauthorized} {
		if got := want[name].GetDeniedResponse().GetStatus().GetCode(); got != code {
			t.Fatalf("%s: answered %v, want %v", name, got, code)
		}
	}
	poisonOn.Store(true)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 25 {
				for name, req := range requests {
					if got := check(req); !proto.Equal(got, want[name]) {
						t.Errorf("%s: answered\n%v\nwant\n%v", name, got, want[name])
						return
					}
				}
			}
		})
	}
	wg.Wait()
}
