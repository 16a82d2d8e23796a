package signing_test

import (
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/signer"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/request"

	"github.com/apigwio/apigw/authz/signing"
)

// Interoperability with the official Huawei Cloud Go SDK signers.

const (
	sdkAK      = "HPUAEXAMPLEAK0000001"
	sdkSK      = "ExampleSecretKey0000000000000000000000001"
	sdkDate    = "20240102T030405Z"
	sdkRegion  = "cn-north-4"
	sdkService = "apig"
)

var sdkNow = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

type sdkSigner struct {
	name string
	alg  signing.Algorithm
	sign func(*request.DefaultHttpRequest) (map[string]string, error)
}

var sdkSigners = []sdkSigner{
	{"Signer", signing.SDKHMACSHA256, func(r *request.DefaultHttpRequest) (map[string]string, error) {
		return signer.Signer{}.Sign(r, sdkAK, sdkSK)
	}},
	{"SM3Signer", signing.SDKHMACSM3, func(r *request.DefaultHttpRequest) (map[string]string, error) {
		return signer.SM3Signer{}.Sign(r, sdkAK, sdkSK)
	}},
	{"DerivedSigner", signing.V11HMACSHA256, func(r *request.DefaultHttpRequest) (map[string]string, error) {
		return signer.DerivedSigner{}.Sign(r, sdkAK, sdkSK, sdkService, sdkRegion)
	}},
}

type jsonBody struct {
	Name  string            `json:"name"`
	Tags  []string          `json:"tags"`
	Note  string            `json:"note"`
	Extra map[string]string `json:"extra,omitempty"`
}

type sdkCase struct {
	name  string
	build func() *request.HttpRequestBuilder
	// unsignedPayload: the SDK sets the content-hash header to
	// UNSIGNED-PAYLOAD (non-JSON content type).
	unsignedPayload bool
}

var sdkCases = []sdkCase{
	{name: "GET query", build: func() *request.HttpRequestBuilder {
		return request.NewHttpRequestBuilder().WithMethod("GET").
			WithEndpoint("https://apig.cn-north-4.example.com").
			WithPath("/v1/projects/0a1b2c/apis").
			AddQueryParam("limit", reflect.ValueOf(10)).
			AddQueryParam("name", reflect.ValueOf("张 三")).
			AddQueryParam("tags", reflect.ValueOf([]string{"b", "a", "c d", "a"})).
			AddQueryParam("empty", reflect.ValueOf("")).
			AddQueryParam("plus", reflect.ValueOf("a+b")).
			AddQueryParam("special", reflect.ValueOf("!*'();:@&=+$,/?#[]~ %")).
			AddQueryParam("名字", reflect.ValueOf("值")).
			AddQueryParam("filter", reflect.ValueOf(map[string]string{"x": "1 2"}))
	}},
	{name: "GET path with unicode and spaces", build: func() *request.HttpRequestBuilder {
		return request.NewHttpRequestBuilder().WithMethod("GET").
			WithEndpoint("http://api.example.com").
			WithPath("/v1/测试/a b/c+d/e%f/").
			AddQueryParam("marker", reflect.ValueOf("x y"))
	}},
	{name: "POST JSON", build: func() *request.HttpRequestBuilder {
		return request.NewHttpRequestBuilder().WithMethod("POST").
			WithEndpoint("https://api.example.com").
			WithPath("/v2/{project_id}/instances").
			AddPathParam("project_id", "p-123").
			AddHeaderParam("Content-Type", "application/json").
			AddQueryParam("dry_run", reflect.ValueOf(true)).
			WithBody("body", jsonBody{Name: "实例 <1> & co", Tags: []string{"x", "y"}, Note: "a+b=c"})
	}},
	{name: "POST with extra headers", build: func() *request.HttpRequestBuilder {
		return request.NewHttpRequestBuilder().WithMethod("POST").
			WithEndpoint("https://api.example.com").
			WithPath("/v1/items").
			AddHeaderParam("Content-Type", "application/json;charset=UTF-8").
			AddHeaderParam("X-Project-Id", "0a1b2c3d").
			AddHeaderParam("X-Custom", "  spaced value  ").
			AddHeaderParam("X-Security-Token", "tok.en/with+chars=").
			AddHeaderParam("X_Underscore", "not signed by the SDK").
			AddQueryParam("q", reflect.ValueOf("v")).
			WithBody("body", map[string]any{"k": "v", "n": 1})
	}},
	{name: "PUT with host header", build: func() *request.HttpRequestBuilder {
		return request.NewHttpRequestBuilder().WithMethod("PUT").
			WithEndpoint("https://api.example.com:8443").
			WithPath("/v1/items/42").
			AddHeaderParam("Host", "api.example.com:8443").
			AddHeaderParam("Content-Type", "application/json").
			WithBody("body", jsonBody{Name: "n", Extra: map[string]string{"a": "b"}})
	}},
	{name: "POST text body", unsignedPayload: true, build: func() *request.HttpRequestBuilder {
		return request.NewHttpRequestBuilder().WithMethod("POST").
			WithEndpoint("https://api.example.com").
			WithPath("/upload").
			AddHeaderParam("Content-Type", "text/plain").
			WithBody("body", "hello world")
	}},
	{name: "DELETE no body", build: func() *request.HttpRequestBuilder {
		return request.NewHttpRequestBuilder().WithMethod("DELETE").
			WithEndpoint("https://api.example.com").
			WithPath("/v1/items/42")
	}},
}

// sdkSigned signs the request with the SDK signer and returns the verifier's
// view of it as Envoy would present it: the raw request-target net/http puts
// on the request line (ConvertRequest + URL.RequestURI), lower-case header
// names with repeated headers comma-joined, and Host as :authority (net/http
// never sends Header["Host"]; the wire Host is the URL's).
func sdkSigned(t *testing.T, s sdkSigner, c sdkCase) (*signing.Request, signing.Credential) {
	t.Helper()
	r := c.build().Build()
	r.AddHeaderParam("X-Sdk-Date", sdkDate) // the SDK signs at this time
	extra, err := s.sign(r)
	if err != nil {
		t.Fatalf("SDK sign: %v", err)
	}
	for k, v := range extra {
		r.AddHeaderParam(k, v)
	}
	hr, err := r.ConvertRequest()
	if err != nil {
		t.Fatalf("ConvertRequest: %v", err)
	}
	body, err := io.ReadAll(hr.Body)
	if err != nil {
		t.Fatal(err)
	}
	h := signing.MapHeader{":authority": hr.URL.Host}
	for k, vs := range hr.Header {
		lk := strings.ToLower(k)
		if lk == "host" {
			continue
		}
		h[lk] = strings.Join(vs, ",")
	}
	cred, err := signing.ParseAuthorization(h["authorization"])
	if err != nil {
		t.Fatalf("ParseAuthorization(%q): %v", h["authorization"], err)
	}
	if cred.Algorithm != s.alg || cred.Access != sdkAK {
		t.Fatalf("parsed %+v", cred)
	}
	return &signing.Request{
		Method:  hr.Method,
		Target:  hr.URL.RequestURI(),
		Host:    hr.URL.Host,
		Header:  h,
		Body:    body,
		HasBody: true,
	}, cred
}

func TestInteropSDKVerifies(t *testing.T) {
	for _, s := range sdkSigners {
		for _, c := range sdkCases {
			t.Run(s.name+"/"+c.name, func(t *testing.T) {
				req, cred := sdkSigned(t, s, c)
				t.Logf("target %q signed headers %q", req.Target, cred.SignedHeaders)
				if err := signing.Verify(req, cred, []byte(sdkSK), sdkNow, 0); err != nil {
					cr, _ := signing.CanonicalRequest(req, cred)
					t.Fatalf("Verify: %v\ntarget %q\nauthorization %q\nCR:\n%s", err, req.Target, req.Header.Values("authorization"), cr)
				}
				if q := strings.IndexByte(req.Target, '?'); q >= 0 && strings.Contains(req.Target[q:], "+") {
					t.Errorf("the Go SDK sent a raw '+' in the query: %q", req.Target)
				}
				if c.unsignedPayload {
					ch := strings.ToLower(s.alg.ContentHashHeader())
					if v := req.Header.Values(ch); len(v) != 1 || v[0] != signing.UnsignedPayload {
						t.Errorf("%s = %q, want UNSIGNED-PAYLOAD", ch, v)
					}
				}
				if s.alg == signing.V11HMACSHA256 {
					date, region, service := cred.ScopeParts()
					if date != "20240102" || region != sdkRegion || service != sdkService {
						t.Errorf("scope parts %q %q %q", date, region, service)
					}
				}

				// The same request with repeated headers kept apart.
				var pairs signing.PairHeader
				for k, v := range req.Header.(signing.MapHeader) {
					pairs = append(pairs, signing.HeaderPair{Name: k, Value: v})
				}
				req.Header = pairs
				if err := signing.Verify(req, cred, []byte(sdkSK), sdkNow, 0); err != nil {
					t.Fatalf("Verify with PairHeader: %v", err)
				}
			})
		}
	}
}

func TestInteropSDKTargets(t *testing.T) {
	// What the SDK puts on the request line, which is what Envoy hands over.
	req, _ := sdkSigned(t, sdkSigners[0], sdkCases[1])
	if want := "/v1/%E6%B5%8B%E8%AF%95/a%20b/c+d/e%25f/?marker=x%20y"; req.Target != want {
		t.Errorf("target = %q, want %q", req.Target, want)
	}
	req, _ = sdkSigned(t, sdkSigners[0], sdkCases[0])
	for _, part := range []string{"empty&", "name=%E5%BC%A0%20%E4%B8%89", "plus=a%2Bb", "tags=b&tags=a&tags=c%20d&tags=a", "filter%5Bx%5D=1%202"} {
		if !strings.Contains(req.Target, part) {
			t.Errorf("target %q lacks %q", req.Target, part)
		}
	}
}

func TestInteropSDKTampering(t *testing.T) {
	type tamper struct {
		name   string
		mut    func(r *signing.Request)
		reason signing.Reason
	}
	hdr := func(r *signing.Request) signing.MapHeader { return r.Header.(signing.MapHeader) }
	tampers := []tamper{
		{"method", func(r *signing.Request) { r.Method = "PATCH" }, signing.ReasonMismatch},
		{"path", func(r *signing.Request) { r.Target = strings.Replace(r.Target, "/items", "/itemz", 1) }, signing.ReasonMismatch},
		{"trailing slash", func(r *signing.Request) { r.Target = strings.Replace(r.Target, "/items", "/items/", 1) }, 0},
		{"query value", func(r *signing.Request) { r.Target = strings.Replace(r.Target, "q=v", "q=w", 1) }, signing.ReasonMismatch},
		{"query added", func(r *signing.Request) { r.Target += "&admin=true" }, signing.ReasonMismatch},
		{"query removed", func(r *signing.Request) { r.Target = r.Target[:strings.IndexByte(r.Target, '?')] }, signing.ReasonMismatch},
		{"signed header", func(r *signing.Request) { hdr(r)["x-project-id"] = "other" }, signing.ReasonMismatch},
		{"signed header whitespace", func(r *signing.Request) { hdr(r)["x-custom"] = "spaced value" }, 0},
		{"signed header removed", func(r *signing.Request) { delete(hdr(r), "x-security-token") }, signing.ReasonMissingSignedHeader},
		{"unsigned header", func(r *signing.Request) { hdr(r)["x_underscore"] = "changed" }, 0},
		// The Go SDK signs host only when the caller sets a Host header.
		{"host not signed", func(r *signing.Request) { r.Host = "evil.example.com" }, 0},
		{"body", func(r *signing.Request) { r.Body = []byte(`{"k":"w","n":1}` + "\n") }, signing.ReasonMismatch},
		{"body newline dropped", func(r *signing.Request) { r.Body = r.Body[:len(r.Body)-1] }, signing.ReasonMismatch},
		{"date", func(r *signing.Request) { hdr(r)["x-sdk-date"] = "20240102T030406Z" }, signing.ReasonMismatch},
		{"date expired", func(r *signing.Request) { hdr(r)["x-sdk-date"] = "20240101T030405Z" }, signing.ReasonExpired},
		{"date garbage", func(r *signing.Request) { hdr(r)["x-sdk-date"] = "Tue, 02 Jan 2024 03:04:05 GMT" }, signing.ReasonBadDate},
		{"date removed", func(r *signing.Request) { delete(hdr(r), "x-sdk-date") }, signing.ReasonMissingDate},
	}
	for _, s := range sdkSigners {
		for _, tc := range tampers {
			t.Run(s.name+"/"+tc.name, func(t *testing.T) {
				req, cred := sdkSigned(t, s, sdkCases[3]) // POST with extra headers
				tc.mut(req)
				err := signing.Verify(req, cred, []byte(sdkSK), sdkNow, 0)
				if signing.ReasonOf(err) != tc.reason {
					t.Fatalf("Verify = %v (%v), want reason %v", err, signing.ReasonOf(err), tc.reason)
				}
			})
		}
		t.Run(s.name+"/signed host", func(t *testing.T) {
			req, cred := sdkSigned(t, s, sdkCases[4]) // PUT with host header
			if !strings.Contains(cred.SignedHeaders, "host") {
				t.Fatalf("host not signed: %q", cred.SignedHeaders)
			}
			req.Host = "evil.example.com"
			if err := signing.Verify(req, cred, []byte(sdkSK), sdkNow, 0); signing.ReasonOf(err) != signing.ReasonMismatch {
				t.Fatal(err)
			}
			req.Host = ""
			delete(req.Header.(signing.MapHeader), ":authority")
			if err := signing.Verify(req, cred, []byte(sdkSK), sdkNow, 0); signing.ReasonOf(err) != signing.ReasonMissingSignedHeader {
				t.Fatal(err)
			}
		})
		t.Run(s.name+"/wrong secret", func(t *testing.T) {
			req, cred := sdkSigned(t, s, sdkCases[0])
			if err := signing.Verify(req, cred, []byte(sdkSK+"x"), sdkNow, 0); signing.ReasonOf(err) != signing.ReasonMismatch {
				t.Fatal(err)
			}
		})
		t.Run(s.name+"/unsigned payload body not covered", func(t *testing.T) {
			req, cred := sdkSigned(t, s, sdkCases[5])
			req.Body = []byte("something else")
			if err := signing.Verify(req, cred, []byte(sdkSK), sdkNow, 0); err != nil {
				t.Fatal(err)
			}
			req.Header.(signing.MapHeader)[strings.ToLower(s.alg.ContentHashHeader())] = strings.Repeat("0", 64)
			if err := signing.Verify(req, cred, []byte(sdkSK), sdkNow, 0); err == nil {
				t.Fatal("content hash header tampering accepted")
			}
		})
	}
}
