package token

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

var payloadSeeds = []string{
	`{"iss":"a","sub":"b","exp":1700000000}`,
	` { "iss" : "a" , "aud" : [ "x" , "y" ] , "n" : { "a" : [1,{"b":"}"}] } , "e":"\"}\\" } `,
	`{"\u0069ss":"esc","k\"q":1,"":null,"t":true,"f":false}`,
	`{"exp":1.7e9,"nbf":-1,"iat":0.5,"x":1e400}`,
	`{"s":"\ud83d\ude00 é \u00e9","a":[],"o":{}}`,
	`{"a":1,"b":2,"a":3}`,
	`{"ISS":"a","Iss":"b"}`,
	`{}`,
	`[]`,
	`null`,
	`"iss"`,
	`{"a":1,}`,
	`{"a"}`,
	`{"a":"\xff"}`,
	``,
}

// parsedToken wraps payload in an HS256 JWS and parses it.
func parsedToken(tb testing.TB, payload []byte) *jwt.JSONWebToken {
	tb.Helper()
	tok, err := jwt.ParseSigned(rawToken(`{"alg":"HS256"}`, string(payload), []byte("k")), []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func TestDecodeClaims(t *testing.T) {
	for _, c := range []struct {
		payload string
		ok      bool
	}{
		{`{"iss":"a","sub":"b","aud":"x","exp":1700000000,"nbf":1,"iat":2.5}`, true},
		{`{"iss":"a","aud":["x","y"],"extra":{"k":[1,2]}}`, true},
		{`{"\u0069ss":"a"}`, true},
		{`null`, true}, // no claims: refused later for the missing iss
		{`{"iss":"a","iss":"b"}`, false},
		{`{"iss":"a","x":1,"x":2}`, false}, // any repeated member, used or not
		{`{"iss":7}`, false},
		{`{"sub":5}`, false},
		{`{"aud":["x",1]}`, false},
		{`{"aud":{}}`, false},
		{`{"aud":null}`, false}, // jwt.Audience wants a string or an array
		{`{"iss":"a","exp":null,"sub":null}`, true},
		{`{"exp":"2099-01-01"}`, false},
		{`{"nbf":true}`, false},
		{`{"exp":1e400}`, false},
		{`["iss"]`, false},
		{`iss=x`, false},
		{`{"a":1}x`, false},
	} {
		cl, why := decodeClaims(parsedToken(t, []byte(c.payload)))
		if (why == "") != c.ok {
			t.Errorf("%s: %q", c.payload, why)
		}
		if why != "" && (len(why) > 200 || !strings.HasPrefix(why, "malformed payload: ")) {
			t.Errorf("%s: reason %q", c.payload, why)
		}
		if c.ok && c.payload != `null` && cl.Issuer != "a" {
			t.Errorf("%s: iss %q", c.payload, cl.Issuer)
		}
	}
	cl, _ := decodeClaims(parsedToken(t, []byte(`{"exp":1700000000.9,"nbf":-1.5}`)))
	if !cl.Expiry.Time().Equal(time.Unix(1700000000, 0)) || !cl.NotBefore.Time().Equal(time.Unix(-1, 0)) {
		t.Errorf("dates %v %v", cl.Expiry.Time(), cl.NotBefore.Time())
	}
}

func TestClaimText(t *testing.T) {
	cl, why := decodeClaims(parsedToken(t, []byte(`{"s":"acme","q":"a\"b","i":12,"f":-1.5e3,`+
		`"n":null,"t":true,"o":{"a":1},"l":[1]}`)))
	if why != "" {
		t.Fatal(why)
	}
	for name, want := range map[string]string{
		"s": "acme", "q": `a"b`, "i": "12", "f": "-1.5e3",
		"n": "", "t": "", "o": "", "l": "", "absent": "",
	} {
		if got := cl.text(name); got != want {
			t.Errorf("text(%s) = %q, want %q", name, got, want)
		}
	}
}

// checkClaims decodes p as a token payload. When it is accepted,
// encoding/json must accept it too, no top-level member may be repeated,
// and iss, sub and the mapped text of every member must agree with
// encoding/json's reading.
func checkClaims(t *testing.T, p []byte) {
	t.Helper()
	cl, why := decodeClaims(parsedToken(t, p))
	if why != "" {
		if len(why) > 200 {
			t.Fatalf("reason too long: %q", why)
		}
		return
	}
	var std map[string]json.RawMessage
	if err := json.Unmarshal(p, &std); err != nil {
		t.Fatalf("decodeClaims accepted %q, encoding/json: %v", p, err)
	}
	if len(std) != len(cl.raw) {
		t.Fatalf("%q: %d members, encoding/json %d (a repeated member was accepted)", p, len(cl.raw), len(std))
	}
	var iss, sub string
	if v, ok := std["iss"]; ok {
		_ = json.Unmarshal(v, &iss)
	}
	if v, ok := std["sub"]; ok {
		_ = json.Unmarshal(v, &sub)
	}
	if cl.Issuer != iss || cl.Subject != sub {
		t.Fatalf("%q: iss %q sub %q, encoding/json %q %q", p, cl.Issuer, cl.Subject, iss, sub)
	}
	for k, v := range std {
		var s string
		if json.Unmarshal(v, &s) == nil && cl.text(k) != s {
			t.Fatalf("%q: text(%q) = %q, encoding/json %q", p, k, cl.text(k), s)
		}
	}
}

func TestClaimsMatchEncodingJSON(t *testing.T) {
	for _, s := range payloadSeeds {
		checkClaims(t, []byte(s))
	}
}
