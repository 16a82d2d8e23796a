package signing

import (
	"strings"
	"testing"
)

const testSig = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// parseGood are valid Authorization values; they also seed the fuzzer.
var parseGood = []struct {
	in   string
	want Credential
}{
	{"SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-date, Signature=" + testSig,
		Credential{SDKHMACSHA256, "AK", "", "host;x-sdk-date", testSig}},
	{"SDK-HMAC-SHA256 Access=AK,SignedHeaders=x-sdk-date,Signature=" + testSig,
		Credential{SDKHMACSHA256, "AK", "", "x-sdk-date", testSig}},
	{"  SDK-HMAC-SHA256   Signature=" + testSig + " ,  SignedHeaders=x-sdk-date ,Access=AK  ",
		Credential{SDKHMACSHA256, "AK", "", "x-sdk-date", testSig}},
	{"SDK-HMAC-SHA256\tAccess=AK,\tSignedHeaders=x-sdk-date, Signature=" + strings.ToUpper(testSig),
		Credential{SDKHMACSHA256, "AK", "", "x-sdk-date", strings.ToUpper(testSig)}},
	{"SDK-HMAC-SM3 Access=app-key=1, SignedHeaders=content-type;host;x-sdk-content-sm3;x-sdk-date, Signature=" + testSig,
		Credential{SDKHMACSM3, "app-key=1", "", "content-type;host;x-sdk-content-sm3;x-sdk-date", testSig}},
	{"V11-HMAC-SHA256 Credential=AK/20240102/cn-north-4/apig, SignedHeaders=x-sdk-date, Signature=" + testSig,
		Credential{V11HMACSHA256, "AK", "20240102/cn-north-4/apig", "x-sdk-date", testSig}},
}

// parseBad are invalid Authorization values with the expected reason and a
// substring of the detail; they also seed the fuzzer.
var parseBad = []struct {
	in     string
	reason Reason
	detail string
}{
	{"", ReasonMalformed, "empty"},
	{"   ", ReasonMalformed, "empty"},
	{"SDK-HMAC-SHA256", ReasonMalformed, "missing parameters"},
	{"SDK-HMAC-SHA256   ", ReasonMalformed, "missing parameters"},
	{"Basic dXNlcjpwYXNz", ReasonUnsupportedAlgorithm, "Basic"},
	{"sdk-hmac-sha256 Access=AK, SignedHeaders=x-sdk-date, Signature=" + testSig, ReasonUnsupportedAlgorithm, "sdk-hmac-sha256"},
	{"AWS4-HMAC-SHA256 Credential=AK/20240102/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=" + testSig, ReasonUnsupportedAlgorithm, "AWS4"},
	{"Access=AK, SignedHeaders=x-sdk-date, Signature=" + testSig, ReasonMalformed, "missing algorithm"},
	{"SDK-HMAC-SHA256 SignedHeaders=x-sdk-date, Signature=" + testSig, ReasonMalformed, "missing Access"},
	{"SDK-HMAC-SHA256 Access=, SignedHeaders=x-sdk-date, Signature=" + testSig, ReasonMalformed, "empty Access"},
	{"SDK-HMAC-SHA256 Access=AK, Signature=" + testSig, ReasonMalformed, "missing SignedHeaders"},
	{"SDK-HMAC-SHA256 Access=AK, SignedHeaders=, Signature=" + testSig, ReasonMalformed, "missing SignedHeaders"},
	{"SDK-HMAC-SHA256 Access=AK, SignedHeaders=x-sdk-date", ReasonMalformed, "missing Signature"},
	{"SDK-HMAC-SHA256 Access=AK, SignedHeaders=x-sdk-date, Signature=", ReasonMalformed, "missing Signature"},
	{"SDK-HMAC-SHA256 Access=AK, SignedHeaders=x-sdk-date, Signature=abc", ReasonMalformed, "64 hex"},
	{"SDK-HMAC-SHA256 Access=AK, SignedHeaders=x-sdk-date, Signature=" + strings.Repeat("g", 64), ReasonMalformed, "64 hex"},
	{"SDK-HMAC-SHA256 Access=AK, SignedHeaders=X-Sdk-Date, Signature=" + testSig, ReasonMalformed, "lower-case"},
	{"SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;;x-sdk-date, Signature=" + testSig, ReasonMalformed, "empty name"},
	{"SDK-HMAC-SHA256 Access=AK, SignedHeaders=host x-sdk-date, Signature=" + testSig, ReasonMalformed, "lower-case"},
	{"SDK-HMAC-SHA256 Access=AK, Access=AK, SignedHeaders=x-sdk-date, Signature=" + testSig, ReasonMalformed, "duplicate Access"},
	{"SDK-HMAC-SHA256 Access=AK, SignedHeaders=x-sdk-date, Signature=" + testSig + ",", ReasonMalformed, "trailing comma"},
	{"SDK-HMAC-SHA256 Access=AK,, SignedHeaders=x-sdk-date, Signature=" + testSig, ReasonMalformed, "empty parameter"},
	{"SDK-HMAC-SHA256 Access=AK, Foo=bar, SignedHeaders=x-sdk-date, Signature=" + testSig, ReasonMalformed, "unknown parameter Foo"},
	{"SDK-HMAC-SHA256 Access=AK, SignedHeaders, Signature=" + testSig, ReasonMalformed, "name=value"},
	{"SDK-HMAC-SHA256 =AK, SignedHeaders=x-sdk-date, Signature=" + testSig, ReasonMalformed, "name=value"},
	{"SDK-HMAC-SHA256 Credential=AK/20240102/r/s, SignedHeaders=x-sdk-date, Signature=" + testSig, ReasonMalformed, "uses Access"},
	{"V11-HMAC-SHA256 Access=AK, SignedHeaders=x-sdk-date, Signature=" + testSig, ReasonMalformed, "uses Credential"},
	{"V11-HMAC-SHA256 SignedHeaders=x-sdk-date, Signature=" + testSig, ReasonMalformed, "missing Credential"},
	{"V11-HMAC-SHA256 Credential=AK, SignedHeaders=x-sdk-date, Signature=" + testSig, ReasonMalformed, "AK/YYYYMMDD"},
	{"V11-HMAC-SHA256 Credential=/20240102/r/s, SignedHeaders=x-sdk-date, Signature=" + testSig, ReasonMalformed, "AK/YYYYMMDD"},
	{"V11-HMAC-SHA256 Credential=AK/2024012/r/s, SignedHeaders=x-sdk-date, Signature=" + testSig, ReasonMalformed, "AK/YYYYMMDD"},
	{"V11-HMAC-SHA256 Credential=AK/20240102/r, SignedHeaders=x-sdk-date, Signature=" + testSig, ReasonMalformed, "AK/YYYYMMDD"},
	{"V11-HMAC-SHA256 Credential=AK/20240102/r/s/x, SignedHeaders=x-sdk-date, Signature=" + testSig, ReasonMalformed, "AK/YYYYMMDD"},
	{"V11-HMAC-SHA256 Credential=AK/20240102//s, SignedHeaders=x-sdk-date, Signature=" + testSig, ReasonMalformed, "AK/YYYYMMDD"},
	{"SDK-HMAC-SHA256 Access=AK, SignedHeaders=x-sdk-date, Signature=" + testSig + ", " + strings.Repeat("x", 20000), ReasonMalformed, "too long"},
	{"\xff\xfe Access=AK", ReasonUnsupportedAlgorithm, "??"},
	{strings.Repeat("A", 200) + " Access=AK", ReasonUnsupportedAlgorithm, "..."},
}

func TestParseAuthorization(t *testing.T) {
	for _, c := range parseGood {
		got, err := ParseAuthorization(c.in)
		if err != nil {
			t.Errorf("ParseAuthorization(%q): %v", c.in, err)
			continue
		}
		if got != c.want {
			t.Errorf("ParseAuthorization(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
	for _, c := range parseBad {
		_, err := ParseAuthorization(c.in)
		e, ok := err.(*Error)
		if !ok {
			t.Errorf("ParseAuthorization(%q) = %v, want *Error", c.in, err)
			continue
		}
		if e.Reason != c.reason || !strings.Contains(e.Detail, c.detail) {
			t.Errorf("ParseAuthorization(%q) = %v %q, want %v containing %q", c.in, e.Reason, e.Detail, c.reason, c.detail)
		}
		if len(e.Detail) > 160 {
			t.Errorf("Detail too long (%d): %q", len(e.Detail), e.Detail)
		}
	}
}

func TestParseAuthorizationNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	in := parseGood[0].in
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseAuthorization(in) }); n != 0 {
		t.Errorf("ParseAuthorization allocates %v times", n)
	}
}

func TestScopeParts(t *testing.T) {
	d, r, s := Credential{Scope: "20240102/cn-north-4/apig"}.ScopeParts()
	if d != "20240102" || r != "cn-north-4" || s != "apig" {
		t.Errorf("%q %q %q", d, r, s)
	}
	if d, r, s := (Credential{Scope: "bad"}).ScopeParts(); d+r+s != "" {
		t.Errorf("%q %q %q", d, r, s)
	}
}

func TestHeaders(t *testing.T) {
	m := MapHeader{"x-a": "1"}
	if v := m.Values("x-a"); len(v) != 1 || v[0] != "1" {
		t.Error(v)
	}
	if v := m.Values("x-b"); v != nil {
		t.Error(v)
	}
	p := PairHeader{{"X-A", "1"}, {"x-b", "2"}, {"x-a", "3"}}
	if v := p.Values("x-a"); len(v) != 2 || v[0] != "1" || v[1] != "3" {
		t.Error(v)
	}
	if v := p.Values("x-c"); v != nil {
		t.Error(v)
	}
	if n := testing.AllocsPerRun(100, func() {
		var buf [4]string
		_ = m.AppendValues(buf[:0], "x-a")
		_ = p.AppendValues(buf[:0], "x-a")
	}); n != 0 && !raceEnabled {
		t.Errorf("AppendValues allocates %v times", n)
	}
	if mustParseAlgorithm(t, "SDK-HMAC-SM3") != SDKHMACSM3 {
		t.Error("ParseAlgorithm")
	}
	if _, ok := ParseAlgorithm("x"); ok {
		t.Error("ParseAlgorithm accepted x")
	}
	if SDKHMACSM3.ContentHashHeader() != "X-Sdk-Content-Sm3" || V11HMACSHA256.ContentHashHeader() != "X-Sdk-Content-Sha256" {
		t.Error("ContentHashHeader")
	}
}

func mustParseAlgorithm(t *testing.T, s string) Algorithm {
	t.Helper()
	a, ok := ParseAlgorithm(s)
	if !ok {
		t.Fatalf("ParseAlgorithm(%q) failed", s)
	}
	return a
}
