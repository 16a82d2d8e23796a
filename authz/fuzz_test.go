package authz

import (
	"context"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/apigwio/apigw/internal/model"
)

// FuzzCheck feeds arbitrary request parts to Check: it must answer every
// one with an OK or a denial carrying an APIG body, never panic.
func FuzzCheck(f *testing.F) {
	f.Add("GET", "/items/1?a=b", "SDK-HMAC-SHA256 Access="+appKey+", SignedHeaders=host;x-sdk-date, Signature=00", testDate, "shop/items", "")
	f.Add("POST", "/orders", "SDK-HMAC-SHA256 Access="+iamAK+", SignedHeaders=x-sdk-date, Signature=zz", "garbage", "shop/orders", "{}")
	f.Add("", "", "", "", "", "")
	f.Add("GET", "/%zz/%/?&&==", "V11-HMAC-SHA256 Credential=a/b/c/d, SignedHeaders=;;, Signature=", "20221208T015751Z", "shop/items", "\xff")
	fx := newFixture(f)
	f.Fuzz(func(t *testing.T, method, path, authorization, date, api, body string) {
		req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			ContextExtensions: map[string]string{model.ContextKeyAPI: api, model.ContextKeyEnv: "RELEASE"},
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Method: method, Path: path, Host: testHost, RawBody: []byte(body),
				Headers: map[string]string{"authorization": authorization, "x-sdk-date": date, "host": testHost},
			}},
		}}
		resp, err := fx.svc.Check(context.Background(), req)
		if err != nil || resp == nil {
			t.Fatalf("Check error %v", err)
		}
		if resp.GetOkResponse() == nil && resp.GetDeniedResponse().GetBody() == "" {
			t.Fatalf("neither OK nor a denial with a body: %v", resp)
		}
	})
}
