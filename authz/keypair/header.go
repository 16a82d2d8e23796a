package keypair

import (
	"strings"

	"github.com/apigwio/apigw/authz/signing"
	"github.com/apigwio/apigw/internal/ows"
)

// Header names the package looks up (lower case, as signing.Header expects).
const (
	headerAuthorization      = "authorization"
	headerProxyAuthorization = "proxy-authorization"
	headerDate               = "date"
	headerXDate              = "x-date"
	headerDigest             = "digest"
	headerHost               = "host"
	headerAuthority          = ":authority"
)

// FindAuthorization returns the credential value to parse: the first
// Proxy-Authorization value when it is present and not blank, else the first
// Authorization value. ok is false when neither is present and non-blank.
//
// Kong falls back to Authorization when Proxy-Authorization does not hold an
// hmac credential; [ParseRequestAuthorization] does that.
func FindAuthorization(h signing.Header) (value string, ok bool) {
	if v, ok := firstNonBlank(h, headerProxyAuthorization); ok {
		return v, true
	}
	return firstNonBlank(h, headerAuthorization)
}

// ParseRequestAuthorization finds and parses the credential of a request the
// way Kong does: Proxy-Authorization is tried first; when it is absent or does
// not parse, Authorization is tried. from is the (lower-case) name of the
// header the credential was taken from, so the caller can strip it before
// forwarding the request.
//
// With neither header the error is KindMissingAuthorization. When both are
// present and neither parses, the error is that of the one whose scheme is
// "hmac" (Proxy-Authorization first), so that an unrelated credential for
// another proxy does not hide the real problem.
func ParseRequestAuthorization(h signing.Header) (cred Credential, from string, err error) {
	pv, hasP := firstNonBlank(h, headerProxyAuthorization)
	av, hasA := firstNonBlank(h, headerAuthorization)
	if !hasP && !hasA {
		return Credential{}, "", NewError(KindMissingAuthorization)
	}
	var pc Credential
	var perr error
	if hasP {
		pc, perr = ParseAuthorization(pv)
		if perr == nil || !hasA {
			return pc, headerProxyAuthorization, perr
		}
	}
	c, err := ParseAuthorization(av)
	if err != nil && hasP && (hasHMACScheme(pv) || !hasHMACScheme(av)) {
		return pc, headerProxyAuthorization, perr
	}
	return c, headerAuthorization, err
}

// hasHMACScheme reports whether v starts with the auth-scheme "hmac".
func hasHMACScheme(v string) bool {
	v = ows.Trim(v)
	return len(v) >= len(scheme) && strings.EqualFold(v[:len(scheme)], scheme) &&
		(len(v) == len(scheme) || v[len(scheme)] == ' ' || v[len(scheme)] == '\t')
}

func firstNonBlank(h signing.Header, name string) (string, bool) {
	v, ok := signing.FirstValue(h, name)
	if !ok || ows.Trim(v) == "" {
		return "", false
	}
	return v, true
}

// appendValues appends the values of header name (lower case) to dst, using
// the allocation-free lookup when h provides one.
func appendValues(dst []string, h signing.Header, name string) []string {
	switch h := h.(type) {
	case nil:
		return dst
	case signing.MapHeader:
		if v, ok := h[name]; ok {
			return append(dst, v)
		}
		return dst
	case signing.PairHeader:
		return h.AppendValues(dst, name)
	case signing.ValueAppender:
		return h.AppendValues(dst, name)
	default:
		return append(dst, h.Values(name)...)
	}
}
