package authz

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/apigwio/apigw/authz/keypair"
	"github.com/apigwio/apigw/authz/signing"
	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/model"
)

// removed returns the headers an OK response removes upstream.
func removed(resp *authv3.CheckResponse) []string {
	return resp.GetOkResponse().GetHeadersToRemove()
}

// TestForgedGatewayHeadersRemoved: every x-apig-* header a client sends
// that Check does not set itself is removed, whatever the auth type.
func TestForgedGatewayHeadersRemoved(t *testing.T) {
	forged := map[string]string{
		"X-Apig-Context-Role": "admin",
		"X-APIG-Whatever":     "x",
		model.HeaderAPIID:     "other/api", // set by Check: overwritten, not removed
	}
	t.Run("auth none", func(t *testing.T) {
		f := newFixture(t)
		status, d, resp := f.check(t, plain("shop/open", "10.0.0.1", "https", forged))
		if status != 200 {
			t.Fatalf("status %d %+v", status, d)
		}
		rm := removed(resp)
		for _, h := range []string{"x-apig-context-role", "x-apig-whatever"} {
			if !slices.Contains(rm, h) {
				t.Errorf("%s not removed: %v", h, rm)
			}
		}
		if slices.Contains(rm, model.HeaderAPIID) {
			t.Errorf("a header Check sets is also removed: %v", rm)
		}
		if got := upstreamHeaders(resp)[model.HeaderAPIID]; got != "shop/open" {
			t.Errorf("api id header %q", got)
		}
	})
	t.Run("app signed, header_map form", func(t *testing.T) {
		f := newFixture(t)
		hr, body := signWithSDK(t, sdkRequest{method: "GET", path: "/items/1"}, appKey, appSecret)
		req := envoyCheck(hr, body, "shop/items", "RELEASE")
		// The same headers as Envoy's raw header_map, plus a forged one.
		h := req.Attributes.Request.Http
		var m = appendRawHeader(nil, "X-Apig-Context-Role", "admin")
		for k, v := range h.Headers {
			m = appendRawHeader(m, k, v)
		}
		h.Headers = nil
		h.HeaderMap = m
		status, d, resp := f.check(t, req)
		if status != 200 {
			t.Fatalf("status %d %+v", status, d)
		}
		if rm := removed(resp); !slices.Contains(rm, "x-apig-context-role") {
			t.Errorf("forged header not removed: %v", rm)
		}
	})
}

// TestAuthorizerCacheScope: a cached answer is replayed only for the API,
// environment, method and path it was given for, unless the authorizer
// scopes it wider.
func TestAuthorizerCacheScope(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var in authorizerRequest
		_ = json.NewDecoder(r.Body).Decode(&in)
		switch in.Headers["x-token"] {
		case "narrow":
			if in.API != "g/a" {
				w.WriteHeader(http.StatusForbidden)
				return
			}
			fmt.Fprint(w, `{}`)
		case "api":
			fmt.Fprint(w, `{"scope":"api"}`)
		case "all":
			fmt.Fprint(w, `{"scope":"authorizer"}`)
		default:
			w.WriteHeader(http.StatusForbidden)
		}
	}))
	t.Cleanup(srv.Close)
	snap, err := config.Load("az", []byte(fmt.Sprintf(`
authorizers:
  - {name: fn, url: %q, timeout: 500ms, identity_headers: [X-Token], cache_ttl: 1m}
groups:
  - name: g
    apis:
      - {name: a, path: /a, auth: authorizer, authorizer: fn, backend: {url: "http://10.0.0.1"}}
      - {name: b, path: /b, auth: authorizer, authorizer: fn, backend: {url: "http://10.0.0.1"}}
`, srv.URL)), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{now: time.Now(), snap: snap}
	f.svc = mustNew(t, snap, Options{Now: func() time.Time { return f.now }})
	req := func(api, path, tok string) *authv3.CheckRequest {
		r := plain(api, "10.0.0.1", "https", map[string]string{"X-Token": tok})
		r.Attributes.Request.Http.Path = path
		return r
	}
	expect := func(r *authv3.CheckRequest, status int, newCalls int32) {
		t.Helper()
		before := calls.Load()
		got, d, _ := f.check(t, r)
		if got != status {
			t.Errorf("status %d %+v, want %d", got, d, status)
		}
		if n := calls.Load() - before; n != newCalls {
			t.Errorf("%d authorizer calls, want %d", n, newCalls)
		}
	}
	// Default scope: the request.
	expect(req("g/a", "/a", "narrow"), 200, 1)
	expect(req("g/a", "/a", "narrow"), 200, 0)     // cached
	expect(req("g/b", "/b", "narrow"), 401, 1)     // another API: asked
	expect(req("g/a", "/a?x=1", "narrow"), 200, 1) // another path: asked
	// scope api: any path of the API, not another API.
	expect(req("g/a", "/a", "api"), 200, 1)
	expect(req("g/a", "/a?y=2", "api"), 200, 0)
	expect(req("g/b", "/b", "api"), 200, 1)
	// scope authorizer: every API.
	expect(req("g/a", "/a", "all"), 200, 1)
	expect(req("g/b", "/b?z", "all"), 200, 0)
}

// countingObserver counts locks.
type countingObserver struct{ locks atomic.Int32 }

func (*countingObserver) Decision(string, bool, string, time.Duration) {}
func (o *countingObserver) Locked()                                    { o.locks.Add(1) }

// lockoutFixture is the test config with the given lockout scope.
func lockoutFixture(t *testing.T, scope string) (*fixture, *countingObserver) {
	cfg := strings.Replace(testConfig, "lockout: {max_failures: 5, duration: 5m}", "lockout: {max_failures: 5, duration: 5m, scope: "+scope+"}", 1)
	snap, err := config.Load("test", []byte(cfg), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	obs := &countingObserver{}
	f := &fixture{now: testNow, snap: snap}
	f.svc = mustNew(t, snap, Options{Now: func() time.Time { return f.now }, Observer: obs})
	return f, obs
}

// from sets the connection peer of req.
func from(req *authv3.CheckRequest, ip string) *authv3.CheckRequest {
	req.Attributes.Source = &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
		SocketAddress: &corev3.SocketAddress{Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 40000}}}}}
	return req
}

// TestLockoutCountsOnlySignatureComparisons: requests that carry a key but
// never reach the signature comparison (no, malformed or expired date, a
// missing signed header) do not count toward the key's lockout.
func TestLockoutCountsOnlySignatureComparisons(t *testing.T) {
	f, obs := lockoutFixture(t, "key")
	zero := strings.Repeat("0", 64)
	attempts := []map[string]string{
		{"Authorization": "SDK-HMAC-SHA256 Access=" + appKey + ", SignedHeaders=host;x-sdk-date, Signature=" + zero},
		{"Authorization": "SDK-HMAC-SHA256 Access=" + appKey + ", SignedHeaders=host;x-sdk-date, Signature=" + zero, "X-Sdk-Date": "yesterday"},
		{"Authorization": "SDK-HMAC-SHA256 Access=" + appKey + ", SignedHeaders=host;x-sdk-date, Signature=" + zero, "X-Sdk-Date": "20200101T000000Z"},
		{"Authorization": "SDK-HMAC-SHA256 Access=" + appKey + ", SignedHeaders=host;x-sdk-date;x-absent, Signature=" + zero, "X-Sdk-Date": testDate},
	}
	for i := 0; i < 10; i++ {
		for _, h := range attempts {
			hr, _ := http.NewRequest("GET", "http://"+testHost+"/items/1", nil)
			for k, v := range h {
				hr.Header.Set(k, v)
			}
			if status, _, _ := f.check(t, envoyCheck(hr, nil, "shop/items", "RELEASE")); status != 401 {
				t.Fatalf("status %d", status)
			}
		}
	}
	good, gbody := signWithSDK(t, sdkRequest{method: "GET", path: "/items/1"}, appKey, appSecret)
	if status, d, _ := f.check(t, envoyCheck(good, gbody, "shop/items", "RELEASE")); status != 200 {
		t.Fatalf("key locked by requests that compared no signature: %+v", d)
	}
	if n := obs.locks.Load(); n != 0 {
		t.Errorf("%d locks counted", n)
	}
}

// TestLockoutScope: with scope key (the default) failures from one address
// lock the key everywhere; with key_and_ip only for that address. Locks
// are reported to the observer.
func TestLockoutScope(t *testing.T) {
	const locked = "Incorrect app authentication information: AK access failed to reach the limit,forbidden"
	for _, tt := range []struct {
		scope          string
		otherAddressOK bool
	}{{"key", false}, {"key_and_ip", true}} {
		t.Run(tt.scope, func(t *testing.T) {
			f, obs := lockoutFixture(t, tt.scope)
			bad, bbody := signWithSDK(t, sdkRequest{method: "GET", path: "/items/1"}, appKey, "wrong-secret-xyz")
			good, gbody := signWithSDK(t, sdkRequest{method: "GET", path: "/items/1"}, appKey, appSecret)
			for i := 0; i < 6; i++ {
				f.check(t, from(envoyCheck(bad, bbody, "shop/items", "RELEASE"), "192.0.2.1"))
			}
			if _, d, _ := f.check(t, from(envoyCheck(good, gbody, "shop/items", "RELEASE"), "192.0.2.1")); d.Msg != locked {
				t.Fatalf("attacking address not locked: %+v", d)
			}
			status, d, _ := f.check(t, from(envoyCheck(good, gbody, "shop/items", "RELEASE"), "198.51.100.7"))
			if (status == 200) != tt.otherAddressOK {
				t.Fatalf("other address: %d %+v", status, d)
			}
			if n := obs.locks.Load(); n != 1 {
				t.Errorf("%d locks reported, want 1", n)
			}
		})
	}
}

// TestTokenLeewayAndClaims: tokens get the issuer's leeway (default 60 s,
// not the 15-minute signature clock skew); claims with control characters
// never reach upstream headers.
func TestTokenLeewayAndClaims(t *testing.T) {
	a := newAccessFixture(t, 0)
	now := time.Now()
	claims := func(k string, v any) map[string]any {
		c := map[string]any{"iss": "https://id.example.com", "aud": "apigw", "sub": "alice", "domain": "good", "exp": now.Add(time.Hour).Unix()}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	const invalid = "Incorrect IAM authentication information: decrypt token fail"
	tests := []struct {
		name   string
		claims map[string]any
		status int
		code   string
	}{
		{"expired 2 minutes ago", claims("exp", now.Add(-2*time.Minute).Unix()), 401, "APIG.0307"},
		{"expired 30 s ago: within the leeway", claims("exp", now.Add(-30*time.Second).Unix()), 200, ""},
		{"not valid for 2 more minutes", claims("nbf", now.Add(2*time.Minute).Unix()), 401, "APIG.0301"},
		{"no aud while the issuer requires one", claims("aud", nil), 401, "APIG.0301"},
		{"CR LF in the user claim", claims("sub", "alice\r\nX-Apig-App-Id: admin"), 401, "APIG.0301"},
		{"control character in the account claim", claims("domain", "go\x00od"), 401, "APIG.0301"},
		{"DEL in the project claim", claims("project", "p\x7f"), 401, "APIG.0301"},
		{"non-ASCII is fine", claims("sub", "Zoë"), 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, d, _ := a.check(t, plain("g/tok", "10.0.0.1", "https", map[string]string{"X-Auth-Token": a.jwt(t, tt.claims)}))
			if status != tt.status || d.Code != tt.code || (tt.code == "APIG.0301" && d.Msg != invalid) {
				t.Fatalf("got %d %s %q", status, d.Code, d.Msg)
			}
		})
	}
}

// TestHideCredentials: the credential header a request authenticated with
// is removed upstream when hide_credentials is on (by default only for app
// codes).
func TestHideCredentials(t *testing.T) {
	hide := func(api, v string) func(string) string {
		return func(cfg string) string {
			old := "{name: " + api + ", path: /" + api + ","
			if !strings.Contains(cfg, old) {
				t.Fatalf("no API %s", api)
			}
			return strings.Replace(cfg, old, old+" hide_credentials: "+v+",", 1)
		}
	}
	a := newAccessFixture(t, 0, hide("tok", "true"), hide("iam", "true"), hide("codeonly", "false"))
	tok := a.jwt(t, map[string]any{"iss": "https://id.example.com", "aud": "apigw", "sub": "alice", "domain": "good", "exp": time.Now().Add(time.Hour).Unix()})
	iam, _ := signWithSDK(t, sdkRequest{method: "GET", path: "/iam"}, "GOODAK", "good-secret-1")
	iamHeaders := map[string]string{"Authorization": iam.Header.Get("Authorization"), "X-Sdk-Date": testDate}
	code := map[string]string{"X-Apig-AppCode": appCode}
	tests := []struct {
		name    string
		api     string
		path    string
		headers map[string]string
		removed string
		kept    string
	}{
		{"app code, default: hidden", "g/code", "/code", code, "x-apig-appcode", ""},
		{"app code, hide_credentials false: kept", "g/codeonly", "/codeonly", code, "", "x-apig-appcode"},
		{"token in Authorization, hide_credentials true", "g/tok", "/tok", map[string]string{"Authorization": "Bearer " + tok}, "authorization", ""},
		{"token in X-Auth-Token, hide_credentials true", "g/tok", "/tok", map[string]string{"X-Auth-Token": tok, "Authorization": "Basic other"}, "x-auth-token", "authorization"},
		{"iam signature, hide_credentials true", "g/iam", "/iam", iamHeaders, "authorization", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.api == "g/iam" {
				a.now = testNow
			} else {
				a.now = time.Now()
			}
			req := from(plain(tt.api, "192.0.2.9", "https", tt.headers), "192.0.2.9")
			req.Attributes.Request.Http.Path = tt.path
			req.Attributes.Request.Http.Host = testHost
			req.Attributes.Request.Http.Headers[":authority"] = testHost
			req.Attributes.Request.Http.Headers["x-forwarded-proto"] = "https"
			status, d, resp := a.check(t, req)
			if status != 200 {
				t.Fatalf("status %d %+v", status, d)
			}
			rm := removed(resp)
			if tt.removed != "" && !slices.Contains(rm, tt.removed) {
				t.Errorf("%s not removed: %v", tt.removed, rm)
			}
			if tt.kept != "" && slices.Contains(rm, tt.kept) {
				t.Errorf("%s removed: %v", tt.kept, rm)
			}
		})
	}
	// Without hide_credentials the signature's Authorization goes upstream
	// as before.
	f := newFixture(t)
	hr, body := signWithSDK(t, sdkRequest{method: "GET", path: "/items/1"}, appKey, appSecret)
	if _, _, resp := f.check(t, envoyCheck(hr, body, "shop/items", "RELEASE")); slices.Contains(removed(resp), "authorization") {
		t.Errorf("Authorization removed by default: %v", removed(resp))
	}
}

// handSigned returns a CheckRequest for an app request signed by hand with
// exactly the signed headers given (lower case, ";"-joined), the headers
// and the body the client claims, and the body Envoy forwards.
func handSigned(t *testing.T, method, path string, signed string, headers map[string]string, forwarded []byte) *authv3.CheckRequest {
	t.Helper()
	h := map[string]string{"x-sdk-date": testDate, ":authority": testHost}
	for k, v := range headers {
		h[k] = v
	}
	cred := signing.Credential{Algorithm: signing.SDKHMACSHA256, Access: appKey, SignedHeaders: signed}
	sreq := signing.Request{Method: method, Target: path, Host: testHost, Header: signing.MapHeader(h)}
	sts, err := signing.StringToSign(&sreq, cred)
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write([]byte(sts))
	h["authorization"] = "SDK-HMAC-SHA256 Access=" + appKey + ", SignedHeaders=" + signed + ", Signature=" + hex.EncodeToString(mac.Sum(nil))
	hr, _ := http.NewRequest(method, "http://"+testHost+path, nil)
	for k, v := range h {
		if k[0] != ':' {
			hr.Header.Set(k, v)
		}
	}
	return envoyCheck(hr, forwarded, "shop/items", "RELEASE")
}

// TestSignatureScope: SDK-HMAC signatures must sign host, and a content
// hash must match the forwarded body, an empty one included.
func TestSignatureScope(t *testing.T) {
	f := newFixture(t)
	claimed := sha256.Sum256([]byte(`{"amount":1000}`))
	tests := []struct {
		name      string
		method    string
		signed    string
		headers   map[string]string
		forwarded []byte
		status    int
		msg       string
	}{
		{"host and date signed", "GET", "host;x-sdk-date", nil, nil, 200, ""},
		// The official Go SDK (huaweicloud-sdk-go-v3 core/auth/signer) signs
		// host only when the caller adds a Host header parameter, which
		// its own client does not: host cannot be required.
		{"host not signed (as the official Go SDK signs)", "GET", "x-sdk-date", nil, nil, 200, ""},
		{"content hash of another body, body stripped", "POST", "host;x-sdk-content-sha256;x-sdk-date",
			map[string]string{"x-sdk-content-sha256": hex.EncodeToString(claimed[:])}, nil, 401,
			"Incorrect app authentication information: X-Sdk-Content-Sha256 does not match the request body"},
		{"content hash of the body", "POST", "host;x-sdk-content-sha256;x-sdk-date",
			map[string]string{"x-sdk-content-sha256": hex.EncodeToString(claimed[:])}, []byte(`{"amount":1000}`), 200, ""},
		{"UNSIGNED-PAYLOAD", "POST", "host;x-sdk-content-sha256;x-sdk-date",
			map[string]string{"x-sdk-content-sha256": "UNSIGNED-PAYLOAD"}, []byte(`anything`), 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, d, _ := f.check(t, handSigned(t, tt.method, "/items/1", tt.signed, tt.headers, tt.forwarded))
			if status != tt.status || (tt.msg != "" && d.Msg != tt.msg) {
				t.Fatalf("got %d %q", status, d.Msg)
			}
		})
	}
}

// TestAppCodeTLSFromConnection: "TLS only" is decided from what Envoy
// knows of the connection (x-forwarded-proto, which Envoy overwrites with
// use_remote_address, or the TLS attributes), never from :scheme, which
// an h2c client chooses.
func TestAppCodeTLSFromConnection(t *testing.T) {
	a := newAccessFixture(t, 0)
	const refused = "Incorrect app authentication information: app code authentication requires HTTPS"
	tests := []struct {
		name   string
		scheme string
		xfp    string
		tls    bool // destination principal reported: a TLS connection
		status int
	}{
		{"h2c client claims :scheme https", "https", "http", false, 401},
		{"h2c client claims :scheme https, no x-forwarded-proto", "https", "", false, 401},
		{"TLS connection", "https", "https", false, 200},
		{"TLS attributes", "http", "", true, 200},
		{"plain http", "http", "http", false, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := plain("g/codeonly", "192.0.2.5", tt.scheme, map[string]string{"X-Apig-AppCode": appCode})
			h := req.Attributes.Request.Http.Headers
			delete(h, "x-forwarded-proto")
			if tt.xfp != "" {
				h["x-forwarded-proto"] = tt.xfp
			}
			if tt.tls {
				req.Attributes.Destination = &authv3.AttributeContext_Peer{Principal: "CN=api.example.com"}
			}
			status, d, _ := a.check(t, req)
			if status != tt.status || (status == 401 && d.Msg != refused) {
				t.Fatalf("got %d %q", status, d.Msg)
			}
		})
	}
}

// TestKeyPairRequestLineProtocol: request-line is verified with the
// protocol Envoy reports (Kong writes HTTP/%.01f: HTTP/1.0, HTTP/1.1,
// HTTP/2.0), and unpadded base64 signatures are accepted.
func TestKeyPairRequestLineProtocol(t *testing.T) {
	f := keyPairFixture(t)
	sign := func(major, minor int, envoyProto string) *authv3.CheckRequest {
		r, _ := http.NewRequest("GET", "http://gw.example.com/k?a=1", nil)
		r.ProtoMajor, r.ProtoMinor = major, minor
		if err := keypair.Sign(r, nil, "AKIDgold", "gold-secret-key", keypair.HMACSHA256, []string{"x-date", "request-line"}, testNow); err != nil {
			t.Fatal(err)
		}
		c := envoyCheck(r, nil, "tc/k", "RELEASE")
		c.Attributes.Request.Http.Protocol = envoyProto
		return c
	}
	tests := []struct {
		name   string
		req    *authv3.CheckRequest
		status int
	}{
		{"HTTP/1.1", sign(1, 1, "HTTP/1.1"), 200},
		{"HTTP/1.0", sign(1, 0, "HTTP/1.0"), 200},
		{"HTTP/2 signed as HTTP/2.0", sign(2, 0, "HTTP/2"), 200},
		{"signed HTTP/1.1, sent over HTTP/2", sign(1, 1, "HTTP/2"), 403},
	}
	unpadded := sign(1, 1, "HTTP/1.1")
	h := unpadded.Attributes.Request.Http.Headers
	padded, ok := strings.CutSuffix(h["authorization"], `="`) // 32 bytes: one "="
	if !ok {
		t.Fatalf("no padding to remove: %s", h["authorization"])
	}
	h["authorization"] = padded + `"`
	tests = append(tests, struct {
		name   string
		req    *authv3.CheckRequest
		status int
	}{"unpadded base64 signature", unpadded, 200})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if status, msg, _ := f.tencent(t, tt.req); status != tt.status {
				t.Fatalf("got %d %q", status, msg)
			}
		})
	}
}

// TestRequireSignedHost: with settings.require_signed_host a signature
// that does not cover host is refused before any comparison (no lockout
// count); a signature that covers it is accepted. Off, both are accepted
// (TestSignatureScope).
func TestRequireSignedHost(t *testing.T) {
	snap, err := config.Load("test", []byte(strings.Replace(testConfig, "settings:\n", "settings:\n  require_signed_host: true\n", 1)), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{now: testNow, snap: snap}
	f.svc = mustNew(t, snap, Options{Now: func() time.Time { return f.now }})
	if status, d, _ := f.check(t, handSigned(t, "GET", "/items/1", "host;x-sdk-date", nil, nil)); status != 200 {
		t.Fatalf("host signed: %d %q", status, d.Msg)
	}
	for range 10 { // more than max_failures: never locks
		status, d, _ := f.check(t, handSigned(t, "GET", "/items/1", "x-sdk-date", nil, nil))
		if status != 401 || d.Code != "APIG.0303" || !strings.Contains(d.Msg, "the signature must cover the host header") {
			t.Fatalf("host not signed: %d %s %q", status, d.Code, d.Msg)
		}
	}
	if status, d, _ := f.check(t, handSigned(t, "GET", "/items/1", "host;x-sdk-date", nil, nil)); status != 200 {
		t.Fatalf("host signed after refusals (locked?): %d %q", status, d.Msg)
	}
}
