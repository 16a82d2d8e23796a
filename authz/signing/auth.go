package signing

import (
	"strings"

	"github.com/apigwio/apigw/internal/echo"
	"github.com/apigwio/apigw/internal/ows"
)

// Credential is a parsed Authorization header value. Its strings are
// substrings of the parsed input (no copies).
type Credential struct {
	// Algorithm is the signature algorithm.
	Algorithm Algorithm
	// Access is the access key (AK) or AppKey. For V11 it is the part of
	// Credential= before the first "/".
	Access string
	// Scope is the V11 credential scope "YYYYMMDD/region/service"; empty for
	// the other algorithms.
	Scope string
	// SignedHeaders is the raw ";"-joined lower-case list as sent.
	SignedHeaders string
	// Signature is the hex signature as sent.
	Signature string
}

// ScopeParts splits the V11 Scope into its date, region and service. All are
// empty when the scope is not of the form "YYYYMMDD/region/service".
func (c Credential) ScopeParts() (date, region, service string) {
	if !validScope(c.Scope) {
		return "", "", ""
	}
	s := c.Scope
	i := strings.IndexByte(s, '/')
	date, s = s[:i], s[i+1:]
	j := strings.IndexByte(s, '/')
	return date, s[:j], s[j+1:]
}

// maxAuthorizationLen bounds the Authorization value ParseAuthorization
// accepts; real values are a few hundred bytes.
const maxAuthorizationLen = 16 << 10

// ParseAuthorization parses an Authorization header value:
//
//	SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex
//	SDK-HMAC-SM3 Access=AK, SignedHeaders=a;b, Signature=hex
//	V11-HMAC-SHA256 Credential=AK/YYYYMMDD/region/service, SignedHeaders=a;b, Signature=hex
//
// The algorithm is separated from the first parameter by spaces; parameters
// are separated by "," with optional spaces and may come in any order. Each
// parameter must appear once; unknown parameters are rejected. SignedHeaders
// must be a non-empty ";"-separated list of lower-case header names and
// Signature 64 hex digits. Errors are *Error with ReasonMalformed or
// ReasonUnsupportedAlgorithm. The work is linear in len(v) and it never
// panics.
func ParseAuthorization(v string) (Credential, error) {
	var c Credential
	v = ows.Trim(v)
	if v == "" {
		return c, malformed("Authorization format incorrect: empty value")
	}
	if len(v) > maxAuthorizationLen {
		return c, malformed("Authorization format incorrect: value too long")
	}
	sp := strings.IndexAny(v, " \t")
	name, rest := v, ""
	if sp >= 0 {
		name, rest = v[:sp], ows.Trim(v[sp+1:])
	}
	alg, ok := ParseAlgorithm(name)
	if !ok {
		if strings.IndexByte(name, '=') >= 0 || strings.IndexByte(name, ',') >= 0 {
			return c, malformed("Authorization format incorrect: missing algorithm")
		}
		return c, newError(ReasonUnsupportedAlgorithm, "unsupported signature algorithm: "+clip(name))
	}
	c.Algorithm = alg
	if rest == "" {
		return c, malformed("Authorization format incorrect: missing parameters")
	}

	var haveAccess, haveCred, haveSH, haveSig bool
	var credential string
	for rest != "" {
		var p string
		if i := strings.IndexByte(rest, ','); i >= 0 {
			p, rest = rest[:i], rest[i+1:]
			if ows.Trim(rest) == "" {
				return c, malformed("Authorization format incorrect: trailing comma")
			}
		} else {
			p, rest = rest, ""
		}
		p = ows.Trim(p)
		if p == "" {
			return c, malformed("Authorization format incorrect: empty parameter")
		}
		eq := strings.IndexByte(p, '=')
		if eq <= 0 {
			return c, malformed("Authorization format incorrect: parameter without name=value: " + clip(p))
		}
		key, val := p[:eq], p[eq+1:]
		var seen *bool
		switch key {
		case "Access":
			seen = &haveAccess
			c.Access = val
		case "Credential":
			seen = &haveCred
			credential = val
		case "SignedHeaders":
			seen = &haveSH
			c.SignedHeaders = val
		case "Signature":
			seen = &haveSig
			c.Signature = val
		default:
			return c, malformed("Authorization format incorrect: unknown parameter " + clip(key))
		}
		if *seen {
			return c, malformed("Authorization format incorrect: duplicate " + key)
		}
		*seen = true
	}

	if alg == V11HMACSHA256 {
		if haveAccess {
			return c, malformed("Authorization format incorrect: " + nameV11HMACSHA256 + " uses Credential, not Access")
		}
		if !haveCred {
			return c, malformed("Authorization format incorrect: missing Credential")
		}
		i := strings.IndexByte(credential, '/')
		if i <= 0 || !validScope(credential[i+1:]) {
			return c, malformed("Authorization format incorrect: Credential must be AK/YYYYMMDD/region/service")
		}
		c.Access, c.Scope = credential[:i], credential[i+1:]
	} else {
		if haveCred {
			return c, malformed("Authorization format incorrect: " + name + " uses Access, not Credential")
		}
		if !haveAccess {
			return c, malformed("Authorization format incorrect: missing Access")
		}
		if c.Access == "" {
			return c, malformed("Authorization format incorrect: empty Access")
		}
	}
	if !haveSH || c.SignedHeaders == "" {
		return c, malformed("Authorization format incorrect: missing SignedHeaders")
	}
	if msg := checkSignedHeaders(c.SignedHeaders); msg != "" {
		return c, malformed("Authorization format incorrect: " + msg)
	}
	if !haveSig || c.Signature == "" {
		return c, malformed("Authorization format incorrect: missing Signature")
	}
	if !isHex(c.Signature) || len(c.Signature) != 2*sigLen {
		return c, malformed("Authorization format incorrect: Signature must be 64 hex digits")
	}
	return c, nil
}

// validScope reports whether s is "YYYYMMDD/region/service" with an
// all-digit date and non-empty region and service without further "/".
func validScope(s string) bool {
	if len(s) < 12 || s[8] != '/' {
		return false
	}
	for i := 0; i < 8; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	rs := s[9:]
	j := strings.IndexByte(rs, '/')
	if j <= 0 || j == len(rs)-1 {
		return false
	}
	return strings.IndexByte(rs[j+1:], '/') < 0
}

// maxSignedHeaders bounds the SignedHeaders list.
const maxSignedHeaders = 256

// checkSignedHeaders validates a ";"-joined list of lower-case header names
// and returns a description of the problem, or "".
func checkSignedHeaders(sh string) string {
	if sh == "" {
		return "missing SignedHeaders"
	}
	n := 0
	for start := 0; start <= len(sh); {
		end := strings.IndexByte(sh[start:], ';')
		if end < 0 {
			end = len(sh)
		} else {
			end += start
		}
		name := sh[start:end]
		if name == "" {
			return "empty name in SignedHeaders"
		}
		for i := 0; i < len(name); i++ {
			if !isLowerTokenChar(name[i]) {
				return "SignedHeaders must be lower-case header names"
			}
		}
		n++
		if n > maxSignedHeaders {
			return "too many SignedHeaders"
		}
		start = end + 1
	}
	return ""
}

// signedHeadersContain reports whether the ";"-joined list contains name.
func signedHeadersContain(sh, name string) bool {
	for sh != "" {
		var h string
		if i := strings.IndexByte(sh, ';'); i >= 0 {
			h, sh = sh[:i], sh[i+1:]
		} else {
			h, sh = sh, ""
		}
		if h == name {
			return true
		}
	}
	return false
}

// isLowerTokenChar reports whether c is an RFC 9110 token character other
// than an upper-case letter.
func isLowerTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if _, ok := unhex(s[i]); !ok {
			return false
		}
	}
	return true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// maxEcho caps the input echoed in error details.
const maxEcho = 64

// clip returns s for inclusion in an error detail: at most maxEcho bytes,
// with bytes outside printable ASCII replaced by '?'.
func clip(s string) string { return echo.Clip(s, maxEcho, "...") }
