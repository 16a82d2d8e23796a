package keypair

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestKongAccessScenarios ports the scenarios of Kong's hmac-auth access
// tests (spec/03-plugins/19-hmac-auth/03-access_spec.lua), reconstructed.
// Kong answers every failure with 401/403 and its own texts; here each case
// expects the Tencent kind (and so message and status). Where this package
// deliberately differs from Kong the case says so.
func TestKongAccessScenarios(t *testing.T) {
	const (
		md5  = "content-md5"
		body = `{"a":"apple","b":"ball"}`
	)
	date := testDate
	sha1 := func(s string) string { return oracle(HMACSHA1, "secret", s) }
	line := "\nGET /request HTTP/1.1"
	dmd5 := "date: " + date + "\ncontent-md5: md5"
	sigRL := sha1(dmd5 + line) // date content-md5 request-line, GET /request

	bodyPol := Policy{ClockSkew: 3000 * time.Second, ValidateBody: true}
	enforcePol := Policy{ClockSkew: 3000 * time.Second, ValidateBody: true, EnforceHeaders: []string{"date", "request-line"}}
	algPol := Policy{ClockSkew: 3000 * time.Second, ValidateBody: true, EnforceHeaders: []string{"date", "request-line"},
		AllowedAlgorithms: []Algorithm{HMACSHA1, HMACSHA256}}
	kongPol := Policy{ClockSkew: 3000 * time.Second}

	cases := []struct {
		name    string
		method  string // default GET
		target  string // default /request
		proto   string
		headers []string // name, value pairs
		body    string
		noBody  bool // HasBody false
		pol     *Policy
		want    Kind
	}{
		{name: "credentials missing", method: "POST", headers: []string{"date", date},
			want: KindMissingAuthorization},
		{name: "garbage authorization", method: "POST", headers: []string{"date", date, "authorization", "asd"},
			want: KindInvalidAuthorization},
		{name: "garbage proxy-authorization", method: "POST", headers: []string{"date", date, "proxy-authorization", "asd"},
			want: KindInvalidAuthorization},
		{name: "signature not base64", method: "POST", headers: []string{"date", date, "authorization",
			`hmac username="bob",algorithm="hmac-sha1",headers="date",signature="not really a base64 encoded value!!!"`},
			want: KindMalformedSignature},
		// Kong checks the date before parsing; this parser reports the
		// unparsable value first.
		{name: "date missing, garbage authorization", method: "POST", headers: []string{"authorization", "asd"},
			want: KindInvalidAuthorization},
		{name: "date missing, valid credential", headers: []string{"authorization",
			kongAuth("bob", "hmac-sha1", "date", sha1("date: "+date))},
			want: KindMissingDate},
		{name: "only a digest-like token", method: "POST", headers: []string{"date", date,
			"proxy-authorization", "hmac :dXNlcm5hbWU6cGFzc3dvcmQ="}, want: KindInvalidAuthorization},
		{name: "wrong hmac parameters (proxy)", method: "POST", headers: []string{"date", date,
			"proxy-authorization", "hmac username=,algorithm,headers,dXNlcm5hbWU6cGFzc3dvcmQ="}, want: KindInvalidAuthorization},
		{name: "wrong hmac parameters", method: "POST", headers: []string{"date", date,
			"authorization", "hmac username=,algorithm,headers,dXNlcm5hbWU6cGFzc3dvcmQ="}, want: KindInvalidAuthorization},
		{name: "only the username", method: "POST", headers: []string{"date", date, "authorization", "hmac username"},
			want: KindInvalidAuthorization},
		{name: "GET", headers: []string{"date", date, "authorization",
			`hmac username="bob",algorithm="hmac-sha1",headers="date",signature="` + sha1("date: "+date) + `"`}},
		{name: "GET with proxy-authorization", headers: []string{"date", date, "proxy-authorization",
			`hmac username="bob",algorithm="hmac-sha1",headers="date",signature="` + sha1("date: "+date) + `"`}},
		{name: "POST", method: "POST", body: "{}", headers: []string{"date", date, "authorization",
			`hmac username="bob",algorithm="hmac-sha1",headers="date",signature="` + sha1("date: "+date) + `"`}},
		{name: "valid authorization, wrong proxy-authorization", method: "POST", headers: []string{"date", date,
			"proxy-authorization", "hmac username",
			"authorization", `hmac username="bob",algorithm="hmac-sha1",headers="date",signature="` + sha1("date: "+date) + `"`}},
		{name: "invalid authorization, valid proxy-authorization", method: "POST", headers: []string{"date", date,
			"proxy-authorization", `hmac username="bob",algorithm="hmac-sha1",headers="date",signature="` + sha1("date: "+date) + `"`,
			"authorization", "hello"}},
		{name: "content-md5", headers: []string{"date", date, md5, "md5", "authorization", "hello",
			"proxy-authorization", `hmac username="bob",algorithm="hmac-sha1",headers="date content-md5",signature="` + sha1(dmd5) + `"`}},
		{name: "request-line", headers: []string{"date", date, md5, "md5", "authorization", "hello",
			"proxy-authorization", `hmac username="bob",  algorithm="hmac-sha1", headers="date content-md5 request-line", signature="` + sigRL + `"`}},
		{name: "wrong username", headers: []string{"date", date, md5, "md5",
			"proxy-authorization", kongAuth("bobb", "hmac-sha1", "date content-md5 request-line", sigRL)},
			want: KindUnknownKey},
		{name: "username blank", headers: []string{"date", date, md5, "md5",
			"proxy-authorization", kongAuth("", "hmac-sha1", "date content-md5 request-line", sigRL)},
			want: KindMissingIDOrSignature},
		{name: "username missing", headers: []string{"date", date, md5, "md5", "proxy-authorization",
			`hmac algorithm="hmac-sha1", headers="date content-md5 request-line", signature="` + sigRL + `"`},
			want: KindMissingIDOrSignature},
		{name: "wrong headers field name", headers: []string{"date", date, md5, "md5", "proxy-authorization",
			`hmac username="bob",  algorithm="hmac-sha1",   wrong_header="date content-md5 request-line", signature="` + sigRL + `"`},
			want: KindInvalidAuthorization},
		{name: "wrong signature field name", headers: []string{"date", date, md5, "md5", "proxy-authorization",
			`hmac username="bob",  algorithm="hmac-sha1",   headers="date content-md5 request-line", wrong_signature="` + sigRL + `"`},
			want: KindInvalidAuthorization},
		{name: "misspelt usernme", headers: []string{"date", date, "proxy-authorization",
			`hmac usernme="bob", algorithm="hmac-sha1", headers="date", signature="` + sha1("date: "+date) + `"`},
			want: KindInvalidAuthorization},
		{name: "misspelt signatur", headers: []string{"date", date, "proxy-authorization",
			`hmac username="bob", algorithm="hmac-sha1", headers="date", signatur="` + sha1("date: "+date) + `"`},
			want: KindInvalidAuthorization},
		{name: "comma missing before headers", headers: []string{"date", date, md5, "md5", "proxy-authorization",
			`hmac username="bob",  algorithm="hmac-sha1" headers="date content-md5 request-line", signature="` + sigRL + `"`},
			want: KindInvalidAuthorization},
		// Kong's version of this case fails for its missing comma; the
		// blanks around the names are accepted here.
		{name: "blanks around header names", headers: []string{"date", date, md5, "md5", "proxy-authorization",
			`hmac username="bob", algorithm="hmac-sha1", headers="  date content-md5  request-line ",signature="` + sigRL + `"`}},
		{name: "no space between fields", headers: []string{"date", date, md5, "md5", "proxy-authorization",
			`hmac username="bob",algorithm="hmac-sha1",headers="date content-md5 request-line",signature="` + sigRL + `"`}},
		{name: "spaces and tabs between fields", headers: []string{"date", date, md5, "md5", "proxy-authorization",
			"hmac   username=\"bob\" ,\talgorithm=\"hmac-sha1\",  headers=\"date content-md5 request-line\" , signature=\"" + sigRL + `"`}},
		{name: "wrong algorithm", headers: []string{"date", date, md5, "md5", "proxy-authorization",
			kongAuth("bob", "hmac-sha", "date content-md5 request-line", oracle(HMACSHA256, "secret", dmd5+line))},
			want: KindUnsupportedAlgorithm},
		{name: "hmac-sha256", headers: []string{"date", date, md5, "md5", "proxy-authorization",
			kongAuth("bob", "hmac-sha256", "date content-md5 request-line", oracle(HMACSHA256, "secret", dmd5+line))}},
		{name: "x-date", headers: []string{"x-date", date, md5, "md5", "authorization",
			kongAuth("bob", "hmac-sha1", "x-date content-md5 request-line", sha1("x-date: "+date+"\ncontent-md5: md5"+line))}},
		{name: "date and x-date missing", headers: []string{md5, "md5", "proxy-authorization",
			kongAuth("bob", "hmac-sha1", "content-md5 request-line", sha1("content-md5: md5"+line))},
			want: KindMissingDate},
		{name: "x-date malformed and signed", headers: []string{"x-date", "wrong date", md5, "md5", "authorization",
			kongAuth("bob", "hmac-sha1", "x-date content-md5 request-line", sha1("x-date: wrong date\ncontent-md5: md5"+line))},
			want: KindInvalidDate},
		// Kong passes: it checks the skew of an unsigned Date. Here a date
		// must be signed.
		{name: "x-date malformed, date correct, neither signed", headers: []string{"x-date", "wrong date", "date", date, md5, "md5",
			"authorization", kongAuth("bob", "hmac-sha1", "content-md5 request-line", sha1("content-md5: md5"+line))},
			want: KindMissingDate},
		{name: "x-date malformed unsigned, date correct and signed", headers: []string{"x-date", "wrong date", "date", date, md5, "md5",
			"authorization", kongAuth("bob", "hmac-sha1", "date content-md5 request-line", sigRL)}},
		// Kong passes (the unsigned Date is fresh); here the signed X-Date
		// must itself be valid.
		{name: "x-date malformed and signed, date correct unsigned", headers: []string{"x-date", "wrong date", "date", date, md5, "md5",
			"authorization", kongAuth("bob", "hmac-sha1", "x-date content-md5 request-line", sha1("x-date: wrong date\ncontent-md5: md5"+line))},
			want: KindInvalidDate},
		{name: "date malformed and signed, x-date correct unsigned", headers: []string{"x-date", date, "date", "wrong date", md5, "md5",
			"authorization", kongAuth("bob", "hmac-sha1", "date content-md5 request-line", sha1("date: wrong date\ncontent-md5: md5"+line))},
			want: KindInvalidDate},

		// Body validation (Kong route 4).
		{name: "body validation, body without digest", method: "POST", body: body, pol: &bodyPol,
			headers: []string{"date", date, "authorization", kongAuth("bob", "hmac-sha1", "date", sha1("date: "+date))},
			want:    KindDigestRequired},
		{name: "body validation, no body, no digest", pol: &bodyPol,
			headers: []string{"date", date, "authorization", kongAuth("bob", "hmac-sha1", "date", sha1("date: "+date))}},
		{name: "body validation, no body, digest", pol: &bodyPol,
			headers: []string{"date", date, "digest", digestOf(""), "authorization",
				kongAuth("bob", "hmac-sha1", "date digest", sha1("date: "+date+"\ndigest: "+digestOf("")))}},
		{name: "body validation, body not forwarded", pol: &bodyPol, noBody: true,
			headers: []string{"date", date, "authorization", kongAuth("bob", "hmac-sha1", "date", sha1("date: "+date))},
			want:    KindBodyUnavailable},
		{name: "body validation, POST with digest", method: "POST", body: body, pol: &bodyPol,
			headers: []string{"date", date, "digest", digestOf(body), "authorization",
				kongAuth("bob", "hmac-sha1", "date digest", sha1("date: "+date+"\ndigest: "+digestOf(body)))}},
		{name: "body validation, digest listed but absent", method: "POST", body: body, pol: &bodyPol,
			headers: []string{"date", date, "authorization",
				kongAuth("bob", "hmac-sha1", "date digest", sha1("date: "+date+"\ndigest: "+digestOf(body)))},
			want: KindMissingHeader},
		{name: "body validation, body tampered", method: "POST", body: "abc", pol: &bodyPol,
			headers: []string{"date", date, "digest", digestOf(body), "authorization",
				kongAuth("bob", "hmac-sha1", "date digest", sha1("date: "+date+"\ndigest: "+digestOf(body)))},
			want: KindDigestMismatch},
		{name: "body validation, digest tampered", method: "POST", body: body, pol: &bodyPol,
			headers: []string{"date", date, "digest", digestOf(body) + "spoofed", "authorization",
				kongAuth("bob", "hmac-sha1", "date digest", sha1("date: "+date+"\ndigest: "+digestOf(body)))},
			want: KindSignatureMismatch},
		{name: "body validation, digest present but not signed", method: "POST", body: body, pol: &bodyPol,
			headers: []string{"date", date, "digest", digestOf(body), "authorization",
				kongAuth("bob", "hmac-sha1", "date", sha1("date: "+date))},
			want: KindDigestNotSigned},
		{name: "body validation, digest and body both replaced but unsigned", method: "POST", body: "evil", pol: &bodyPol,
			headers: []string{"date", date, "digest", digestOf("evil"), "authorization",
				kongAuth("bob", "hmac-sha1", "date", sha1("date: "+date))},
			want: KindDigestNotSigned},
		{name: "digest not checked without body validation", method: "POST", body: "abc", pol: &kongPol,
			headers: []string{"date", date, "digest", digestOf(body), "authorization",
				kongAuth("bob", "hmac-sha1", "date digest", sha1("date: "+date+"\ndigest: "+digestOf(body)))}},

		// request-line variants (Kong route 5: enforce date and request-line).
		{name: "request-line enforced", pol: &enforcePol, headers: []string{"date", date, md5, "md5",
			"proxy-authorization", kongAuth("bob", "hmac-sha1", "date content-md5 request-line", sigRL)}},
		// Kong also accepts, for a deprecation period, a request line signed
		// without the query; that would leave the query unsigned.
		{name: "request-line signed without the query", target: "/request?name=foo", pol: &enforcePol,
			headers: []string{"date", date, md5, "md5", "proxy-authorization",
				kongAuth("bob", "hmac-sha1", "date content-md5 request-line", sigRL)},
			want: KindSignatureMismatch},
		{name: "request-line with query", target: "/request?name=foo", pol: &enforcePol,
			headers: []string{"date", date, md5, "md5", "proxy-authorization",
				kongAuth("bob", "hmac-sha1", "date content-md5 request-line", sha1(dmd5+"\nGET /request?name=foo HTTP/1.1"))}},
		{name: "request-line with query, trailing slash", target: "/request/?name=foo", pol: &enforcePol,
			headers: []string{"date", date, md5, "md5", "proxy-authorization",
				kongAuth("bob", "hmac-sha1", "date content-md5 request-line", sha1(dmd5+"\nGET /request/?name=foo HTTP/1.1"))}},
		{name: "request-line with encoded query", target: "/request?name=" + url.QueryEscape("foo bár"), pol: &enforcePol,
			headers: []string{"date", date, md5, "md5", "proxy-authorization",
				kongAuth("bob", "hmac-sha1", "date content-md5 request-line", sha1(dmd5+"\nGET /request?name=foo+b%C3%A1r HTTP/1.1"))}},
		{name: "request-line with several query params", target: "/request?name=foo%20bar&address=san%20francisco", pol: &enforcePol,
			headers: []string{"date", date, md5, "md5", "proxy-authorization",
				kongAuth("bob", "hmac-sha1", "date content-md5 request-line", sha1(dmd5+"\nGET /request?name=foo%20bar&address=san%20francisco HTTP/1.1"))}},
		{name: "request-line with repeated query param", target: "/request?name=foo&name=bar", pol: &enforcePol,
			headers: []string{"date", date, md5, "md5", "proxy-authorization",
				kongAuth("bob", "hmac-sha1", "date content-md5 request-line", sha1(dmd5+"\nGET /request?name=foo&name=bar HTTP/1.1"))}},
		{name: "request-line without uri", target: "/", pol: &enforcePol,
			headers: []string{"date", date, md5, "md5", "proxy-authorization",
				kongAuth("bob", "hmac-sha1", "date content-md5 request-line", sha1(dmd5+"\nGET / HTTP/1.1"))}},
		{name: "request-line with encoded path", target: "/request/some%20value/?name=foo&name=bar", pol: &enforcePol,
			headers: []string{"date", date, md5, "md5", "proxy-authorization",
				kongAuth("bob", "hmac-sha1", "date content-md5 request-line", sha1(dmd5+"\nGET /request/some%20value/?name=foo&name=bar HTTP/1.1"))}},
		{name: "request-line, path decoded by the signer", target: "/request/some%20value/", pol: &enforcePol,
			headers: []string{"date", date, md5, "md5", "proxy-authorization",
				kongAuth("bob", "hmac-sha1", "date content-md5 request-line", sha1(dmd5+"\nGET /request/some value/ HTTP/1.1"))},
			want: KindSignatureMismatch},
		{name: "request-line HTTP/1.0", proto: "HTTP/1.0", pol: &enforcePol,
			headers: []string{"date", date, md5, "md5", "proxy-authorization",
				kongAuth("bob", "hmac-sha1", "date content-md5 request-line", sha1(dmd5+"\nGET /request HTTP/1.0"))}},
		{name: "request-line HTTP/1.0 signed as 1.1", proto: "HTTP/1.0", pol: &enforcePol,
			headers: []string{"date", date, md5, "md5", "proxy-authorization",
				kongAuth("bob", "hmac-sha1", "date content-md5 request-line", sigRL)},
			want: KindSignatureMismatch},
		{name: "request-line HTTP/2 (Envoy) signed as HTTP/2.0 (Kong)", proto: "HTTP/2", pol: &enforcePol,
			headers: []string{"date", date, md5, "md5", "proxy-authorization",
				kongAuth("bob", "hmac-sha1", "date content-md5 request-line", sha1(dmd5+"\nGET /request HTTP/2.0"))}},
		{name: "request-line with the spec's prefix", pol: &enforcePol,
			headers: []string{"date", date, md5, "md5", "proxy-authorization",
				kongAuth("bob", "hmac-sha1", "date content-md5 request-line", sha1(dmd5+"\nrequest-line: GET /request HTTP/1.1"))}},
		{name: "enforced request-line missing", pol: &enforcePol,
			headers: []string{"date", date, md5, "md5", "proxy-authorization",
				kongAuth("bob", "hmac-sha1", "date content-md5", sha1(dmd5))},
			want: KindEnforcedHeaderNotSigned},
		{name: "@request-target", method: "DELETE", target: "/request?x=1",
			headers: []string{"date", date, "authorization", kongAuth("bob", "hmac-sha256", "@request-target date",
				oracle(HMACSHA256, "secret", "@request-target: delete /request?x=1\ndate: "+date))}},
		{name: "@request-target, method tampered", method: "POST", target: "/request?x=1",
			headers: []string{"date", date, "authorization", kongAuth("bob", "hmac-sha256", "@request-target date",
				oracle(HMACSHA256, "secret", "@request-target: delete /request?x=1\ndate: "+date))},
			want: KindSignatureMismatch},

		// Algorithms (Kong route 6: sha1 and sha256 allowed).
		{name: "hmac-sha384", pol: &enforcePol, headers: []string{"date", date, md5, "md5", "proxy-authorization",
			kongAuth("bob", "hmac-sha384", "date content-md5 request-line", oracle(HMACSHA384, "secret", dmd5+line))}},
		{name: "hmac-sha512", pol: &enforcePol, headers: []string{"date", date, md5, "md5", "proxy-authorization",
			kongAuth("bob", "hmac-sha512", "date content-md5 request-line", oracle(HMACSHA512, "secret", dmd5+line))}},
		{name: "hmac-sha512 not allowed", pol: &algPol, headers: []string{"date", date, md5, "md5", "proxy-authorization",
			kongAuth("bob", "hmac-sha512", "date content-md5 request-line", oracle(HMACSHA512, "secret", dmd5+line))},
			want: KindUnsupportedAlgorithm},
		{name: "not an hmac token at all", pol: &algPol, headers: []string{"date", date,
			"proxy-authorization", "this is no hmac token at all is it?"},
			want: KindInvalidAuthorization},
		{name: "hmac-sha1 allowed", pol: &algPol, headers: []string{"date", date, md5, "md5", "proxy-authorization",
			kongAuth("bob", "hmac-sha1", "date content-md5 request-line", sigRL)}},
		{name: "hmac-sha1 rejected when only sha256 allowed", pol: &Policy{AllowedAlgorithms: []Algorithm{HMACSHA256}},
			headers: []string{"date", date, md5, "md5", "proxy-authorization",
				kongAuth("bob", "hmac-sha1", "date content-md5 request-line", sigRL)},
			want: KindUnsupportedAlgorithm},

		// Precedence and the Tencent form.
		{name: "proxy-authorization wins over a valid authorization", headers: []string{"date", date,
			"authorization", kongAuth("bob", "hmac-sha1", "date", sha1("date: "+date)),
			"proxy-authorization", kongAuth("alice", "hmac-sha1", "date", oracle(HMACSHA1, "bob's secret is not alice's", "date: "+date))},
			want: KindSignatureMismatch},
		{name: "tencent id= form with x-date and source", headers: []string{"x-date", date, "source", "watermark",
			"authorization", `hmac id="AKIDexample0000001", algorithm="hmac-sha1", headers="x-date source", signature="` +
				oracle(HMACSHA1, "ZxF2whexampleN2oPrC", "x-date: "+date+"\nsource: watermark") + `"`}},
		{name: "wrong secret", headers: []string{"date", date,
			"authorization", kongAuth("bob", "hmac-sha256", "date", oracle(HMACSHA256, "Secret", "date: "+date))},
			want: KindSignatureMismatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := &Request{
				Method:  c.method,
				Target:  c.target,
				Proto:   c.proto,
				Host:    "hmacauth.com",
				Header:  hdr(c.headers...),
				Body:    []byte(c.body),
				HasBody: !c.noBody,
			}
			if req.Method == "" {
				req.Method = "GET"
			}
			if req.Target == "" {
				req.Target = "/request"
			}
			pol := kongPol
			if c.pol != nil {
				pol = *c.pol
			}
			err := authenticate(req, pol, testNow)
			checkErr(t, err, c.want)
			if c.want == KindUnknownKey && !strings.Contains(err.Error(), "cannot be verified") {
				t.Fatal(err)
			}
		})
	}
}

// TestKongDateSkew: a signed date outside the skew, in either direction, is
// rejected; the bounds themselves pass.
func TestKongDateSkew(t *testing.T) {
	for _, c := range []struct {
		name   string
		header string
		offset time.Duration
		skew   time.Duration
		want   Kind
	}{
		{"x-date 301s old, kong skew", "x-date", -301 * time.Second, KongClockSkew, KindDateOutOfRange},
		{"x-date 301s ahead, kong skew", "x-date", 301 * time.Second, KongClockSkew, KindDateOutOfRange},
		{"x-date 300s old, kong skew", "x-date", -300 * time.Second, KongClockSkew, 0},
		{"x-date 300s ahead, kong skew", "x-date", 300 * time.Second, KongClockSkew, 0},
		{"date 301s old, kong skew", "date", -301 * time.Second, KongClockSkew, KindDateOutOfRange},
		{"date 301s ahead, kong skew", "date", 301 * time.Second, KongClockSkew, KindDateOutOfRange},
		{"x-date 899s old, default skew", "x-date", -899 * time.Second, 0, 0},
		{"x-date 901s old, default skew", "x-date", -901 * time.Second, 0, KindDateOutOfRange},
		{"x-date 901s ahead, default skew", "x-date", 901 * time.Second, 0, KindDateOutOfRange},
		{"date 900s ahead, default skew", "date", 900 * time.Second, 0, 0},
		{"negative skew means default", "x-date", -600 * time.Second, -time.Second, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := testNow.Add(c.offset).Format("Mon, 02 Jan 2006 15:04:05 GMT")
			req := &Request{Method: "GET", Target: "/", Header: hdr(c.header, d,
				"authorization", kongAuth("bob", "hmac-sha256", c.header, oracle(HMACSHA256, "secret", c.header+": "+d)))}
			checkErr(t, authenticate(req, Policy{ClockSkew: c.skew}, testNow), c.want)
		})
	}
}
