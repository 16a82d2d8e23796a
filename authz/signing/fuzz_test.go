package signing

import (
	"strings"
	"testing"
	"time"
)

func FuzzParseAuthorization(f *testing.F) {
	for _, c := range parseGood {
		f.Add(c.in)
	}
	for _, c := range parseBad {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := ParseAuthorization(in)
		if err != nil {
			e, ok := err.(*Error)
			if !ok || (e.Reason != ReasonMalformed && e.Reason != ReasonUnsupportedAlgorithm) {
				t.Fatalf("unexpected error %#v", err)
			}
			if len(e.Detail) > 200 {
				t.Fatalf("detail too long: %d", len(e.Detail))
			}
			return
		}
		if !c.Algorithm.Valid() || c.Access == "" || len(c.Signature) != 64 || !isHex(c.Signature) {
			t.Fatalf("accepted invalid credential %+v", c)
		}
		if checkSignedHeaders(c.SignedHeaders) != "" {
			t.Fatalf("accepted invalid SignedHeaders %q", c.SignedHeaders)
		}
		if (c.Algorithm == V11HMACSHA256) != (c.Scope != "") || (c.Scope != "" && !validScope(c.Scope)) {
			t.Fatalf("bad scope %+v", c)
		}
		// Every field is a substring of the input.
		for _, s := range []string{c.Access, c.Scope, c.SignedHeaders, c.Signature} {
			if !strings.Contains(in, s) {
				t.Fatalf("%q is not part of the input", s)
			}
		}
		// Re-rendering the credential parses to the same value.
		var out string
		if c.Algorithm == V11HMACSHA256 {
			out = c.Algorithm.String() + " Credential=" + c.Access + "/" + c.Scope
		} else {
			out = c.Algorithm.String() + " Access=" + c.Access
		}
		out += ", SignedHeaders=" + c.SignedHeaders + ", Signature=" + c.Signature
		c2, err := ParseAuthorization(out)
		if err != nil || c2 != c {
			t.Fatalf("re-parse of %q: %+v, %v; want %+v", out, c2, err, c)
		}
	})
}

func FuzzCanonicalRequest(f *testing.F) {
	for _, c := range uriCases {
		f.Add("GET", c.raw, "x-a", " v ", "host;x-a;x-sdk-date")
	}
	for _, c := range queryCases {
		f.Add("POST", "/p?"+c.raw, "X-A", "v", "x-a;x-sdk-date")
	}
	f.Add("", "", "", "", "")
	f.Add("GET", "/a%2", "host", "h", "host")
	f.Add("GET", "?%", "x", "", ";")
	f.Fuzz(func(t *testing.T, method, target, hname, hval, signed string) {
		hdr := PairHeader{{hname, hval}, {"x-sdk-date", testDate}}
		req := &Request{Method: method, Target: target, Host: "h", Header: hdr, Body: []byte(hval), HasBody: len(hval)%2 == 0}
		for _, alg := range []Algorithm{SDKHMACSHA256, SDKHMACSM3, V11HMACSHA256} {
			cred := Credential{Algorithm: alg, Access: "AK", Scope: "20240102/r/s", SignedHeaders: signed,
				Signature: testSig}
			cr, err := CanonicalRequest(req, cred)
			if err != nil {
				r := ReasonOf(err)
				if r != ReasonMalformed && r != ReasonMissingSignedHeader {
					t.Fatalf("unexpected error %v", err)
				}
			} else {
				lines := strings.Split(cr, "\n")
				if len(lines) < 6 {
					t.Fatalf("short CR %q", cr)
				}
				uri := lines[strings.Count(method, "\n")+1]
				if !strings.HasPrefix(uri, "/") || !strings.HasSuffix(uri, "/") {
					t.Fatalf("canonical URI %q of %q", uri, target)
				}
				for i := 0; i < len(uri); i++ {
					if c := uri[i]; c != '/' && c != '%' && !unreserved[c] {
						t.Fatalf("unescaped %q in canonical URI %q", c, uri)
					}
				}
			}
			// Verify must not panic either, and must reject the fixed signature.
			if err := Verify(req, cred, []byte("k"), testNow, time.Minute); err == nil {
				t.Fatalf("fixed signature accepted for %+v", req)
			}
		}
	})
}
