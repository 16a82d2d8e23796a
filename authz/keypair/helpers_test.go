package keypair

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"hash"
	"net/http"
	"testing"
	"time"

	"github.com/apigwio/apigw/authz/signing"
)

// testNow is the server time of the tests; testDate is it as an HTTP-date.
var (
	testNow  = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	testDate = testNow.Format(http.TimeFormat) // "Tue, 02 Jan 2024 03:04:05 GMT"
)

// testKeys are the key pairs the test "caller" knows.
var testKeys = map[string][]byte{
	"bob":                []byte("secret"),
	"alice":              []byte("alice-secret"),
	"AKIDexample0000001": []byte("ZxF2whexampleN2oPrC"),
}

// oracle computes base64(HMAC(secret, s)) with crypto/hmac, independently
// of the package's pooled HMAC.
func oracle(alg Algorithm, secret, s string) string {
	var h func() hash.Hash
	switch alg {
	case HMACSHA1:
		h = sha1.New
	case HMACSHA256:
		h = sha256.New
	case HMACSHA384:
		h = sha512.New384
	case HMACSHA512:
		h = sha512.New
	default:
		panic("bad algorithm")
	}
	m := hmac.New(h, []byte(secret))
	m.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// kongAuth renders a Kong-style value: hmac username="u", algorithm="a", headers="h", signature="s".
func kongAuth(user, alg, headers, sig string) string {
	return `hmac username="` + user + `", algorithm="` + alg + `", headers="` + headers + `", signature="` + sig + `"`
}

// digestOf returns the Digest header value of body.
func digestOf(body string) string {
	sum := sha256.Sum256([]byte(body))
	return "SHA-256=" + base64.StdEncoding.EncodeToString(sum[:])
}

// authenticate runs the whole flow as the gateway's caller would: find and
// parse the credential, check it against the policy, look the key up, and
// verify.
func authenticate(req *Request, pol Policy, now time.Time) error {
	cred, _, err := ParseRequestAuthorization(req.Header)
	if err != nil {
		return err
	}
	if err := pol.CheckCredential(cred); err != nil {
		return err
	}
	secret, ok := testKeys[cred.ID]
	if !ok {
		return NewError(KindUnknownKey)
	}
	return Verify(req, cred, secret, pol, now)
}

// checkErr fails unless err is nil (want == 0) or an *Error of kind want
// with the kind's documented message and status.
func checkErr(t *testing.T, err error, want Kind) {
	t.Helper()
	if want == 0 {
		if err != nil {
			t.Fatalf("unexpected error: %v (%v)", err, KindOf(err))
		}
		return
	}
	e, ok := err.(*Error)
	if !ok {
		t.Fatalf("got %#v, want *Error of kind %v", err, want)
	}
	if e.Kind != want {
		t.Fatalf("got kind %v (%q), want %v", e.Kind, e.Message, want)
	}
	if e.Status != want.Status() {
		t.Fatalf("status %d, want %d", e.Status, want.Status())
	}
	switch want {
	case KindMissingHeader, KindEnforcedHeaderNotSigned, KindUnsupportedAlgorithm:
		// checked by the callers that know the name
	default:
		if w := NewError(want).Message; e.Message != w {
			t.Fatalf("message %q, want %q", e.Message, w)
		}
	}
}

// hdr builds a PairHeader from name, value pairs.
func hdr(kv ...string) signing.PairHeader {
	h := make(signing.PairHeader, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		h = append(h, signing.HeaderPair{Name: kv[i], Value: kv[i+1]})
	}
	return h
}

func base64StrictDecode(s string) ([]byte, error) {
	return base64.StdEncoding.Strict().DecodeString(s)
}
