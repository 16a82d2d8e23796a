package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/apigwio/apigw/authz/keypair"
	"github.com/apigwio/apigw/authz/signing"
)

// headerFlags collects repeated -H "Name: value" flags.
type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

// signFlags are the inputs of `apigw sign`.
type signFlags struct {
	method, url, data, dataFile, scheme, key, secret, region, service, date, output string
	signedHeaders                                                                   string
	headers                                                                         headerFlags
	unsignedPayload                                                                 bool
}

func runSign(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f signFlags
	fs.StringVar(&f.method, "X", "GET", "HTTP method")
	fs.StringVar(&f.url, "url", "", "request URL, e.g. http://127.0.0.1:10080/hello?a=1 (required)")
	fs.Var(&f.headers, "H", `request header "Name: value" (repeatable; signed)`)
	fs.StringVar(&f.data, "d", "", "request body")
	fs.StringVar(&f.dataFile, "data-file", "", "read the request body from this file (- for stdin)")
	fs.StringVar(&f.scheme, "scheme", "SDK-HMAC-SHA256", "SDK-HMAC-SHA256, SDK-HMAC-SM3, V11-HMAC-SHA256, or a key-pair algorithm: hmac-sha1, hmac-sha256, hmac-sha384, hmac-sha512")
	fs.StringVar(&f.signedHeaders, "signed-headers", "", `key-pair schemes: the headers to sign, space-separated (default "x-date" plus every -H header; may include request-line, @request-target, digest)`)
	fs.StringVar(&f.key, "key", os.Getenv("APIGW_KEY"), "AppKey or AK (default $APIGW_KEY)")
	fs.StringVar(&f.secret, "secret", "", "AppSecret or SK (default $APIGW_SECRET; prefer the variable: flags show in ps)")
	fs.StringVar(&f.region, "region", "", "V11 region")
	fs.StringVar(&f.service, "service", "", "V11 service")
	fs.StringVar(&f.date, "date", "", "fixed signing time, 20060102T150405Z or RFC 3339 (default now)")
	fs.StringVar(&f.output, "o", "headers", "output: headers, curl or explain")
	fs.BoolVar(&f.unsignedPayload, "unsigned-payload", false, "send X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD instead of hashing the body")
	explain := fs.Bool("explain", false, "same as -o explain: canonical request, string to sign and signature step by step")
	curl := fs.Bool("curl", false, "same as -o curl: print a ready-to-run curl command")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: apigw sign -url URL [-X METHOD] [-H 'Name: value']... [-d BODY | -data-file FILE] [-o headers|curl|explain]")
		fmt.Fprintln(stderr, "\nSigns a request the way the official SDKs do and prints the headers to send,")
		fmt.Fprintln(stderr, "a curl command, or the visualised signing to compare with your own client.")
		fmt.Fprintln(stderr, "Credentials: -key/-secret or APIGW_KEY/APIGW_SECRET.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *explain {
		f.output = "explain"
	}
	if *curl {
		f.output = "curl"
	}
	if f.secret == "" {
		f.secret = os.Getenv("APIGW_SECRET")
	}
	return sign(f, os.Stdin, stdout)
}

func sign(f signFlags, stdin io.Reader, stdout io.Writer) error {
	if f.url == "" {
		return fmt.Errorf("-url is required")
	}
	if f.key == "" || f.secret == "" {
		return fmt.Errorf("a key and a secret are required (-key/-secret or APIGW_KEY/APIGW_SECRET)")
	}
	kpAlg, isKeyPair := keypair.ParseAlgorithm(strings.ToLower(f.scheme))
	alg, ok := signing.ParseAlgorithm(strings.ToUpper(f.scheme))
	if !ok && !isKeyPair {
		return fmt.Errorf("-scheme %q: use SDK-HMAC-SHA256, SDK-HMAC-SM3, V11-HMAC-SHA256, hmac-sha1, hmac-sha256, hmac-sha384 or hmac-sha512", f.scheme)
	}
	body := []byte(f.data)
	if f.dataFile != "" {
		var err error
		if f.dataFile == "-" {
			body, err = io.ReadAll(io.LimitReader(stdin, 64<<20))
		} else {
			body, err = os.ReadFile(f.dataFile)
		}
		if err != nil {
			return fmt.Errorf("reading the body: %v", err)
		}
	}
	var t time.Time
	if f.date != "" {
		var err error
		if t, err = time.Parse(signing.DateFormat, f.date); err != nil {
			if t, err = time.Parse(time.RFC3339, f.date); err != nil {
				return fmt.Errorf("-date %q: use 20060102T150405Z or RFC 3339", f.date)
			}
		}
	}
	req, err := http.NewRequest(strings.ToUpper(f.method), f.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("-url: %v", err)
	}
	for _, h := range f.headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return fmt.Errorf("-H %q: write \"Name: value\"", h)
		}
		req.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if isKeyPair {
		return signKeyPair(f, req, body, kpAlg, t, stdout)
	}
	opts := signing.SignOptions{Algorithm: alg, Access: f.key, Secret: f.secret, Time: t,
		Region: f.region, Service: f.service, UnsignedPayload: f.unsignedPayload}
	if f.output == "explain" {
		e, err := signing.Explain(req, body, opts)
		if err != nil {
			return err
		}
		return printExplanation(stdout, e)
	}
	if err := signing.SignRequest(req, body, opts); err != nil {
		return err
	}
	switch f.output {
	case "headers":
		return printHeaders(stdout, req.Header)
	case "curl":
		return printCurl(stdout, req, body)
	}
	return fmt.Errorf("-o %q: use headers, curl or explain", f.output)
}

// signKeyPair signs with an HMAC key pair (Tencent / Kong format).
func signKeyPair(f signFlags, req *http.Request, body []byte, alg keypair.Algorithm, t time.Time, stdout io.Writer) error {
	if t.IsZero() {
		t = time.Now()
	}
	headers := strings.Fields(f.signedHeaders)
	if len(headers) == 0 {
		headers = []string{"x-date"}
		for _, h := range f.headers {
			name, _, _ := strings.Cut(h, ":")
			headers = append(headers, strings.ToLower(strings.TrimSpace(name)))
		}
	}
	if f.output == "explain" {
		if req.Header.Get("X-Date") == "" {
			req.Header.Set("X-Date", t.UTC().Format(http.TimeFormat))
		}
		view := &keypair.Request{Method: req.Method, Target: req.URL.RequestURI(), Proto: "HTTP/1.1", Host: req.Host,
			Header: pairHeader(req), Body: body, HasBody: true}
		sts, err := keypair.SigningString(view, headers)
		if err != nil {
			return err
		}
		sig, err := keypair.Signature(view, alg, headers, []byte(f.secret))
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "== Signing string (%s)\n%s\n\n== Signature\n%s\n\n== Headers to send\nX-Date: %s\nAuthorization: %s\n",
			alg, sts, sig, req.Header.Get("X-Date"), keypair.FormatAuthorization(f.key, alg, headers, sig))
		return err
	}
	if err := keypair.Sign(req, body, f.key, f.secret, alg, headers, t); err != nil {
		return err
	}
	switch f.output {
	case "headers":
		return printHeaders(stdout, req.Header)
	case "curl":
		return printCurl(stdout, req, body)
	}
	return fmt.Errorf("-o %q: use headers, curl or explain", f.output)
}

// pairHeader is req's headers as the verifier sees them.
func pairHeader(req *http.Request) signing.PairHeader {
	var out signing.PairHeader
	for k, vs := range req.Header {
		for _, v := range vs {
			out = append(out, signing.HeaderPair{Name: strings.ToLower(k), Value: v})
		}
	}
	return out
}

func printHeaders(w io.Writer, h http.Header) error {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		for _, v := range h[k] {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func printCurl(w io.Writer, r *http.Request, body []byte) error {
	var b strings.Builder
	fmt.Fprintf(&b, "curl -sS -X %s %s", r.Method, shellQuote(r.URL.String()))
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		for _, v := range r.Header[k] {
			fmt.Fprintf(&b, " \\\n  -H %s", shellQuote(k+": "+v))
		}
	}
	if len(body) > 0 {
		fmt.Fprintf(&b, " \\\n  --data-binary %s", shellQuote(string(body)))
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func printExplanation(w io.Writer, e signing.Explanation) error {
	var b strings.Builder
	fmt.Fprintf(&b, "== Canonical request (compare with your client's; the gateway echoes its own in\n== \"verify signature fail, canonicalRequest:...\" with | for newlines)\n%s\n\n", e.CanonicalRequest)
	fmt.Fprintf(&b, "== Canonical request as the gateway prints it\n%s\n\n", strings.ReplaceAll(e.CanonicalRequest, "\n", "|"))
	fmt.Fprintf(&b, "== String to sign\n%s\n\n", e.StringToSign)
	fmt.Fprintf(&b, "== Signature\n%s\n\n", e.Signature)
	fmt.Fprintf(&b, "== Headers to send\nX-Sdk-Date: %s\nAuthorization: %s\n", e.Date, e.Authorization)
	_, err := io.WriteString(w, b.String())
	return err
}
