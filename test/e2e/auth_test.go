package e2e

// Every auth type end to end through the real Envoy: IAM AK/SK with
// lockout, HMAC key pairs (Tencent and APIG dialects; Kong's request-line
// over HTTP/1.1 and HTTP/2), tokens from a JWKS file, app codes, a custom
// authorizer, none. The fixtures (credentials, JWKS file, authorizer) are
// in the suite's configuration when params.Auth is set, which startGateway
// does through newAuthFixtures.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"text/template"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/apigwio/apigw/authz/keypair"
	"github.com/apigwio/apigw/authz/signing"
	"github.com/apigwio/apigw/examples/echo/echoserver"
)

// Credentials of the auth fixtures (the configuration below).
const (
	iamAccount         = "e2e-account"
	iamUser            = "e2e-user"
	iamAK              = "E2EIAMAK00000000000000000001"
	iamSK              = "e2e-iam-secret-do-not-use"
	iamLockAK          = "E2EIAMLOCK000000000000000001" // locked by the lockout test only
	iamLockSK          = "e2e-iam-lock-secret-do-not-use"
	keyPairID          = "AKIDe2egold"
	keyPairSecret      = "e2e-keypair-secret-do-not-use"
	keyPairLoose       = "AKIDe2eloose" // in no usage plan
	keyPairQuota       = "AKIDe2equota" // in the tc-quota plan: 2 requests a minute
	keyPairQuotaSecret = "e2e-quota-secret-do-not-use"
	codeAppName        = "e2e-code-app"
	// appCode is the code app's X-Apig-AppCode (64-180 characters).
	appCode        = "e2eAppCode0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP+_!@#$%-/="
	tokenIssuer    = "https://issuer.e2e.example"
	tokenAudience  = "apigw-e2e"
	authorizerName = "e2e-authorizer"
	tencentHost    = "tcauth.example.com"
)

// The auth fixtures' parts of the suite's configuration: APIs (at the end of
// the e2e group), a group (after the tc group) and credentials (after the
// suite's app).
var (
	_ = template.Must(configTemplate.New("authAPIs").Parse(strings.TrimSuffix(`      - {name: iam, method: ANY, path: /iam, auth: iam, backend: {url: "http://#{backend}#/iam"}}
      - {name: token, method: GET, path: /token, auth: token, backend: {url: "http://#{backend}#/token"}}
      - {name: appcode, method: GET, path: /appcode, auth: app_code, backend: {url: "http://#{backend}#/appcode"}}
      - {name: authorizer, method: GET, path: /authorizer, auth: authorizer, authorizer: `+authorizerName+`, backend: {url: "http://#{backend}#/authorizer"}}
      - {name: hmac, method: GET, path: /hmac, auth: hmac, backend: {url: "http://#{backend}#/hmac"}}
      - {name: open, method: GET, path: /open, auth: none, backend: {url: "http://#{backend}#/open"}}
`, "\n")))
	_ = template.Must(configTemplate.New("authGroups").Parse(strings.TrimSuffix(`  - name: tcauth
    domains: [`+tencentHost+`]
    error_dialect: tencent
    apis:
      - {name: hmac, method: ANY, path: /hmac, auth: hmac, backend: {url: "http://#{backend}#/tc-hmac"}}
      - {name: quota, method: ANY, path: /quota, auth: hmac, backend: {url: "http://#{backend}#/tc-quota"}}
      - {name: limited, method: GET, path: /limited, auth: none, backend: {url: "http://#{backend}#/tc-limited"}}
`, "\n")))
	_ = template.Must(configTemplate.New("authCredentials").Parse(strings.TrimSuffix(`  - name: `+codeAppName+`
    key: e2e0code0app0key00000000000000001
    secret: {value: "e2e-code-app-secret-do-not-use"}
    codes: [{value: "`+appCode+`"}]
    grants: [{api: e2e/appcode}]
iam_users:
  - account: `+iamAccount+`
    user: `+iamUser+`
    access_keys:
      - {id: `+iamAK+`, secret: {value: "`+iamSK+`"}}
      - {id: `+iamLockAK+`, secret: {value: "`+iamLockSK+`"}}
key_pairs:
  - {id: `+keyPairID+`, secret: {value: "`+keyPairSecret+`"}}
  - {id: `+keyPairLoose+`, secret: {value: "e2e-loose-secret-do-not-use"}}
  - {id: `+keyPairQuota+`, secret: {value: "`+keyPairQuotaSecret+`"}}
usage_plans:
  - {name: e2e-plan, key_pairs: [`+keyPairID+`], apis: [e2e/hmac, tcauth/hmac]}
  - {name: tc-quota, key_pairs: [`+keyPairQuota+`], apis: [tcauth/quota], quota: {requests: 2, period: minute}}
token_issuers:
  - {name: e2e-issuer, issuer: "`+tokenIssuer+`", audiences: [`+tokenAudience+`], jwks_file: "{{.JWKSFile}}"}
authorizers:
  - {name: `+authorizerName+`, url: "{{.AuthorizerURL}}", timeout: 500ms, identity_headers: [X-Api-Token]}
`, "\n")))
)

// authFixtures are the token keys, the JWKS file and the custom authorizer.
type authFixtures struct {
	es256, rs256 crypto.Signer
	// authorizerCalls counts the authorizer's calls.
	authorizerCalls atomic.Int64
}

// newAuthFixtures writes the JWKS file into dir, starts the custom
// authorizer, and sets p's auth fields.
func newAuthFixtures(t *testing.T, dir string, p *params) *authFixtures {
	t.Helper()
	f := &authFixtures{}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f.es256, f.rs256 = ec, rk
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: ec.Public(), KeyID: "e2e-es256", Algorithm: string(jose.ES256), Use: "sig"},
		{Key: rk.Public(), KeyID: "e2e-rs256", Algorithm: string(jose.RS256), Use: "sig"},
	}}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	p.JWKSFile = filepath.Join(dir, "jwks.json")
	writeFileAtomic(t, p.JWKSFile, b)

	// The custom authorizer: X-Api-Token "good" is allowed with a context,
	// "bad" denied (403), "boom" fails (500).
	az := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.authorizerCalls.Add(1)
		var in struct {
			API, Stage, Method, Path string
			Headers                  map[string]string
		}
		if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&in) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		var token string
		for k, v := range in.Headers {
			if strings.EqualFold(k, "X-Api-Token") {
				token = v
			}
		}
		switch token {
		case "good":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"context":{"user":"alice","api":%q}}`, in.API)
		case "bad":
			w.WriteHeader(http.StatusForbidden)
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(az.Close)
	p.AuthorizerURL = az.URL + "/decide"
	p.Auth = true
	return f
}

// token signs claims with the fixture key for alg.
func (f *authFixtures) token(t *testing.T, alg jose.SignatureAlgorithm, claims jwt.Claims, extra map[string]any) string {
	t.Helper()
	key, kid := f.es256, "e2e-es256"
	if alg == jose.RS256 {
		key, kid = f.rs256, "e2e-rs256"
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(sig).Claims(claims).Claims(extra).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// iamSigned is a request signed with an IAM AK/SK (SDK-HMAC-SHA256).
func (g *gateway) iamSigned(t *testing.T, method, path string, body []byte, ak, sk string) *http.Request {
	t.Helper()
	req := g.request(t, method, path, body)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if err := signing.SignRequest(req, body, signing.SignOptions{Access: ak, Secret: sk}); err != nil {
		t.Fatal(err)
	}
	return req
}

// tamperSignature changes the last hex digit of the Authorization
// signature.
func tamperSignature(req *http.Request) {
	auth := req.Header.Get("Authorization")
	flipped := "0"
	if strings.HasSuffix(auth, "0") {
		flipped = "1"
	}
	req.Header.Set("Authorization", auth[:len(auth)-1]+flipped)
}

// keyPairSigned is a request signed with a key pair (Tencent/Kong hmac);
// proto is the request-line version signed ("" for HTTP/1.1).
func (g *gateway) keyPairSigned(t *testing.T, host, method, path, id, secret string, headers []string, protoMajor int) *http.Request {
	t.Helper()
	req := g.request(t, method, path, nil)
	if host != "" {
		req.Host = host
	}
	req.Header.Set("Source", "e2e-client")
	if protoMajor == 2 {
		req.ProtoMajor, req.ProtoMinor = 2, 0
	}
	if err := keypair.Sign(req, nil, id, secret, keypair.HMACSHA256, headers, time.Now()); err != nil {
		t.Fatal(err)
	}
	req.ProtoMajor, req.ProtoMinor = 1, 1
	return req
}

// tencentError sends req and checks the Tencent dialect's answer.
func (g *gateway) tencentError(t *testing.T, req *http.Request, status int, message string) {
	t.Helper()
	code, hdr, body, err := g.do(req)
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Message string }
	if code != status || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") ||
		json.Unmarshal([]byte(body), &got) != nil || got.Message != message {
		t.Errorf("%s %s%s = %d (%s) %s, want %d {\"message\":%q}", req.Method, req.Host, req.URL.RequestURI(), code, hdr.Get("Content-Type"), body, status, message)
	}
}

// h2cClient speaks HTTP/2 with prior knowledge over cleartext, as Envoy's
// listener (codec AUTO) accepts.
func h2cClient() *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Timeout: requestTimeout, Transport: &http.Transport{Protocols: &p, ForceAttemptHTTP2: true}}
}

// runAuthSubtests runs the auth-type subtests of TestEndToEnd.
func (g *gateway) runAuthSubtests(t *testing.T) {
	t.Run("iam AK/SK signed request reaches the backend with the IAM identity", func(t *testing.T) {
		r := g.echoed(t, g.iamSigned(t, "GET", "/iam?q=1", nil, iamAK, iamSK))
		want := map[string]string{"x-apig-user-id": iamUser, "x-apig-account": iamAccount, "x-apig-access-key": iamAK, "x-apig-api-id": "e2e/iam"}
		for k, v := range want {
			if r.Headers[k] != v {
				t.Errorf("backend saw %s = %q, want %q", k, r.Headers[k], v)
			}
		}
		if _, ok := r.Headers["x-apig-app-id"]; ok {
			t.Errorf("backend saw an app id for an IAM caller: %v", r.Headers)
		}
		body := []byte(`{"n":1}`)
		if r := g.echoed(t, g.iamSigned(t, "POST", "/iam", body, iamAK, iamSK)); r.BodySize != int64(len(body)) {
			t.Errorf("backend got %d bytes, want %d", r.BodySize, len(body))
		}
	})

	t.Run("iam tampered signature, unknown AK, unsigned get APIG.0301 with the documented messages", func(t *testing.T) {
		req := g.iamSigned(t, "GET", "/iam?q=1", nil, iamAK, iamSK)
		tamperSignature(req)
		e := g.expectError(t, req, http.StatusUnauthorized, "APIG.0301")
		if !strings.HasPrefix(e.Msg, "Incorrect IAM authentication information: verify aksk signature fail, canonicalRequest:GET|/iam/|q=1|") {
			t.Errorf("error_msg %q, want the IAM signature mismatch with the canonical request", e.Msg)
		}
		e = g.expectError(t, g.iamSigned(t, "GET", "/iam", nil, "E2EUNKNOWNAK0000000000000001", iamSK), http.StatusUnauthorized, "APIG.0301")
		if want := "Incorrect IAM authentication information: Get secretKey failed,ak:E2EUNKNOWNAK0000000000000001,err:ak not exist"; e.Msg != want {
			t.Errorf("error_msg %q, want %q", e.Msg, want)
		}
		e = g.expectError(t, g.request(t, "GET", "/iam", nil), http.StatusUnauthorized, "APIG.0301")
		if want := "Incorrect IAM authentication information: Authorization not found"; e.Msg != want {
			t.Errorf("error_msg %q, want %q", e.Msg, want)
		}
		// An app's signature is no IAM credential.
		g.expectError(t, g.signed(t, "GET", "/iam", nil, nil), http.StatusUnauthorized, "APIG.0301")
	})

	t.Run("iam lockout: after max_failures bad signatures the key is locked, a good signature too", func(t *testing.T) {
		const maxFailures = 50 // settings.lockout of the suite
		const locked = "Incorrect IAM authentication information: AK access failed to reach the limit,forbidden"
		for i := 1; i <= maxFailures; i++ {
			req := g.iamSigned(t, "GET", "/iam", nil, iamLockAK, iamLockSK)
			tamperSignature(req)
			e := g.expectError(t, req, http.StatusUnauthorized, "APIG.0301")
			if !strings.Contains(e.Msg, "verify aksk signature fail") {
				t.Fatalf("bad signature %d: error_msg %q, want a signature mismatch", i, e.Msg)
			}
		}
		req := g.iamSigned(t, "GET", "/iam", nil, iamLockAK, iamLockSK)
		tamperSignature(req)
		if e := g.expectError(t, req, http.StatusUnauthorized, "APIG.0301"); e.Msg != locked {
			t.Errorf("bad signature %d: error_msg %q, want %q", maxFailures+1, e.Msg, locked)
		}
		if e := g.expectError(t, g.iamSigned(t, "GET", "/iam", nil, iamLockAK, iamLockSK), http.StatusUnauthorized, "APIG.0301"); e.Msg != locked {
			t.Errorf("good signature on the locked key: error_msg %q, want %q", e.Msg, locked)
		}
		// Other keys are not affected.
		g.echoed(t, g.iamSigned(t, "GET", "/iam", nil, iamAK, iamSK))
	})

	kong := []string{"x-date", "source", "request-line"}
	t.Run("hmac key pair (Kong request-line over HTTP/1.1) reaches the backend", func(t *testing.T) {
		for _, host := range []string{"", tencentHost} {
			r := g.echoed(t, g.keyPairSigned(t, host, "GET", "/hmac?x=1", keyPairID, keyPairSecret, kong, 1))
			if r.Query != "x=1" {
				t.Errorf("host %q: backend saw query %q", host, r.Query)
			}
		}
		// Tencent's default list (x-date only).
		g.echoed(t, g.keyPairSigned(t, tencentHost, "GET", "/hmac", keyPairID, keyPairSecret, nil, 1))
	})

	// HTTP/2: Kong signs the request line of an HTTP/2 request with
	// "HTTP/2.0". Check is told the protocol by Envoy; until it uses it
	// (a known bug being fixed elsewhere: Check verifies request-line as
	// HTTP/1.1 whatever the protocol), this subtest records which
	// reading the gateway accepts instead of failing, and fails only on
	// an answer that is neither.
	t.Run("hmac key pair Kong request-line over HTTP/2 (h2c) is verified as HTTP/2.0", func(t *testing.T) {
		client := h2cClient()
		send := func(signedMajor int) (int, string) {
			req := g.keyPairSigned(t, "", "GET", "/hmac?x=2", keyPairID, keyPairSecret, kong, signedMajor)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("h2c request: %v", err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.ProtoMajor != 2 {
				t.Fatalf("answered over %s, want HTTP/2", resp.Proto)
			}
			if resp.StatusCode != http.StatusOK {
				expectErrorBody(t, string(body), "APIG.0305")
			}
			if resp.StatusCode == http.StatusOK {
				return resp.StatusCode, "(the backend's answer)"
			}
			return resp.StatusCode, string(body)
		}
		c2, b2 := send(2)
		c1, b1 := send(1)
		t.Logf("over HTTP/2: request-line signed \"GET /hmac?x=2 HTTP/2.0\" = %d %s; signed \"... HTTP/1.1\" = %d %s", c2, b2, c1, b1)
		if c2 != http.StatusOK || c1 == http.StatusOK {
			t.Errorf("over HTTP/2, the request-line signed as HTTP/2.0 got %d (want 200) and as HTTP/1.1 got %d (want 401): Check must verify the protocol the request used", c2, c1)
		}
	})

	t.Run("tencent group: a usage plan's quota and a rate limit give 429 with Tencent's wording", func(t *testing.T) {
		// The plan allows 2 requests a minute for this key: the third gets
		// Tencent's quota message through Envoy's rate-limit reply.
		for i := range 2 {
			if code, _, body, err := g.do(g.keyPairSigned(t, tencentHost, "GET", "/quota", keyPairQuota, keyPairQuotaSecret, nil, 1)); err != nil || code != http.StatusOK {
				t.Fatalf("request %d within the quota: %d %s %v", i+1, code, body, err)
			}
		}
		g.tencentError(t, g.keyPairSigned(t, tencentHost, "GET", "/quota", keyPairQuota, keyPairQuotaSecret, nil, 1), http.StatusTooManyRequests, "API quota exceeded.")
		// The gateway's default per-API rate (settings.throttling) is high;
		// a throttle policy on a tencent API gives the rate wording.
		var last int
		var lastBody string
		for range 10 {
			req := g.request(t, "GET", "/limited", nil)
			req.Host = tencentHost
			code, _, body, err := g.do(req)
			if err != nil {
				t.Fatal(err)
			}
			last, lastBody = code, body
			if code == http.StatusTooManyRequests {
				break
			}
		}
		if last != http.StatusTooManyRequests || !strings.Contains(lastBody, `"message":"API rate limit exceeded."`) {
			t.Fatalf("10 requests a second to a tencent API limited to 2/s: last %d %s, want 429 {\"message\":\"API rate limit exceeded.\"}", last, lastBody)
		}
	})

	t.Run("hmac key pair failures get Tencent's messages in the tencent group", func(t *testing.T) {
		req := g.keyPairSigned(t, tencentHost, "GET", "/hmac", keyPairID, keyPairSecret, kong, 1)
		tamperSignatureBase64(req)
		g.tencentError(t, req, http.StatusForbidden, "HMAC signature does not match")

		req = g.keyPairSigned(t, tencentHost, "GET", "/hmac", keyPairID, keyPairSecret, kong, 1)
		req.URL.RawQuery = "changed=1" // the request line changed after signing
		g.tencentError(t, req, http.StatusForbidden, "HMAC signature does not match")

		req = g.request(t, "GET", "/hmac", nil)
		req.Host = tencentHost
		g.tencentError(t, req, http.StatusUnauthorized, "HMAC signature cannot be verified, a validate authorization header is required")

		g.tencentError(t, g.keyPairSigned(t, tencentHost, "GET", "/hmac", keyPairLoose, "e2e-loose-secret-do-not-use", kong, 1),
			http.StatusForbidden, "HMAC signature cannot be verified")
		g.tencentError(t, g.keyPairSigned(t, tencentHost, "GET", "/hmac", "AKIDunknown", "whatever", kong, 1),
			http.StatusForbidden, "HMAC signature cannot be verified")

		req = g.keyPairSigned(t, tencentHost, "GET", "/hmac", keyPairID, keyPairSecret, kong, 1)
		req.Header.Set("X-Date", time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat))
		g.tencentError(t, req, http.StatusForbidden, "HMAC signature cannot be verified, the x-date header is out of date for HMAC Authentication.")

		req = g.keyPairSigned(t, tencentHost, "GET", "/hmac", keyPairID, keyPairSecret, kong, 1)
		req.Header.Set("Authorization", strings.Replace(req.Header.Get("Authorization"), "hmac-sha256", "hmac-md5", 1))
		g.tencentError(t, req, http.StatusForbidden, "HMAC algorithm hmac-md5 not supported.")
	})

	t.Run("hmac key pair failures get APIG.0305 with the Tencent detail in the apig group", func(t *testing.T) {
		req := g.keyPairSigned(t, "", "GET", "/hmac", keyPairID, keyPairSecret, kong, 1)
		tamperSignatureBase64(req)
		e := g.expectError(t, req, http.StatusUnauthorized, "APIG.0305")
		if want := "Incorrect authentication information: HMAC signature does not match"; e.Msg != want {
			t.Errorf("error_msg %q, want %q", e.Msg, want)
		}
	})

	t.Run("token ES256 and RS256 from the JWKS file reach the backend with the token identity", func(t *testing.T) {
		now := time.Now()
		claims := jwt.Claims{Issuer: tokenIssuer, Subject: "tok-user", Audience: jwt.Audience{tokenAudience},
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Hour))}
		extra := map[string]any{"account": "tok-account", "project": "tok-project"}
		for _, alg := range []jose.SignatureAlgorithm{jose.ES256, jose.RS256} {
			tok := g.auth.token(t, alg, claims, extra)
			for _, header := range []string{"X-Auth-Token", "Authorization"} {
				req := g.request(t, "GET", "/token", nil)
				v := tok
				if header == "Authorization" {
					v = "Bearer " + tok
				}
				req.Header.Set(header, v)
				r := g.echoed(t, req)
				if r.Headers["x-apig-user-id"] != "tok-user" || r.Headers["x-apig-account"] != "tok-account" || r.Headers["x-apig-project-id"] != "tok-project" {
					t.Errorf("%s in %s: backend saw user %q account %q project %q", alg, header, r.Headers["x-apig-user-id"], r.Headers["x-apig-account"], r.Headers["x-apig-project-id"])
				}
			}
		}
	})

	t.Run("token failures get APIG.0301 decrypt token fail, expired APIG.0307", func(t *testing.T) {
		now := time.Now()
		good := jwt.Claims{Issuer: tokenIssuer, Subject: "tok-user", Audience: jwt.Audience{tokenAudience}, Expiry: jwt.NewNumericDate(now.Add(time.Hour))}
		tok := g.auth.token(t, jose.ES256, good, nil)
		const decrypt = "Incorrect IAM authentication information: decrypt token fail"
		send := func(v string) *http.Request {
			req := g.request(t, "GET", "/token", nil)
			if v != "" {
				req.Header.Set("X-Auth-Token", v)
			}
			return req
		}
		wrongIss, wrongAud := good, good
		wrongIss.Issuer = "https://other.example"
		wrongAud.Audience = jwt.Audience{"someone-else"}
		// One byte of the signature changed.
		parts := strings.Split(tok, ".")
		sig := []byte(parts[2])
		if sig[5] == 'A' {
			sig[5] = 'B'
		} else {
			sig[5] = 'A'
		}
		tampered := parts[0] + "." + parts[1] + "." + string(sig)
		for name, v := range map[string]string{
			"missing": "", "garbage": "not.a.jwt", "tampered signature": tampered,
			"wrong issuer":   g.auth.token(t, jose.ES256, wrongIss, nil),
			"wrong audience": g.auth.token(t, jose.RS256, wrongAud, nil),
		} {
			if e := g.expectError(t, send(v), http.StatusUnauthorized, "APIG.0301"); e.Msg != decrypt {
				t.Errorf("%s: error_msg %q, want %q", name, e.Msg, decrypt)
			}
		}
		expired := good
		expired.Expiry = jwt.NewNumericDate(now.Add(-time.Hour))
		if e := g.expectError(t, send(g.auth.token(t, jose.ES256, expired, nil)), http.StatusUnauthorized, "APIG.0307"); e.Msg != "The token must be updated." {
			t.Errorf("expired: error_msg %q", e.Msg)
		}
	})

	t.Run("app code over plain HTTP is refused, also with a forged X-Forwarded-Proto", func(t *testing.T) {
		const https = "Incorrect app authentication information: app code authentication requires HTTPS"
		for _, xfp := range []string{"", "https"} {
			req := g.request(t, "GET", "/appcode", nil)
			req.Header.Set("X-Apig-AppCode", appCode)
			if xfp != "" {
				req.Header.Set("X-Forwarded-Proto", xfp)
			}
			if e := g.expectError(t, req, http.StatusUnauthorized, "APIG.0303"); e.Msg != https {
				t.Errorf("X-Forwarded-Proto %q: error_msg %q, want %q", xfp, e.Msg, https)
			}
		}
	})

	t.Run("app code reaches the backend with the app identity (app_code_allow_http)", func(t *testing.T) {
		p := g.params
		p.AppCodeHTTP = true
		writeFileAtomic(t, g.configPath, renderConfig(t, p))
		defer func() {
			writeFileAtomic(t, g.configPath, renderConfig(t, g.params))
			g.eventually(t, reloadTimeout, "app codes over HTTP refused again", func() (bool, string) {
				return !g.srv.Reloader().Current().Settings.AppCodeAllowHTTP, ""
			})
		}()
		code := func(v string) *http.Request {
			req := g.request(t, "GET", "/appcode", nil)
			req.Header.Set("X-Apig-AppCode", v)
			return req
		}
		g.eventually(t, reloadTimeout, "app code accepted after app_code_allow_http", func() (bool, string) {
			c, _, body, err := g.do(code(appCode))
			return err == nil && c == http.StatusOK, fmt.Sprintf("%d %s %v", c, body, err)
		})
		r := g.echoed(t, code(appCode))
		if r.Headers["x-apig-app-id"] != codeAppName || r.Headers["x-apig-api-id"] != "e2e/appcode" {
			t.Errorf("backend saw app %q api %q, want %s e2e/appcode", r.Headers["x-apig-app-id"], r.Headers["x-apig-api-id"], codeAppName)
		}
		// The strip leaves X-Apig-AppCode whatever its case, over HTTP/2 too.
		for _, c := range []*http.Client{g.client, h2cClient()} {
			req := g.request(t, "GET", "/appcode", nil)
			req.Header["X-APIG-APPCODE"] = []string{appCode}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var r echoserver.Response
			if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &r) != nil || r.Headers["x-apig-app-id"] != codeAppName {
				t.Errorf("X-APIG-APPCODE over %s = %d %s, want 200 with app %s", resp.Proto, resp.StatusCode, b, codeAppName)
			}
		}
		wrong := []byte(appCode)
		wrong[0] ^= 1
		if e := g.expectError(t, code(string(wrong)), http.StatusUnauthorized, "APIG.0303"); e.Msg != "Incorrect app authentication information: app code not found" {
			t.Errorf("one byte changed: error_msg %q", e.Msg)
		}
		if e := g.expectError(t, g.request(t, "GET", "/appcode", nil), http.StatusUnauthorized, "APIG.0303"); e.Msg != "Incorrect app authentication information: app code not found" {
			t.Errorf("no code: error_msg %q", e.Msg)
		}
	})

	t.Run("custom authorizer allows with context headers, denies 401 APIG.0305, fails 500 APIG.0601", func(t *testing.T) {
		tok := func(v string) *http.Request {
			req := g.request(t, "GET", "/authorizer", nil)
			if v != "" {
				req.Header.Set("X-Api-Token", v)
			}
			return req
		}
		r := g.echoed(t, tok("good"))
		if r.Headers["x-apig-context-user"] != "alice" || r.Headers["x-apig-context-api"] != "e2e/authorizer" {
			t.Errorf("backend saw context user %q api %q, want alice e2e/authorizer (headers %v)", r.Headers["x-apig-context-user"], r.Headers["x-apig-context-api"], r.Headers)
		}
		if e := g.expectError(t, tok("bad"), http.StatusUnauthorized, "APIG.0305"); e.Msg != "Incorrect authentication information: custom authorizer denied the request" {
			t.Errorf("denied: error_msg %q", e.Msg)
		}
		if e := g.expectError(t, tok("boom"), http.StatusInternalServerError, "APIG.0601"); e.Msg != "Internal server error: custom authorizer failure" {
			t.Errorf("failure: error_msg %q", e.Msg)
		}
		before := g.auth.authorizerCalls.Load()
		if e := g.expectError(t, tok(""), http.StatusUnauthorized, "APIG.0305"); e.Msg != "Incorrect authentication information: identity source not found" {
			t.Errorf("no identity: error_msg %q", e.Msg)
		}
		if n := g.auth.authorizerCalls.Load() - before; n != 0 {
			t.Errorf("the authorizer was called %d times for a request without the identity header", n)
		}
		// A client cannot forge a context header.
		req := tok("good")
		req.Header.Set("X-Apig-Context-Role", "admin")
		if r := g.echoed(t, req); r.Headers["x-apig-context-role"] != "" {
			t.Errorf("backend saw the forged x-apig-context-role %q", r.Headers["x-apig-context-role"])
		}
	})

	t.Run("auth none reaches the backend without identity; credentials sent are ignored", func(t *testing.T) {
		req := g.iamSigned(t, "GET", "/open", nil, iamAK, iamSK)
		tamperSignature(req)
		req.Header.Set("X-Apig-Context-User", "forged")
		r := g.echoed(t, req)
		for _, h := range []string{"x-apig-app-id", "x-apig-user-id", "x-apig-account"} {
			if v, ok := r.Headers[h]; ok {
				t.Errorf("backend saw %s %q", h, v)
			}
		}
		if v := r.Headers["x-apig-context-user"]; v != "" {
			t.Errorf("backend saw the forged x-apig-context-user %q", v)
		}
		if r.Headers["x-apig-api-id"] != "e2e/open" {
			t.Errorf("backend saw api %q, want e2e/open", r.Headers["x-apig-api-id"])
		}
	})
}

// tamperSignatureBase64 changes one character of the base64 signature of a
// key-pair Authorization.
func tamperSignatureBase64(req *http.Request) {
	auth := req.Header.Get("Authorization")
	i := strings.Index(auth, `signature="`) + len(`signature="`)
	c := byte('A')
	if auth[i] == 'A' {
		c = 'B'
	}
	req.Header.Set("Authorization", auth[:i]+string(c)+auth[i+1:])
}

// TestSuiteAuthConfiguration: the suite's configuration with the auth
// fixtures is valid, with and without app_code_allow_http.
func TestSuiteAuthConfiguration(t *testing.T) {
	p := params{GRPCPort: 1, AdminPort: 2, ListenerPort: 3, DeadPort: 4, Release: "127.0.0.1:5", Beta: "127.0.0.1:6",
		Secure: "127.0.0.1:7", CAFile: "/tmp/ca.pem", AppKey: appKey, AppSecret: appSecret, AppName: appName,
		ChanA: "127.0.0.1:8", ChanB: "127.0.0.1:9", WS: "127.0.0.1:10"}
	dir := t.TempDir()
	newAuthFixtures(t, dir, &p)
	for _, allow := range []bool{false, true} {
		p.AppCodeHTTP = allow
		path := filepath.Join(dir, "gateway.yaml")
		writeFileAtomic(t, path, renderConfig(t, p))
		snap := loadAndTranslate(t, path)
		for _, id := range []string{"e2e/iam", "e2e/token", "e2e/appcode", "e2e/authorizer", "e2e/hmac", "e2e/open", "tcauth/hmac", "e2e/hello"} {
			if _, ok := snap.APIs[id]; !ok {
				t.Errorf("API %s missing", id)
			}
		}
		if snap.Settings.AppCodeAllowHTTP != allow {
			t.Errorf("app_code_allow_http %v, want %v", snap.Settings.AppCodeAllowHTTP, allow)
		}
	}
}
