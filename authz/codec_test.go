package authz

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/apigwio/apigw/internal/apigerr"
	"github.com/apigwio/apigw/internal/grpccodec"
)

// codecCases are real Check answers: allowed (app-signed, IAM-signed,
// auth none, token, with x-apig- headers to remove) and refused (wrong
// signature, unknown key, unknown API, bad token).
func codecCases(t testing.TB) map[string]*authv3.CheckResponse {
	f := newFixture(t)
	a := newAccessFixture(t, 0)
	ctx := context.Background()
	body := map[string]string{"data": strings.Repeat("x", 1024-12)}
	check := func(s *Service, req *authv3.CheckRequest) *authv3.CheckResponse {
		resp, err := s.Check(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	hr, raw := signWithSDK(t, sdkRequest{method: "POST", path: "/items/1", query: map[string]any{"a": "1"},
		headers: map[string]string{"Content-Type": "application/json", "X-Apig-Forged": "x", "X-Trace": "t"}, body: body}, appKey, appSecret)
	app := envoyCheck(hr, raw, "shop/items", "RELEASE")
	hr, raw = signWithSDK(t, sdkRequest{method: "POST", path: "/orders"}, iamAK, iamSK)
	iam := envoyCheck(hr, raw, "shop/orders", "RELEASE")
	hr, raw = signWithSDK(t, sdkRequest{method: "GET", path: "/items/1"}, appKey, "wrong-secret-123")
	wrong := envoyCheck(hr, raw, "shop/items", "RELEASE")
	hr, raw = signWithSDK(t, sdkRequest{method: "GET", path: "/items/1"}, "no-such-key", "whatever-secret")
	unknown := envoyCheck(hr, raw, "shop/items", "RELEASE")
	tok := a.jwt(t, map[string]any{"iss": "https://id.example.com", "aud": "apigw", "sub": "alice", "domain": "good", "exp": time.Now().Add(time.Hour).Unix()})
	return map[string]*authv3.CheckResponse{
		"app-signed":   check(f.svc, app),
		"iam-signed":   check(f.svc, iam),
		"auth none":    check(f.svc, plain("shop/open", "10.0.0.1", "https", map[string]string{"X-Apig-Appcode": "c", "X-Apig-Other": "o"})),
		"wrong secret": check(f.svc, wrong),
		"unknown key":  check(f.svc, unknown),
		"unknown API":  check(f.svc, plain("shop/none", "10.0.0.1", "https", nil)),
		"token":        check(a.svc, plain("g/tok", "10.0.0.1", "https", map[string]string{"X-Auth-Token": tok})),
		"bad token":    check(a.svc, plain("g/tok", "10.0.0.1", "https", map[string]string{"X-Auth-Token": tok + "x"})),
		"internal":     InternalErrorResponse(app),
		"empty":        {},
		"status only":  {Status: okStatus},
		"nil ok":       {HttpResponse: &authv3.CheckResponse_OkResponse{}},
		"error":        {HttpResponse: &authv3.CheckResponse_ErrorResponse{ErrorResponse: denied(apigerr.New(apigerr.InternalError), apigerr.APIG, "r").GetDeniedResponse()}},
		// Statuses the codec writes itself (code and message) and leaves
		// to proto.Marshal (details, unknown fields).
		"negative status code": {Status: &status.Status{Code: -7, Message: "m\u00e9"}},
		"status with details":  {Status: &status.Status{Code: 3, Details: []*anypb.Any{{TypeUrl: "type.googleapis.com/x", Value: []byte{1}}}}},
		"status unknown field": func() *authv3.CheckResponse {
			st := &status.Status{Code: 7, Message: "APIG.0301"}
			st.ProtoReflect().SetUnknown(protoreflect.RawFields{0xf8, 0x01, 0x01})
			return &authv3.CheckResponse{Status: st}
		}(),
		"unknown field": func() *authv3.CheckResponse {
			r := proto.Clone(check(f.svc, app)).(*authv3.CheckResponse)
			r.ProtoReflect().SetUnknown(protoreflect.RawFields{0xf8, 0x01, 0x01})
			return r
		}(),
	}
}

// TestCheckCodecBytes: the server's codec writes what proto.Marshal writes
// for every real Check answer, and decodes requests as proto.Unmarshal.
// Map entries (dynamic metadata's Struct fields) come in Go's random map
// order from both encoders, so a response with a map of several entries is
// compared entry-order-insensitively (same length, decodes to an equal
// message); every other response byte for byte.
func TestCheckCodecBytes(t *testing.T) {
	if !grpccodec.VT() {
		t.Log("built without -tags vtprotobuf: the codec is grpc-go's proto codec")
	}
	c := grpccodec.New()
	exact := 0
	cases := codecCases(t)
	if cases["app-signed"].GetOkResponse() == nil || cases["token"].GetOkResponse() == nil || cases["wrong secret"].GetDeniedResponse() == nil {
		t.Fatal("the table's requests did not get the answers it means to test")
	}
	for name, resp := range cases {
		want, err := proto.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		data, err := c.Marshal(resp)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := data.Materialize()
		data.Free()
		if bytes.Equal(got, want) {
			exact++
			continue
		}
		back := &authv3.CheckResponse{}
		if err := proto.Unmarshal(got, back); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(got) != len(want) || !proto.Equal(back, resp) || len(resp.GetDynamicMetadata().GetFields()) < 2 {
			t.Errorf("%s: codec wrote\n%x\nproto.Marshal\n%x", name, got, want)
		}
	}
	t.Logf("%d of %d answers byte-identical, the others in another map order", exact, len(cases))
	// A status message that is not UTF-8: refused by both.
	bad := &authv3.CheckResponse{Status: &status.Status{Code: 7, Message: "\xff"}}
	if _, err := proto.Marshal(bad); err == nil {
		t.Fatal("proto.Marshal wrote an invalid UTF-8 status message")
	}
	if _, err := c.Marshal(bad); err == nil && grpccodec.VT() {
		t.Error("the codec wrote an invalid UTF-8 status message")
	}
	// Requests: decoded as proto.Unmarshal decodes them.
	hr, raw := signWithSDK(t, sdkRequest{method: "POST", path: "/items/1", headers: map[string]string{"Content-Type": "application/json"}, body: map[string]string{"a": "b"}}, appKey, appSecret)
	req := envoyCheck(hr, raw, "shop/items", "RELEASE")
	enc, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	got := &authv3.CheckRequest{}
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(enc)}, got); err != nil {
		t.Fatal(err)
	}
	want := &authv3.CheckRequest{}
	if err := proto.Unmarshal(enc, want); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, want) || !proto.Equal(got, req) {
		t.Errorf("decoded %v, want %v", got, want)
	}
}

// BenchmarkCheckResponseMarshal encodes answers — the app-signed allow,
// the auth-none allow, a denial — with proto.Marshal and with the server's
// codec.
func BenchmarkCheckResponseMarshal(b *testing.B) {
	cases := codecCases(b)
	c := grpccodec.New()
	for _, name := range []string{"app-signed", "auth none", "wrong secret"} {
		resp := cases[name]
		name = strings.ReplaceAll(name, " ", "_")
		b.Run(name+"/proto", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := proto.Marshal(resp); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/codec", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				d, err := c.Marshal(resp)
				if err != nil {
					b.Fatal(err)
				}
				d.Free()
			}
		})
	}
}
