package keypair

import (
	"reflect"
	"strings"
	"testing"

	"github.com/apigwio/apigw/authz/signing"
)

const (
	sig1   = "6rlXr1Ko/q7bDCW8mrdxj3fvW4Q="                 // 20 bytes
	sig256 = "4sHSy0Xq9vdIOkFJBlDGu8yGzBwZXB1ZiF1Xd6eQ0Cw=" // 32 bytes
)

var parseGood = []struct {
	name string
	in   string
	want Credential // Signature checked separately (non-nil iff wantSig)
	sig  bool
}{
	{"tencent", `hmac id="AKID1", algorithm="hmac-sha1", headers="x-date source", signature="` + sig1 + `"`,
		Credential{ID: "AKID1", Algorithm: HMACSHA1, AlgorithmName: "hmac-sha1", Headers: []string{"x-date", "source"}, SignatureB64: sig1}, true},
	{"kong", `hmac username="bob", algorithm="hmac-sha256", headers="date request-line", signature="` + sig256 + `"`,
		Credential{ID: "bob", Algorithm: HMACSHA256, AlgorithmName: "hmac-sha256", Headers: []string{"date", "request-line"}, SignatureB64: sig256}, true},
	{"no spaces", `hmac username="a",algorithm="hmac-sha256",headers="date",signature="` + sig256 + `"`,
		Credential{ID: "a", Algorithm: HMACSHA256, AlgorithmName: "hmac-sha256", Headers: []string{"date"}, SignatureB64: sig256}, true},
	{"blanks around commas and tabs", "\t hmac\tusername=\"a\" ,algorithm=\"hmac-sha256\" ,\theaders=\"date\"   ,  signature=\"" + sig256 + "\" \t",
		Credential{ID: "a", Algorithm: HMACSHA256, AlgorithmName: "hmac-sha256", Headers: []string{"date"}, SignatureB64: sig256}, true},
	{"scheme and names in other cases", `HMAC ID="a", Algorithm="hmac-sha256", HEADERS="Date X-Custom", Signature="` + sig256 + `"`,
		Credential{ID: "a", Algorithm: HMACSHA256, AlgorithmName: "hmac-sha256", Headers: []string{"date", "x-custom"}, SignatureB64: sig256}, true},
	{"other order", `hmac signature="` + sig256 + `", headers="@request-target x-date", algorithm="hmac-sha256", id="k"`,
		Credential{ID: "k", Algorithm: HMACSHA256, AlgorithmName: "hmac-sha256", Headers: []string{"@request-target", "x-date"}, SignatureB64: sig256}, true},
	{"pseudo-header case folded", `hmac id="k", algorithm="hmac-sha256", headers="@Request-Target Request-Line", signature="` + sig256 + `"`,
		Credential{ID: "k", Algorithm: HMACSHA256, AlgorithmName: "hmac-sha256", Headers: []string{"@request-target", "request-line"}, SignatureB64: sig256}, true},
	{"empty headers list", `hmac id="k", algorithm="hmac-sha256", headers="", signature="` + sig256 + `"`,
		Credential{ID: "k", Algorithm: HMACSHA256, AlgorithmName: "hmac-sha256", SignatureB64: sig256}, true},
	{"utf-8 username", `hmac username="bób", algorithm="hmac-sha256", headers="date", signature="` + sig256 + `"`,
		Credential{ID: "bób", Algorithm: HMACSHA256, AlgorithmName: "hmac-sha256", Headers: []string{"date"}, SignatureB64: sig256}, true},
	{"signature of the wrong length", `hmac id="k", algorithm="hmac-sha256", headers="date", signature="` + sig1 + `"`,
		Credential{ID: "k", Algorithm: HMACSHA256, AlgorithmName: "hmac-sha256", Headers: []string{"date"}, SignatureB64: sig1}, false},
	{"signature not base64", `hmac id="k", algorithm="hmac-sha1", headers="date", signature="not really base64!!!!!!!!!!"`,
		Credential{ID: "k", Algorithm: HMACSHA1, AlgorithmName: "hmac-sha1", Headers: []string{"date"}, SignatureB64: "not really base64!!!!!!!!!!"}, false},
	{"signature url-safe base64", `hmac id="k", algorithm="hmac-sha1", headers="date", signature="6rlXr1Ko_q7bDCW8mrdxj3fvW4Q="`,
		Credential{ID: "k", Algorithm: HMACSHA1, AlgorithmName: "hmac-sha1", Headers: []string{"date"}, SignatureB64: "6rlXr1Ko_q7bDCW8mrdxj3fvW4Q="}, false},
	{"signature unpadded", `hmac id="k", algorithm="hmac-sha1", headers="date", signature="6rlXr1Ko/q7bDCW8mrdxj3fvW4Q"`,
		Credential{ID: "k", Algorithm: HMACSHA1, AlgorithmName: "hmac-sha1", Headers: []string{"date"}, SignatureB64: "6rlXr1Ko/q7bDCW8mrdxj3fvW4Q"}, true},
	{"signature unpadded with non-zero padding bits", `hmac id="k", algorithm="hmac-sha1", headers="date", signature="6rlXr1Ko/q7bDCW8mrdxj3fvW4R"`,
		Credential{ID: "k", Algorithm: HMACSHA1, AlgorithmName: "hmac-sha1", Headers: []string{"date"}, SignatureB64: "6rlXr1Ko/q7bDCW8mrdxj3fvW4R"}, false},
	{"signature with non-zero padding bits", `hmac id="k", algorithm="hmac-sha1", headers="date", signature="6rlXr1Ko/q7bDCW8mrdxj3fvW4R="`,
		Credential{ID: "k", Algorithm: HMACSHA1, AlgorithmName: "hmac-sha1", Headers: []string{"date"}, SignatureB64: "6rlXr1Ko/q7bDCW8mrdxj3fvW4R="}, false},
	{"signature with non-ascii bytes", "hmac id=\"k\", algorithm=\"hmac-sha1\", headers=\"date\", signature=\"6rlXr1Ko/q7bDCW8mrdxj3fvW\xff\xfe=\"",
		Credential{ID: "k", Algorithm: HMACSHA1, AlgorithmName: "hmac-sha1", Headers: []string{"date"}, SignatureB64: "6rlXr1Ko/q7bDCW8mrdxj3fvW\xff\xfe="}, false},
	{"64 headers", `hmac id="k", algorithm="hmac-sha256", headers="` + strings.Repeat("h ", 63) + `date", signature="` + sig256 + `"`,
		Credential{ID: "k", Algorithm: HMACSHA256, AlgorithmName: "hmac-sha256", Headers: append(strings.Fields(strings.Repeat("h ", 63)), "date"), SignatureB64: sig256}, true},
	{"128-byte header name", `hmac id="k", algorithm="hmac-sha256", headers="` + strings.Repeat("x", 128) + `", signature="` + sig256 + `"`,
		Credential{ID: "k", Algorithm: HMACSHA256, AlgorithmName: "hmac-sha256", Headers: []string{strings.Repeat("x", 128)}, SignatureB64: sig256}, true},
}

func TestParseAuthorizationGood(t *testing.T) {
	for _, c := range parseGood {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseAuthorization(c.in)
			if err != nil {
				t.Fatalf("error %v", err)
			}
			if (got.Signature != nil) != c.sig {
				t.Fatalf("Signature %x, want decoded=%v", got.Signature, c.sig)
			}
			if got.Signature != nil && len(got.Signature) != got.Algorithm.Size() {
				t.Fatalf("Signature length %d", len(got.Signature))
			}
			got.Signature = nil
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

var parseBad = []struct {
	name string
	in   string
	want Kind
	msg  string // when set, the exact message
}{
	{"empty", "", KindMissingAuthorization, MsgMissingAuthorization},
	{"blank", " \t ", KindMissingAuthorization, ""},
	{"garbage", "asd", KindInvalidAuthorization, MsgInvalidAuthorization},
	{"other scheme", `Basic dXNlcjpwYXNz`, KindInvalidAuthorization, ""},
	{"scheme only", "hmac", KindInvalidAuthorization, ""},
	{"scheme without space", `hmacid="k", algorithm="hmac-sha1", headers="date", signature="` + sig1 + `"`, KindInvalidAuthorization, ""},
	{"text before the scheme", `"hmac id="k", algorithm="hmac-sha1", headers="date", signature="` + sig1 + `"`, KindInvalidAuthorization, ""},
	{"token68", "hmac :dXNlcm5hbWU6cGFzc3dvcmQ=", KindInvalidAuthorization, ""},
	{"unquoted value", `hmac id=k, algorithm="hmac-sha1", headers="date", signature="` + sig1 + `"`, KindInvalidAuthorization, ""},
	{"space before =", `hmac id ="k", algorithm="hmac-sha1", headers="date", signature="` + sig1 + `"`, KindInvalidAuthorization, ""},
	{"unterminated quote", `hmac id="k, algorithm="hmac-sha1", headers="date", signature="` + sig1, KindInvalidAuthorization, ""},
	{"unterminated last quote", `hmac id="k", algorithm="hmac-sha1", headers="date", signature="` + sig1, KindInvalidAuthorization, ""},
	{"backslash", `hmac id="k\"", algorithm="hmac-sha1", headers="date", signature="` + sig1 + `"`, KindInvalidAuthorization, ""},
	{"control byte", "hmac id=\"k\x00\", algorithm=\"hmac-sha1\", headers=\"date\", signature=\"" + sig1 + `"`, KindInvalidAuthorization, ""},
	{"newline in value", "hmac id=\"k\", algorithm=\"hmac-sha1\", headers=\"date\nsource\", signature=\"" + sig1 + `"`, KindInvalidAuthorization, ""},
	{"missing comma", `hmac id="k" algorithm="hmac-sha1", headers="date", signature="` + sig1 + `"`, KindInvalidAuthorization, ""},
	{"semicolon separator", `hmac id="k"; algorithm="hmac-sha1"; headers="date"; signature="` + sig1 + `"`, KindInvalidAuthorization, ""},
	{"trailing comma", `hmac id="k", algorithm="hmac-sha1", headers="date", signature="` + sig1 + `",`, KindInvalidAuthorization, ""},
	{"empty parameter", `hmac id="k",, algorithm="hmac-sha1", headers="date", signature="` + sig1 + `"`, KindInvalidAuthorization, ""},
	{"repeated id", `hmac id="k", id="k", algorithm="hmac-sha1", headers="date", signature="` + sig1 + `"`, KindInvalidAuthorization, ""},
	{"id and username", `hmac id="k", username="k", algorithm="hmac-sha1", headers="date", signature="` + sig1 + `"`, KindInvalidAuthorization, ""},
	{"repeated algorithm", `hmac id="k", algorithm="hmac-sha1", algorithm="hmac-sha256", headers="date", signature="` + sig1 + `"`, KindInvalidAuthorization, ""},
	{"repeated headers", `hmac id="k", algorithm="hmac-sha1", headers="date", headers="x-date", signature="` + sig1 + `"`, KindInvalidAuthorization, ""},
	{"repeated signature", `hmac id="k", algorithm="hmac-sha1", headers="date", signature="` + sig1 + `", signature="` + sig1 + `"`, KindInvalidAuthorization, ""},
	{"repeated with other case", `hmac id="k", algorithm="hmac-sha1", headers="date", signature="` + sig1 + `", Signature="` + sig1 + `"`, KindInvalidAuthorization, ""},
	{"unknown parameter", `hmac id="k", algorithm="hmac-sha1", headers="date", signature="` + sig1 + `", realm="x"`, KindInvalidAuthorization, ""},
	{"misspelt usernme", `hmac usernme="k", algorithm="hmac-sha1", headers="date", signature="` + sig1 + `"`, KindInvalidAuthorization, ""},
	{"misspelt signatur", `hmac username="k", algorithm="hmac-sha1", headers="date", signatur="` + sig1 + `"`, KindInvalidAuthorization, ""},
	{"keyId (draft-cavage)", `hmac keyId="k", algorithm="hmac-sha1", headers="date", signature="` + sig1 + `"`, KindInvalidAuthorization, ""},
	{"algorithm missing", `hmac id="k", headers="date", signature="` + sig1 + `"`, KindInvalidAuthorization, ""},
	{"headers missing", `hmac id="k", algorithm="hmac-sha1", signature="` + sig1 + `"`, KindInvalidAuthorization, ""},
	{"id missing", `hmac algorithm="hmac-sha1", headers="date", signature="` + sig1 + `"`, KindMissingIDOrSignature, MsgMissingIDOrSignature},
	{"id empty", `hmac id="", algorithm="hmac-sha1", headers="date", signature="` + sig1 + `"`, KindMissingIDOrSignature, ""},
	{"signature missing", `hmac id="k", algorithm="hmac-sha1", headers="date"`, KindMissingIDOrSignature, ""},
	{"signature empty", `hmac id="k", algorithm="hmac-sha1", headers="date", signature=""`, KindMissingIDOrSignature, ""},
	{"unknown algorithm", `hmac id="k", algorithm="hmac-md5", headers="date", signature="` + sig1 + `"`, KindUnsupportedAlgorithm, "HMAC algorithm hmac-md5 not supported."},
	{"algorithm upper case", `hmac id="k", algorithm="HMAC-SHA1", headers="date", signature="` + sig1 + `"`, KindUnsupportedAlgorithm, "HMAC algorithm HMAC-SHA1 not supported."},
	{"algorithm empty", `hmac id="k", algorithm="", headers="date", signature="` + sig1 + `"`, KindUnsupportedAlgorithm, "HMAC algorithm  not supported."},
	{"algorithm non-utf-8", "hmac id=\"k\", algorithm=\"hmac-\xff\xfe\", headers=\"date\", signature=\"" + sig1 + `"`, KindUnsupportedAlgorithm, "HMAC algorithm hmac-?? not supported."},
	{"algorithm long", `hmac id="k", algorithm="` + strings.Repeat("a", 100) + `", headers="date", signature="` + sig1 + `"`, KindUnsupportedAlgorithm,
		"HMAC algorithm " + strings.Repeat("a", 64) + " not supported."},
	{"65 headers", `hmac id="k", algorithm="hmac-sha1", headers="` + strings.Repeat("h ", 64) + `date", signature="` + sig1 + `"`, KindInvalidAuthorization, ""},
	{"enormous headers list", `hmac id="k", algorithm="hmac-sha1", headers="` + strings.Repeat("x-a ", 3000) + `", signature="` + sig1 + `"`, KindInvalidAuthorization, ""},
	{"129-byte header name", `hmac id="k", algorithm="hmac-sha1", headers="` + strings.Repeat("x", 129) + `", signature="` + sig1 + `"`, KindInvalidAuthorization, ""},
	{"unknown pseudo-header", `hmac id="k", algorithm="hmac-sha1", headers="date @method", signature="` + sig1 + `"`, KindInvalidAuthorization, ""},
	{"bare @", `hmac id="k", algorithm="hmac-sha1", headers="date @", signature="` + sig1 + `"`, KindInvalidAuthorization, ""},
	{"(request-target)", `hmac id="k", algorithm="hmac-sha1", headers="(request-target) date", signature="` + sig1 + `"`, KindInvalidAuthorization, ""},
	{"header name with colon", `hmac id="k", algorithm="hmac-sha1", headers="date: x", signature="` + sig1 + `"`, KindInvalidAuthorization, ""},
	{"non-utf-8 header name", "hmac id=\"k\", algorithm=\"hmac-sha1\", headers=\"date x-\xff\", signature=\"" + sig1 + `"`, KindInvalidAuthorization, ""},
	{"non-utf-8 id", "hmac id=\"k\xff\", algorithm=\"hmac-sha1\", headers=\"date\", signature=\"" + sig1 + `"`, KindInvalidAuthorization, ""},
	{"id too long", `hmac id="` + strings.Repeat("k", 257) + `", algorithm="hmac-sha1", headers="date", signature="` + sig1 + `"`, KindInvalidAuthorization, ""},
	{"value too long", `hmac id="k", algorithm="hmac-sha1", headers="date", signature="` + strings.Repeat("A", MaxAuthorizationLen) + `"`, KindInvalidAuthorization, ""},
}

func TestParseAuthorizationBad(t *testing.T) {
	for _, c := range parseBad {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseAuthorization(c.in)
			if c.want == KindUnsupportedAlgorithm || c.want == 0 {
				if KindOf(err) != c.want {
					t.Fatalf("got %v (%v), want %v", err, KindOf(err), c.want)
				}
			} else {
				checkErr(t, err, c.want)
			}
			if c.msg != "" && err.Error() != c.msg {
				t.Fatalf("message %q, want %q", err.Error(), c.msg)
			}
		})
	}
}

func TestParseUnsupportedAlgorithmKeepsCredential(t *testing.T) {
	c, err := ParseAuthorization(`hmac id="k", algorithm="hmac-md5", headers="date", signature="` + sig1 + `"`)
	if KindOf(err) != KindUnsupportedAlgorithm || c.ID != "k" || c.AlgorithmName != "hmac-md5" || c.Algorithm != 0 || c.Signature != nil {
		t.Fatalf("%+v, %v", c, err)
	}
}

func TestFindAuthorization(t *testing.T) {
	for _, c := range []struct {
		name string
		h    signing.Header
		want string
		ok   bool
	}{
		{"none", signing.MapHeader{}, "", false},
		{"nil", nil, "", false},
		{"authorization", signing.MapHeader{"authorization": "a"}, "a", true},
		{"proxy first", signing.MapHeader{"authorization": "a", "proxy-authorization": "p"}, "p", true},
		{"blank proxy skipped", signing.MapHeader{"authorization": "a", "proxy-authorization": "  "}, "a", true},
		{"blank both", signing.MapHeader{"authorization": "", "proxy-authorization": ""}, "", false},
		{"pair header, any case", hdr("Authorization", "a", "PROXY-AUTHORIZATION", "p"), "p", true},
	} {
		got, ok := FindAuthorization(c.h)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: got %q %v, want %q %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

func TestParseRequestAuthorization(t *testing.T) {
	good := `hmac id="k", algorithm="hmac-sha1", headers="date", signature="` + sig1 + `"`
	badHMAC := `hmac id="k", algorithm="hmac-sha1", headers="date"`
	for _, c := range []struct {
		name     string
		h        signing.PairHeader
		wantFrom string
		want     Kind
	}{
		{"none", hdr("date", "x"), "", KindMissingAuthorization},
		{"authorization", hdr("authorization", good), "authorization", 0},
		{"proxy", hdr("proxy-authorization", good), "proxy-authorization", 0},
		{"proxy preferred", hdr("authorization", good, "proxy-authorization", good), "proxy-authorization", 0},
		{"fallback to authorization", hdr("authorization", good, "proxy-authorization", "Basic eDp5"), "authorization", 0},
		{"proxy bad alone", hdr("proxy-authorization", badHMAC), "proxy-authorization", KindMissingIDOrSignature},
		{"both bad, proxy is hmac", hdr("proxy-authorization", badHMAC, "authorization", "Bearer x"), "proxy-authorization", KindMissingIDOrSignature},
		{"both bad, only authorization is hmac", hdr("proxy-authorization", "Basic eDp5", "authorization", badHMAC), "authorization", KindMissingIDOrSignature},
		{"both bad, neither hmac", hdr("proxy-authorization", "Basic eDp5", "authorization", "Bearer x"), "proxy-authorization", KindInvalidAuthorization},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, from, err := ParseRequestAuthorization(c.h)
			checkErr(t, err, c.want)
			if from != c.wantFrom {
				t.Fatalf("from %q, want %q", from, c.wantFrom)
			}
		})
	}
}

func TestAlgorithm(t *testing.T) {
	for _, a := range Algorithms {
		b, ok := ParseAlgorithm(a.String())
		if !ok || b != a || !a.Valid() || a.Size() != a.newHash().Size() {
			t.Errorf("%v: round trip %v %v, size %d", a, b, ok, a.Size())
		}
	}
	if Algorithm(0).Valid() || Algorithm(9).Valid() || Algorithm(9).String() != "Algorithm(9)" || Algorithm(0).Size() != 0 {
		t.Error("invalid algorithms")
	}
	if _, ok := ParseAlgorithm("hmac-sha224"); ok {
		t.Error("hmac-sha224 accepted")
	}
}

func TestDecodeBase64MatchesStdlibStrict(t *testing.T) {
	for _, s := range []string{"", "AA==", "AB==", "AAA=", "AAB=", "AAAA", "A===", "====", "AA=A", "A", "AAAAA", "+/+/", "-_-_",
		sig1, sig256, "6rlXr1Ko/q7bDCW8mrdxj3fvW4R=", "AA==AAAA"} {
		var buf [64]byte
		n, ok := decodeBase64(buf[:], s)
		want, err := base64StrictDecode(s)
		if ok != (err == nil) || (ok && string(buf[:n]) != string(want)) {
			t.Errorf("%q: got %x %v, stdlib %x %v", s, buf[:n], ok, want, err)
		}
	}
}

// plainHeader is a signing.Header without the ValueAppender fast path.
type plainHeader map[string][]string

func (h plainHeader) Values(name string) []string { return h[name] }

// appenderHeader adds the fast path to plainHeader.
type appenderHeader struct{ plainHeader }

func (h appenderHeader) AppendValues(dst []string, name string) []string {
	return append(dst, h.plainHeader[name]...)
}

func TestOtherHeaderImplementations(t *testing.T) {
	p := plainHeader{"authorization": {"a", "b"}, "x-date": {testDate}, "x-m": {"1", " 2"}}
	for _, h := range []signing.Header{p, appenderHeader{p}} {
		if v, ok := FindAuthorization(h); v != "a" || !ok {
			t.Errorf("%T: %q %v", h, v, ok)
		}
		if _, ok := signing.FirstValue(h, "none"); ok {
			t.Errorf("%T: found absent header", h)
		}
		s, err := SigningString(&Request{Header: h}, []string{"x-date", "x-m"})
		if err != nil || s != "x-date: "+testDate+"\nx-m: 1, 2" {
			t.Errorf("%T: %q %v", h, s, err)
		}
	}
}
