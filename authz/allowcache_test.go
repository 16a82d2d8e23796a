package authz

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/proto"

	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/grpccodec"
	"github.com/apigwio/apigw/internal/model"
)

// checkBoth answers req with Check and with CheckEncoded (twice: the
// second answer may come from the cache) and fails t unless all three are
// the same answer — byte for byte, or, with several metadata entries
// (random map order in every encoder), the same length and message. It
// reports whether CheckEncoded answered with an encoding.
func checkBoth(t *testing.T, s *Service, req *authv3.CheckRequest) (*authv3.CheckResponse, bool) {
	t.Helper()
	ctx := context.Background()
	want, err := s.Check(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	data, err := grpccodec.New().Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	wantBytes := data.Materialize()
	encoded := false
	for range 2 {
		v, err := s.CheckEncoded(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		var got []byte
		switch v := v.(type) {
		case *authv3.CheckResponse:
			d, err := grpccodec.New().Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			got = d.Materialize()
		case *grpccodec.Encoded:
			encoded = true
			d, err := grpccodec.New().Marshal(v) // what the server sends
			if err != nil {
				t.Fatal(err)
			}
			got = d.Materialize()
			if !bytes.Equal(got, v.Bytes()) {
				t.Fatal("the codec did not send an encoded answer as it is")
			}
		default:
			t.Fatalf("CheckEncoded answered %T", v)
		}
		back := &authv3.CheckResponse{}
		if err := proto.Unmarshal(got, back); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(back, want) || len(got) != len(wantBytes) ||
			!bytes.Equal(got, wantBytes) && len(want.GetDynamicMetadata().GetFields()) < 2 {
			t.Fatalf("CheckEncoded answered\n%v\nCheck\n%v", back, want)
		}
	}
	return want, encoded
}

// TestAllowEncoded: CheckEncoded answers every request as Check does, and
// with an encoding exactly for the allows that depend only on the
// deployment and the caller.
func TestAllowEncoded(t *testing.T) {
	f := newFixture(t)
	a := newAccessFixture(t, 0)
	hr, raw := signWithSDK(t, sdkRequest{method: "POST", path: "/items/1", query: map[string]any{"a": "1"},
		headers: map[string]string{"Content-Type": "application/json", "X-Trace": "t"}, body: map[string]string{"a": "b"}}, appKey, appSecret)
	app := envoyCheck(hr, raw, "shop/items", "RELEASE")
	hr, raw = signWithSDK(t, sdkRequest{method: "POST", path: "/items/1", headers: map[string]string{"X-Apig-Forged": "x"}}, appKey, appSecret)
	forged := envoyCheck(hr, raw, "shop/items", "RELEASE")
	hr, raw = signWithSDK(t, sdkRequest{method: "POST", path: "/orders"}, iamAK, iamSK)
	iam := envoyCheck(hr, raw, "shop/orders", "RELEASE")
	hr, raw = signWithSDK(t, sdkRequest{method: "GET", path: "/items/1"}, appKey, "wrong-secret-123")
	wrong := envoyCheck(hr, raw, "shop/items", "RELEASE")
	tok := a.jwt(t, map[string]any{"iss": "https://id.example.com", "aud": "apigw", "sub": "alice", "domain": "good", "exp": time.Now().Add(time.Hour).Unix()})
	for _, c := range []struct {
		name    string
		s       *Service
		req     *authv3.CheckRequest
		allowed bool
		encoded bool
	}{
		{"app-signed", f.svc, app, true, true},
		{"app-signed, x-apig- header to remove", f.svc, forged, true, false},
		{"iam-signed", f.svc, iam, true, true},
		{"auth none", f.svc, plain("shop/open", "10.0.0.1", "https", nil), true, true},
		{"auth none, x-apig- headers to remove", f.svc, plain("shop/open", "10.0.0.1", "https", map[string]string{"X-Apig-Appcode": "c", "X-Apig-Other": "o"}), true, false},
		{"token (a caller per request)", a.svc, plain("g/tok", "10.0.0.1", "https", map[string]string{"X-Auth-Token": tok}), true, false},
		{"wrong secret", f.svc, wrong, false, false},
		{"unknown API", f.svc, plain("shop/none", "10.0.0.1", "https", nil), false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, encoded := checkBoth(t, c.s, c.req)
			if (resp.GetOkResponse() != nil) != c.allowed || encoded != c.encoded {
				t.Errorf("allowed %v, encoded %v; want %v, %v: %v", resp.GetOkResponse() != nil, encoded, c.allowed, c.encoded, resp)
			}
		})
	}
}

const allowCacheConfig = `
groups:
  - name: shop
    apis:
      - {name: items, method: ANY, path: /items/, match: prefix, auth: app, backend: {url: "http://10.0.0.1:8080"}}
      - {name: hidden, method: ANY, path: /hidden/, match: prefix, auth: app, hide_credentials: true, backend: {url: "http://10.0.0.1:8080"}}
apps:
  - {name: APPONE, key: ` + appKey + `, secret: {value: ` + appSecret + `}, grants: [{api: shop/*}]}
  - {name: apptwo, key: app-key-0002, secret: {value: app-secret-0002-abcdef}, grants: [{api: shop/*}]}
`

// TestAllowEncodedNotStale: an encoded allow is never another caller's,
// another request's or another configuration's: two apps calling the same
// API in turn get their own answers; a request with an x-apig- header
// after a cached allow gets the header removed; after a reload that
// renames an app, the answer names the new app; hide_credentials is never
// cached.
func TestAllowEncodedNotStale(t *testing.T) {
	snapshot := func(cfg string) *model.Snapshot {
		t.Helper()
		snap, err := config.Load("test", []byte(cfg), config.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return snap
	}
	s := mustNew(t, snapshot(allowCacheConfig), Options{Now: func() time.Time { return testNow }})
	sign := func(path, key, secret string, headers map[string]string) *authv3.CheckRequest {
		hr, raw := signWithSDK(t, sdkRequest{method: "GET", path: path, headers: headers}, key, secret)
		return envoyCheck(hr, raw, "shop/"+strings.Split(path, "/")[1], "RELEASE")
	}
	one := sign("/items/1", appKey, appSecret, nil)
	two := sign("/items/1", "app-key-0002", "app-secret-0002-abcdef", nil)
	names := func(resp *authv3.CheckResponse) string {
		var vs []string
		for _, h := range resp.GetOkResponse().GetHeaders() {
			vs = append(vs, h.GetHeader().GetValue())
		}
		for _, v := range resp.GetDynamicMetadata().GetFields() {
			vs = append(vs, v.GetStringValue())
		}
		return strings.Join(vs, " ")
	}
	for range 3 {
		r1, enc1 := checkBoth(t, s, one)
		r2, enc2 := checkBoth(t, s, two)
		if !enc1 || !enc2 || !strings.Contains(names(r1), "APPONE") || !strings.Contains(names(r2), "apptwo") {
			t.Fatalf("answers %q (encoded %v), %q (encoded %v)", names(r1), enc1, names(r2), enc2)
		}
	}
	// The cached answer removes nothing: the requests sent no x-apig-*
	// header.
	if r1, _ := checkBoth(t, s, one); len(r1.GetOkResponse().GetHeadersToRemove()) != 0 {
		t.Fatalf("the plain request's answer removes %v", r1.GetOkResponse().GetHeadersToRemove())
	}
	// The same caller and API, a header to remove (one of the gateway's
	// namespace, or an identity header the app caller does not set): not
	// the cached answer.
	for _, h := range []string{"X-Apig-Forged", "X-Apig-User-Id"} {
		forged := sign("/items/1", appKey, appSecret, map[string]string{h: "x"})
		if resp, enc := checkBoth(t, s, forged); enc || !slices.Equal(resp.GetOkResponse().GetHeadersToRemove(), []string{strings.ToLower(h)}) {
			t.Fatalf("%s not removed (encoded %v): %v", h, enc, resp)
		}
	}
	if _, enc := checkBoth(t, s, one); !enc {
		t.Fatal("the plain request is no longer answered encoded")
	}
	// hide_credentials removes the request's own credential header.
	if resp, enc := checkBoth(t, s, sign("/hidden/1", appKey, appSecret, nil)); enc || !slices.Contains(resp.GetOkResponse().GetHeadersToRemove(), "authorization") {
		t.Fatalf("hide_credentials (encoded %v): %v", enc, resp)
	}
	// A reload: the app renamed.
	if err := s.Update(context.Background(), snapshot(strings.Replace(allowCacheConfig, "APPONE", "APPRENAMED", 1))); err != nil {
		t.Fatal(err)
	}
	if r, enc := checkBoth(t, s, one); !enc || strings.Contains(names(r), "APPONE") || !strings.Contains(names(r), "APPRENAMED") {
		t.Fatalf("after the reload: %q (encoded %v)", names(r), enc)
	}
}
