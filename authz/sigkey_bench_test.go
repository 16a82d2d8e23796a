package authz

import (
	"context"
	"strings"
	"testing"
)

// BenchmarkCheckSignatureKey is a whole in-process Check of an app-signed
// request with a 1 KiB JSON body (as BenchmarkCheckAppAuth) to an API with
// an hmac signature key bound (signed) and the same without the key
// (unsigned): the difference is the cost of signing upstream.
func BenchmarkCheckSignatureKey(b *testing.B) {
	body := map[string]string{"data": strings.Repeat("x", 1024-12)}
	hr, raw := signWithSDK(b, sdkRequest{method: "POST", path: "/items/1", query: map[string]any{"a": "1"},
		headers: map[string]string{"Content-Type": "application/json", "X-Trace": "t"}, body: body}, appKey, appSecret)
	req := envoyCheck(hr, raw, "sig/items", "RELEASE")
	if len(raw) < 1000 {
		b.Fatalf("body is %d bytes", len(raw))
	}
	for _, signed := range []bool{false, true} {
		name := "unsigned"
		if signed {
			name = "signed"
		}
		b.Run(name, func(b *testing.B) {
			f := newSigkeyFixture(b)
			if !signed {
				f.svc.tables.Load().deployment(deploymentKey{"sig/items", "RELEASE"}).signer = nil
			}
			ctx := context.Background()
			resp, _ := f.svc.Check(ctx, req)
			if resp.GetOkResponse() == nil {
				b.Fatalf("not allowed: %v", resp)
			}
			if got := upstreamHeaders(resp)["x-sdk-date"] != ""; got != signed {
				b.Fatalf("signed upstream = %v, want %v", got, signed)
			}
			b.ReportAllocs()
			for b.Loop() {
				f.svc.Check(ctx, req)
			}
		})
	}
}
