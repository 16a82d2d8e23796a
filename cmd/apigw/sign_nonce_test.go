package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/apigwio/apigw/authz/keypair"
	"github.com/apigwio/apigw/authz/signing"
)

var reUUID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestSignNonce(t *testing.T) {
	flags := signFlags{method: "GET", url: "http://api.example.com/items", scheme: "SDK-HMAC-SHA256",
		key: "my-app-key", secret: "my-app-secret-123", date: "20221208T015751Z", output: "headers",
		nonce: true, nonceHeader: "X-Sdk-Nonce"}
	var out bytes.Buffer
	if err := sign(flags, &out); err != nil {
		t.Fatal(err)
	}
	h := parseHeaders(t, out.String())
	if !reUUID.MatchString(h["x-sdk-nonce"]) {
		t.Fatalf("x-sdk-nonce = %q, want a UUID", h["x-sdk-nonce"])
	}
	cred, err := signing.ParseAuthorization(h["authorization"])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cred.SignedHeaders, "x-sdk-nonce") {
		t.Fatalf("SignedHeaders %q lacks the nonce", cred.SignedHeaders)
	}
	req := &signing.Request{Method: "GET", Target: "/items", Host: "api.example.com", Header: signing.MapHeader(h)}
	now, _ := time.Parse(signing.DateFormat, "20221208T015751Z")
	if err := signing.Verify(req, cred, []byte("my-app-secret-123"), now, time.Minute); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	_ = sign(flags, &again)
	if parseHeaders(t, again.String())["x-sdk-nonce"] == h["x-sdk-nonce"] {
		t.Error("two runs gave the same nonce")
	}

	// --explain shows it, in the canonical request and the headers to send.
	flags.output = "explain"
	out.Reset()
	if err := sign(flags, &out); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^x-sdk-nonce:[0-9a-f-]{36}$`).MatchString(out.String()) || !regexp.MustCompile(`(?m)^X-Sdk-Nonce: [0-9a-f-]{36}$`).MatchString(out.String()) {
		t.Errorf("explain output lacks the nonce:\n%s", out.String())
	}

	// Key pairs: added to explicit --signed-headers.
	flags = signFlags{method: "GET", url: "http://api.example.com/k", scheme: "hmac-sha256", key: "AKIDgold", secret: "gold-secret-key",
		output: "headers", signedHeaders: "x-date", nonce: true, nonceHeader: "X-Request-Nonce"}
	out.Reset()
	if err := sign(flags, &out); err != nil {
		t.Fatal(err)
	}
	h = parseHeaders(t, out.String())
	if !reUUID.MatchString(h["x-request-nonce"]) || !strings.Contains(h["authorization"], `headers="x-date x-request-nonce"`) {
		t.Fatalf("key pair: %v", h)
	}
	if _, err := keypair.ParseAuthorization(h["authorization"]); err != nil {
		t.Fatal(err)
	}
}
