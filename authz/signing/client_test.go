package signing_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apigwio/apigw/authz/signing"
)

var clientTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// envoyView returns the verifier's view of a signed *http.Request the way
// Envoy's ext_authz presents it with header_map: lower-case names, repeated
// headers kept apart, Host as :authority.
func envoyView(r *http.Request, body []byte) *signing.Request {
	h := signing.PairHeader{{Name: ":authority", Value: r.Host}}
	for k, vs := range r.Header {
		for _, v := range vs {
			h = append(h, signing.HeaderPair{Name: strings.ToLower(k), Value: v})
		}
	}
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	return &signing.Request{
		Method:  r.Method,
		Target:  r.URL.RequestURI(),
		Host:    host,
		Header:  h,
		Body:    body,
		HasBody: true,
	}
}

func TestSignRequestRoundTrip(t *testing.T) {
	type rtCase struct {
		name, method, url string
		body              []byte
		headers           map[string][]string
		unsigned          bool
	}
	cases := []rtCase{
		{name: "GET", method: "GET", url: "https://api.example.com/v1/items?limit=10&b=2&b=1&name=a%20b&p=a%2Bb&empty"},
		{name: "GET raw plus", method: "GET", url: "https://api.example.com/v1/items?q=a+b"},
		{name: "unicode path", method: "GET", url: "https://api.example.com/v1/%E6%B5%8B%E8%AF%95/a%20b/"},
		{name: "POST JSON", method: "POST", url: "https://api.example.com:8443/v1/items", body: []byte(`{"k":"v"}`),
			headers: map[string][]string{"Content-Type": {"application/json"}, "X-Project-Id": {" p1 "}}},
		{name: "repeated header", method: "PUT", url: "http://api.example.com/x", body: []byte("x"),
			headers: map[string][]string{"X-Multi": {"b", "a"}, "Accept": {"*/*"}}},
		{name: "unsigned payload", method: "POST", url: "https://api.example.com/upload", body: []byte("big"), unsigned: true,
			headers: map[string][]string{"Content-Type": {"application/octet-stream"}}},
		{name: "empty method", method: "", url: "https://api.example.com/"},
	}
	for _, alg := range []signing.Algorithm{signing.SDKHMACSHA256, signing.SDKHMACSM3, signing.V11HMACSHA256} {
		for _, c := range cases {
			t.Run(alg.String()+"/"+c.name, func(t *testing.T) {
				r, err := http.NewRequest(c.method, c.url, bytes.NewReader(c.body))
				if err != nil {
					t.Fatal(err)
				}
				for k, vs := range c.headers {
					r.Header[k] = vs
				}
				r.Header.Set("Authorization", "stale")         // never signed, replaced
				r.Header.Set("X-Sdk-Date", "19700101T000000Z") // replaced by o.Time
				r.Header.Set("Connection", "keep-alive")       // hop-by-hop, not signed
				o := signing.SignOptions{Algorithm: alg, Access: "AK", Secret: "SK", Time: clientTime,
					Region: "region-1", Service: "apig", UnsignedPayload: c.unsigned}
				if err := signing.SignRequest(r, c.body, o); err != nil {
					t.Fatal(err)
				}
				if got := r.Header.Get("X-Sdk-Date"); got != "20240102T030405Z" {
					t.Errorf("X-Sdk-Date = %q", got)
				}
				cred, err := signing.ParseAuthorization(r.Header.Get("Authorization"))
				if err != nil {
					t.Fatal(err)
				}
				for _, must := range []string{"host", "x-sdk-date"} {
					if !strings.Contains(";"+cred.SignedHeaders+";", ";"+must+";") {
						t.Errorf("%s not signed: %q", must, cred.SignedHeaders)
					}
				}
				for _, mustNot := range []string{"authorization", "connection"} {
					if strings.Contains(cred.SignedHeaders, mustNot) {
						t.Errorf("%s signed: %q", mustNot, cred.SignedHeaders)
					}
				}
				if c.unsigned && r.Header.Get(alg.ContentHashHeader()) != signing.UnsignedPayload {
					t.Errorf("content hash header not set")
				}
				req := envoyView(r, c.body)
				if err := signing.Verify(req, cred, []byte("SK"), clientTime.Add(time.Minute), 0); err != nil {
					t.Fatalf("Verify: %v", err)
				}
				// Tampering is detected.
				req.Method = "DELETE"
				if err := signing.Verify(req, cred, []byte("SK"), clientTime, 0); signing.ReasonOf(err) != signing.ReasonMismatch {
					t.Errorf("tampered method: %v", err)
				}
			})
		}
	}
}

func TestExplain(t *testing.T) {
	r, _ := http.NewRequest("POST", "https://api.example.com/v1/items?b=2&a=1", nil)
	r.Header.Set("Content-Type", "application/json")
	body := []byte(`{"k":"v"}`)
	o := signing.SignOptions{Access: "AK", Secret: "SK", Time: clientTime}
	e, err := signing.Explain(r, body, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Header) != 1 {
		t.Errorf("Explain modified the request: %v", r.Header)
	}
	wantCR := "POST\n/v1/items/\na=1&b=2\n" +
		"content-type:application/json\nhost:api.example.com\nx-sdk-date:20240102T030405Z\n\n" +
		"content-type;host;x-sdk-date\n" +
		"666c1aa02e8068c6d5cc1d3295009432c16790bec28ec8ce119d0d1a18d61319"
	if e.CanonicalRequest != wantCR {
		t.Errorf("CR = %q\nwant %q", e.CanonicalRequest, wantCR)
	}
	if !strings.HasPrefix(e.StringToSign, "SDK-HMAC-SHA256\n20240102T030405Z\n") || len(e.StringToSign) != len("SDK-HMAC-SHA256\n20240102T030405Z\n")+64 {
		t.Errorf("STS = %q", e.StringToSign)
	}
	if want := "SDK-HMAC-SHA256 Access=AK, SignedHeaders=content-type;host;x-sdk-date, Signature=" + e.Signature; e.Authorization != want {
		t.Errorf("Authorization = %q", e.Authorization)
	}
	if strings.Join(e.SignedHeaders, ";") != "content-type;host;x-sdk-date" || e.Date != "20240102T030405Z" || e.Scope != "" {
		t.Errorf("explanation %+v", e)
	}
	// The verifier computes the same canonical request and string to sign.
	r.Header.Set("X-Sdk-Date", e.Date)
	cred, _ := signing.ParseAuthorization(e.Authorization)
	req := envoyView(r, body)
	if cr, err := signing.CanonicalRequest(req, cred); err != nil || cr != e.CanonicalRequest {
		t.Errorf("verifier CR = %q, %v", cr, err)
	}
	if sts, err := signing.StringToSign(req, cred); err != nil || sts != e.StringToSign {
		t.Errorf("verifier STS = %q, %v", sts, err)
	}

	o.Algorithm, o.Region, o.Service = signing.V11HMACSHA256, "region-1", "apig"
	e, err = signing.Explain(r, body, o)
	if err != nil {
		t.Fatal(err)
	}
	if e.Scope != "20240102/region-1/apig" || !strings.HasPrefix(e.Authorization, "V11-HMAC-SHA256 Credential=AK/20240102/region-1/apig, SignedHeaders=") {
		t.Errorf("V11 explanation %+v", e)
	}
}

func TestExplainErrors(t *testing.T) {
	r, _ := http.NewRequest("GET", "https://api.example.com/", nil)
	noHost, _ := http.NewRequest("GET", "/relative", nil)
	badHeader, _ := http.NewRequest("GET", "https://api.example.com/", nil)
	badHeader.Header["Bad Name"] = []string{"x"}
	cases := []struct {
		name string
		r    *http.Request
		o    signing.SignOptions
	}{
		{"no access", r, signing.SignOptions{Secret: "s"}},
		{"no secret", r, signing.SignOptions{Access: "a"}},
		{"access with comma", r, signing.SignOptions{Access: "a,b", Secret: "s"}},
		{"bad algorithm", r, signing.SignOptions{Algorithm: 42, Access: "a", Secret: "s"}},
		{"V11 without region", r, signing.SignOptions{Algorithm: signing.V11HMACSHA256, Access: "a", Secret: "s", Service: "x"}},
		{"V11 region with slash", r, signing.SignOptions{Algorithm: signing.V11HMACSHA256, Access: "a", Secret: "s", Region: "a/b", Service: "x"}},
		{"no host", noHost, signing.SignOptions{Access: "a", Secret: "s"}},
		{"bad header name", badHeader, signing.SignOptions{Access: "a", Secret: "s"}},
		{"nil request", nil, signing.SignOptions{Access: "a", Secret: "s"}},
	}
	for _, c := range cases {
		if err := signing.SignRequest(c.r, nil, c.o); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
}

func TestSignRequestDefaultTime(t *testing.T) {
	r, _ := http.NewRequest("GET", "https://api.example.com/", nil)
	if err := signing.SignRequest(r, nil, signing.SignOptions{Access: "a", Secret: "s"}); err != nil {
		t.Fatal(err)
	}
	cred, err := signing.ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		t.Fatal(err)
	}
	if err := signing.Verify(envoyView(r, nil), cred, []byte("s"), time.Now(), 0); err != nil {
		t.Fatal(err)
	}
}
