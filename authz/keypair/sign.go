package keypair

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apigwio/apigw/authz/signing"
)

// DefaultSignedHeaders is the list Sign uses when given none.
var DefaultSignedHeaders = []string{headerXDate}

// Sign signs r for a key pair, client side. body is the request body (r.Body
// is not read, since it may be consumed); now is the signing time.
//
// headers are the names to sign (any case; nil means DefaultSignedHeaders);
// they must include "x-date" or "date". Sign sets, on r.Header:
//   - X-Date (when "x-date" is listed) and Date (when "date" is listed) to
//     now in IMF-fixdate GMT, unless already present;
//   - Digest to "SHA-256=" + base64(sha256(body)) when "digest" is listed;
//   - Authorization to
//     hmac id="<id>", algorithm="<alg>", headers="<names>", signature="<base64>".
//
// The signing string is computed by the verifier's code over
// r.URL.RequestURI() (what net/http writes on the request line), "host" from
// r.Host (else r.URL.Host), and for request-line the version
// r.ProtoMajor.r.ProtoMinor (HTTP/1.1 when unset). Note that net/http may
// send HTTPS requests over HTTP/2, which the gateway sees as "HTTP/2.0":
// sign request-line only when the protocol is known.
func Sign(r *http.Request, body []byte, id, secret string, alg Algorithm, headers []string, now time.Time) error {
	if r == nil || r.URL == nil {
		return errors.New("keypair: request without URL")
	}
	if !alg.Valid() {
		return errors.New("keypair: unsupported algorithm " + alg.String())
	}
	if id == "" || len(id) > MaxIDLen || !utf8.ValidString(id) || strings.ContainsAny(id, "\"\\") || hasCTL(id) {
		return errors.New("keypair: the id must be 1 to 256 bytes of UTF-8 without '\"', '\\' or control characters")
	}
	if secret == "" {
		return errors.New("keypair: empty secret")
	}
	if len(headers) == 0 {
		headers = DefaultSignedHeaders
	}
	names, err := normaliseNames(headers)
	if err != nil {
		return errors.New("keypair: invalid signed header list")
	}
	if !contains(names, headerXDate) && !contains(names, headerDate) {
		return errors.New("keypair: the signed headers must include x-date or date")
	}
	if r.Header == nil {
		r.Header = make(http.Header)
	}
	date := now.UTC().Format(http.TimeFormat)
	if contains(names, headerXDate) && r.Header.Get("X-Date") == "" {
		r.Header.Set("X-Date", date)
	}
	if contains(names, headerDate) && r.Header.Get("Date") == "" {
		r.Header.Set("Date", date)
	}
	if contains(names, headerDigest) {
		sum := sha256.Sum256(body)
		r.Header.Set("Digest", "SHA-256="+base64.StdEncoding.EncodeToString(sum[:]))
	}

	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	hdr := make(signing.PairHeader, 0, len(r.Header))
	for k, vs := range r.Header {
		lk := strings.ToLower(k)
		for _, v := range vs {
			hdr = append(hdr, signing.HeaderPair{Name: lk, Value: v})
		}
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	proto := "HTTP/1.1"
	if r.ProtoMajor > 0 {
		proto = "HTTP/" + strconv.Itoa(r.ProtoMajor) + "." + strconv.Itoa(r.ProtoMinor)
	}
	req := &Request{
		Method: method,
		Target: r.URL.RequestURI(),
		Proto:  proto,
		Host:   host,
		Header: hdr,
	}
	sig, err := Signature(req, alg, names, []byte(secret))
	if err != nil {
		return err
	}
	r.Header.Set("Authorization", FormatAuthorization(id, alg, names, sig))
	return nil
}

// FormatAuthorization renders the Tencent form of the Authorization value:
//
//	hmac id="<id>", algorithm="<alg>", headers="<h1 h2 ...>", signature="<sig>"
func FormatAuthorization(id string, alg Algorithm, headers []string, signature string) string {
	var b strings.Builder
	b.Grow(64 + len(id) + len(signature) + 16*len(headers))
	b.WriteString(`hmac id="`)
	b.WriteString(id)
	b.WriteString(`", algorithm="`)
	b.WriteString(alg.String())
	b.WriteString(`", headers="`)
	for i, h := range headers {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(h)
	}
	b.WriteString(`", signature="`)
	b.WriteString(signature)
	b.WriteString(`"`)
	return b.String()
}

func hasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}
