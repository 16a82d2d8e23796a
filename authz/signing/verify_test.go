package signing

import (
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// signFor computes the signature of req for cred with the internal code,
// under the given reading of "+".
func signFor(t *testing.T, req *Request, cred Credential, secret string, plusLiteral bool) string {
	t.Helper()
	st := getState()
	defer putState(st)
	var body []byte
	if req.HasBody {
		body = req.Body
	}
	st.setPayloadFromBody(cred.Algorithm, body)
	if err := st.buildCR(req, &cred, plusLiteral); err != nil {
		t.Fatal(err)
	}
	date, _ := FirstValue(req.Header, "x-sdk-date")
	st.buildSTS(&cred, strings.TrimSpace(date))
	key, err := st.signingKey(&cred, []byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(st.hmacSum(cred.Algorithm, key, st.sts))
}

func baseRequest() (*Request, Credential) {
	req := &Request{
		Method: "POST",
		Target: "/v1/items?b=2&a=1",
		Host:   "api.example.com",
		Header: MapHeader{
			"x-sdk-date":   testDate,
			"x-project-id": "p1",
			"content-type": "application/json",
		},
		Body:    []byte(`{"k":"v"}`),
		HasBody: true,
	}
	cred := Credential{Algorithm: SDKHMACSHA256, Access: "AK", SignedHeaders: "host;x-project-id;x-sdk-date"}
	return req, cred
}

func TestVerifyAllAlgorithms(t *testing.T) {
	for _, alg := range []Algorithm{SDKHMACSHA256, SDKHMACSM3, V11HMACSHA256} {
		req, cred := baseRequest()
		cred.Algorithm = alg
		if alg == V11HMACSHA256 {
			cred.Scope = "20240102/region-1/apig"
		}
		cred.Signature = signFor(t, req, cred, "secret", false)
		if err := Verify(req, cred, []byte("secret"), testNow, 0); err != nil {
			t.Errorf("%v: %v", alg, err)
		}
		if err := Verify(req, cred, []byte("Secret"), testNow, 0); ReasonOf(err) != ReasonMismatch {
			t.Errorf("%v wrong secret: %v", alg, err)
		}
		// Upper-case hex is accepted.
		cred.Signature = strings.ToUpper(cred.Signature)
		if err := Verify(req, cred, []byte("secret"), testNow, 0); err != nil {
			t.Errorf("%v upper-case signature: %v", alg, err)
		}
	}
}

func TestVerifyPlusReadings(t *testing.T) {
	req, cred := baseRequest()
	req.Target = "/v1/items?q=a+b&r=c%2Bd"
	for _, plusLiteral := range []bool{false, true} {
		cred.Signature = signFor(t, req, cred, "secret", plusLiteral)
		if err := Verify(req, cred, []byte("secret"), testNow, time.Minute); err != nil {
			t.Errorf("plusLiteral=%v: %v", plusLiteral, err)
		}
	}
	// A "+" in the path is not a query "+": no retry, and a literal-reading
	// signature over a path-only "+" is the same anyway.
	req.Target = "/v1/a+b?q=x"
	cred.Signature = signFor(t, req, cred, "secret", false)
	if err := Verify(req, cred, []byte("secret"), testNow, time.Minute); err != nil {
		t.Error(err)
	}
	// The error carries the first reading.
	req.Target = "/v1/items?q=a+b"
	err := Verify(req, cred, []byte("secret"), testNow, time.Minute)
	e, ok := err.(*Error)
	if !ok || e.Reason != ReasonMismatch {
		t.Fatalf("err = %v", err)
	}
	if want := "POST\n/v1/items/\nq=a%20b\n"; !strings.HasPrefix(e.CanonicalRequest, want) {
		t.Errorf("CanonicalRequest = %q, want prefix %q", e.CanonicalRequest, want)
	}
}

func TestVerifyReasons(t *testing.T) {
	const secret = "secret"
	type mut func(req *Request, cred *Credential)
	setHeader := func(k, v string) mut {
		return func(req *Request, _ *Credential) { req.Header.(MapHeader)[k] = v }
	}
	delHeader := func(k string) mut {
		return func(req *Request, _ *Credential) { delete(req.Header.(MapHeader), k) }
	}
	cases := []struct {
		name   string
		before mut // applied before signing
		after  mut // applied after signing
		reason Reason
		detail string // substring of Detail
	}{
		{name: "ok"},
		{name: "unsupported algorithm", after: func(_ *Request, c *Credential) { c.Algorithm = 9 }, reason: ReasonUnsupportedAlgorithm},
		{name: "no access", after: func(_ *Request, c *Credential) { c.Access = "" }, reason: ReasonMalformed, detail: "missing Access"},
		{name: "no signed headers", after: func(_ *Request, c *Credential) { c.SignedHeaders = "" }, reason: ReasonMalformed, detail: "missing SignedHeaders"},
		{name: "bad signed headers", after: func(_ *Request, c *Credential) { c.SignedHeaders = "host;;x-sdk-date" }, reason: ReasonMalformed},
		{name: "short signature", after: func(_ *Request, c *Credential) { c.Signature = c.Signature[:10] }, reason: ReasonMalformed, detail: "64 hex"},
		{name: "non-hex signature", after: func(_ *Request, c *Credential) { c.Signature = "z" + c.Signature[1:] }, reason: ReasonMalformed},
		{name: "missing date", after: delHeader("x-sdk-date"), reason: ReasonMissingDate, detail: "x-sdk-date not found"},
		{name: "bad date", after: setHeader("x-sdk-date", "2024-01-02T03:04:05Z"), reason: ReasonBadDate, detail: "2024-01-02T03:04:05Z"},
		{name: "date not signed", before: func(_ *Request, c *Credential) { c.SignedHeaders = "host;x-project-id" }, reason: ReasonDateNotSigned},
		{name: "expired", before: setHeader("x-sdk-date", "20240102T024904Z"), reason: ReasonExpired,
			detail: "signature expired, signature time:20240102T024904Z,server time:20240102T030405Z"},
		{name: "future", before: setHeader("x-sdk-date", "20240102T031906Z"), reason: ReasonExpired},
		{name: "within skew", before: setHeader("x-sdk-date", "20240102T031905Z")},
		{name: "missing signed header", after: delHeader("x-project-id"), reason: ReasonMissingSignedHeader, detail: "x-project-id"},
		{name: "tampered header", after: setHeader("x-project-id", "p2"), reason: ReasonMismatch},
		{name: "unsigned header changed", after: setHeader("x-other", "1")},
		{name: "tampered method", after: func(r *Request, _ *Credential) { r.Method = "PUT" }, reason: ReasonMismatch},
		{name: "tampered path", after: func(r *Request, _ *Credential) { r.Target = "/v1/item?b=2&a=1" }, reason: ReasonMismatch},
		{name: "tampered query", after: func(r *Request, _ *Credential) { r.Target = "/v1/items?b=3&a=1" }, reason: ReasonMismatch},
		{name: "query reordered", after: func(r *Request, _ *Credential) { r.Target = "/v1/items?a=1&b=2" }},
		{name: "tampered body", after: func(r *Request, _ *Credential) { r.Body = []byte(`{"k":"w"}`) }, reason: ReasonMismatch},
		{name: "tampered date", after: setHeader("x-sdk-date", "20240102T030406Z"), reason: ReasonMismatch},
		{name: "content hash equal to body", before: setHeader("x-sdk-content-sha256", "666c1aa02e8068c6d5cc1d3295009432c16790bec28ec8ce119d0d1a18d61319")},
		// A correct body hash yields the same canonical request as no header.
		{name: "content hash added after signing", after: setHeader("x-sdk-content-sha256", "666c1aa02e8068c6d5cc1d3295009432c16790bec28ec8ce119d0d1a18d61319")},
		{name: "content hash added to swap the body", after: func(r *Request, _ *Credential) {
			r.Header.(MapHeader)["x-sdk-content-sha256"] = "666c1aa02e8068c6d5cc1d3295009432c16790bec28ec8ce119d0d1a18d61319"
			r.Body = []byte(`{"k":"w"}`)
		}, reason: ReasonContentHashMismatch},
		{name: "content hash not matching body", before: setHeader("x-sdk-content-sha256", "666c1aa02e8068c6d5cc1d3295009432c16790bec28ec8ce119d0d1a18d61319"),
			after: func(r *Request, _ *Credential) { r.Body = []byte(`{"k":"w"}`) }, reason: ReasonContentHashMismatch},
		{name: "content hash not checked without body", before: setHeader("x-sdk-content-sha256", strings.Repeat("0", 64)),
			after: func(r *Request, _ *Credential) { r.HasBody = false }},
		{name: "unsigned payload", before: setHeader("x-sdk-content-sha256", UnsignedPayload),
			after: func(r *Request, _ *Credential) { r.Body = []byte("anything") }},
		{name: "unsigned payload added after signing", after: setHeader("x-sdk-content-sha256", UnsignedPayload), reason: ReasonMismatch},
		{name: "body not forwarded", after: func(r *Request, _ *Credential) { r.HasBody = false }, reason: ReasonMismatch},
		{name: "host changed", after: func(r *Request, _ *Credential) { r.Host = "evil.example.com" }, reason: ReasonMismatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, cred := baseRequest()
			cred.SignedHeaders = "host;x-project-id;x-sdk-date"
			if c.before != nil {
				c.before(req, &cred)
			}
			cred.Signature = signFor(t, req, cred, secret, false)
			if c.after != nil {
				c.after(req, &cred)
			}
			err := Verify(req, cred, []byte(secret), testNow, 0)
			if ReasonOf(err) != c.reason {
				t.Fatalf("Verify = %v (reason %v), want reason %v", err, ReasonOf(err), c.reason)
			}
			if err != nil {
				e := err.(*Error)
				if !strings.Contains(e.Detail, c.detail) {
					t.Errorf("Detail %q does not contain %q", e.Detail, c.detail)
				}
				if strings.Contains(e.Detail, secret) {
					t.Errorf("Detail leaks the secret: %q", e.Detail)
				}
				if e.Error() != e.Detail {
					t.Errorf("Error() = %q", e.Error())
				}
				if (e.Reason == ReasonMismatch) != (e.CanonicalRequest != "") {
					t.Errorf("CanonicalRequest = %q for reason %v", e.CanonicalRequest, e.Reason)
				}
			}
		})
	}
}

func TestVerifyExpiredDetailExact(t *testing.T) {
	req, cred := baseRequest()
	req.Header.(MapHeader)["x-sdk-date"] = "20221208T015751Z"
	cred.Signature = signFor(t, req, cred, "s", false)
	now := time.Date(2024, 1, 2, 11, 4, 5, 0, time.FixedZone("CST", 8*3600))
	err := Verify(req, cred, []byte("s"), now, 15*time.Minute)
	want := "signature expired, signature time:20221208T015751Z,server time:20240102T030405Z"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

func TestVerifyV11Scope(t *testing.T) {
	req, cred := baseRequest()
	cred.Algorithm = V11HMACSHA256
	cred.Scope = "20240103/region-1/apig"
	cred.Signature = signFor(t, req, cred, "secret", false)
	if err := Verify(req, cred, []byte("secret"), testNow, 0); ReasonOf(err) != ReasonBadScope {
		t.Errorf("scope date mismatch: %v", err)
	}
	cred.Scope = "20240102/region-1"
	if err := Verify(req, cred, []byte("secret"), testNow, 0); ReasonOf(err) != ReasonBadScope {
		t.Errorf("bad scope: %v", err)
	}
	// Region and service are covered by the signature.
	cred.Scope = "20240102/region-1/apig"
	cred.Signature = signFor(t, req, cred, "secret", false)
	cred.Scope = "20240102/region-2/apig"
	if err := Verify(req, cred, []byte("secret"), testNow, 0); ReasonOf(err) != ReasonMismatch {
		t.Errorf("other region: %v", err)
	}
	// The access key is the HKDF salt.
	cred.Scope = "20240102/region-1/apig"
	cred.Access = "AK2"
	if err := Verify(req, cred, []byte("secret"), testNow, 0); ReasonOf(err) != ReasonMismatch {
		t.Errorf("other access key: %v", err)
	}
}

func TestVerifyNilRequest(t *testing.T) {
	if err := Verify(nil, Credential{}, nil, testNow, 0); ReasonOf(err) != ReasonMalformed {
		t.Error(err)
	}
	if _, err := CanonicalRequest(nil, Credential{Algorithm: SDKHMACSHA256}); ReasonOf(err) != ReasonMalformed {
		t.Error(err)
	}
	if _, err := StringToSign(&Request{Header: MapHeader{}}, Credential{Algorithm: SDKHMACSHA256, SignedHeaders: "host"}); ReasonOf(err) != ReasonMissingSignedHeader {
		t.Error(err)
	}
	if _, err := StringToSign(&Request{Host: "h"}, Credential{Algorithm: SDKHMACSHA256, SignedHeaders: "host"}); ReasonOf(err) != ReasonMissingDate {
		t.Error(err)
	}
	if _, err := CanonicalRequest(&Request{}, Credential{}); ReasonOf(err) != ReasonUnsupportedAlgorithm {
		t.Error(err)
	}
}

func TestVerifyNoAllocs(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	for _, hdr := range []string{"map", "pairs"} {
		req, cred := baseRequest()
		if hdr == "pairs" {
			var p PairHeader
			for k, v := range req.Header.(MapHeader) {
				p = append(p, HeaderPair{strings.ToUpper(k), v})
			}
			req.Header = p
		}
		cred.Signature = signFor(t, req, cred, "secret", false)
		secret := []byte("secret")
		allocs := testing.AllocsPerRun(200, func() {
			if err := Verify(req, cred, secret, testNow, 0); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: Verify allocates %v times per call", hdr, allocs)
		}
	}
}

func TestReasonString(t *testing.T) {
	for r := Reason(0); r <= ReasonMismatch; r++ {
		if s := r.String(); s == "" || strings.HasPrefix(s, "Reason(") {
			t.Errorf("Reason %d has no name", r)
		}
	}
	if Reason(200).String() != "Reason(200)" {
		t.Error(Reason(200).String())
	}
	if Algorithm(0).String() != "Algorithm(0)" || SDKHMACSM3.String() != "SDK-HMAC-SM3" {
		t.Error("Algorithm.String")
	}
}

func TestVerifyEmptySecret(t *testing.T) {
	req, cred := baseRequest()
	cred.Signature = signFor(t, req, cred, "", false)
	if err := Verify(req, cred, nil, testNow, 0); ReasonOf(err) != ReasonMismatch {
		t.Fatalf("empty secret: %v", err)
	}
}

func TestVerifyContentHashCase(t *testing.T) {
	req, cred := baseRequest()
	req.Header.(MapHeader)["x-sdk-content-sha256"] = "666C1AA02E8068C6D5CC1D3295009432C16790BEC28EC8CE119D0D1A18D61319"
	cred.Signature = signFor(t, req, cred, "s", false)
	if err := Verify(req, cred, []byte("s"), testNow, 0); err != nil {
		t.Fatal(err)
	}
}
