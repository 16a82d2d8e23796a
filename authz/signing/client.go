package signing

import (
	"errors"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"
)

// SignOptions configures SignRequest and Explain.
type SignOptions struct {
	// Algorithm is the signature algorithm; zero means SDKHMACSHA256.
	Algorithm Algorithm
	// Access is the AK / AppKey; Secret the SK / AppSecret. Both required.
	Access, Secret string
	// Time is the signing time (X-Sdk-Date); zero means time.Now().
	Time time.Time
	// Region and Service make the V11 credential scope
	// "YYYYMMDD/Region/Service"; required for V11HMACSHA256, ignored
	// otherwise.
	Region, Service string
	// UnsignedPayload sets the content-hash header to UNSIGNED-PAYLOAD (and
	// signs it) instead of hashing the body.
	UnsignedPayload bool
}

// Explanation is the "visualised signing" of a request: every intermediate
// value of the signature.
type Explanation struct {
	// CanonicalRequest is the canonical request text.
	CanonicalRequest string
	// StringToSign is the string the HMAC is computed over.
	StringToSign string
	// Signature is the lower-case hex signature.
	Signature string
	// Authorization is the complete Authorization header value.
	Authorization string
	// SignedHeaders are the signed header names, lower case, sorted.
	SignedHeaders []string
	// Date is the X-Sdk-Date value.
	Date string
	// Scope is the V11 credential scope; empty for the other algorithms.
	Scope string
}

// excludedHeaders are never signed by SignRequest: the Authorization header
// itself, headers net/http derives from Request fields rather than from
// Header (Host, Content-Length, Transfer-Encoding, Trailer) and hop-by-hop
// headers a proxy may drop or rewrite.
var excludedHeaders = map[string]bool{
	"authorization":       true,
	"host":                true,
	"content-length":      true,
	"transfer-encoding":   true,
	"trailer":             true,
	"connection":          true,
	"keep-alive":          true,
	"proxy-connection":    true,
	"proxy-authorization": true,
	"te":                  true,
	"upgrade":             true,
}

// SignRequest signs r for o.Algorithm: it sets X-Sdk-Date (from o.Time), the
// content-hash header when o.UnsignedPayload, and Authorization. body is the
// request body (r.Body is not read, since it may be consumed).
//
// Signed headers: "host" (r.Host, else r.URL.Host), "x-sdk-date" and every
// header present on r.Header, lower-cased and sorted — Content-Type included
// (unlike the official Go SDK, which leaves it out) — except Authorization,
// the headers net/http writes from Request fields (Host, Content-Length,
// Transfer-Encoding, Trailer) and hop-by-hop headers (Connection,
// Keep-Alive, Proxy-Connection, Proxy-Authorization, TE, Upgrade). A header
// with several values is signed with one line per value, so the verifier
// must see the values apart (PairHeader); Envoy's headers map joins them.
//
// The canonical request is computed from r.URL.RequestURI(), i.e. what
// net/http puts on the request line, through the verifier's code.
func SignRequest(r *http.Request, body []byte, o SignOptions) error {
	e, err := Explain(r, body, o)
	if err != nil {
		return err
	}
	if r.Header == nil {
		r.Header = make(http.Header)
	}
	alg := o.Algorithm
	if alg == 0 {
		alg = SDKHMACSHA256
	}
	r.Header.Set("X-Sdk-Date", e.Date)
	if o.UnsignedPayload {
		r.Header.Set(alg.ContentHashHeader(), UnsignedPayload)
	}
	r.Header.Set("Authorization", e.Authorization)
	return nil
}

// Explain computes the signature SignRequest would set, step by step,
// without modifying r.
func Explain(r *http.Request, body []byte, o SignOptions) (Explanation, error) {
	var e Explanation
	alg := o.Algorithm
	if alg == 0 {
		alg = SDKHMACSHA256
	}
	if !alg.Valid() {
		return e, errors.New("signing: unsupported algorithm " + alg.String())
	}
	if o.Access == "" || o.Secret == "" {
		return e, errors.New("signing: access key and secret are required")
	}
	if strings.ContainsAny(o.Access, " ,/") {
		return e, errors.New("signing: access key must not contain space, comma or slash")
	}
	if r == nil || r.URL == nil {
		return e, errors.New("signing: request without URL")
	}
	t := o.Time
	if t.IsZero() {
		t = time.Now()
	}
	t = t.UTC()
	e.Date = t.Format(DateFormat)
	if alg == V11HMACSHA256 {
		if o.Region == "" || o.Service == "" || strings.ContainsAny(o.Region+o.Service, "/ ,") {
			return e, errors.New("signing: V11-HMAC-SHA256 needs a region and a service without '/', ' ' or ','")
		}
		e.Scope = t.Format("20060102") + "/" + o.Region + "/" + o.Service
	}
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	if host == "" {
		return e, errors.New("signing: request without host")
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}

	ch := alg.contentHashHeaderLower()
	hdr := PairHeader{{"host", host}, {"x-sdk-date", e.Date}}
	names := []string{"host", "x-sdk-date"}
	for k, vs := range r.Header {
		lk := strings.ToLower(k)
		if excludedHeaders[lk] || lk == "x-sdk-date" || (o.UnsignedPayload && lk == ch) {
			continue
		}
		for i := 0; i < len(lk); i++ {
			if !isLowerTokenChar(lk[i]) {
				return e, errors.New("signing: invalid header name " + clip(k))
			}
		}
		names = append(names, lk)
		for _, v := range vs {
			hdr = append(hdr, HeaderPair{lk, v})
		}
	}
	if o.UnsignedPayload {
		names = append(names, ch)
		hdr = append(hdr, HeaderPair{ch, UnsignedPayload})
	}
	sort.Strings(names)
	names = slices.Compact(names)
	e.SignedHeaders = names

	cred := Credential{
		Algorithm:     alg,
		Access:        o.Access,
		Scope:         e.Scope,
		SignedHeaders: strings.Join(names, ";"),
	}
	req := &Request{
		Method:  method,
		Target:  r.URL.RequestURI(),
		Host:    host,
		Header:  hdr,
		Body:    body,
		HasBody: true,
	}

	st := getState()
	defer putState(st)
	st.setPayloadFromBody(alg, body)
	if err := st.buildCR(req, &cred, false); err != nil {
		return e, err
	}
	e.CanonicalRequest = string(st.cr)
	st.buildSTS(&cred, e.Date)
	e.StringToSign = string(st.sts)
	key, err := st.signingKey(&cred, []byte(o.Secret))
	if err != nil {
		return e, errors.New("signing: cannot derive the signing key")
	}
	e.Signature = hexString(st.hmacSum(alg, key, st.sts))

	var b strings.Builder
	b.WriteString(alg.String())
	if alg == V11HMACSHA256 {
		b.WriteString(" Credential=")
		b.WriteString(o.Access)
		b.WriteByte('/')
		b.WriteString(e.Scope)
	} else {
		b.WriteString(" Access=")
		b.WriteString(o.Access)
	}
	b.WriteString(", SignedHeaders=")
	b.WriteString(cred.SignedHeaders)
	b.WriteString(", Signature=")
	b.WriteString(e.Signature)
	e.Authorization = b.String()
	return e, nil
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}
