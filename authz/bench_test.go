package authz

import (
	"context"
	"strings"
	"testing"
	"time"
)

// BenchmarkCheckAppAuth is a whole in-process Check of an app-signed request
// with 3 signed headers and a 1 KiB JSON body.
func BenchmarkCheckAppAuth(b *testing.B) {
	f := newFixture(b)
	body := map[string]string{"data": strings.Repeat("x", 1024-12)}
	hr, raw := signWithSDK(b, sdkRequest{method: "POST", path: "/items/1", query: map[string]any{"a": "1"},
		headers: map[string]string{"Content-Type": "application/json", "X-Trace": "t"}, body: body}, appKey, appSecret)
	req := envoyCheck(hr, raw, "shop/items", "RELEASE")
	if len(raw) < 1000 {
		b.Fatalf("body is %d bytes", len(raw))
	}
	ctx := context.Background()
	if resp, _ := f.svc.Check(ctx, req); resp.GetOkResponse() == nil {
		b.Fatalf("not allowed: %v", resp)
	}
	b.ReportAllocs()
	for b.Loop() {
		f.svc.Check(ctx, req)
	}
}

// BenchmarkCheckDenied is a Check refused for a wrong signature (the
// canonical request is echoed in the message).
func BenchmarkCheckDenied(b *testing.B) {
	f := newFixture(b)
	f.svc.tables.Load().snap.Settings.Lockout.Enabled = false
	hr, raw := signWithSDK(b, sdkRequest{method: "GET", path: "/items/1"}, appKey, "wrong-secret-123")
	req := envoyCheck(hr, raw, "shop/items", "RELEASE")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		f.svc.Check(ctx, req)
	}
}

// BenchmarkCheckTokenCached is a whole Check of a token request whose
// verification is cached (a client reusing its token).
func BenchmarkCheckTokenCached(b *testing.B) {
	a := newAccessFixture(b, 0)
	tok := a.jwt(b, map[string]any{"iss": "https://id.example.com", "aud": "apigw", "sub": "alice", "domain": "good", "exp": time.Now().Add(time.Hour).Unix()})
	req := plain("g/tok", "10.0.0.1", "https", map[string]string{"X-Auth-Token": tok})
	ctx := context.Background()
	if resp, _ := a.svc.Check(ctx, req); resp.GetOkResponse() == nil {
		b.Fatalf("not allowed: %v", resp)
	}
	b.ReportAllocs()
	for b.Loop() {
		a.svc.Check(ctx, req)
	}
}

// BenchmarkCheckAppAuthBody64KiB is BenchmarkCheckAppAuth with a 64 KiB
// body, sent as raw_body (pack_as_bytes, what apigw's Envoy configuration
// sets) and as the string field body (pack_as_bytes off).
func BenchmarkCheckAppAuthBody64KiB(b *testing.B) {
	f := newFixture(b)
	body := map[string]string{"data": strings.Repeat("x", 64<<10-12)}
	hr, raw := signWithSDK(b, sdkRequest{method: "POST", path: "/items/1", query: map[string]any{"a": "1"},
		headers: map[string]string{"Content-Type": "application/json", "X-Trace": "t"}, body: body}, appKey, appSecret)
	for _, form := range []string{"raw_body", "body"} {
		b.Run(form, func(b *testing.B) {
			req := envoyCheck(hr, raw, "shop/items", "RELEASE")
			if form == "body" {
				h := req.Attributes.Request.Http
				h.Body, h.RawBody = string(h.RawBody), nil
			}
			ctx := context.Background()
			if resp, _ := f.svc.Check(ctx, req); resp.GetOkResponse() == nil {
				b.Fatalf("not allowed: %v", resp)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				f.svc.Check(ctx, req)
			}
		})
	}
}
