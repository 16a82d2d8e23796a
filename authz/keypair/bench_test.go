package keypair

import (
	"bytes"
	"testing"

	"github.com/apigwio/apigw/authz/signing"
)

// benchRequest returns a request with a 1 KiB body as ext_authz presents it
// (MapHeader, or PairHeader when pair), and its parsed credential signed
// with alg over x-date, source, request-line and digest.
func benchRequest(tb testing.TB, alg Algorithm, pair bool) (*Request, Credential) {
	body := bytes.Repeat([]byte("a"), 1024)
	d := digestOf(string(body))
	req := &Request{
		Method:  "POST",
		Target:  "/release/v1/items?limit=10&marker=abc",
		Proto:   "HTTP/1.1",
		Host:    "service-abc-123.gz.apigw.example.com",
		Body:    body,
		HasBody: true,
	}
	if pair {
		req.Header = hdr("content-type", "application/json", "x-date", testDate, "source", "bench", "digest", d, "user-agent", "bench")
	} else {
		req.Header = signing.MapHeader{
			":authority":   "service-abc-123.gz.apigw.example.com",
			"content-type": "application/json",
			"x-date":       testDate,
			"source":       "bench",
			"digest":       d,
			"user-agent":   "bench",
		}
	}
	s, err := SigningString(req, []string{"x-date", "source", "request-line", "digest"})
	if err != nil {
		tb.Fatal(err)
	}
	cred, err := ParseAuthorization(`hmac id="AKIDexample0000001", algorithm="` + alg.String() +
		`", headers="x-date source request-line digest", signature="` + oracle(alg, "secret", s) + `"`)
	if err != nil {
		tb.Fatal(err)
	}
	return req, cred
}

// bench3 is benchRequest restricted to the three headers x-date, source and
// request-line (no body validation).
func bench3(b *testing.B, alg Algorithm) (*Request, Credential) {
	req, _ := benchRequest(b, alg, false)
	s, err := SigningString(req, []string{"x-date", "source", "request-line"})
	if err != nil {
		b.Fatal(err)
	}
	cred, err := ParseAuthorization(`hmac id="AKIDexample0000001", algorithm="` + alg.String() +
		`", headers="x-date source request-line", signature="` + oracle(alg, "secret", s) + `"`)
	if err != nil {
		b.Fatal(err)
	}
	return req, cred
}

func benchVerify(b *testing.B, alg Algorithm) {
	req, cred := bench3(b, alg)
	secret := []byte("secret")
	pol := Policy{}
	if err := Verify(req, cred, secret, pol, testNow); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := Verify(req, cred, secret, pol, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyHMACSHA256: hmac-sha256 over x-date, source and
// request-line, MapHeader, no body validation.
func BenchmarkVerifyHMACSHA256(b *testing.B) { benchVerify(b, HMACSHA256) }

// BenchmarkVerifyHMACSHA1: as above with hmac-sha1.
func BenchmarkVerifyHMACSHA1(b *testing.B) { benchVerify(b, HMACSHA1) }

// BenchmarkVerifyHMACSHA512: as above with hmac-sha512.
func BenchmarkVerifyHMACSHA512(b *testing.B) { benchVerify(b, HMACSHA512) }

// BenchmarkVerifyHMACSHA256Digest: hmac-sha256 over four headers with body
// validation of a 1 KiB body (Digest).
func BenchmarkVerifyHMACSHA256Digest(b *testing.B) {
	req, cred := benchRequest(b, HMACSHA256, false)
	secret := []byte("secret")
	pol := Policy{ValidateBody: true}
	b.ReportAllocs()
	b.SetBytes(int64(len(req.Body)))
	for b.Loop() {
		if err := Verify(req, cred, secret, pol, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyMismatch: the failure path (request-line is signed, so
// both readings are tried).
func BenchmarkVerifyMismatch(b *testing.B) {
	req, cred := bench3(b, HMACSHA256)
	cred.Signature = bytes.Clone(cred.Signature)
	cred.Signature[0] ^= 1
	secret := []byte("secret")
	b.ReportAllocs()
	for b.Loop() {
		if err := Verify(req, cred, secret, Policy{}, testNow); err == nil {
			b.Fatal("accepted")
		}
	}
}

func BenchmarkParseAuthorization(b *testing.B) {
	in := `hmac id="AKIDexample0000001", algorithm="hmac-sha256", headers="x-date source request-line", signature="` + sig256 + `"`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseAuthorization(in); err != nil {
			b.Fatal(err)
		}
	}
}
