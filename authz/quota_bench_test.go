package authz

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"
)

// BenchmarkCheckAppAuthQuota is BenchmarkCheckAppAuth's request for an app
// with a calendar quota in the in-memory store (compare the two for the
// quota's cost).
func BenchmarkCheckAppAuthQuota(b *testing.B) {
	cfg := strings.Replace(testConfig, "      - {api: shop/open}\n", "      - {api: shop/open}\n    quota: {requests: "+itoa(math.MaxUint32)+", period: month, time_zone: Europe/Berlin}\n", 1)
	snap := replaySnapshot(b, cfg)
	if snap.Apps[appKey].Quota == nil {
		b.Fatal("no quota")
	}
	f := &fixture{now: testNow, snap: snap}
	f.svc = mustNew(b, snap, Options{Now: func() time.Time { return f.now }})
	body := map[string]string{"data": strings.Repeat("x", 1024-12)}
	hr, raw := signWithSDK(b, sdkRequest{method: "POST", path: "/items/1", query: map[string]any{"a": "1"},
		headers: map[string]string{"Content-Type": "application/json", "X-Trace": "t"}, body: body}, appKey, appSecret)
	req := envoyCheck(hr, raw, "shop/items", "RELEASE")
	ctx := context.Background()
	if resp, _ := f.svc.Check(ctx, req); resp.GetOkResponse() == nil {
		b.Fatalf("not allowed: %v", resp)
	}
	b.ReportAllocs()
	for b.Loop() {
		f.svc.Check(ctx, req)
	}
}

func itoa(n uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// BenchmarkQuotaPhase is the calendar-quota phase alone (period bounds in
// Europe/Berlin, key, in-memory count, usage table), as Check runs it for
// an allowed request.
func BenchmarkQuotaPhase(b *testing.B) {
	cfg := strings.Replace(testConfig, "      - {api: shop/open}\n", "      - {api: shop/open}\n    quota: {requests: "+itoa(math.MaxUint32)+", period: month, time_zone: Europe/Berlin}\n", 1)
	snap := replaySnapshot(b, cfg)
	svc := mustNew(b, snap, Options{})
	t := svc.tables.Load()
	dep := t.deployment(deploymentKey{"shop/items", "RELEASE"})
	c := t.apps[appKey]
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := svc.checkQuota(ctx, t, dep, c); err != nil {
			b.Fatal(err)
		}
	}
}
