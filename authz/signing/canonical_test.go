package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/tjfoc/gmsm/sm3"
)

// testDate is the X-Sdk-Date used by the unit tests.
const testDate = "20240102T030405Z"

// crOf returns the canonical request lines for req with the given signed
// headers (SDK-HMAC-SHA256).
func crOf(t *testing.T, req *Request, signed string) []string {
	t.Helper()
	cr, err := CanonicalRequest(req, Credential{Algorithm: SDKHMACSHA256, Access: "ak", SignedHeaders: signed})
	if err != nil {
		t.Fatalf("CanonicalRequest(%q): %v", req.Target, err)
	}
	return strings.Split(cr, "\n")
}

// uriCases are raw paths and their canonical URI; they also seed the fuzzers.
var uriCases = []struct{ raw, want string }{
	{"", "/"},
	{"/", "/"},
	{"/test", "/test/"},
	{"/test/", "/test/"},
	{"/a/b/c", "/a/b/c/"},
	{"/a//b", "/a//b/"},
	{"/a b", "/a%20b/"},
	{"/a%20b", "/a%20b/"},
	{"/a+b", "/a%2Bb/"},
	{"/a%2Bb", "/a%2Bb/"},
	{"/%E6%B5%8B%E8%AF%95", "/%E6%B5%8B%E8%AF%95/"},
	{"/%e6%b5%8b%e8%af%95", "/%E6%B5%8B%E8%AF%95/"},
	{"/测试", "/%E6%B5%8B%E8%AF%95/"},
	{"/a%2Fb", "/a/b/"},
	{"/a%2fb/", "/a/b/"},
	{"/a%zz", "/a%25zz/"},
	{"/a%2", "/a%252/"},
	{"/a%", "/a%25/"},
	{"/a%25zz", "/a%25zz/"},
	{"/~user/-_.", "/~user/-_./"},
	{"/%7Euser", "/~user/"},
	{"/a!$&'()*,;=:@b", "/a%21%24%26%27%28%29%2A%2C%3B%3D%3A%40b/"},
	{"/v1/{project_id}/x", "/v1/%7Bproject_id%7D/x/"},
	{"noslash", "/noslash/"},
	{"*", "/%2A/"},
	{"/a%00b", "/a%00b/"},
}

func TestCanonicalURI(t *testing.T) {
	for _, c := range uriCases {
		got := string(appendCanonicalURI(nil, c.raw))
		if got != c.want {
			t.Errorf("canonical URI of %q = %q, want %q", c.raw, got, c.want)
		}
		// Through the full canonical request, with a query attached.
		lines := crOf(t, &Request{Method: "GET", Target: c.raw + "?x=1", Host: "h"}, "host")
		if lines[1] != c.want {
			t.Errorf("CR line 2 for %q = %q, want %q", c.raw, lines[1], c.want)
		}
	}
}

// queryCases are raw queries and their canonical query under the first
// ("+" is a space) and second ("+" is literal) reading.
var queryCases = []struct{ raw, first, second string }{
	{"", "", ""},
	{"b=2&a=1", "a=1&b=2", "a=1&b=2"},
	{"a=2&a=1&a=10", "a=1&a=10&a=2", "a=1&a=10&a=2"},
	{"a", "a=", "a="},
	{"a=", "a=", "a="},
	{"a&b=1", "a=&b=1", "a=&b=1"},
	{"q=a+b", "q=a%20b", "q=a%2Bb"},
	{"q=a%2Bb", "q=a%2Bb", "q=a%2Bb"},
	{"q=a%20b", "q=a%20b", "q=a%20b"},
	{"q+x=1", "q%20x=1", "q%2Bx=1"},
	{"k%20x=v", "k%20x=v", "k%20x=v"},
	{"q=%E4%BD%A0%E5%A5%BD", "q=%E4%BD%A0%E5%A5%BD", "q=%E4%BD%A0%E5%A5%BD"},
	{"q=你好", "q=%E4%BD%A0%E5%A5%BD", "q=%E4%BD%A0%E5%A5%BD"},
	{"a=1&&b=2&", "a=1&b=2", "a=1&b=2"},
	{"q=~-_.", "q=~-_.", "q=~-_."},
	{"q=%7e%2d", "q=~-", "q=~-"},
	{"B=1&a=1", "B=1&a=1", "B=1&a=1"},
	{"a=1=2", "a=1%3D2", "a=1%3D2"},
	{"a%20=1&a=2", "a=2&a%20=1", "a=2&a%20=1"},
	{"q=%zz&r=%", "q=%25zz&r=%25", "q=%25zz&r=%25"},
	{"=v", "=v", "=v"},
	{"f%5Bx%5D=1&f[y]=2", "f%5Bx%5D=1&f%5By%5D=2", "f%5Bx%5D=1&f%5By%5D=2"},
	{"q=/?:@!$'()*,;", "q=%2F%3F%3A%40%21%24%27%28%29%2A%2C%3B", "q=%2F%3F%3A%40%21%24%27%28%29%2A%2C%3B"},
}

func TestCanonicalQuery(t *testing.T) {
	for _, c := range queryCases {
		for _, plus := range []bool{false, true} {
			want := c.first
			if plus {
				want = c.second
			}
			st := getState()
			got := string(st.appendCanonicalQuery(nil, c.raw, plus))
			putState(st)
			if got != want {
				t.Errorf("canonical query of %q (plusLiteral=%v) = %q, want %q", c.raw, plus, got, want)
			}
		}
		lines := crOf(t, &Request{Method: "GET", Target: "/p?" + c.raw, Host: "h"}, "host")
		if lines[2] != c.first {
			t.Errorf("CR line 3 for %q = %q, want %q", c.raw, lines[2], c.first)
		}
	}
}

func TestCanonicalQueryNoQuery(t *testing.T) {
	for _, target := range []string{"/p", "/p?"} {
		if lines := crOf(t, &Request{Method: "GET", Target: target, Host: "h"}, "host"); lines[2] != "" {
			t.Errorf("query line for %q = %q, want empty", target, lines[2])
		}
	}
}

func TestCanonicalQueryManyPairs(t *testing.T) {
	// More than 12 pairs takes the sort.Sort path.
	var raw, want []string
	for i := 30; i >= 0; i-- {
		raw = append(raw, fmt.Sprintf("k%02d=v", i))
	}
	raw = append(raw, "k05=a", "k05=%20")
	for i := 0; i <= 30; i++ {
		if i == 5 {
			want = append(want, "k05=%20", "k05=a")
		}
		want = append(want, fmt.Sprintf("k%02d=v", i))
	}
	st := getState()
	defer putState(st)
	got := string(st.appendCanonicalQuery(nil, strings.Join(raw, "&"), false))
	if got != strings.Join(want, "&") {
		t.Errorf("got %q\nwant %q", got, strings.Join(want, "&"))
	}
}

func TestCanonicalHeaders(t *testing.T) {
	cases := []struct {
		name   string
		req    Request
		signed string
		want   string // canonical header block (without the blank line)
		reason Reason
	}{
		{
			name:   "trim",
			req:    Request{Header: MapHeader{"x-a": "  v 1 \t", "host": "h"}},
			signed: "host;x-a",
			want:   "host:h\nx-a:v 1\n",
		},
		{
			name:   "unicode space trimmed like the Go SDK",
			req:    Request{Header: MapHeader{"x-a": "\u00a0v\u00a0"}},
			signed: "x-a",
			want:   "x-a:v\n",
		},
		{
			name:   "multiple values sorted",
			req:    Request{Header: PairHeader{{"X-A", "b"}, {"x-b", "z"}, {"x-a", " a"}, {"x-A", "c"}}},
			signed: "x-a;x-b",
			want:   "x-a:a\nx-a:b\nx-a:c\nx-b:z\n",
		},
		{
			name:   "listed order kept",
			req:    Request{Header: MapHeader{"x-a": "1", "x-b": "2"}},
			signed: "x-b;x-a",
			want:   "x-b:2\nx-a:1\n",
		},
		{
			name:   "empty value",
			req:    Request{Header: MapHeader{"x-a": ""}},
			signed: "x-a",
			want:   "x-a:\n",
		},
		{
			name:   "host from Request.Host",
			req:    Request{Host: "api.example.com:8443", Header: MapHeader{":authority": "other"}},
			signed: "host",
			want:   "host:api.example.com:8443\n",
		},
		{
			name:   "host header wins over Request.Host",
			req:    Request{Host: "envoy", Header: MapHeader{"host": "api.example.com"}},
			signed: "host",
			want:   "host:api.example.com\n",
		},
		{
			name:   "host from :authority",
			req:    Request{Header: MapHeader{":authority": "api.example.com"}},
			signed: "host",
			want:   "host:api.example.com\n",
		},
		{
			name:   "host missing",
			req:    Request{Header: MapHeader{}},
			signed: "host",
			reason: ReasonMissingSignedHeader,
		},
		{
			name:   "missing header",
			req:    Request{Header: MapHeader{"x-a": "1"}},
			signed: "x-a;x-b",
			reason: ReasonMissingSignedHeader,
		},
		{
			name:   "nil header",
			req:    Request{},
			signed: "x-a",
			reason: ReasonMissingSignedHeader,
		},
		{
			name:   "generic Header implementation",
			req:    Request{Header: valuesOnly{"x-a": {"2", "1"}}},
			signed: "x-a",
			want:   "x-a:1\nx-a:2\n",
		},
		{
			name:   "upper-case signed header",
			req:    Request{Header: MapHeader{"x-a": "1"}},
			signed: "X-A",
			reason: ReasonMalformed,
		},
		{
			name:   "empty signed header name",
			req:    Request{Header: MapHeader{"x-a": "1"}},
			signed: "x-a;",
			reason: ReasonMalformed,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.req.Method, c.req.Target = "GET", "/"
			cr, err := CanonicalRequest(&c.req, Credential{Algorithm: SDKHMACSHA256, SignedHeaders: c.signed})
			if c.reason != 0 {
				if ReasonOf(err) != c.reason {
					t.Fatalf("err = %v (%v), want reason %v", err, ReasonOf(err), c.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := "GET\n/\n\n" + c.want + "\n" + c.signed + "\n" + emptySHA256
			if cr != want {
				t.Errorf("CR = %q\nwant %q", cr, want)
			}
		})
	}
}

// valuesOnly is a Header without AppendValues.
type valuesOnly map[string][]string

func (v valuesOnly) Values(name string) []string { return v[name] }

func TestPayloadHash(t *testing.T) {
	body := []byte(`{"a":1}` + "\n")
	sha := sha256.Sum256(body)
	sm := sm3.Sm3Sum(body)
	cases := []struct {
		name string
		alg  Algorithm
		req  Request
		want string
	}{
		{"body sha256", SDKHMACSHA256, Request{Body: body, HasBody: true}, hex.EncodeToString(sha[:])},
		{"body sm3", SDKHMACSM3, Request{Body: body, HasBody: true}, hex.EncodeToString(sm)},
		{"body sha256 V11", V11HMACSHA256, Request{Body: body, HasBody: true}, hex.EncodeToString(sha[:])},
		{"no body forwarded", SDKHMACSHA256, Request{Body: body}, emptySHA256},
		{"empty body", SDKHMACSHA256, Request{HasBody: true}, emptySHA256},
		{"empty body sm3", SDKHMACSM3, Request{HasBody: true}, emptySM3},
		{"unsigned payload", SDKHMACSHA256, Request{Body: body, HasBody: true, Header: MapHeader{"x-sdk-content-sha256": "UNSIGNED-PAYLOAD"}}, "UNSIGNED-PAYLOAD"},
		{"content header as is", SDKHMACSHA256, Request{Header: MapHeader{"x-sdk-content-sha256": "ABC"}}, "ABC"},
		{"sm3 header", SDKHMACSM3, Request{Body: body, HasBody: true, Header: MapHeader{"x-sdk-content-sm3": "UNSIGNED-PAYLOAD"}}, "UNSIGNED-PAYLOAD"},
		{"sha256 header ignored by sm3", SDKHMACSM3, Request{Body: body, HasBody: true, Header: MapHeader{"x-sdk-content-sha256": "UNSIGNED-PAYLOAD"}}, hex.EncodeToString(sm)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.req.Method, c.req.Target, c.req.Host = "POST", "/", "h"
			cred := Credential{Algorithm: c.alg, SignedHeaders: "host", Scope: "20240102/r/s"}
			cr, err := CanonicalRequest(&c.req, cred)
			if err != nil {
				t.Fatal(err)
			}
			if got := cr[strings.LastIndexByte(cr, '\n')+1:]; got != c.want {
				t.Errorf("payload hash = %q, want %q", got, c.want)
			}
		})
	}
}

func TestEmptyHashes(t *testing.T) {
	if s := sha256.Sum256(nil); hex.EncodeToString(s[:]) != emptySHA256 {
		t.Error("emptySHA256 wrong")
	}
	if hex.EncodeToString(sm3.Sm3Sum(nil)) != emptySM3 {
		t.Error("emptySM3 wrong")
	}
}

// TestCanonicalRequestGolden checks a complete canonical request and string
// to sign, computed by hand from the spec.
func TestCanonicalRequestGolden(t *testing.T) {
	req := &Request{
		Method: "POST",
		Target: "/v1/项目/a%20b?limit=10&name=%E5%BC%A0+%E4%B8%89&empty",
		Host:   "api.example.com",
		Header: MapHeader{
			"content-type": "application/json",
			"x-sdk-date":   testDate,
			"x-project-id": " p1 ",
		},
		Body:    []byte(`{"k":"v"}` + "\n"),
		HasBody: true,
	}
	cred := Credential{Algorithm: SDKHMACSHA256, Access: "AK", SignedHeaders: "host;x-project-id;x-sdk-date"}
	cr, err := CanonicalRequest(req, cred)
	if err != nil {
		t.Fatal(err)
	}
	bodyHash := sha256.Sum256(req.Body)
	want := "POST\n" +
		"/v1/%E9%A1%B9%E7%9B%AE/a%20b/\n" +
		"empty=&limit=10&name=%E5%BC%A0%20%E4%B8%89\n" +
		"host:api.example.com\n" +
		"x-project-id:p1\n" +
		"x-sdk-date:" + testDate + "\n" +
		"\n" +
		"host;x-project-id;x-sdk-date\n" +
		hex.EncodeToString(bodyHash[:])
	if cr != want {
		t.Fatalf("CR =\n%s\nwant\n%s", cr, want)
	}
	sts, err := StringToSign(req, cred)
	if err != nil {
		t.Fatal(err)
	}
	crHash := sha256.Sum256([]byte(want))
	wantSTS := "SDK-HMAC-SHA256\n" + testDate + "\n" + hex.EncodeToString(crHash[:])
	if sts != wantSTS {
		t.Fatalf("STS = %q, want %q", sts, wantSTS)
	}

	cred.Algorithm, cred.Scope = V11HMACSHA256, "20240102/region-1/apig"
	sts, err = StringToSign(req, cred)
	if err != nil {
		t.Fatal(err)
	}
	if want := "V11-HMAC-SHA256\n" + testDate + "\n20240102/region-1/apig\n" + hex.EncodeToString(crHash[:]); sts != want {
		t.Fatalf("V11 STS = %q, want %q", sts, want)
	}
}

func TestHMACMatchesStdlib(t *testing.T) {
	msg := []byte("SDK-HMAC-SHA256\n20240102T030405Z\nabc")
	for _, n := range []int{0, 1, 32, 63, 64, 65, 100, 200} {
		key := []byte(strings.Repeat("k", n))
		for _, alg := range []Algorithm{SDKHMACSHA256, SDKHMACSM3} {
			m := hmac.New(alg.newHash, key)
			m.Write(msg)
			want := m.Sum(nil)
			st := getState()
			got := st.hmacSum(alg, key, msg)
			if !hmac.Equal(got, want) {
				t.Errorf("%v key len %d: got %x want %x", alg, n, got, want)
			}
			putState(st)
		}
	}
}

func TestParseDate(t *testing.T) {
	good := map[string]string{
		"20240102T030405Z": "2024-01-02T03:04:05Z",
		"20240229T235959Z": "2024-02-29T23:59:59Z",
		"19991231T000000Z": "1999-12-31T00:00:00Z",
	}
	for in, want := range good {
		tm, ok := parseDate(in)
		if !ok || tm.Format("2006-01-02T15:04:05Z07:00") != want {
			t.Errorf("parseDate(%q) = %v, %v", in, tm, ok)
		}
	}
	for _, in := range []string{"", "20240102T030405", "20240102 030405Z", "2024-01-02T03:04:05Z",
		"20241302T030405Z", "20240230T030405Z", "20230229T000000Z", "20240100T000000Z",
		"20240102T240000Z", "20240102T006000Z", "20240102T000060Z", "2024010xT030405Z", "20240102T030405z"} {
		if _, ok := parseDate(in); ok {
			t.Errorf("parseDate(%q) accepted", in)
		}
	}
}

func TestClip(t *testing.T) {
	if got := clip("abc"); got != "abc" {
		t.Error(got)
	}
	long := strings.Repeat("x", 100)
	if got := clip(long); got != strings.Repeat("x", 64)+"..." {
		t.Error(got)
	}
	if got := clip("a\nb\xff"); got != "a?b?" {
		t.Error(got)
	}
}
