package signing

import (
	"bytes"
	"testing"
)

func benchRequest(b *testing.B, alg Algorithm) (*Request, Credential) {
	req := &Request{
		Method: "POST",
		Target: "/v1/0a1b2c3d/items?limit=10&marker=abc",
		Host:   "api.example.com",
		Header: MapHeader{
			":authority":   "api.example.com",
			"content-type": "application/json",
			"x-sdk-date":   testDate,
			"x-project-id": "0a1b2c3d",
			"user-agent":   "bench",
		},
		Body:    bytes.Repeat([]byte("a"), 1024),
		HasBody: true,
	}
	cred := Credential{Algorithm: alg, Access: "AK", SignedHeaders: "host;x-project-id;x-sdk-date"}
	if alg == V11HMACSHA256 {
		cred.Scope = "20240102/region-1/apig"
	}
	st := getState()
	defer putState(st)
	st.setPayloadFromBody(alg, req.Body)
	if err := st.buildCR(req, &cred, false); err != nil {
		b.Fatal(err)
	}
	st.buildSTS(&cred, testDate)
	key, _ := st.signingKey(&cred, []byte("secret"))
	cred.Signature = hexString(st.hmacSum(alg, key, st.sts))
	if err := Verify(req, cred, []byte("secret"), testNow, 0); err != nil {
		b.Fatal(err)
	}
	return req, cred
}

func benchVerify(b *testing.B, alg Algorithm) {
	req, cred := benchRequest(b, alg)
	secret := []byte("secret")
	b.ReportAllocs()
	b.SetBytes(int64(len(req.Body)))
	for b.Loop() {
		if err := Verify(req, cred, secret, testNow, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify: SDK-HMAC-SHA256, 3 signed headers, 1 KiB body.
func BenchmarkVerify(b *testing.B) { benchVerify(b, SDKHMACSHA256) }

// BenchmarkVerifySM3: as BenchmarkVerify with SDK-HMAC-SM3.
func BenchmarkVerifySM3(b *testing.B) { benchVerify(b, SDKHMACSM3) }

// BenchmarkVerifyV11: as BenchmarkVerify with V11-HMAC-SHA256 (HKDF per call).
func BenchmarkVerifyV11(b *testing.B) { benchVerify(b, V11HMACSHA256) }

// BenchmarkVerifyMismatch measures the failure path (both "+" readings are
// not tried: no "+" in the query).
func BenchmarkVerifyMismatch(b *testing.B) {
	req, cred := benchRequest(b, SDKHMACSHA256)
	cred.Signature = testSig
	secret := []byte("secret")
	b.ReportAllocs()
	for b.Loop() {
		if err := Verify(req, cred, secret, testNow, 0); err == nil {
			b.Fatal("accepted")
		}
	}
}

func BenchmarkParseAuthorization(b *testing.B) {
	in := "SDK-HMAC-SHA256 Access=HPUAEXAMPLEAK0000001, SignedHeaders=host;x-project-id;x-sdk-date, Signature=" + testSig
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseAuthorization(in); err != nil {
			b.Fatal(err)
		}
	}
}
