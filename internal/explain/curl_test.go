package explain

import (
	"strings"
	"testing"
)

func TestParseCurl(t *testing.T) {
	tests := []struct {
		name, in       string
		method, url    string
		headers        map[string]string
		body, errSubst string
	}{
		{"apigw sign -o curl", "curl -sS -X POST 'http://h:1/a?b=1' \\\n  -H 'Authorization: SDK-HMAC-SHA256 Access=k, SignedHeaders=host, Signature=ab' \\\n  -H 'X-Sdk-Date: 20221208T015751Z' \\\n  --data-binary '{\"it'\\''s\":1}'\n",
			"POST", "http://h:1/a?b=1", map[string]string{"X-Sdk-Date": "20221208T015751Z", "Authorization": "SDK-HMAC-SHA256 Access=k, SignedHeaders=host, Signature=ab"}, `{"it's":1}`, ""},
		{"CRLF continuation", "curl -X GET 'http://h/' \\\r\n -H 'A: b'", "GET", "http://h/", map[string]string{"A": "b"}, "", ""},
		{"default GET", "curl http://h/x", "GET", "http://h/x", nil, "", ""},
		{"data implies POST", "curl http://h/x -d a=1 -d b=2", "POST", "http://h/x", nil, "a=1&b=2", ""},
		{"--url and -XPUT", "curl -XPUT --url https://h/x", "PUT", "https://h/x", nil, "", ""},
		{"not curl", "wget http://h/", "", "", nil, "", "expected a curl command"},
		{"empty", " \n", "", "", nil, "", "empty request"},
		{"unknown option", "curl --proxy x http://h/", "", "", nil, "", "--proxy is not understood"},
		{"file body", "curl -d @body.json http://h/", "", "", nil, "", "bodies from files"},
		{"two URLs", "curl http://h/ http://i/", "", "", nil, "", "more than one URL"},
		{"no URL", "curl -sS", "", "", nil, "", "no URL"},
		{"missing value", "curl http://h/ -H", "", "", nil, "", "needs a value"},
		{"bad header", "curl http://h/ -H nocolon", "", "", nil, "", "Name: value"},
		{"unterminated quote", "curl 'http://h/", "", "", nil, "", "cannot split"},
		{"not http", "curl ftp://h/", "", "", nil, "", "need http://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseCurl(tt.in)
			if tt.errSubst != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errSubst) {
					t.Fatalf("err = %v, want %q", err, tt.errSubst)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Method != tt.method || r.URL != tt.url || string(r.Body) != tt.body {
				t.Fatalf("%+v", r)
			}
			for k, v := range tt.headers {
				if got := r.Header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
		})
	}
}

// FuzzParseCurl: never panics; what it accepts has a method, an http(s)
// URL and well-formed headers.
func FuzzParseCurl(f *testing.F) {
	f.Add("curl -sS -X POST 'http://h:1/a?b=1' \\\n  -H 'K: V' \\\n  --data-binary 'it'\\''s'\n")
	f.Add("curl http://h/ -d a -d b")
	f.Add("curl 'http://h/\\")
	f.Add("curl -H ':' http://h/ # comment")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseCurl(s)
		if err != nil {
			return
		}
		if u := strings.ToLower(r.URL); r.Method == "" || !(strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://")) {
			t.Fatalf("accepted %q as %+v", s, r)
		}
		for k := range r.Header {
			if strings.TrimSpace(k) == "" {
				t.Fatalf("empty header name from %q", s)
			}
		}
	})
}
