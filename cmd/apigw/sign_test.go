package main

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/apigwio/apigw/authz/keypair"
	"github.com/apigwio/apigw/authz/signing"
)

// parseHeaders reads "Name: value" lines.
func parseHeaders(t *testing.T, out string) map[string]string {
	t.Helper()
	h := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			t.Fatalf("not a header line: %q", sc.Text())
		}
		h[strings.ToLower(k)] = v
	}
	return h
}

func TestSignHeadersVerify(t *testing.T) {
	var out bytes.Buffer
	err := sign(signFlags{method: "post", url: "http://api.example.com:10080/items/7?b=2&a=1", data: `{"x":1}`,
		headers: []string{"Content-Type: application/json", "X-Trace: abc"}, scheme: "SDK-HMAC-SHA256",
		key: "my-app-key", secret: "my-app-secret-123", date: "20221208T015751Z", output: "headers"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	h := parseHeaders(t, out.String())
	if h["x-sdk-date"] != "20221208T015751Z" {
		t.Fatalf("x-sdk-date = %q", h["x-sdk-date"])
	}
	cred, err := signing.ParseAuthorization(h["authorization"])
	if err != nil {
		t.Fatal(err)
	}
	req := &signing.Request{Method: "POST", Target: "/items/7?b=2&a=1", Host: "api.example.com:10080",
		Header: signing.MapHeader(h), Body: []byte(`{"x":1}`), HasBody: true}
	now, _ := time.Parse(signing.DateFormat, "20221208T015751Z")
	if err := signing.Verify(req, cred, []byte("my-app-secret-123"), now, 15*time.Minute); err != nil {
		t.Fatalf("the gateway's verifier rejects what apigw sign produced: %v", err)
	}
	// Deterministic with --date: same input, same output.
	var again bytes.Buffer
	_ = sign(signFlags{method: "post", url: "http://api.example.com:10080/items/7?b=2&a=1", data: `{"x":1}`,
		headers: []string{"Content-Type: application/json", "X-Trace: abc"}, scheme: "SDK-HMAC-SHA256",
		key: "my-app-key", secret: "my-app-secret-123", date: "20221208T015751Z", output: "headers"}, &again)
	if again.String() != out.String() {
		t.Error("output with a fixed --date is not reproducible")
	}
}

func TestSignOutputs(t *testing.T) {
	base := signFlags{method: "GET", url: "http://h/hello", scheme: "sdk-hmac-sha256", key: "k1", secret: "secret-123", date: "2022-12-08T01:57:51Z"}
	tests := []struct {
		name   string
		mod    func(*signFlags)
		want   []string
		errHas string
	}{
		{"curl", func(f *signFlags) { f.output = "curl"; f.data = "it's" }, []string{"curl -sS -X GET 'http://h/hello'", "-H 'X-Sdk-Date: 20221208T015751Z'", `--data-binary 'it'\''s'`}, ""},
		{"explain", func(f *signFlags) { f.output = "explain" }, []string{"== Canonical request", "GET\n/hello/\n\nhost:h\nx-sdk-date:20221208T015751Z\n\nhost;x-sdk-date\ne3b0c442", "GET|/hello/||host:h|", "== String to sign\nSDK-HMAC-SHA256\n20221208T015751Z\n", "Authorization: SDK-HMAC-SHA256 Access=k1, SignedHeaders=host;x-sdk-date, Signature="}, ""},
		{"v11", func(f *signFlags) { f.scheme = "V11-HMAC-SHA256"; f.region = "r1"; f.service = "apig" }, []string{"Authorization: V11-HMAC-SHA256 Credential=k1/20221208/r1/apig"}, ""},
		{"sm3", func(f *signFlags) { f.scheme = "SDK-HMAC-SM3" }, []string{"Authorization: SDK-HMAC-SM3 Access=k1"}, ""},
		{"no secret", func(f *signFlags) { f.secret = "" }, nil, "a key and a secret are required"},
		{"bad scheme", func(f *signFlags) { f.scheme = "MD5" }, nil, `--scheme "MD5"`},
		{"bad date", func(f *signFlags) { f.date = "yesterday" }, nil, `--date "yesterday"`},
		{"bad header", func(f *signFlags) { f.headers = []string{"novalue"} }, nil, `-H "novalue"`},
		{"bad output", func(f *signFlags) { f.output = "xml" }, nil, `--output "xml"`},
		{"no url", func(f *signFlags) { f.url = "" }, nil, "--url is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := base
			f.output = "headers"
			tt.mod(&f)
			var out bytes.Buffer
			err := sign(f, &out)
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("err = %v, want %q", err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if strings.Contains(out.String(), "secret-123") {
				t.Error("the secret is printed")
			}
		})
	}
}

func TestSignKeyPairVerifies(t *testing.T) {
	var out bytes.Buffer
	f := signFlags{method: "GET", url: "http://gw.example.com/k?a=1", scheme: "hmac-sha256", key: "AKIDx", secret: "kp-secret-123",
		date: "2026-11-23T03:00:00Z", output: "headers", headers: []string{"Source: cli"}, signedHeaders: "x-date source request-line"}
	if err := sign(f, &out); err != nil {
		t.Fatal(err)
	}
	h := parseHeaders(t, out.String())
	if !strings.HasPrefix(h["authorization"], `hmac id="AKIDx", algorithm="hmac-sha256", headers="x-date source request-line", signature="`) {
		t.Fatalf("authorization = %q", h["authorization"])
	}
	cred, err := keypair.ParseAuthorization(h["authorization"])
	if err != nil {
		t.Fatal(err)
	}
	req := &keypair.Request{Method: "GET", Target: "/k?a=1", Proto: "HTTP/1.1", Host: "gw.example.com", Header: signing.MapHeader(h), HasBody: true}
	now, _ := time.Parse(time.RFC3339, "2026-11-23T03:00:00Z")
	if err := keypair.Verify(req, cred, []byte("kp-secret-123"), keypair.Policy{}, now); err != nil {
		t.Fatalf("the gateway's verifier rejects apigw sign's key-pair signature: %v", err)
	}
	out.Reset()
	f.output = "explain"
	if err := sign(f, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "x-date: Mon, 23 Nov 2026 03:00:00 GMT\nsource: cli\nGET /k?a=1 HTTP/1.1") {
		t.Errorf("explanation lacks the signing string:\n%s", out.String())
	}
}
