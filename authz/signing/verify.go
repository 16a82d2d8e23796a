package signing

import (
	"crypto/hmac"
	"errors"
	"strings"
	"time"

	"github.com/apigwio/apigw/internal/echo"
)

// Request is the verifier's view of an HTTP request.
type Request struct {
	// Method is the request method as received ("GET").
	Method string
	// Target is the raw request-target exactly as received: the path plus an
	// optional "?query" (Envoy's :path).
	Target string
	// Host is the Host / :authority value, used for the signed header "host"
	// when Header has no "host" entry.
	Host string
	// Header gives the request headers.
	Header Header
	// Body is the request body, when forwarded.
	Body []byte
	// HasBody is true when Body holds the complete request body. When false,
	// and no content-hash header is present, the empty body is hashed; when
	// a content-hash header is present it cannot be checked against the body.
	HasBody bool
}

// Reason classifies a verification failure. The zero Reason means no error.
type Reason uint8

// Failure reasons.
const (
	// ReasonMalformed: the Authorization value or the credential is not well
	// formed.
	ReasonMalformed Reason = iota + 1
	// ReasonUnsupportedAlgorithm: the algorithm is not one of the supported
	// ones.
	ReasonUnsupportedAlgorithm
	// ReasonMissingDate: the request has no X-Sdk-Date header.
	ReasonMissingDate
	// ReasonBadDate: X-Sdk-Date is not in the 20060102T150405Z layout.
	ReasonBadDate
	// ReasonExpired: X-Sdk-Date is further from the server time than the
	// allowed skew.
	ReasonExpired
	// ReasonDateNotSigned: x-sdk-date is not among the signed headers.
	ReasonDateNotSigned
	// ReasonMissingSignedHeader: a header listed in SignedHeaders is absent
	// from the request.
	ReasonMissingSignedHeader
	// ReasonBadScope: the V11 credential scope is malformed or its date is
	// not the date of X-Sdk-Date.
	ReasonBadScope
	// ReasonContentHashMismatch: the content-hash header is neither
	// UNSIGNED-PAYLOAD nor the hash of the forwarded body.
	ReasonContentHashMismatch
	// ReasonMismatch: the signature does not match.
	ReasonMismatch
)

var reasonNames = [...]string{
	0:                          "none",
	ReasonMalformed:            "malformed",
	ReasonUnsupportedAlgorithm: "unsupported_algorithm",
	ReasonMissingDate:          "missing_date",
	ReasonBadDate:              "bad_date",
	ReasonExpired:              "expired",
	ReasonDateNotSigned:        "date_not_signed",
	ReasonMissingSignedHeader:  "missing_signed_header",
	ReasonBadScope:             "bad_scope",
	ReasonContentHashMismatch:  "content_hash_mismatch",
	ReasonMismatch:             "signature_mismatch",
}

// String returns a short snake_case name for the reason, suitable as a
// metric label.
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "Reason(" + itoa(int(r)) + ")"
}

// Error is a verification failure.
type Error struct {
	// Reason is the machine-readable cause.
	Reason Reason
	// Detail is the human text that follows the platform prefix
	// ("Incorrect IAM authentication information: "). It never contains the
	// secret and echoes at most 64 bytes of any input.
	Detail string
	// CanonicalRequest is set for ReasonMismatch: the canonical request the
	// verifier computed (first reading), for the App failure message
	// "verify signature fail, canonicalRequest:<CR with | for \n>".
	CanonicalRequest string
}

// Error returns Detail.
func (e *Error) Error() string { return e.Detail }

// ReasonOf returns the Reason of err when it is (or wraps) an *Error, and 0
// otherwise.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return 0
}

func newError(r Reason, detail string) *Error { return &Error{Reason: r, Detail: detail} }

func malformed(detail string) *Error { return newError(ReasonMalformed, detail) }

// DefaultSkew is the clock skew allowed by the platform (15 minutes).
const DefaultSkew = 15 * time.Minute

// Verify checks cred over req with the secret at time now, allowing skew
// between X-Sdk-Date and now (skew <= 0 means DefaultSkew). It returns nil or
// an *Error.
//
// Checks, in order: algorithm and credential shape; X-Sdk-Date present
// (first value), well formed, listed in SignedHeaders and within skew; for
// V11 the scope date equals the X-Sdk-Date date; when the body was forwarded
// (HasBody) a content-hash header other than UNSIGNED-PAYLOAD must equal the
// body hash; then the signature, compared in constant time. When that fails
// and the raw query contains "+", the canonical request is recomputed once
// with "+" kept literally instead of decoded as a space (the two official
// clients disagree; both readings are accepted).
//
// An empty secret never verifies (ReasonMismatch).
//
// Verify allocates nothing on success for SDK-HMAC-SHA256 with MapHeader or
// PairHeader; V11 allocates in the HKDF key derivation and SDK-HMAC-SM3
// inside the SM3 implementation.
func Verify(req *Request, cred Credential, secret []byte, now time.Time, skew time.Duration) error {
	if req == nil {
		return malformed("no request")
	}
	if !cred.Algorithm.Valid() {
		return newError(ReasonUnsupportedAlgorithm, "unsupported signature algorithm: "+cred.Algorithm.String())
	}
	if cred.Access == "" {
		return malformed("Authorization format incorrect: missing Access")
	}
	if msg := checkSignedHeaders(cred.SignedHeaders); msg != "" {
		return malformed("Authorization format incorrect: " + msg)
	}
	if cred.Algorithm == V11HMACSHA256 && !validScope(cred.Scope) {
		return newError(ReasonBadScope, "credential scope must be YYYYMMDD/region/service")
	}
	if len(cred.Signature) != 2*sigLen || !isHex(cred.Signature) {
		return malformed("Authorization format incorrect: Signature must be 64 hex digits")
	}

	date, err := checkDate(req, cred, now, skew)
	if err != nil {
		return err
	}
	if len(secret) == 0 {
		// Fail closed on a misconfigured key; say nothing more to the client.
		return newError(ReasonMismatch, "signature does not match")
	}

	st := getState()
	defer putState(st)

	for i := 0; i < sigLen; i++ {
		hi, _ := unhex(cred.Signature[2*i])
		lo, _ := unhex(cred.Signature[2*i+1])
		st.want[i] = hi<<4 | lo
	}

	chName := cred.Algorithm.contentHashHeaderLower()
	ch, hasCH := FirstValue(req.Header, chName)
	if !hasCH || (req.HasBody && ch != UnsignedPayload) {
		var body []byte
		if req.HasBody {
			body = req.Body
		}
		st.setPayloadFromBody(cred.Algorithm, body)
		if hasCH && !equalFoldHex(ch, st.payload) {
			return newError(ReasonContentHashMismatch, cred.Algorithm.ContentHashHeader()+" does not match the request body")
		}
	}

	key, kerr := st.signingKey(&cred, secret)
	if kerr != nil {
		return malformed("cannot derive the signing key")
	}

	ok, err := st.attempt(req, &cred, key, date, false)
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	if q := strings.IndexByte(req.Target, '?'); q >= 0 && strings.IndexByte(req.Target[q:], '+') >= 0 {
		if ok, _ := st.attempt(req, &cred, key, date, true); ok {
			return nil
		}
		// Put the first reading back for the error.
		_ = st.buildCR(req, &cred, false)
	}
	return &Error{Reason: ReasonMismatch, Detail: "signature does not match", CanonicalRequest: string(st.cr)}
}

// equalFoldHex reports whether the header value s equals the lower-case hex
// digest h, ignoring the case of s.
func equalFoldHex(s string, h []byte) bool {
	if len(s) != len(h) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'F' {
			c += 'a' - 'A'
		}
		if c != h[i] {
			return false
		}
	}
	return true
}

// attempt computes the signature for one reading and compares it with
// st.want in constant time.
func (st *state) attempt(req *Request, cred *Credential, key []byte, date string, plusLiteral bool) (bool, error) {
	if err := st.buildCR(req, cred, plusLiteral); err != nil {
		return false, err
	}
	st.buildSTS(cred, date)
	mac := st.hmacSum(cred.Algorithm, key, st.sts)
	return hmac.Equal(mac, st.want[:]), nil
}

// checkDate finds X-Sdk-Date, checks that it is well formed, signed and
// within skew of now, and for V11 that the scope date matches. It returns the
// (trimmed) date as sent.
func checkDate(req *Request, cred Credential, now time.Time, skew time.Duration) (string, error) {
	v, ok := FirstValue(req.Header, "x-sdk-date")
	if !ok {
		return "", newError(ReasonMissingDate, "Header x-sdk-date not found")
	}
	date := strings.TrimSpace(v)
	t, ok := parseDate(date)
	if !ok {
		return "", newError(ReasonBadDate, "X-Sdk-Date format incorrect: "+clip(date))
	}
	if !signedHeadersContain(cred.SignedHeaders, "x-sdk-date") {
		return "", newError(ReasonDateNotSigned, "x-sdk-date is not among the signed headers")
	}
	if skew <= 0 {
		skew = DefaultSkew
	}
	d := t.Sub(now)
	if d > skew || d < -skew {
		return "", newError(ReasonExpired, "signature expired, signature time:"+date+",server time:"+now.UTC().Format(DateFormat))
	}
	if cred.Algorithm == V11HMACSHA256 && cred.Scope[:8] != date[:8] {
		return "", newError(ReasonBadScope, "credential scope date "+cred.Scope[:8]+" does not match X-Sdk-Date "+date)
	}
	return date, nil
}

// parseDate parses the 20060102T150405Z layout without allocating.
func parseDate(s string) (time.Time, bool) {
	if len(s) != len(DateFormat) || s[8] != 'T' || s[15] != 'Z' {
		return time.Time{}, false
	}
	num := func(i, n int) (int, bool) { return echo.Digits(s, i, n) }
	year, ok1 := num(0, 4)
	month, ok2 := num(4, 2)
	day, ok3 := num(6, 2)
	hour, ok4 := num(9, 2)
	minute, ok5 := num(11, 2)
	sec, ok6 := num(13, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return time.Time{}, false
	}
	if month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC)
	if t.Day() != day { // e.g. 20230231
		return time.Time{}, false
	}
	return t, true
}

// CanonicalRequest returns the canonical request the verifier computes for
// req and cred (first reading of "+"), for the App failure message and for
// `apigw sign --explain`. The payload hash follows the same rules as Verify.
// Errors are *Error (ReasonUnsupportedAlgorithm, ReasonMalformed,
// ReasonMissingSignedHeader).
func CanonicalRequest(req *Request, cred Credential) (string, error) {
	st, err := canonicalState(req, &cred)
	if err != nil {
		return "", err
	}
	defer putState(st)
	return string(st.cr), nil
}

// StringToSign returns the string to sign the verifier computes for req and
// cred (first reading of "+"); it needs the request's X-Sdk-Date.
func StringToSign(req *Request, cred Credential) (string, error) {
	st, err := canonicalState(req, &cred)
	if err != nil {
		return "", err
	}
	defer putState(st)
	v, ok := FirstValue(req.Header, "x-sdk-date")
	if !ok {
		return "", newError(ReasonMissingDate, "Header x-sdk-date not found")
	}
	st.buildSTS(&cred, strings.TrimSpace(v))
	return string(st.sts), nil
}

// canonicalState builds the canonical request in a pooled state; the caller
// must putState it on success.
func canonicalState(req *Request, cred *Credential) (*state, error) {
	if req == nil {
		return nil, malformed("no request")
	}
	if !cred.Algorithm.Valid() {
		return nil, newError(ReasonUnsupportedAlgorithm, "unsupported signature algorithm: "+cred.Algorithm.String())
	}
	st := getState()
	var body []byte
	if req.HasBody {
		body = req.Body
	}
	st.setPayloadFromBody(cred.Algorithm, body)
	if err := st.buildCR(req, cred, false); err != nil {
		putState(st)
		return nil, err
	}
	return st, nil
}
