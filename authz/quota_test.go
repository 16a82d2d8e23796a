package authz

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/apigwio/apigw/authz/keypair"
	"github.com/apigwio/apigw/authz/quota"
	"github.com/apigwio/apigw/authz/signing"
	"github.com/apigwio/apigw/internal/redistest"
)

const quotaConfig = `
settings: {throttling: {failure_mode: open}}
groups:
  - name: shop
    apis:
      - {name: a, method: ANY, path: /a, auth: app, backend: {url: "http://10.0.0.1:8080"}}
      - {name: b, method: ANY, path: /b, auth: app, backend: {url: "http://10.0.0.1:8080"}}
  - name: tc
    domains: [tc.example.com]
    error_dialect: tencent
    apis:
      - {name: k, method: GET, path: /k, auth: hmac, backend: {url: "http://10.0.0.1"}}
apps:
  - name: shopper
    key: ` + appKey + `
    secret: {value: ` + appSecret + `}
    grants: [{api: "shop/*"}]
    quota: {requests: 3, period: month, time_zone: UTC}
  - name: perapi
    key: per-api-key
    secret: {value: per-api-secret-0001}
    grants: [{api: "shop/*"}]
    quota: {requests: 1, period: day, time_zone: Europe/Berlin, per_api: true}
key_pairs:
  - {id: AKIDgold, secret: {value: gold-secret-key}}
usage_plans:
  - {name: gold, key_pairs: [AKIDgold], environments: [RELEASE], quota: {requests: 2, period: week}}
`

func quotaFixture(t testing.TB, cfg string, now time.Time, opts Options) *fixture {
	snap := replaySnapshot(t, cfg)
	f := &fixture{now: now, snap: snap}
	opts.Now = func() time.Time { return f.now }
	f.svc = mustNew(t, snap, opts)
	return f
}

// appAt is an app request to api signed at the fixture's time.
func (f *fixture) appAt(t testing.TB, api, key, secret string) *authv3.CheckRequest {
	t.Helper()
	path := "/" + strings.TrimPrefix(api, "shop/")
	hr, body := signWithSDK(t, sdkRequest{method: "GET", path: path, date: f.now.UTC().Format(signing.DateFormat)}, key, secret)
	return envoyCheck(hr, body, api, "RELEASE")
}

func deniedHeaders(resp *authv3.CheckResponse) map[string]string {
	out := map[string]string{}
	for _, h := range resp.GetDeniedResponse().GetHeaders() {
		out[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
	}
	return out
}

func TestQuotaMonthEnd(t *testing.T) {
	f := quotaFixture(t, quotaConfig, time.Date(2028, 1, 31, 22, 50, 0, 0, time.UTC), Options{})
	for i := 0; i < 3; i++ {
		if st, b, _ := f.check(t, f.appAt(t, "shop/a", appKey, appSecret)); st != 200 {
			t.Fatalf("request %d: %d %+v", i, st, b)
		}
	}
	st, b, resp := f.check(t, f.appAt(t, "shop/b", appKey, appSecret))
	if st != 429 || b.Code != "APIG.0501" || b.Msg != "The app quota has been used up." {
		t.Fatalf("over quota: %d %+v", st, b)
	}
	h := deniedHeaders(resp)
	if h["x-ratelimit-limit"] != "3" || h["x-ratelimit-remaining"] != "0" || h["x-ratelimit-reset"] != "4200" || h["retry-after"] != "4200" {
		t.Errorf("headers %v, want limit 3, remaining 0, reset 4200 s (70 minutes to February 1)", h)
	}
	// A reload keeps the count.
	if err := f.svc.Update(context.Background(), replaySnapshot(t, quotaConfig)); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := f.check(t, f.appAt(t, "shop/a", appKey, appSecret)); st != 429 {
		t.Fatalf("after a reload: %d", st)
	}
	// February 1, 00:00:00 UTC: a new month.
	f.now = time.Date(2028, 2, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 3; i++ {
		if st, b, _ := f.check(t, f.appAt(t, "shop/a", appKey, appSecret)); st != 200 {
			t.Fatalf("February request %d: %d %+v", i, st, b)
		}
	}
	// Leap day 2028-02-29, last minute: still February.
	f.now = time.Date(2028, 2, 29, 23, 59, 0, 0, time.UTC)
	if st, _, _ := f.check(t, f.appAt(t, "shop/a", appKey, appSecret)); st != 429 {
		t.Fatalf("February 29: %d, want 429", st)
	}
	f.now = time.Date(2028, 3, 1, 0, 0, 1, 0, time.UTC)
	if st, _, _ := f.check(t, f.appAt(t, "shop/a", appKey, appSecret)); st != 200 {
		t.Fatalf("March 1: %d", st)
	}
	usage := f.svc.QuotaUsage()
	if len(usage) != 1 || usage[0].Credential != "app:"+appKey || usage[0].Used != 1 || usage[0].Limit != 3 ||
		!usage[0].Start.Equal(time.Date(2028, 3, 1, 0, 0, 0, 0, time.UTC)) || usage[0].Period != "month" {
		t.Errorf("QuotaUsage = %+v", usage)
	}
}

func TestQuotaPerAPIBerlinDST(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	// 2026-03-29 is 23 hours long in Berlin: 23:30 Berlin is 21:30 UTC.
	f := quotaFixture(t, quotaConfig, time.Date(2026, 3, 29, 0, 30, 0, 0, berlin), Options{})
	for _, api := range []string{"shop/a", "shop/b"} {
		if st, b, _ := f.check(t, f.appAt(t, api, "per-api-key", "per-api-secret-0001")); st != 200 {
			t.Fatalf("%s: %d %+v", api, st, b)
		}
	}
	f.now = time.Date(2026, 3, 29, 23, 30, 0, 0, berlin)
	st, _, resp := f.check(t, f.appAt(t, "shop/a", "per-api-key", "per-api-secret-0001"))
	if st != 429 || deniedHeaders(resp)["x-ratelimit-reset"] != "1800" {
		t.Fatalf("same Berlin day: %d %v", st, deniedHeaders(resp))
	}
	f.now = time.Date(2026, 3, 30, 0, 0, 0, 0, berlin)
	if st, _, _ := f.check(t, f.appAt(t, "shop/a", "per-api-key", "per-api-secret-0001")); st != 200 {
		t.Fatalf("next Berlin day: %d", st)
	}
}

func TestQuotaKeyPairWeekTencent(t *testing.T) {
	// keyPairRequestWith signs at testNow (Thursday 2022-12-08).
	f := quotaFixture(t, quotaConfig, testNow, Options{})
	req := func() *authv3.CheckRequest {
		return keyPairRequestWith(t, "GET", "/k", "AKIDgold", "gold-secret-key", keypair.HMACSHA256, []string{"x-date"}, nil, "tc/k", "RELEASE")
	}
	for i := 0; i < 2; i++ {
		if st, msg := tencentMsg(t, f, req()); st != 200 {
			t.Fatalf("request %d: %d %s", i, st, msg)
		}
	}
	st, msg, resp := f.tencent(t, req())
	if st != 429 || msg != "API quota exceeded." {
		t.Fatalf("over quota: %d %q", st, msg)
	}
	// Monday 2022-12-12 00:00 UTC is 3 days, 22 h, 2 min and 9 s away.
	if got := deniedHeaders(resp)["x-ratelimit-reset"]; got != "338529" {
		t.Errorf("reset = %s", got)
	}
}

// TestQuotaRedisRace: two Services sharing Redis, 40 goroutines racing on
// the last requests of a quota: exactly the quota is allowed.
func TestQuotaRedisRace(t *testing.T) {
	for _, cluster := range []bool{false, true} {
		t.Run(map[bool]string{false: "single", true: "cluster"}[cluster], func(t *testing.T) {
			var stores [2]quota.Store
			if cluster {
				c := redistest.StartCluster(t)
				stores = [2]quota.Store{quota.NewRedis(c.Client(), "apigw:quota:"), quota.NewRedis(c.Client(), "apigw:quota:")}
			} else {
				s := redistest.Start(t)
				stores = [2]quota.Store{quota.NewRedis(s.Client(), "apigw:quota:"), quota.NewRedis(s.Client(), "apigw:quota:")}
			}
			cfg := strings.Replace(quotaConfig, "quota: {requests: 3, period: month, time_zone: UTC}", "quota: {requests: 30, period: month}", 1)
			now := time.Date(2028, 1, 31, 23, 0, 0, 0, time.UTC)
			// 40 concurrent calls through the race detector on a loaded
			// machine can take longer than the production 50 ms, which
			// would fail open and count nothing: this test is about the
			// count, not the deadline.
			a := quotaFixture(t, cfg, now, Options{Quotas: stores[0], QuotaTimeout: 10 * time.Second})
			b := quotaFixture(t, cfg, now, Options{Quotas: stores[1], QuotaTimeout: 10 * time.Second})
			req := a.appAt(t, "shop/a", appKey, appSecret) // the same signed request is fine: no replay protection
			for i := 0; i < 25; i++ {
				if st, _, _ := []*fixture{a, b}[i%2].check(t, req); st != 200 {
					t.Fatalf("warm-up %d: %d", i, st)
				}
			}
			var allowed, refused atomic.Int32
			var wg sync.WaitGroup
			for g := 0; g < 40; g++ {
				wg.Add(1)
				go func(f *fixture) {
					defer wg.Done()
					resp, err := f.svc.Check(context.Background(), req)
					if err != nil {
						t.Error(err)
						return
					}
					if resp.GetOkResponse() != nil {
						allowed.Add(1)
					} else if resp.GetDeniedResponse().GetStatus().GetCode() == 429 {
						refused.Add(1)
					}
				}([]*fixture{a, b}[g%2])
			}
			wg.Wait()
			if allowed.Load() != 5 || refused.Load() != 35 {
				t.Fatalf("allowed %d, refused %d; want exactly the 5 left of 30, and 35 refused", allowed.Load(), refused.Load())
			}
		})
	}
}

func TestQuotaStoreDown(t *testing.T) {
	for _, mode := range []string{"open", "closed"} {
		t.Run(mode, func(t *testing.T) {
			srv := redistest.Start(t)
			cfg := strings.Replace(quotaConfig, "failure_mode: open", "failure_mode: "+mode, 1)
			f := quotaFixture(t, cfg, testNow, Options{Quotas: quota.NewRedis(srv.Client(), "apigw:quota:")})
			srv.Stop()
			st, b, _ := f.check(t, f.appAt(t, "shop/a", appKey, appSecret))
			if mode == "open" && st != 200 {
				t.Fatalf("open: %d %+v", st, b)
			}
			if mode == "closed" && (st != 500 || b.Code != "APIG.0601") {
				t.Fatalf("closed: %d %+v", st, b)
			}
			if f.svc.Stats().QuotaStoreErrors != 1 {
				t.Errorf("QuotaStoreErrors = %d", f.svc.Stats().QuotaStoreErrors)
			}
		})
	}
}
