package authz

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/apigwio/apigw/authz/keypair"
	"github.com/apigwio/apigw/authz/nonce"
	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/model"
	"github.com/apigwio/apigw/internal/redistest"
)

const replayConfig = `
settings:
  lockout: {max_failures: 2, duration: 5m}
groups:
  - name: shop
    replay_protection: {window: 1m}
    apis:
      - {name: items, method: ANY, path: /items, auth: app, backend: {url: "http://10.0.0.1:8080"}}
      - {name: must, method: ANY, path: /must, auth: app, replay_protection: {required: true, header: X-Request-Nonce}, backend: {url: "http://10.0.0.1:8080"}}
      - {name: open, method: GET, path: /open, auth: none, backend: {url: "http://10.0.0.1:8080"}}
  - name: tc
    domains: [tc.example.com]
    error_dialect: tencent
    apis:
      - {name: k, method: GET, path: /k, auth: hmac, replay_protection: {required: true}, backend: {url: "http://10.0.0.1"}}
apps:
  - name: shopper
    key: ` + appKey + `
    secret: {value: ` + appSecret + `}
    grants: [{api: "shop/*"}]
key_pairs:
  - {id: AKIDgold, secret: {value: gold-secret-key}}
usage_plans:
  - {name: gold, key_pairs: [AKIDgold], environments: [RELEASE]}
`

func replaySnapshot(t testing.TB, cfg string) *model.Snapshot {
	t.Helper()
	snap, err := config.Load("replay", []byte(cfg), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func replayFixture(t testing.TB, opts Options) *fixture {
	snap := replaySnapshot(t, replayConfig)
	f := &fixture{now: testNow, snap: snap}
	opts.Now = func() time.Time { return f.now }
	f.svc = mustNew(t, snap, opts)
	return f
}

// nonceRequest is an app request to api signed with the nonce in header
// (signed), or added after signing when unsigned.
func nonceRequest(t testing.TB, api, path, header, n string, unsigned bool) *authv3.CheckRequest {
	t.Helper()
	r := sdkRequest{method: "GET", path: path}
	if n != "" && !unsigned {
		r.headers = map[string]string{header: n}
	}
	hr, body := signWithSDK(t, r, appKey, appSecret)
	if unsigned {
		hr.Header.Set(header, n)
	}
	return envoyCheck(hr, body, api, "RELEASE")
}

func TestReplayOneService(t *testing.T) {
	f := replayFixture(t, Options{})
	req := nonceRequest(t, "shop/items", "/items", "X-Sdk-Nonce", "5f0c2b1e-0000-4000-8000-000000000001", false)
	if st, b, _ := f.check(t, req); st != 200 {
		t.Fatalf("first request: %d %+v", st, b)
	}
	for i := 0; i < 5; i++ { // more than lockout.max_failures
		st, b, _ := f.check(t, req)
		if st != 401 || b.Code != "APIG.0303" || !strings.Contains(b.Msg, "nonce has been used, x-sdk-nonce:5f0c2b1e-0000-4000-8000-000000000001") {
			t.Fatalf("replay %d: %d %+v", i, st, b)
		}
	}
	// A replay is no signature failure: the key is not locked.
	fresh := nonceRequest(t, "shop/items", "/items", "X-Sdk-Nonce", "another-nonce", false)
	if st, b, _ := f.check(t, fresh); st != 200 {
		t.Fatalf("fresh nonce after replays: %d %+v (replays must not lock the key)", st, b)
	}
	// Without a nonce (not required): accepted, and replayable.
	bare := nonceRequest(t, "shop/items", "/items", "", "", false)
	for i := 0; i < 2; i++ {
		if st, b, _ := f.check(t, bare); st != 200 {
			t.Fatalf("no nonce: %d %+v", st, b)
		}
	}
	// After the window (1m) the nonce is forgotten; the signature is still
	// within the 15m clock skew.
	f.now = f.now.Add(61 * time.Second)
	if st, b, _ := f.check(t, req); st != 200 {
		t.Fatalf("after the window: %d %+v", st, b)
	}
	if st, _, _ := f.check(t, req); st != 401 {
		t.Fatalf("replay after re-recording: %d", st)
	}
	if got := f.svc.Stats().Replays; got != 6 {
		t.Errorf("Replays = %d, want 6", got)
	}
}

func TestReplayNonceRules(t *testing.T) {
	f := replayFixture(t, Options{})
	tests := []struct {
		name string
		req  *authv3.CheckRequest
		want string
	}{
		{"unsigned nonce", nonceRequest(t, "shop/items", "/items", "X-Sdk-Nonce", "n1", true), "x-sdk-nonce is not among the signed headers"},
		{"required and missing", nonceRequest(t, "shop/must", "/must", "", "", false), "Header x-request-nonce not found"},
		{"required header, other name", nonceRequest(t, "shop/must", "/must", "X-Sdk-Nonce", "n2", false), "Header x-request-nonce not found"},
		{"malformed", nonceRequest(t, "shop/items", "/items", "X-Sdk-Nonce", "has space", false), "x-sdk-nonce format incorrect"},
		{"too long", nonceRequest(t, "shop/items", "/items", "X-Sdk-Nonce", strings.Repeat("a", 129), false), "x-sdk-nonce format incorrect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, b, _ := f.check(t, tt.req)
			if st != 401 || b.Code != "APIG.0303" || !strings.Contains(b.Msg, tt.want) {
				t.Fatalf("got %d %+v, want 401 APIG.0303 %q", st, b, tt.want)
			}
		})
	}
	// The required nonce in its own header: accepted once.
	ok := nonceRequest(t, "shop/must", "/must", "X-Request-Nonce", "n3", false)
	if st, b, _ := f.check(t, ok); st != 200 {
		t.Fatalf("required nonce present: %d %+v", st, b)
	}
	if st, _, _ := f.check(t, ok); st != 401 {
		t.Fatalf("replay: %d", st)
	}
	// Nothing above counted toward the lockout (max_failures 2).
	if st, b, _ := f.check(t, nonceRequest(t, "shop/items", "/items", "X-Sdk-Nonce", "n4", false)); st != 200 {
		t.Fatalf("after refusals: %d %+v", st, b)
	}
	// Nonces are per credential and per store, not per API: the same
	// nonce on another API of the same app is a replay too.
	if st, _, _ := f.check(t, nonceRequest(t, "shop/must", "/must", "X-Request-Nonce", "n4", false)); st != 401 {
		t.Fatalf("same nonce, other API: %d", st)
	}
}

func TestReplayKeyPairTencent(t *testing.T) {
	f := replayFixture(t, Options{})
	sign := func(headers []string, extra map[string]string) *authv3.CheckRequest {
		return keyPairRequestWith(t, "GET", "/k", "AKIDgold", "gold-secret-key", keypair.HMACSHA256, headers, extra, "tc/k", "RELEASE")
	}
	signed := sign([]string{"x-date", "x-sdk-nonce"}, map[string]string{"X-Sdk-Nonce": "kp-1"})
	st, msg, _ := f.tencent(t, signed)
	if st != 200 {
		t.Fatalf("first: %d %s", st, msg)
	}
	st, msg = tencentMsg(t, f, signed)
	if st != 403 || msg != "HMAC signature cannot be verified, the x-sdk-nonce header has been used" {
		t.Fatalf("replay: %d %q", st, msg)
	}
	unsigned := sign([]string{"x-date"}, map[string]string{"X-Sdk-Nonce": "kp-2"})
	st, msg = tencentMsg(t, f, unsigned)
	if st != 403 || msg != "HMAC signature cannot be verified, a valid x-sdk-nonce header is required" {
		t.Fatalf("unsigned: %d %q", st, msg)
	}
	missing := sign([]string{"x-date"}, nil)
	if st, msg = tencentMsg(t, f, missing); st != 403 || !strings.Contains(msg, "x-sdk-nonce") {
		t.Fatalf("missing: %d %q", st, msg)
	}
}

// keyPairRequestWith is keyPairRequest with extra headers set before
// signing.
func keyPairRequestWith(t *testing.T, method, target, id, secret string, alg keypair.Algorithm, headers []string, extra map[string]string, api, env string) *authv3.CheckRequest {
	t.Helper()
	r, _ := http.NewRequest(method, "http://gw.example.com"+target, nil)
	for k, v := range extra {
		r.Header.Set(k, v)
	}
	if err := keypair.Sign(r, nil, id, secret, alg, headers, testNow); err != nil {
		t.Fatal(err)
	}
	c := envoyCheck(r, nil, api, env)
	c.Attributes.Request.Http.Protocol = "HTTP/1.1"
	return c
}

func TestReplaySharedRedis(t *testing.T) {
	srv := redistest.Start(t)
	a := replayFixture(t, Options{Nonces: nonce.NewRedis(srv.Client(), "apigw:nonce:")})
	b := replayFixture(t, Options{Nonces: nonce.NewRedis(srv.Client(), "apigw:nonce:")})
	req := nonceRequest(t, "shop/items", "/items", "X-Sdk-Nonce", "shared-1", false)
	if st, body, _ := a.check(t, req); st != 200 {
		t.Fatalf("replica a: %d %+v", st, body)
	}
	if st, body, _ := b.check(t, req); st != 401 || !strings.Contains(body.Msg, "nonce has been used") {
		t.Fatalf("replica b, replay: %d %+v", st, body)
	}
	if st, _, _ := a.check(t, req); st != 401 {
		t.Fatalf("replica a, replay: %d", st)
	}
	keys, err := srv.Client().Keys(context.Background(), "apigw:nonce:*").Result()
	if err != nil || len(keys) != 1 || keys[0] != "apigw:nonce:{app:"+appKey+"}:shared-1" {
		t.Fatalf("keys = %v, %v", keys, err)
	}
	ttl := srv.Client().PTTL(context.Background(), keys[0]).Val()
	if ttl <= 0 || ttl > time.Minute {
		t.Fatalf("TTL %v, want the 1m window", ttl)
	}
}

func TestReplayRedisWindow(t *testing.T) {
	srv := redistest.Start(t)
	cfg := strings.Replace(replayConfig, "replay_protection: {window: 1m}", "replay_protection: {window: 1s}", 1)
	snap := replaySnapshot(t, cfg)
	f := &fixture{now: testNow, snap: snap}
	f.svc = mustNew(t, snap, Options{Now: func() time.Time { return f.now }, Nonces: nonce.NewRedis(srv.Client(), "apigw:nonce:")})
	req := nonceRequest(t, "shop/items", "/items", "X-Sdk-Nonce", "short-1", false)
	if st, _, _ := f.check(t, req); st != 200 {
		t.Fatal("first")
	}
	if st, _, _ := f.check(t, req); st != 401 {
		t.Fatal("replay inside the window accepted")
	}
	time.Sleep(1100 * time.Millisecond)
	if st, b, _ := f.check(t, req); st != 200 {
		t.Fatalf("after the window: %d %+v", st, b)
	}
}

func TestReplayStoreDown(t *testing.T) {
	for _, mode := range []string{"open", "closed"} {
		t.Run(mode, func(t *testing.T) {
			srv := redistest.Start(t)
			cfg := strings.Replace(replayConfig, "settings:\n", "settings:\n  throttling: {failure_mode: "+mode+"}\n", 1)
			snap := replaySnapshot(t, cfg)
			f := &fixture{now: testNow, snap: snap}
			f.svc = mustNew(t, snap, Options{Now: func() time.Time { return f.now }, Nonces: nonce.NewRedis(srv.Client(), "apigw:nonce:")})
			srv.Stop()
			req := nonceRequest(t, "shop/items", "/items", "X-Sdk-Nonce", "down-1", false)
			st, b, _ := f.check(t, req)
			if mode == "open" && st != 200 {
				t.Fatalf("open: %d %+v", st, b)
			}
			if mode == "closed" && (st != 500 || b.Code != "APIG.0601") {
				t.Fatalf("closed: %d %+v", st, b)
			}
			if f.svc.Stats().NonceStoreErrors == 0 {
				t.Error("store error not counted")
			}
			// Requests without a nonce do not touch the store.
			if st, b, _ := f.check(t, nonceRequest(t, "shop/items", "/items", "", "", false)); st != 200 {
				t.Fatalf("no nonce: %d %+v", st, b)
			}
		})
	}
}

func tencentMsg(t *testing.T, f *fixture, req *authv3.CheckRequest) (int, string) {
	t.Helper()
	st, msg, _ := f.tencent(t, req)
	return st, msg
}
