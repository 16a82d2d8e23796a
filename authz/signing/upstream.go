package signing

import (
	"errors"
	"strings"

	"github.com/apigwio/apigw/internal/hmacpool"
)

// Upstream is a request as a backend will receive it, for SignUpstream.
type Upstream struct {
	// Method is the request method.
	Method string
	// Target is the path plus an optional "?query" sent to the backend.
	Target string
	// Host is the Host header the backend receives.
	Host string
	// Date is the X-Sdk-Date value (DateFormat).
	Date string
	// Body is the request body; ignored when Unsigned.
	Body []byte
	// Unsigned signs the content-hash header X-Sdk-Content-Sha256 with the
	// value UNSIGNED-PAYLOAD instead of the body's hash (the body is not
	// known).
	Unsigned bool
}

// upstreamHeaders are the signed headers of SignUpstream.
const (
	upstreamSignedHeaders         = "host;x-sdk-date"
	upstreamSignedHeadersUnsigned = "host;x-sdk-content-sha256;x-sdk-date"
)

// UpstreamSigner signs requests with one access key and secret. It keeps
// its keyed HMAC states, so that signing does not re-key a state shared
// with the verification of client signatures. It is safe for concurrent
// use.
type UpstreamSigner struct {
	access string
	secret []byte
	macs   *hmacpool.Pool
}

// NewUpstreamSigner returns a signer for the access key and secret (both
// required).
func NewUpstreamSigner(access string, secret []byte) (*UpstreamSigner, error) {
	if access == "" || len(secret) == 0 {
		return nil, errors.New("signing: access key and secret are required")
	}
	return &UpstreamSigner{access: access, secret: secret, macs: hmacpool.New(SDKHMACSHA256.newHash)}, nil
}

// SignUpstream returns the SDK-HMAC-SHA256 Authorization value of u for the
// access key and secret: the signature a gateway adds to the requests it
// forwards (signature keys), with the canonicalisation of Verify and
// SignRequest. The signed headers are host and x-sdk-date, plus
// x-sdk-content-sha256 when u.Unsigned; the caller sends X-Sdk-Date (and
// X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD when u.Unsigned) with it.
func SignUpstream(u *Upstream, access string, secret []byte) (string, error) {
	s, err := NewUpstreamSigner(access, secret)
	if err != nil {
		return "", err
	}
	return s.Sign(u)
}

// Sign is SignUpstream with the signer's key and secret.
func (s *UpstreamSigner) Sign(u *Upstream) (string, error) {
	access := s.access
	cred := Credential{Algorithm: SDKHMACSHA256, Access: access, SignedHeaders: upstreamSignedHeaders}
	var hdr [3]HeaderPair
	hdr[0] = HeaderPair{Name: "host", Value: u.Host}
	hdr[1] = HeaderPair{Name: "x-sdk-date", Value: u.Date}
	h := PairHeader(hdr[:2])
	if u.Unsigned {
		cred.SignedHeaders = upstreamSignedHeadersUnsigned
		hdr[2] = HeaderPair{Name: "x-sdk-content-sha256", Value: UnsignedPayload}
		h = PairHeader(hdr[:3])
	}
	req := Request{Method: u.Method, Target: u.Target, Host: u.Host, Header: h, Body: u.Body, HasBody: !u.Unsigned}
	st := getState()
	defer putState(st)
	if !u.Unsigned {
		st.setPayloadFromBody(SDKHMACSHA256, u.Body)
	}
	if err := st.buildCR(&req, &cred, false); err != nil {
		return "", err
	}
	st.buildSTS(&cred, u.Date)
	sig := s.macs.Sum(st.mac[:], s.secret, st.sts)
	var b strings.Builder
	b.Grow(len("SDK-HMAC-SHA256 Access=, SignedHeaders=, Signature=") + len(access) + len(cred.SignedHeaders) + 2*len(sig))
	b.WriteString("SDK-HMAC-SHA256 Access=")
	b.WriteString(access)
	b.WriteString(", SignedHeaders=")
	b.WriteString(cred.SignedHeaders)
	b.WriteString(", Signature=")
	const digits = "0123456789abcdef"
	for _, c := range sig {
		b.WriteByte(digits[c>>4])
		b.WriteByte(digits[c&15])
	}
	return b.String(), nil
}
