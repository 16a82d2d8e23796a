package keypair

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzParseAuthorization(f *testing.F) {
	for _, c := range parseGood {
		f.Add(c.in)
	}
	for _, c := range parseBad {
		if len(c.in) < 1024 {
			f.Add(c.in)
		}
	}
	f.Add(`hmac username="bob",algorithm="hmac-sha1",headers="date",signature="not really a base64 encoded value!!!"`)
	f.Add("hmac username=,algorithm,headers,dXNlcm5hbWU6cGFzc3dvcmQ=")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := ParseAuthorization(in)
		if err != nil {
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("error %#v is not an *Error", err)
			}
			switch e.Kind {
			case KindMissingAuthorization, KindInvalidAuthorization, KindMissingIDOrSignature, KindUnsupportedAlgorithm:
			default:
				t.Fatalf("unexpected kind %v", e.Kind)
			}
			if e.Status != e.Kind.Status() || len(e.Message) > 120 {
				t.Fatalf("bad error %+v", e)
			}
			for i := 0; i < len(e.Message); i++ {
				if e.Message[i] < 0x20 || e.Message[i] > 0x7e {
					t.Fatalf("unprintable message %q", e.Message)
				}
			}
			return
		}
		if c.ID == "" || len(c.ID) > MaxIDLen || !utf8.ValidString(c.ID) || !c.Algorithm.Valid() || c.SignatureB64 == "" {
			t.Fatalf("accepted invalid credential %+v", c)
		}
		if c.Signature != nil && len(c.Signature) != c.Algorithm.Size() {
			t.Fatalf("signature of %d bytes for %v", len(c.Signature), c.Algorithm)
		}
		if len(c.Headers) > MaxHeaders {
			t.Fatalf("%d headers", len(c.Headers))
		}
		for _, h := range c.Headers {
			if !validHeaderName(h) || !strings.Contains(strings.ToLower(in), h) {
				t.Fatalf("bad header name %q", h)
			}
		}
		for _, s := range []string{c.ID, c.AlgorithmName, c.SignatureB64} {
			if !strings.Contains(in, s) {
				t.Fatalf("%q is not part of the input", s)
			}
		}
		if err := (Policy{}).CheckCredential(c); err != nil {
			t.Fatalf("parsed credential fails CheckCredential: %v", err)
		}
		// Re-rendering parses to the same credential.
		out := FormatAuthorization(c.ID, c.Algorithm, c.Headers, c.SignatureB64)
		c2, err := ParseAuthorization(out)
		if err != nil || c2.ID != c.ID || c2.Algorithm != c.Algorithm || c2.SignatureB64 != c.SignatureB64 ||
			strings.Join(c2.Headers, " ") != strings.Join(c.Headers, " ") || string(c2.Signature) != string(c.Signature) {
			t.Fatalf("re-parse of %q: %+v, %v; want %+v", out, c2, err, c)
		}
	})
}

func FuzzVerify(f *testing.F) {
	for _, c := range parseGood {
		f.Add(c.in, "GET", "/request?x=1", "Source", " v ", "x-date source request-line")
	}
	f.Add(kongAuth("bob", "hmac-sha1", "date", sig1), "POST", "", "date", testDate, "date @request-target")
	f.Add("", "", "", "", "", "")
	f.Add(`hmac id="k", algorithm="hmac-sha256", headers="host", signature="`+sig256+`"`, "\x00", "\xff", "host", "h", "host x-date")
	f.Fuzz(func(t *testing.T, auth, method, target, hname, hval, list string) {
		req := &Request{Method: method, Target: target, Proto: "HTTP/1.1",
			Header: hdr("x-date", testDate, hname, hval), Body: []byte(hval), HasBody: len(hval)%2 == 0}
		secret := []byte("secret")
		pol := Policy{ValidateBody: len(hval)%3 == 0}

		// An arbitrary credential never verifies (nor panics).
		if cred, err := ParseAuthorization(auth); err == nil {
			if err := Verify(req, cred, secret, pol, testNow); err == nil {
				t.Fatalf("forged credential accepted: %q", auth)
			} else if _, ok := err.(*Error); !ok {
				t.Fatalf("error %#v is not an *Error", err)
			}
		}

		// What Signature signs, Verify accepts.
		names := strings.Fields(list)
		if len(names) == 0 || strings.EqualFold(hname, "x-date") || strings.EqualFold(hname, "date") {
			return
		}
		for _, alg := range Algorithms {
			sig, err := Signature(req, alg, names, secret)
			if err != nil {
				if k := KindOf(err); k != KindInvalidAuthorization && k != KindMissingHeader {
					t.Fatalf("Signature: %v", err)
				}
				return
			}
			cred, err := ParseAuthorization(FormatAuthorization("k", alg, names, sig))
			if err != nil {
				t.Fatalf("own Authorization does not parse: %v", err)
			}
			err = Verify(req, cred, secret, Policy{}, testNow)
			if containsFold(names, "x-date") && err != nil {
				t.Fatalf("%v over %q: %v", alg, names, err)
			}
			if !containsFold(names, "x-date") && KindOf(err) != KindMissingDate {
				t.Fatalf("%v over %q without x-date: %v", alg, names, err)
			}
		}
	})
}
