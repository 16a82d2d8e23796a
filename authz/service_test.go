package authz

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/signer"
	sdkrequest "github.com/huaweicloud/huaweicloud-sdk-go-v3/core/request"

	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/model"
)

type order struct {
	Item  string `json:"item"`
	Count int    `json:"count"`
}

func TestSDKSignedRequestsAreAccepted(t *testing.T) {
	tests := []struct {
		name    string
		req     sdkRequest
		ak, sk  string
		api     string
		env     string
		headers map[string]string
	}{
		{"app GET with query", sdkRequest{method: "GET", path: "/items/42", query: map[string]any{"q": "a b", "tag": []string{"x", "y"}, "n": 1}},
			appKey, appSecret, "shop/items", "RELEASE",
			map[string]string{model.HeaderAppID: "shopper", model.HeaderAppKey: appKey, model.HeaderAPIID: "shop/items", model.HeaderStage: "RELEASE"}},
		{"app unicode path and query in BETA", sdkRequest{method: "GET", path: "/items/日本/a b", query: map[string]any{"name": "一 (&=?!#%.*)"}},
			appKey, appSecret, "shop/items", "BETA",
			map[string]string{model.HeaderAppID: "shopper", model.HeaderStage: "BETA"}},
		{"app PUT JSON body with extra header", sdkRequest{method: "PUT", path: "/items/7", headers: map[string]string{"Content-Type": "application/json", "X-Project-Id": "p1"}, body: &order{"book", 2}},
			appKey, appSecret, "shop/items", "RELEASE",
			map[string]string{model.HeaderAppID: "shopper"}},
		{"app non-JSON body is UNSIGNED-PAYLOAD", sdkRequest{method: "POST", path: "/items/", headers: map[string]string{"Content-Type": "text/plain"}, body: "free text"},
			appKey, appSecret, "shop/items", "RELEASE",
			map[string]string{model.HeaderAppID: "shopper"}},
		{"iam POST JSON", sdkRequest{method: "POST", path: "/orders", headers: map[string]string{"Content-Type": "application/json;charset=utf-8"}, body: &order{"pen", 3}},
			iamAK, iamSK, "shop/orders", "RELEASE",
			map[string]string{model.HeaderUserID: "alice", model.HeaderAccount: "acme", model.HeaderAccessKey: iamAK, model.HeaderAPIID: "shop/orders"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			hr, body := signWithSDK(t, tt.req, tt.ak, tt.sk)
			status, deny, resp := f.check(t, envoyCheck(hr, body, tt.api, tt.env))
			if status != 200 {
				t.Fatalf("status %d %+v", status, deny)
			}
			got := upstreamHeaders(resp)
			for k, v := range tt.headers {
				if got[k] != v {
					t.Errorf("upstream header %s = %q, want %q (all: %v)", k, got[k], v, got)
				}
			}
			// No rate limit reads the identity here (TestIdentityMetadata).
			if md := resp.GetDynamicMetadata(); md != nil {
				t.Errorf("dynamic metadata on an unthrottled API: %v", md)
			}
		})
	}
}

// TestSDKVariants: the SM3 and derived-key (V11) signers of the official SDK
// go through Check as well.
func TestSDKVariants(t *testing.T) {
	req := sdkRequest{method: "POST", path: "/items/5", query: map[string]any{"x": "y z"}, headers: map[string]string{"Content-Type": "application/json"}, body: &order{"cup", 1}}
	tests := []struct {
		name string
		sign func(*sdkrequest.DefaultHttpRequest) (map[string]string, error)
	}{
		{"SDK-HMAC-SM3", func(r *sdkrequest.DefaultHttpRequest) (map[string]string, error) {
			return signer.SM3Signer{}.Sign(r, appKey, appSecret)
		}},
		{"V11-HMAC-SHA256", func(r *sdkrequest.DefaultHttpRequest) (map[string]string, error) {
			return signer.DerivedSigner{}.Sign(r, appKey, appSecret, "apig", "region-1")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			hr, body := signWith(t, req, tt.sign)
			if !strings.HasPrefix(hr.Header.Get("Authorization"), tt.name+" ") {
				t.Fatalf("SDK did not sign with %s: %s", tt.name, hr.Header.Get("Authorization"))
			}
			check := envoyCheck(hr, body, "shop/items", "RELEASE")
			if status, d, _ := f.check(t, check); status != 200 {
				t.Fatalf("%s request refused: %+v", tt.name, d)
			}
			check.Attributes.Request.Http.RawBody = []byte(`{"item":"mug","count":1}` + "\n")
			if status, d, _ := f.check(t, check); status != 401 || d.Code != "APIG.0303" {
				t.Fatalf("%s tampered body not refused: %d %+v", tt.name, status, d)
			}
		})
	}
}

func TestTamperedRequestsAreRejected(t *testing.T) {
	base := sdkRequest{method: "POST", path: "/items/7", query: map[string]any{"a": "1"},
		headers: map[string]string{"Content-Type": "application/json", "X-Trace": "t1"}, body: &order{"book", 2}}
	tests := []struct {
		name   string
		tamper func(c *authv3.CheckRequest)
		msg    string
	}{
		{"method", func(c *authv3.CheckRequest) { c.Attributes.Request.Http.Method = "PUT" }, "verify signature fail, canonicalRequest:PUT|/items/7/|a=1|"},
		{"path", func(c *authv3.CheckRequest) { c.Attributes.Request.Http.Path = "/items/8?a=1" }, "verify signature fail, canonicalRequest:POST|/items/8/|a=1|"},
		{"query", func(c *authv3.CheckRequest) { c.Attributes.Request.Http.Path = "/items/7?a=2" }, "verify signature fail, canonicalRequest:POST|/items/7/|a=2|"},
		{"signed header", func(c *authv3.CheckRequest) { c.Attributes.Request.Http.Headers["x-trace"] = "t2" }, "x-trace:t2|"},
		{"body", func(c *authv3.CheckRequest) {
			c.Attributes.Request.Http.RawBody = []byte(`{"item":"book","count":9}` + "\n")
		}, "verify signature fail, canonicalRequest:"},
		{"date within skew", func(c *authv3.CheckRequest) { c.Attributes.Request.Http.Headers["x-sdk-date"] = "20221208T015752Z" }, "x-sdk-date:20221208T015752Z|"},
		{"date outside skew", func(c *authv3.CheckRequest) { c.Attributes.Request.Http.Headers["x-sdk-date"] = "20221208T021252Z" },
			"signature expired, signature time:20221208T021252Z,server time:20221208T015751Z"},
		{"signed header removed", func(c *authv3.CheckRequest) { delete(c.Attributes.Request.Http.Headers, "x-trace") }, "x-trace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			hr, body := signWithSDK(t, base, appKey, appSecret)
			req := envoyCheck(hr, body, "shop/items", "RELEASE")
			if status, d, _ := f.check(t, req); status != 200 {
				t.Fatalf("untampered request refused: %d %+v", status, d)
			}
			tt.tamper(req)
			status, d, _ := f.check(t, req)
			if status != 401 || d.Code != "APIG.0303" || d.RequestID != "req-123" {
				t.Fatalf("got %d %+v, want 401 APIG.0303", status, d)
			}
			if !strings.HasPrefix(d.Msg, "Incorrect app authentication information: ") || !strings.Contains(d.Msg, tt.msg) {
				t.Errorf("message %q does not contain %q", d.Msg, tt.msg)
			}
			if strings.Contains(d.Msg, appSecret) {
				t.Error("secret in message")
			}
		})
	}
}

func TestDenialMessages(t *testing.T) {
	f := newFixture(t)
	signed := func(r sdkRequest, ak, sk, api string) *authv3.CheckRequest {
		hr, body := signWithSDK(t, r, ak, sk)
		return envoyCheck(hr, body, api, "RELEASE")
	}
	get := sdkRequest{method: "GET", path: "/items/1"}
	tests := []struct {
		name   string
		req    *authv3.CheckRequest
		status int
		code   string
		msg    string
	}{
		{"no context extensions", func() *authv3.CheckRequest {
			r := signed(get, appKey, appSecret, "shop/items")
			r.Attributes.ContextExtensions = nil
			return r
		}(), 404, "APIG.0101", "The API does not exist or has not been published in the environment."},
		{"unknown API", signed(get, appKey, appSecret, "shop/nope"), 404, "APIG.0101", "The API does not exist or has not been published in the environment."},
		{"not published in env", func() *authv3.CheckRequest {
			r := signed(sdkRequest{method: "POST", path: "/orders"}, iamAK, iamSK, "shop/orders")
			r.Attributes.ContextExtensions[model.ContextKeyEnv] = "BETA"
			return r
		}(), 404, "APIG.0101", "The API does not exist or has not been published in the environment."},
		{"unknown app key", signed(get, "nosuchkey", appSecret, "shop/items"), 401, "APIG.0303", "Incorrect app authentication information: app not found, appkey nosuchkey"},
		{"unknown AK", signed(sdkRequest{method: "POST", path: "/orders"}, "NOSUCHAK", iamSK, "shop/orders"), 401, "APIG.0301",
			"Incorrect IAM authentication information: Get secretKey failed,ak:NOSUCHAK,err:ak not exist"},
		{"IAM wrong secret", signed(sdkRequest{method: "POST", path: "/orders"}, iamAK, "wrong-secret-000", "shop/orders"), 401, "APIG.0301",
			"Incorrect IAM authentication information: verify aksk signature fail, canonicalRequest:POST|/orders/||x-sdk-date:20221208T015751Z||x-sdk-date|e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"app key on IAM API", signed(sdkRequest{method: "POST", path: "/orders"}, appKey, appSecret, "shop/orders"), 401, "APIG.0301",
			"Incorrect IAM authentication information: Get secretKey failed,ak:" + appKey + ",err:ak not exist"},
		{"app not granted", signed(sdkRequest{method: "GET", path: "/secret"}, appKey, appSecret, "shop/secret"), 403, "APIG.0304", "The app is not authorized to access the API."},
		{"missing authorization", func() *authv3.CheckRequest {
			r := signed(get, appKey, appSecret, "shop/items")
			delete(r.Attributes.Request.Http.Headers, "authorization")
			return r
		}(), 401, "APIG.0303", "Incorrect app authentication information: Authorization not found"},
		{"URI too long", func() *authv3.CheckRequest {
			r := signed(get, appKey, appSecret, "shop/items")
			r.Attributes.Request.Http.Path = "/items/" + strings.Repeat("a", 1024)
			return r
		}(), 414, "APIG.0201", "Request URI too large."},
		{"declared body too large", func() *authv3.CheckRequest {
			r := signed(get, appKey, appSecret, "shop/items")
			r.Attributes.Request.Http.Headers["content-length"] = fmt.Sprint(1<<20 + 1)
			return r
		}(), 413, "APIG.0201", "Request entity too large."},
		{"bad content length", func() *authv3.CheckRequest {
			r := signed(get, appKey, appSecret, "shop/items")
			r.Attributes.Request.Http.Headers["content-length"] = "12x"
			return r
		}(), 400, "APIG.0201", "API request error: invalid Content-Length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, d, _ := f.check(t, tt.req)
			if status != tt.status || d.Code != tt.code || d.Msg != tt.msg {
				t.Errorf("got %d %s %q\nwant %d %s %q", status, d.Code, d.Msg, tt.status, tt.code, tt.msg)
			}
		})
	}
}

func TestMalformedAuthorization(t *testing.T) {
	f := newFixture(t)
	hr, body := signWithSDK(t, sdkRequest{method: "GET", path: "/items/1"}, appKey, appSecret)
	valid := hr.Header.Get("Authorization")
	tests := []struct{ name, value, want string }{
		{"garbage", "garbage", "unsupported signature algorithm: garbage"},
		{"unknown algorithm", "AWS4-HMAC-SHA256 Credential=x, SignedHeaders=host, Signature=00", "unsupported signature algorithm: AWS4-HMAC-SHA256"},
		{"missing signature", strings.Split(valid, ", Signature=")[0], "Authorization format incorrect"},
		{"duplicate parameter", valid + ", Signature=" + strings.Repeat("0", 64), "Authorization format incorrect"},
		{"non-hex signature", strings.Split(valid, "Signature=")[0] + "Signature=" + strings.Repeat("z", 64), "Authorization format incorrect"},
		{"date not signed", "SDK-HMAC-SHA256 Access=" + appKey + ", SignedHeaders=host, Signature=" + strings.Repeat("0", 64), "x-sdk-date"},
		{"huge header", "SDK-HMAC-SHA256 Access=" + strings.Repeat("A", 100000), "Authorization format incorrect"},
		{"non-utf8", "SDK-HMAC-SHA256 Access=\xff\xfe, SignedHeaders=x-sdk-date, Signature=" + strings.Repeat("0", 64), "app not found, appkey ??"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := envoyCheck(hr, body, "shop/items", "RELEASE")
			req.Attributes.Request.Http.Headers["authorization"] = tt.value
			status, d, resp := f.check(t, req)
			if status != 401 || d.Code != "APIG.0303" || !strings.Contains(d.Msg, tt.want) {
				t.Errorf("got %d %s %q, want 401 APIG.0303 containing %q", status, d.Code, d.Msg, tt.want)
			}
			if len(resp.GetDeniedResponse().GetBody()) > 4096 {
				t.Errorf("denial body is %d bytes: client input must be clipped", len(resp.GetDeniedResponse().GetBody()))
			}
		})
	}
}

func TestMissingDate(t *testing.T) {
	f := newFixture(t)
	hr, body := signWithSDK(t, sdkRequest{method: "GET", path: "/items/1"}, appKey, appSecret)
	req := envoyCheck(hr, body, "shop/items", "RELEASE")
	delete(req.Attributes.Request.Http.Headers, "x-sdk-date")
	status, d, _ := f.check(t, req)
	if status != 401 || d.Code != "APIG.0303" || !strings.Contains(strings.ToLower(d.Msg), "x-sdk-date") {
		t.Errorf("got %d %+v", status, d)
	}
}

func TestLockout(t *testing.T) {
	f := newFixture(t)
	good, gbody := signWithSDK(t, sdkRequest{method: "GET", path: "/items/1"}, appKey, appSecret)
	bad, bbody := signWithSDK(t, sdkRequest{method: "GET", path: "/items/1"}, appKey, "wrong-secret-xyz")
	const locked = "Incorrect app authentication information: AK access failed to reach the limit,forbidden"
	for i := 1; i <= 5; i++ {
		status, d, _ := f.check(t, envoyCheck(bad, bbody, "shop/items", "RELEASE"))
		if status != 401 || !strings.Contains(d.Msg, "verify signature fail") {
			t.Fatalf("failure %d: %d %q", i, status, d.Msg)
		}
	}
	// A success in between resets the count.
	if status, d, _ := f.check(t, envoyCheck(good, gbody, "shop/items", "RELEASE")); status != 200 {
		t.Fatalf("good request refused before lock: %+v", d)
	}
	for i := 1; i <= 5; i++ {
		if _, d, _ := f.check(t, envoyCheck(bad, bbody, "shop/items", "RELEASE")); d.Msg == locked {
			t.Fatalf("locked after %d failures following a success", i)
		}
	}
	if _, d, _ := f.check(t, envoyCheck(bad, bbody, "shop/items", "RELEASE")); d.Msg != locked {
		t.Fatalf("6th consecutive failure: %q, want the lockout message", d.Msg)
	}
	// Locked: even a correct signature is refused.
	if status, d, _ := f.check(t, envoyCheck(good, gbody, "shop/items", "RELEASE")); status != 401 || d.Msg != locked {
		t.Fatalf("correct signature during lock: %d %q", status, d.Msg)
	}
	// The IAM key is not affected.
	iam, ibody := signWithSDK(t, sdkRequest{method: "POST", path: "/orders"}, iamAK, iamSK)
	if status, d, _ := f.check(t, envoyCheck(iam, ibody, "shop/orders", "RELEASE")); status != 200 {
		t.Fatalf("another key refused: %+v", d)
	}
	// After five minutes the lock is gone (the signature date moves too).
	f.now = f.now.Add(5*time.Minute + time.Second)
	later, lbody := signWithSDK(t, sdkRequest{method: "GET", path: "/items/1", date: f.now.Format("20060102T150405Z")}, appKey, appSecret)
	if status, d, _ := f.check(t, envoyCheck(later, lbody, "shop/items", "RELEASE")); status != 200 {
		t.Fatalf("still locked after 5 minutes: %+v", d)
	}
}

func TestLockoutDisabled(t *testing.T) {
	snap, err := config.Load("test", []byte(testConfig+"\n"), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	snap.Settings.Lockout.Enabled = false
	f := &fixture{now: testNow, snap: snap}
	f.svc = mustNew(t, snap, Options{Now: func() time.Time { return f.now }})
	bad, bbody := signWithSDK(t, sdkRequest{method: "GET", path: "/items/1"}, appKey, "wrong-secret-xyz")
	for i := 0; i < 10; i++ {
		if _, d, _ := f.check(t, envoyCheck(bad, bbody, "shop/items", "RELEASE")); !strings.Contains(d.Msg, "verify signature fail") {
			t.Fatalf("failure %d with lockout disabled: %q", i+1, d.Msg)
		}
	}
}

func TestAuthNoneAndForgedIdentityHeaders(t *testing.T) {
	f := newFixture(t)
	hr, _ := http.NewRequest("GET", "http://"+testHost+"/open", nil)
	hr.Header.Set("X-Apig-App-Id", "forged")
	hr.Header.Set("X-Apig-User-Id", "forged")
	status, d, resp := f.check(t, envoyCheck(hr, nil, "shop/open", "RELEASE"))
	if status != 200 {
		t.Fatalf("auth none refused: %+v", d)
	}
	// The forged headers are removed; identity headers the client did not
	// send are not named (removing them would change nothing upstream).
	if remove := resp.GetOkResponse().GetHeadersToRemove(); !slices.Equal(remove, []string{model.HeaderAppID, model.HeaderUserID}) {
		t.Errorf("removed %v, want the two forged headers", remove)
	}
	if got := upstreamHeaders(resp)[model.HeaderAPIID]; got != "shop/open" {
		t.Errorf("api id header = %q", got)
	}
	// An app caller gets its own identity set (overwriting a forged one) and
	// the IAM identity headers removed.
	signed, body := signWithSDK(t, sdkRequest{method: "GET", path: "/items/1", headers: map[string]string{"X-Apig-User-Id": "forged"}}, appKey, appSecret)
	_, _, resp = f.check(t, envoyCheck(signed, body, "shop/items", "RELEASE"))
	set := map[string]bool{}
	for _, h := range resp.GetOkResponse().GetHeaders() {
		set[h.GetHeader().GetKey()] = true
		if h.GetAppendAction().String() != "OVERWRITE_IF_EXISTS_OR_ADD" {
			t.Errorf("%s appended instead of overwritten", h.GetHeader().GetKey())
		}
	}
	for _, r := range resp.GetOkResponse().GetHeadersToRemove() {
		if set[r] {
			t.Errorf("%s both set and removed", r)
		}
	}
	if !slices.Contains(resp.GetOkResponse().GetHeadersToRemove(), model.HeaderUserID) {
		t.Error("forged user id not removed for an app caller")
	}
}

func TestHeaderMapEncoding(t *testing.T) {
	// With encode_raw_headers Envoy sends header_map with raw values.
	f := newFixture(t)
	hr, body := signWithSDK(t, sdkRequest{method: "GET", path: "/items/1", headers: map[string]string{"X-Trace": "abc"}}, appKey, appSecret)
	req := envoyCheck(hr, body, "shop/items", "RELEASE")
	h := req.Attributes.Request.Http
	for k, v := range h.Headers {
		h.HeaderMap = appendRawHeader(h.HeaderMap, k, v)
	}
	h.Headers = nil
	if status, d, _ := f.check(t, req); status != 200 {
		t.Fatalf("header_map request refused: %+v", d)
	}
}

func TestUpdateSwapsConfig(t *testing.T) {
	f := newFixture(t)
	hr, body := signWithSDK(t, sdkRequest{method: "GET", path: "/secret"}, appKey, appSecret)
	if status, _, _ := f.check(t, envoyCheck(hr, body, "shop/secret", "RELEASE")); status != 403 {
		t.Fatalf("status %d before grant", status)
	}
	snap := *f.snap
	snap.Apps = map[string]*model.App{appKey: model.NewApp("shopper", appKey, model.NewSecret([]byte(appSecret)), []model.Grant{{API: f.snap.APIs["shop/secret"], Environments: []string{"RELEASE"}}})}
	if err := f.svc.Update(context.Background(), &snap); err != nil {
		t.Fatal(err)
	}
	if status, d, _ := f.check(t, envoyCheck(hr, body, "shop/secret", "RELEASE")); status != 200 {
		t.Fatalf("grant not picked up: %d %+v", status, d)
	}
}
