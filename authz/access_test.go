package authz

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/model"
)

var appCode = strings.Repeat("C0de", 16) + "+/="

func accessConfig(jwks string, trustedHops int) string {
	return fmt.Sprintf(`
listener: {xff_num_trusted_hops: %d}
token_issuers:
  - {name: corp, issuer: "https://id.example.com", audiences: [apigw], jwks_file: %q, claims: {account: domain}}
groups:
  - name: g
    apis:
      - {name: office, path: /office, auth: none, backend: {url: "http://10.0.0.1"}}
      - {name: v6, path: /v6, auth: none, backend: {url: "http://10.0.0.1"}}
      - {name: iam, path: /iam, auth: iam, backend: {url: "http://10.0.0.1"}}
      - {name: code, path: /code, auth: app, app_code: true, backend: {url: "http://10.0.0.1"}}
      - {name: codeonly, path: /codeonly, auth: app_code, backend: {url: "http://10.0.0.1"}}
      - {name: tok, path: /tok, auth: token, backend: {url: "http://10.0.0.1"}}
acl_policies:
  - {name: office-only, type: ip, action: allow, values: ["10.0.0.0/8"], bindings: [{api: g/office}]}
  - {name: no-bad-host, type: ip, action: deny, values: ["10.6.6.6"], bindings: [{api: g/office}]}
  - {name: v6-only, type: ip, action: allow, values: ["2001:db8::/32"], bindings: [{api: g/v6}]}
  - {name: no-evil, type: account, action: deny, values: [evil], bindings: [{api: g/iam}, {api: g/tok}]}
apps:
  - name: coder
    key: coder-key
    secret: {value: coder-secret-1}
    codes: [{value: %q}]
    trusted_ips: ["192.0.2.0/24"]
    grants: [{api: g/code}, {api: g/codeonly}]
iam_users:
  - {account: good, user: u, access_keys: [{id: GOODAK, secret: {value: good-secret-1}}]}
  - {account: evil, user: u, access_keys: [{id: EVILAK, secret: {value: evil-secret-1}}]}
`, trustedHops, jwks, appCode)
}

type accessFixture struct {
	*fixture
	key *ecdsa.PrivateKey
}

// newAccessFixture serves accessConfig, passed through edits.
func newAccessFixture(t testing.TB, trustedHops int, edits ...func(string) string) *accessFixture {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks := filepath.Join(t.TempDir(), "jwks.json")
	point, err := key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	doc := fmt.Sprintf(`{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","alg":"ES256","use":"sig","x":%q,"y":%q}]}`, enc(point[1:33]), enc(point[33:65]))
	if err := os.WriteFile(jwks, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := accessConfig(jwks, trustedHops)
	for _, e := range edits {
		cfg = e(cfg)
	}
	snap, err := config.Load("access", []byte(cfg), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{now: time.Now(), snap: snap}
	f.svc = mustNew(t, snap, Options{Now: func() time.Time { return f.now }})
	return &accessFixture{fixture: f, key: key}
}

// jwt signs claims with ES256.
func (a *accessFixture) jwt(t testing.TB, claims map[string]any) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signingInput := enc(map[string]string{"alg": "ES256", "kid": "k1", "typ": "JWT"}) + "." + enc(claims)
	digest := sha256.Sum256([]byte(signingInput))
	r, s, err := ecdsa.Sign(rand.Reader, a.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	return signingInput + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// plain builds a CheckRequest from peer with headers, over a connection
// of scheme: Envoy (use_remote_address) sets x-forwarded-proto to it.
func plain(api, peer, scheme string, headers map[string]string) *authv3.CheckRequest {
	hr, _ := http.NewRequest("GET", "http://gw/x", nil)
	for k, v := range headers {
		hr.Header.Set(k, v)
	}
	req := envoyCheck(hr, nil, api, "RELEASE")
	req.Attributes.Source = &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
		SocketAddress: &corev3.SocketAddress{Address: peer, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 40000}}}}}
	req.Attributes.Request.Http.Scheme = scheme
	req.Attributes.Request.Http.Headers["x-forwarded-proto"] = scheme
	return req
}

func TestIPACLsAndXFF(t *testing.T) {
	tests := []struct {
		name   string
		hops   int
		api    string
		peer   string
		xff    string
		status int
		code   string
	}{
		{"allowed peer", 0, "g/office", "10.1.2.3", "", 200, ""},
		{"peer outside allow list", 0, "g/office", "192.0.2.1", "", 403, "APIG.0402"},
		{"deny wins inside allow list", 0, "g/office", "10.6.6.6", "", 403, "APIG.0402"},
		{"spoofed XFF ignored with 0 trusted hops", 0, "g/office", "192.0.2.1", "10.1.1.1", 403, "APIG.0402"},
		{"XFF with 1 trusted hop: proxy appended the client", 1, "g/office", "10.9.9.9", "10.1.1.1,10.9.9.9", 200, ""},
		{"spoof behind 1 trusted hop: client forged a first entry", 1, "g/office", "10.9.9.9", "10.1.1.1,192.0.2.1,10.9.9.9", 403, "APIG.0402"},
		{"1 trusted hop but no XFF", 1, "g/office", "10.9.9.9", "", 403, "APIG.0401"},
		{"unparsable peer", 0, "g/office", "not-an-ip", "", 403, "APIG.0401"},
		{"IPv6 allowed", 0, "g/v6", "2001:db8::1", "", 200, ""},
		{"IPv6 denied", 0, "g/v6", "2001:db9::1", "", 403, "APIG.0402"},
		{"IPv4 against an IPv6 allow list", 0, "g/v6", "10.1.1.1", "", 403, "APIG.0402"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAccessFixture(t, tt.hops)
			h := map[string]string{}
			if tt.xff != "" {
				h["X-Forwarded-For"] = tt.xff
			}
			status, d, _ := a.check(t, plain(tt.api, tt.peer, "http", h))
			if status != tt.status || d.Code != tt.code {
				t.Errorf("got %d %s %q, want %d %s", status, d.Code, d.Msg, tt.status, tt.code)
			}
		})
	}
}

func TestAccountACL(t *testing.T) {
	a := newAccessFixture(t, 0)
	for _, c := range []struct {
		ak, sk string
		status int
		code   string
	}{{"GOODAK", "good-secret-1", 200, ""}, {"EVILAK", "evil-secret-1", 403, "APIG.0306"}} {
		hr, body := signWithSDK(t, sdkRequest{method: "GET", path: "/iam", date: time.Now().UTC().Format("20060102T150405Z")}, c.ak, c.sk)
		status, d, _ := a.check(t, envoyCheck(hr, body, "g/iam", "RELEASE"))
		if status != c.status || d.Code != c.code || (c.code != "" && d.Msg != "API access denied.") {
			t.Errorf("%s: %d %+v", c.ak, status, d)
		}
	}
}

func TestAppCodes(t *testing.T) {
	a := newAccessFixture(t, 0)
	tests := []struct {
		name   string
		api    string
		peer   string
		scheme string
		code   string
		status int
		errc   string
		msg    string
	}{
		{"code over https", "g/code", "192.0.2.5", "https", appCode, 200, "", ""},
		{"code-only API", "g/codeonly", "192.0.2.5", "https", appCode, 200, "", ""},
		{"plain http refused", "g/code", "192.0.2.5", "http", appCode, 401, "APIG.0303", "Incorrect app authentication information: app code authentication requires HTTPS"},
		{"wrong code", "g/code", "192.0.2.5", "https", appCode[:60] + "xxxxxxx", 401, "APIG.0303", "Incorrect app authentication information: app code not found"},
		{"no code on code-only API", "g/codeonly", "192.0.2.5", "https", "", 401, "APIG.0303", "Incorrect app authentication information: app code not found"},
		{"untrusted address", "g/code", "198.51.100.1", "https", appCode, 403, "APIG.0405", "The app is not accessed from a trusted IP address."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{}
			if tt.code != "" {
				h["X-Apig-AppCode"] = tt.code
			}
			status, d, resp := a.check(t, plain(tt.api, tt.peer, tt.scheme, h))
			if status != tt.status || d.Code != tt.errc || d.Msg != tt.msg {
				t.Fatalf("got %d %s %q", status, d.Code, d.Msg)
			}
			if status == 200 && upstreamHeaders(resp)[model.HeaderAppID] != "coder" {
				t.Errorf("app not identified upstream: %v", upstreamHeaders(resp))
			}
		})
	}
}

// TestTokenCacheHonoursExpiry: a cached verification never outlives the
// token's exp.
func TestTokenCacheHonoursExpiry(t *testing.T) {
	a := newAccessFixture(t, 0)
	now := time.Now()
	tok := a.jwt(t, map[string]any{"iss": "https://id.example.com", "aud": "apigw", "sub": "bob", "domain": "good", "exp": now.Add(30 * time.Second).Unix()})
	req := plain("g/tok", "10.0.0.1", "https", map[string]string{"X-Auth-Token": tok})
	if status, d, _ := a.check(t, req); status != 200 {
		t.Fatalf("fresh token refused: %+v", d)
	}
	a.now = now.Add(20 * time.Minute) // past exp and past the skew
	if status, d, _ := a.check(t, req); status != 401 || d.Code != "APIG.0307" {
		t.Fatalf("expired token served from cache: %d %+v", status, d)
	}
}

func TestTokens(t *testing.T) {
	a := newAccessFixture(t, 0)
	now := time.Now()
	valid := map[string]any{"iss": "https://id.example.com", "aud": "apigw", "sub": "alice", "domain": "good", "project": "p1", "exp": now.Add(time.Hour).Unix()}
	with := func(k string, v any) map[string]any {
		c := map[string]any{}
		for kk, vv := range valid {
			c[kk] = vv
		}
		c[k] = v
		return c
	}
	tests := []struct {
		name    string
		headers map[string]string
		status  int
		code    string
		msg     string
	}{
		{"X-Auth-Token", map[string]string{"X-Auth-Token": a.jwt(t, valid)}, 200, "", ""},
		{"Bearer", map[string]string{"Authorization": "Bearer " + a.jwt(t, valid)}, 200, "", ""},
		{"expired", map[string]string{"X-Auth-Token": a.jwt(t, with("exp", now.Add(-time.Hour).Unix()))}, 401, "APIG.0307", "The token must be updated."},
		{"not yet valid", map[string]string{"X-Auth-Token": a.jwt(t, with("nbf", now.Add(time.Hour).Unix()))}, 401, "APIG.0301", "Incorrect IAM authentication information: decrypt token fail"},
		{"wrong audience", map[string]string{"X-Auth-Token": a.jwt(t, with("aud", "other"))}, 401, "APIG.0301", "Incorrect IAM authentication information: decrypt token fail"},
		{"wrong issuer", map[string]string{"X-Auth-Token": a.jwt(t, with("iss", "https://evil.example.com"))}, 401, "APIG.0301", "Incorrect IAM authentication information: decrypt token fail"},
		{"garbage", map[string]string{"X-Auth-Token": "not.a.token"}, 401, "APIG.0301", "Incorrect IAM authentication information: decrypt token fail"},
		{"missing", nil, 401, "APIG.0301", "Incorrect IAM authentication information: decrypt token fail"},
		{"denied account", map[string]string{"X-Auth-Token": a.jwt(t, with("domain", "evil"))}, 403, "APIG.0306", "API access denied."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, d, resp := a.check(t, plain("g/tok", "10.0.0.1", "https", tt.headers))
			if status != tt.status || d.Code != tt.code || d.Msg != tt.msg {
				t.Fatalf("got %d %s %q", status, d.Code, d.Msg)
			}
			if status == 200 {
				h := upstreamHeaders(resp)
				if h[model.HeaderUserID] != "alice" || h[model.HeaderAccount] != "good" || h[model.HeaderProjectID] != "p1" {
					t.Errorf("identity headers %v", h)
				}
			}
		})
	}
}
