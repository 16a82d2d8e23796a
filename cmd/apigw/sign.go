package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/apigwio/apigw/authz/keypair"
	"github.com/apigwio/apigw/authz/signing"
	"github.com/apigwio/apigw/internal/model"
)

// signFlags are the inputs of `apigw sign`.
type signFlags struct {
	method, url, data, dataFile, scheme, key, secret, region, service, date, output string
	signedHeaders                                                                   string
	headers                                                                         []string
	unsignedPayload                                                                 bool
	nonce                                                                           bool
	nonceHeader                                                                     string
}

// maxBody bounds a body read from --data-file or stdin.
const maxBody = 64 << 20

const signLong = `Sign a request the way the official SDKs do and print the headers to send,
a curl command, or the visualised signing to compare with your own client.
Credentials: --key/--secret or APIGW_KEY/APIGW_SECRET (prefer the variables:
flags show in ps).

Output (-o):
  headers  the headers to send, "Name: value" per line (default)
  curl     a ready-to-run curl command
  explain  canonical request, string to sign, signature, step by step
  json     one JSON document, stable field names:
           {"method": "GET", "url": "...", "scheme": "SDK-HMAC-SHA256",
            "headers": {"Authorization": "...", "X-Sdk-Date": "..."},   every header to send
            "signed_headers": ["host", "x-sdk-date"],
            "canonical_request": "...",   SDK schemes only
            "string_to_sign": "...",      key pairs: the signing string
            "signature": "..."}

Exit status: 0 signed, 1 the body cannot be read, 2 usage error (missing
--url or credentials, bad --scheme, --date, -H or -o, conflicting flags).`

func newSignCmd() *cobra.Command {
	var f signFlags
	var explain, curl bool
	cmd := &cobra.Command{
		Use:   "sign --url URL [flags]",
		Short: "Sign a request (headers, curl command, step-by-step explanation or JSON)",
		Long:  signLong,
		Example: `  export APIGW_KEY=... APIGW_SECRET=...
  apigw sign --url http://127.0.0.1:10080/hello -o curl | sh
  apigw sign -X POST --url http://127.0.0.1:10080/orders/ -H 'Content-Type: application/json' -d '{"n":1}'
  apigw sign --url http://127.0.0.1:10080/hello --explain --date 20221208T015751Z
  apigw sign --scheme hmac-sha256 --url http://127.0.0.1:10080/hello -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if explain {
				f.output = "explain"
			}
			if curl {
				f.output = "curl"
			}
			if f.key == "" {
				f.key = os.Getenv("APIGW_KEY")
			}
			if f.secret == "" {
				f.secret = os.Getenv("APIGW_SECRET")
			}
			if f.dataFile == "-" {
				body, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), maxBody+1))
				if err != nil {
					return fmt.Errorf("reading the body from stdin: %v", err)
				}
				if len(body) > maxBody {
					return fmt.Errorf("the body on stdin is larger than the %d bytes allowed", maxBody)
				}
				if len(body) == 0 {
					fmt.Fprintln(cmd.ErrOrStderr(), "apigw sign: warning: the body read from stdin is empty; signing an empty body")
				}
				f.dataFile, f.data = "", string(body)
			}
			return sign(f, cmd.OutOrStdout())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.url, "url", "", "request URL, e.g. http://127.0.0.1:10080/hello?a=1 (required)")
	fl.StringVarP(&f.method, "request", "X", "GET", "HTTP method")
	fl.StringArrayVarP(&f.headers, "header", "H", nil, `request header "Name: value" (repeatable; signed)`)
	fl.StringVarP(&f.data, "data", "d", "", "request body")
	fl.StringVar(&f.dataFile, "data-file", "", "read the request body from this file (- for stdin)")
	fl.StringVar(&f.scheme, "scheme", "SDK-HMAC-SHA256", "SDK-HMAC-SHA256, SDK-HMAC-SM3, V11-HMAC-SHA256, or a key-pair algorithm: hmac-sha1, hmac-sha256, hmac-sha384, hmac-sha512")
	fl.StringVar(&f.signedHeaders, "signed-headers", "", `key-pair schemes: the headers to sign, space-separated (default "x-date" plus every -H header; may include request-line, @request-target, digest)`)
	fl.StringVar(&f.key, "key", "", "AppKey or AK (default $APIGW_KEY)")
	fl.StringVar(&f.secret, "secret", "", "AppSecret or SK (default $APIGW_SECRET; prefer the variable: flags show in ps)")
	fl.StringVar(&f.region, "region", "", "V11 region")
	fl.StringVar(&f.service, "service", "", "V11 service")
	fl.StringVar(&f.date, "date", "", "fixed signing time, 20060102T150405Z or RFC 3339 (default now)")
	fl.StringVarP(&f.output, "output", "o", "headers", "output: headers, curl, explain or json")
	fl.BoolVar(&f.unsignedPayload, "unsigned-payload", false, "send X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD instead of hashing the body")
	fl.BoolVar(&f.nonce, "nonce", false, "add a random anti-replay nonce (a UUID) in --nonce-header, among the signed headers (APIs with replay_protection)")
	fl.StringVar(&f.nonceHeader, "nonce-header", model.DefaultNonceHeader, "the header of --nonce (an API's replay_protection.header)")
	fl.BoolVar(&explain, "explain", false, "same as -o explain: canonical request, string to sign and signature step by step")
	fl.BoolVar(&curl, "curl", false, "same as -o curl: print a ready-to-run curl command")
	_ = cmd.MarkFlagRequired("url")
	cmd.MarkFlagsMutuallyExclusive("data", "data-file")
	cmd.MarkFlagsMutuallyExclusive("output", "explain", "curl")
	_ = cmd.RegisterFlagCompletionFunc("output", completeChoices("headers", "curl", "explain", "json"))
	_ = cmd.RegisterFlagCompletionFunc("scheme", completeChoices("SDK-HMAC-SHA256", "SDK-HMAC-SM3", "V11-HMAC-SHA256", "hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512"))
	_ = cmd.RegisterFlagCompletionFunc("request", completeChoices("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
	return cmd
}

// readBody reads --data-file, refusing directories and files over maxBody.
func readBody(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return nil, fmt.Errorf("--data-file: %v", err)
	case fi.IsDir():
		return nil, fmt.Errorf("--data-file %s: is a directory", path)
	case fi.Size() > maxBody:
		return nil, fmt.Errorf("--data-file %s: %d bytes, larger than the %d allowed", path, fi.Size(), maxBody)
	}
	body, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--data-file: %v", err)
	}
	return body, nil
}

// sign signs the request f describes and prints it in f.output. Problems
// with the flags are usage errors.
func sign(f signFlags, stdout io.Writer) error {
	if f.url == "" {
		return usagef("--url is required")
	}
	if err := checkChoice("output", f.output, "headers", "curl", "explain", "json"); err != nil {
		return err
	}
	if f.key == "" || f.secret == "" {
		return usagef("a key and a secret are required (--key/--secret or APIGW_KEY/APIGW_SECRET)")
	}
	kpAlg, isKeyPair := keypair.ParseAlgorithm(strings.ToLower(f.scheme))
	alg, ok := signing.ParseAlgorithm(strings.ToUpper(f.scheme))
	if !ok && !isKeyPair {
		return usagef("--scheme %q: use SDK-HMAC-SHA256, SDK-HMAC-SM3, V11-HMAC-SHA256, hmac-sha1, hmac-sha256, hmac-sha384 or hmac-sha512", f.scheme)
	}
	t := time.Now()
	if f.date != "" {
		var err error
		if t, err = time.Parse(signing.DateFormat, f.date); err != nil {
			if t, err = time.Parse(time.RFC3339, f.date); err != nil {
				return usagef("--date %q: use 20060102T150405Z or RFC 3339", f.date)
			}
		}
	}
	body := []byte(f.data)
	if f.dataFile != "" {
		var err error
		if body, err = readBody(f.dataFile); err != nil {
			return err
		}
	}
	req, err := http.NewRequest(strings.ToUpper(f.method), f.url, bytes.NewReader(body))
	if err != nil {
		return usagef("--url: %v", err)
	}
	for _, h := range f.headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return usagef("-H %q: write \"Name: value\"", h)
		}
		req.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if f.nonce {
		n, err := newNonce()
		if err != nil {
			return err
		}
		req.Header.Set(f.nonceHeader, n)
		// Signed: -H headers are, and key pairs sign it below.
		f.headers = append(f.headers, f.nonceHeader+": "+n)
	}
	if isKeyPair {
		return signKeyPair(f, req, body, kpAlg, t, stdout)
	}
	opts := signing.SignOptions{Algorithm: alg, Access: f.key, Secret: f.secret, Time: t,
		Region: f.region, Service: f.service, UnsignedPayload: f.unsignedPayload}
	e, err := signing.Explain(req, body, opts)
	if err != nil {
		return usageError{err}
	}
	if f.output == "explain" {
		if err := printExplanation(stdout, e); err != nil {
			return err
		}
		return printNonce(stdout, f, req)
	}
	if err := signing.SignRequest(req, body, opts); err != nil {
		return usageError{err}
	}
	switch f.output {
	case "curl":
		return printCurl(stdout, req, body)
	case "json":
		return writeJSON(stdout, signResult{Method: req.Method, URL: req.URL.String(), Scheme: alg.String(),
			Headers: flatHeaders(req.Header), SignedHeaders: e.SignedHeaders,
			CanonicalRequest: e.CanonicalRequest, StringToSign: e.StringToSign, Signature: e.Signature})
	}
	return printHeaders(stdout, req.Header)
}

// signResult is `apigw sign -o json`. Field names are stable.
type signResult struct {
	Method           string            `json:"method"`
	URL              string            `json:"url"`
	Scheme           string            `json:"scheme"`
	Headers          map[string]string `json:"headers"`
	SignedHeaders    []string          `json:"signed_headers"`
	CanonicalRequest string            `json:"canonical_request,omitempty"`
	StringToSign     string            `json:"string_to_sign"`
	Signature        string            `json:"signature"`
}

// flatHeaders is h with one value per name (several joined with ", ").
func flatHeaders(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, vs := range h {
		out[k] = strings.Join(vs, ", ")
	}
	return out
}

// signKeyPair signs with an HMAC key pair (Tencent / Kong format).
func signKeyPair(f signFlags, req *http.Request, body []byte, alg keypair.Algorithm, t time.Time, stdout io.Writer) error {
	headers := strings.Fields(f.signedHeaders)
	if f.nonce && len(headers) > 0 && !slices.Contains(headers, strings.ToLower(f.nonceHeader)) {
		headers = append(headers, strings.ToLower(f.nonceHeader))
	}
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
		sts, sig, err := keyPairSignature(req, body, alg, headers, f.secret)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "== Signing string (%s)\n%s\n\n== Signature\n%s\n\n== Headers to send\nX-Date: %s\nAuthorization: %s\n",
			alg, sts, sig, req.Header.Get("X-Date"), keypair.FormatAuthorization(f.key, alg, headers, sig))
		if err != nil {
			return err
		}
		return printNonce(stdout, f, req)
	}
	if err := keypair.Sign(req, body, f.key, f.secret, alg, headers, t); err != nil {
		return usageError{err}
	}
	switch f.output {
	case "curl":
		return printCurl(stdout, req, body)
	case "json":
		sts, sig, err := keyPairSignature(req, body, alg, headers, f.secret)
		if err != nil {
			return err
		}
		return writeJSON(stdout, signResult{Method: req.Method, URL: req.URL.String(), Scheme: alg.String(),
			Headers: flatHeaders(req.Header), SignedHeaders: headers, StringToSign: sts, Signature: sig})
	}
	return printHeaders(stdout, req.Header)
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

// newNonce returns a random UUID (version 4) for --nonce.
func newNonce() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("--nonce: %v", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

// printNonce ends --explain's "Headers to send" with the --nonce header.
func printNonce(w io.Writer, f signFlags, req *http.Request) error {
	if !f.nonce {
		return nil
	}
	_, err := fmt.Fprintf(w, "%s: %s\n", http.CanonicalHeaderKey(f.nonceHeader), req.Header.Get(f.nonceHeader))
	return err
}

// keyPairSignature is the signing string and signature of a key-pair
// request as `apigw sign` sends it (HTTP/1.1), for --explain and -o json.
func keyPairSignature(req *http.Request, body []byte, alg keypair.Algorithm, headers []string, secret string) (sts, sig string, err error) {
	view := &keypair.Request{Method: req.Method, Target: req.URL.RequestURI(), Proto: "HTTP/1.1", Host: req.Host,
		Header: pairHeader(req), Body: body, HasBody: true}
	if sts, err = keypair.SigningString(view, headers); err != nil {
		return "", "", usageError{err}
	}
	if sig, err = keypair.Signature(view, alg, headers, []byte(secret)); err != nil {
		return "", "", usageError{err}
	}
	return sts, sig, nil
}
