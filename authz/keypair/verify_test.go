package keypair

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apigwio/apigw/authz/signing"
)

// toRequest converts a signed *http.Request into the verifier's view, the
// way the ext_authz server does: lower-case names, Host as :authority.
func toRequest(r *http.Request, body []byte, pair bool) *Request {
	req := &Request{Method: r.Method, Target: r.URL.RequestURI(), Proto: "HTTP/1.1", Body: body, HasBody: true}
	if pair {
		var h signing.PairHeader
		for k, vs := range r.Header {
			for _, v := range vs {
				h = append(h, signing.HeaderPair{Name: k, Value: v})
			}
		}
		req.Host = r.URL.Host
		req.Header = h
	} else {
		m := signing.MapHeader{":authority": r.URL.Host}
		for k, vs := range r.Header {
			m[strings.ToLower(k)] = strings.Join(vs, ",")
		}
		req.Header = m
	}
	return req
}

func TestSignVerifyRoundTrip(t *testing.T) {
	body := []byte(`{"name":"demo"}`)
	lists := [][]string{
		nil,
		{"x-date"},
		{"date"},
		{"X-Date", "Source"},
		{"date", "x-date", "host", "content-type", "digest", "request-line"},
		{"@request-target", "x-date", "digest"},
		{"request-line", "x-date", "@request-target", "host"},
	}
	for _, alg := range Algorithms {
		for _, headers := range lists {
			for _, pair := range []bool{false, true} {
				r, _ := http.NewRequest("POST", "https://api.example.com/v1/a%20b/items?limit=10&q=x+y", nil)
				r.Header.Set("Content-Type", "application/json")
				r.Header.Set("Source", "watermark")
				if err := Sign(r, body, "bob", "secret", alg, headers, testNow); err != nil {
					t.Fatalf("%v %v: %v", alg, headers, err)
				}
				req := toRequest(r, body, pair)
				pol := Policy{ValidateBody: contains(lowerAll(headers), "digest"), AllowedAlgorithms: []Algorithm{alg}}
				if err := authenticate(req, pol, testNow.Add(time.Minute)); err != nil {
					t.Errorf("%v %v pair=%v: %v\nAuthorization: %s", alg, headers, pair, err, r.Header.Get("Authorization"))
				}
				// Any change to a signed part is caught.
				req.Target += "&more=1"
				err := authenticate(req, pol, testNow)
				if signsTarget(headers) && KindOf(err) != KindSignatureMismatch {
					t.Errorf("%v %v: tampered target: %v", alg, headers, err)
				}
				if !signsTarget(headers) && err != nil {
					t.Errorf("%v %v: unsigned target: %v", alg, headers, err)
				}
			}
		}
	}
}

func lowerAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = strings.ToLower(v)
	}
	return out
}

func signsTarget(h []string) bool {
	return contains(h, RequestLine) || contains(h, RequestTarget)
}

func TestSignSetsHeaders(t *testing.T) {
	r, _ := http.NewRequest("GET", "http://api.example.com/x", nil)
	r.Header.Set("Date", "Mon, 01 Jan 2024 00:00:00 GMT") // kept
	if err := Sign(r, nil, "AKID", "SK", HMACSHA1, []string{"date", "x-date", "digest"}, testNow); err != nil {
		t.Fatal(err)
	}
	if got := r.Header.Get("Date"); got != "Mon, 01 Jan 2024 00:00:00 GMT" {
		t.Errorf("Date overwritten: %q", got)
	}
	if got := r.Header.Get("X-Date"); got != testDate {
		t.Errorf("X-Date %q", got)
	}
	if got := r.Header.Get("Digest"); got != "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" {
		t.Errorf("Digest %q", got)
	}
	want := `hmac id="AKID", algorithm="hmac-sha1", headers="date x-date digest", signature="` +
		oracle(HMACSHA1, "SK", "date: Mon, 01 Jan 2024 00:00:00 GMT\nx-date: "+testDate+"\ndigest: SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=") + `"`
	if got := r.Header.Get("Authorization"); got != want {
		t.Errorf("Authorization\n got %s\nwant %s", got, want)
	}
}

func TestSignErrors(t *testing.T) {
	good := func() *http.Request { r, _ := http.NewRequest("GET", "http://h/", nil); return r }
	for _, c := range []struct {
		name    string
		r       *http.Request
		id, sk  string
		alg     Algorithm
		headers []string
	}{
		{"nil request", nil, "k", "s", HMACSHA1, nil},
		{"bad algorithm", good(), "k", "s", 0, nil},
		{"empty id", good(), "", "s", HMACSHA1, nil},
		{"quote in id", good(), `a"b`, "s", HMACSHA1, nil},
		{"backslash in id", good(), `a\b`, "s", HMACSHA1, nil},
		{"newline in id", good(), "a\nb", "s", HMACSHA1, nil},
		{"non-utf-8 id", good(), "a\xff", "s", HMACSHA1, nil},
		{"empty secret", good(), "k", "", HMACSHA1, nil},
		{"no date", good(), "k", "s", HMACSHA1, []string{"host"}},
		{"unknown pseudo-header", good(), "k", "s", HMACSHA1, []string{"x-date", "@method"}},
		{"missing header", good(), "k", "s", HMACSHA1, []string{"x-date", "source"}},
	} {
		if err := Sign(c.r, nil, c.id, c.sk, c.alg, c.headers, testNow); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
}

func TestSigningString(t *testing.T) {
	req := &Request{
		Method: "PATCH",
		Target: "/a%2Fb/c?x=1&y=%20",
		Proto:  "HTTP/1.0",
		Host:   "api.example.com",
		Header: hdr("X-Date", testDate, "x-multi", " one ", "X-Multi", "two\t", "Source", ""),
	}
	for _, c := range []struct {
		headers []string
		want    string
		kind    Kind
	}{
		{[]string{"x-date"}, "x-date: " + testDate, 0},
		{[]string{"X-Date", "SOURCE"}, "x-date: " + testDate + "\nsource: ", 0},
		{[]string{"request-line"}, "PATCH /a%2Fb/c?x=1&y=%20 HTTP/1.0", 0},
		{[]string{"@request-target", "host"}, "@request-target: patch /a%2Fb/c?x=1&y=%20\nhost: api.example.com", 0},
		{[]string{"x-multi"}, "x-multi: one, two", 0},
		{[]string{}, "", 0},
		{[]string{"x-date", "missing"}, "", KindMissingHeader},
		{[]string{"@method"}, "", KindInvalidAuthorization},
		{[]string{"(request-target)"}, "", KindInvalidAuthorization},
		{make([]string, 65), "", KindInvalidAuthorization},
	} {
		got, err := SigningString(req, c.headers)
		if KindOf(err) != c.kind || got != c.want {
			t.Errorf("%q: got %q, %v; want %q, %v", c.headers, got, err, c.want, c.kind)
		}
	}
	if _, err := SigningString(req, []string{"x-date", "missing"}); err.Error() != "HMAC signature cannot be verified, a valid missing header is required" {
		t.Errorf("message %q", err)
	}
	// Defaults: empty target is "/", empty proto HTTP/1.1, HTTP/2 → HTTP/2.0.
	for proto, want := range map[string]string{"": "GET / HTTP/1.1", "HTTP/2": "GET / HTTP/2.0", "HTTP/3": "GET / HTTP/3.0", "HTTP/1.1": "GET / HTTP/1.1"} {
		got, _ := SigningString(&Request{Method: "GET", Proto: proto}, []string{"request-line"})
		if got != want {
			t.Errorf("proto %q: %q, want %q", proto, got, want)
		}
	}
	// host falls back to :authority.
	got, _ := SigningString(&Request{Header: signing.MapHeader{":authority": "a.example"}}, []string{"host"})
	if got != "host: a.example" {
		t.Errorf("authority fallback %q", got)
	}
	// A host header wins over Request.Host.
	got, _ = SigningString(&Request{Host: "b", Header: signing.MapHeader{"host": "a"}}, []string{"host"})
	if got != "host: a" {
		t.Errorf("host header %q", got)
	}
	if _, err := SigningString(nil, []string{"host"}); KindOf(err) != KindMissingHeader {
		t.Errorf("nil request: %v", err)
	}
}

func TestSignatureHelper(t *testing.T) {
	req := &Request{Header: hdr("x-date", testDate)}
	got, err := Signature(req, HMACSHA512, []string{"X-Date"}, []byte("k"))
	if err != nil || got != oracle(HMACSHA512, "k", "x-date: "+testDate) {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := Signature(req, 0, []string{"x-date"}, []byte("k")); KindOf(err) != KindUnsupportedAlgorithm {
		t.Fatal(err)
	}
	// Keys longer than the block size are hashed first (RFC 2104).
	long := strings.Repeat("k", 200)
	for _, alg := range Algorithms {
		got, _ := Signature(req, alg, []string{"x-date"}, []byte(long))
		if got != oracle(alg, long, "x-date: "+testDate) {
			t.Errorf("%v long key", alg)
		}
	}
}

func TestVerifyCredentialChecks(t *testing.T) {
	req := &Request{Method: "GET", Target: "/", Header: hdr("x-date", testDate, "source", "s")}
	b64 := oracle(HMACSHA256, "secret", "x-date: "+testDate+"\nsource: s")
	good, err := ParseAuthorization(kongAuth("bob", "hmac-sha256", "x-date source", b64))
	if err != nil {
		t.Fatal(err)
	}
	checkErr(t, Verify(req, good, []byte("secret"), Policy{}, testNow), 0)

	mod := func(f func(*Credential)) Credential {
		c := good
		c.Headers = append([]string(nil), good.Headers...)
		f(&c)
		return c
	}
	for _, c := range []struct {
		name   string
		cred   Credential
		secret string
		pol    Policy
		want   Kind
	}{
		{"only base64 signature", mod(func(c *Credential) { c.Signature = nil }), "secret", Policy{}, 0},
		{"only decoded signature", mod(func(c *Credential) { c.SignatureB64 = "" }), "secret", Policy{}, 0},
		{"no signature", mod(func(c *Credential) { c.Signature, c.SignatureB64 = nil, "" }), "secret", Policy{}, KindMissingIDOrSignature},
		{"no id", mod(func(c *Credential) { c.ID = "" }), "secret", Policy{}, KindMissingIDOrSignature},
		{"signature of the wrong length", mod(func(c *Credential) { c.Signature = c.Signature[:20] }), "secret", Policy{}, KindMalformedSignature},
		{"base64 of the wrong length", mod(func(c *Credential) { c.Signature, c.SignatureB64 = nil, sig1 }), "secret", Policy{}, KindMalformedSignature},
		{"base64 with line break", mod(func(c *Credential) { c.Signature, c.SignatureB64 = nil, b64[:40]+"\n"+b64[41:] }), "secret", Policy{}, KindMalformedSignature},
		{"flipped bit", mod(func(c *Credential) { c.Signature = bytes.Clone(c.Signature); c.Signature[31] ^= 1 }), "secret", Policy{}, KindSignatureMismatch},
		{"empty secret", good, "", Policy{}, KindSignatureMismatch},
		{"upper-case header name", mod(func(c *Credential) { c.Headers[1] = "Source" }), "secret", Policy{}, KindInvalidAuthorization},
		{"unknown pseudo-header", mod(func(c *Credential) { c.Headers[1] = "@path" }), "secret", Policy{}, KindInvalidAuthorization},
		{"too many headers", mod(func(c *Credential) { c.Headers = append(c.Headers, make([]string, 63)...) }), "secret", Policy{}, KindInvalidAuthorization},
		{"id too long", mod(func(c *Credential) { c.ID = strings.Repeat("a", 257) }), "secret", Policy{}, KindInvalidAuthorization},
		{"invalid algorithm", mod(func(c *Credential) { c.Algorithm = 0 }), "secret", Policy{}, KindUnsupportedAlgorithm},
		{"algorithm not allowed", good, "secret", Policy{AllowedAlgorithms: []Algorithm{HMACSHA512}}, KindUnsupportedAlgorithm},
		{"enforced header", good, "secret", Policy{EnforceHeaders: []string{"X-Date", "Source"}}, 0},
		{"enforced header missing", good, "secret", Policy{EnforceHeaders: []string{"x-date", "Content-MD5"}}, KindEnforcedHeaderNotSigned},
	} {
		t.Run(c.name, func(t *testing.T) {
			checkErr(t, Verify(req, c.cred, []byte(c.secret), c.pol, testNow), c.want)
		})
	}
	if err := Verify(nil, good, []byte("secret"), Policy{}, testNow); KindOf(err) != KindInvalidAuthorization {
		t.Errorf("nil request: %v", err)
	}
	err = Verify(req, good, []byte("secret"), Policy{AllowedAlgorithms: []Algorithm{HMACSHA1}}, testNow)
	if err.Error() != "HMAC algorithm hmac-sha256 not supported." {
		t.Errorf("allow-list message %q", err)
	}
	err = Verify(req, good, []byte("secret"), Policy{EnforceHeaders: []string{"Content-MD5"}}, testNow)
	if err.Error() != "HMAC signature cannot be verified, a valid content-md5 header is required" {
		t.Errorf("enforce message %q", err)
	}
	c := mod(func(c *Credential) { c.Algorithm, c.AlgorithmName = 0, "" })
	if err := Verify(req, c, []byte("secret"), Policy{}, testNow); err.Error() != "HMAC algorithm  not supported." {
		t.Errorf("zero algorithm message %q", err)
	}
}

func TestVerifyMissingHeaderMessage(t *testing.T) {
	long := strings.Repeat("x", 128)
	for _, c := range []struct{ list, name string }{
		{"x-date source", "source"},
		{"x-date content-md5", "content-md5"},
		{"x-date " + long, long[:64]},
		{"date x-date", "x-date"}, // x-date signed but absent, date present
	} {
		req := &Request{Method: "GET", Target: "/", Header: hdr("x-date", testDate)}
		if c.name == "x-date" {
			req.Header = hdr("date", testDate)
		}
		cred, err := ParseAuthorization(kongAuth("bob", "hmac-sha1", c.list, sig1))
		if err != nil {
			t.Fatal(err)
		}
		err = Verify(req, cred, []byte("secret"), Policy{}, testNow)
		want := "HMAC signature cannot be verified, a valid " + c.name + " header is required"
		if KindOf(err) != KindMissingHeader || err.Error() != want {
			t.Errorf("%q: %v, want %q", c.list, err, want)
		}
	}
}

func TestVerifyDates(t *testing.T) {
	for _, c := range []struct {
		name    string
		headers []string
		list    string
		want    Kind
	}{
		{"rfc 850", []string{"date", "Tuesday, 02-Jan-24 03:04:05 GMT"}, "date", 0},
		{"asctime", []string{"x-date", "Tue Jan  2 03:04:05 2024"}, "x-date", 0},
		{"wrong day name accepted like http.ParseTime", []string{"x-date", "Mon, 02 Jan 2024 03:04:05 GMT"}, "x-date", 0},
		{"not GMT", []string{"x-date", "Tue, 02 Jan 2024 03:04:05 UTC"}, "x-date", KindInvalidDate},
		{"iso 8601", []string{"x-date", "2024-01-02T03:04:05Z"}, "x-date", KindInvalidDate},
		{"31 feb", []string{"x-date", "Sat, 31 Feb 2024 03:04:05 GMT"}, "x-date", KindInvalidDate},
		{"hour 24", []string{"x-date", "Tue, 02 Jan 2024 24:04:05 GMT"}, "x-date", KindInvalidDate},
		{"padded with blanks", []string{"x-date", "  " + testDate + " "}, "x-date", 0},
		{"two x-date values", []string{"x-date", testDate, "x-date", testDate}, "x-date", KindInvalidDate},
		{"date present but not signed", []string{"date", testDate, "source", "s"}, "source", KindMissingDate},
		{"both signed and valid", []string{"date", testDate, "x-date", testDate}, "date x-date", 0},
		{"both signed, date stale", []string{"date", "Tue, 02 Jan 2024 01:04:05 GMT", "x-date", testDate}, "date x-date", KindDateOutOfRange},
		{"x-date signed but absent, date valid", []string{"date", testDate}, "x-date date", KindMissingHeader},
		{"non-utf-8 date", []string{"x-date", "Tue, 02 Jan 2024 03:04:05 G\xffT"}, "x-date", KindInvalidDate},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := &Request{Method: "GET", Target: "/", Header: hdr(c.headers...)}
			cred, err := ParseAuthorization(kongAuth("bob", "hmac-sha256", c.list, sig256))
			if err != nil {
				t.Fatal(err)
			}
			s, serr := SigningString(req, cred.Headers)
			if serr == nil {
				cred.SignatureB64 = oracle(HMACSHA256, "secret", s)
				cred.Signature = nil
			}
			checkErr(t, Verify(req, cred, []byte("secret"), Policy{}, testNow), c.want)
		})
	}
}

func TestParseHTTPDateMatchesStdlib(t *testing.T) {
	for _, s := range []string{
		testDate, "Sun, 06 Nov 1994 08:49:37 GMT", "Sun, 29 Feb 2004 00:00:00 GMT", "Sun, 29 Feb 2005 00:00:00 GMT",
		"Xyz, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 6 Nov 1994 08:49:37 GMT",
		"Sun, 00 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:60:37 GMT", "Sun, 06 Nov 1994 08:49:60 GMT",
		"Sun, 06 Nov 1994 08:49:37 gmt", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "",
		"Sun, 06 Nov 0000 00:00:00 GMT", "Sun, 06 Nov 1994 08:4a:37 GMT",
	} {
		got, ok := parseHTTPDate(s)
		want, err := http.ParseTime(s)
		if ok != (err == nil) || (ok && !got.Equal(want)) {
			t.Errorf("%q: got %v %v, http.ParseTime %v %v", s, got, ok, want, err)
		}
	}
}

func TestVerifyDigest(t *testing.T) {
	body := `{"k":"v"}`
	d := digestOf(body)
	for _, c := range []struct {
		name   string
		digest []string // Digest header values
		list   string
		body   string
		want   Kind
	}{
		{"valid", []string{d}, "x-date digest", body, 0},
		{"algorithm name in lower case", []string{"sha-256" + d[7:]}, "x-date digest", body, 0},
		{"list with md5", []string{"MD5=HUXZLQLMuI/KZ5KDcJPcOA==, " + d}, "x-date digest", body, 0},
		{"two header lines", []string{"MD5=HUXZLQLMuI/KZ5KDcJPcOA==", d}, "x-date digest", body, 0},
		{"no sha-256 entry", []string{"MD5=HUXZLQLMuI/KZ5KDcJPcOA=="}, "x-date digest", body, KindDigestRequired},
		{"garbage", []string{"whatever"}, "x-date digest", body, KindDigestRequired},
		{"one of two sha-256 entries wrong", []string{d + "," + digestOf("x")}, "x-date digest", body, KindDigestMismatch},
		{"wrong body", []string{d}, "x-date digest", "other", KindDigestMismatch},
		{"unpadded", []string{strings.TrimRight(d, "=")}, "x-date digest", body, KindDigestMismatch},
		{"not signed", []string{d}, "x-date", body, KindDigestNotSigned},
		{"absent, body", nil, "x-date", body, KindDigestRequired},
		{"absent, empty body", nil, "x-date", "", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			kv := []string{"x-date", testDate}
			for _, v := range c.digest {
				kv = append(kv, "Digest", v)
			}
			req := &Request{Method: "POST", Target: "/", Header: hdr(kv...), Body: []byte(c.body), HasBody: true}
			names := strings.Fields(c.list)
			s, err := SigningString(req, names)
			if err != nil {
				t.Fatal(err)
			}
			cred, err := ParseAuthorization(kongAuth("bob", "hmac-sha256", c.list, oracle(HMACSHA256, "secret", s)))
			if err != nil {
				t.Fatal(err)
			}
			checkErr(t, Verify(req, cred, []byte("secret"), Policy{ValidateBody: true}, testNow), c.want)
		})
	}
}

func TestErrorTable(t *testing.T) {
	for _, c := range []struct {
		k      Kind
		msg    string
		status int
	}{
		{KindMissingAuthorization, "HMAC signature cannot be verified, a validate authorization header is required", 401},
		{KindInvalidAuthorization, "authorization headers is invalidate", 403},
		{KindMissingIDOrSignature, "id or signature missing", 403},
		{KindMissingHeader, "HMAC signature cannot be verified, a valid $header header is required", 403},
		{KindEnforcedHeaderNotSigned, "HMAC signature cannot be verified, a valid $header header is required", 403},
		{KindMissingDate, "HMAC signature cannot be verified, a valid date header is required", 403},
		{KindInvalidDate, "HMAC signature cannot be verified, a valid date header is required", 403},
		{KindUnsupportedAlgorithm, "HMAC algorithm $alg not supported.", 403},
		{KindDateOutOfRange, "HMAC signature cannot be verified, the x-date header is out of date for HMAC Authentication.", 403},
		{KindSignatureMismatch, "HMAC signature does not match", 403},
		{KindMalformedSignature, "HMAC signature does not match", 403},
		{KindDigestRequired, "HMAC signature cannot be verified, a valid digest header is required", 403},
		{KindDigestNotSigned, "HMAC signature cannot be verified, a valid digest header is required", 403},
		{KindDigestMismatch, "HMAC signature does not match", 403},
		{KindBodyUnavailable, "HMAC signature does not match", 403},
		{KindUnknownKey, "HMAC signature cannot be verified", 403},
		{KindNoUsagePlan, "Found no validate usage plan", 403},
		{KindRateLimited, "API rate limit exceeded.", 429},
		{KindQuotaExceeded, "API quota exceeded.", 429},
	} {
		e := NewError(c.k)
		if e.Kind != c.k || e.Message != c.msg || e.Status != c.status || e.Error() != c.msg {
			t.Errorf("%v: %+v", c.k, e)
		}
		if c.k.String() == "" || strings.HasPrefix(c.k.String(), "Kind(") {
			t.Errorf("%d has no name", c.k)
		}
	}
	if Kind(0).String() != "none" || Kind(200).String() != "Kind(200)" || Kind(0).Status() != 0 {
		t.Error("zero / unknown kind")
	}
	if e := NewError(Kind(200)); e.Message != MsgInvalidAuthorization {
		t.Error(e)
	}
	if m := MissingHeaderError("Source\x00" + strings.Repeat("y", 100)).Message; m != "HMAC signature cannot be verified, a valid Source?"+strings.Repeat("y", 57)+" header is required" {
		t.Errorf("clip: %q", m)
	}
	if KindOf(nil) != 0 || KindOf(http.ErrBodyNotAllowed) != 0 {
		t.Error("KindOf of a foreign error")
	}
}

func TestPolicyValidate(t *testing.T) {
	for _, c := range []struct {
		p  Policy
		ok bool
	}{
		{Policy{}, true},
		{Policy{AllowedAlgorithms: Algorithms, EnforceHeaders: []string{"Date", "request-line", "@request-target"}}, true},
		{Policy{AllowedAlgorithms: []Algorithm{7}}, false},
		{Policy{EnforceHeaders: []string{"@method"}}, false},
		{Policy{EnforceHeaders: []string{""}}, false},
	} {
		if err := c.p.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v: %v", c.p, err)
		}
	}
}

// TestVerifyAllocs: Verify allocates nothing on success for a parsed
// credential with MapHeader and PairHeader.
func TestVerifyAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, pair := range []bool{false, true} {
		req, cred := benchRequest(t, HMACSHA256, pair)
		pol := Policy{ValidateBody: true, AllowedAlgorithms: []Algorithm{HMACSHA256}, EnforceHeaders: []string{"x-date"}}
		secret := []byte("secret")
		if n := testing.AllocsPerRun(200, func() {
			if err := Verify(req, cred, secret, pol, testNow); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("pair=%v: %v allocs per Verify", pair, n)
		}
	}
}

// TestVerifyConcurrent exercises the pooled state from many goroutines
// (meaningful under -race).
func TestVerifyConcurrent(t *testing.T) {
	req, cred := benchRequest(t, HMACSHA256, false)
	done := make(chan error)
	for g := 0; g < 8; g++ {
		go func(g int) {
			var err error
			for i := 0; i < 200 && err == nil; i++ {
				alg := Algorithms[(g+i)%len(Algorithms)]
				c := cred
				c.Algorithm, c.AlgorithmName = alg, alg.String()
				s, _ := SigningString(req, c.Headers)
				c.Signature, c.SignatureB64 = nil, oracle(alg, "secret", s)
				err = Verify(req, c, []byte("secret"), Policy{}, testNow)
			}
			done <- err
		}(g)
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
