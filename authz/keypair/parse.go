package keypair

import (
	"encoding/base64"
	"strings"
	"unicode/utf8"

	"github.com/apigwio/apigw/internal/ows"
)

// Credential is a parsed key-pair Authorization value. ID, AlgorithmName
// and SignatureB64 are substrings of the parsed input.
type Credential struct {
	// ID is the secret id (Tencent id=) or the Kong credential username
	// (username=).
	ID string
	// Algorithm is the HMAC algorithm; zero when AlgorithmName is not one of
	// the supported names.
	Algorithm Algorithm
	// AlgorithmName is the algorithm="..." value as sent.
	AlgorithmName string
	// Headers are the signed header names, lower-cased, in the listed order.
	// They include the pseudo-headers "request-line" and "@request-target".
	// A hand-built Credential must use lower case too ([Verify] rejects
	// other names as KindInvalidAuthorization).
	Headers []string
	// Signature is the decoded signature. It is nil when SignatureB64 is not
	// standard base64 (padded or not) of exactly Algorithm.Size() bytes; [Verify]
	// reports that as KindMalformedSignature ("HMAC signature does not
	// match"), after the checks that need no secret.
	Signature []byte
	// SignatureB64 is the signature="..." value as sent.
	SignatureB64 string
}

// Limits on the Authorization value. Values beyond them are
// KindInvalidAuthorization.
const (
	// MaxAuthorizationLen bounds the whole Authorization value.
	MaxAuthorizationLen = 16 << 10
	// MaxHeaders bounds the number of names in headers="...".
	MaxHeaders = 64
	// MaxHeaderNameLen bounds each name in headers="...".
	MaxHeaderNameLen = 128
	// MaxIDLen bounds the id / username.
	MaxIDLen = 256
)

// Pseudo-header names of the signed list.
const (
	// RequestLine signs "METHOD <target> HTTP/x.y" (the line alone, without
	// a "request-line: " prefix, as Kong and draft-cavage do; see the
	// package documentation).
	RequestLine = "request-line"
	// RequestTarget signs "@request-target: <lower-case method> <target>".
	RequestTarget = "@request-target"
)

const scheme = "hmac"

// parameter indexes for duplicate detection.
const (
	paramID = iota // id or username
	paramAlgorithm
	paramHeaders
	paramSignature
	numParams
)

// ParseAuthorization parses a key-pair Authorization (or
// Proxy-Authorization) value:
//
//	hmac id="<secret id>", algorithm="hmac-sha1", headers="x-date source", signature="<base64>"
//	hmac username="<user>", algorithm="hmac-sha256", headers="date request-line", signature="<base64>"
//
// Grammar: the scheme "hmac" (any case), at least one space or tab, then
// parameters name="value" separated by "," with optional spaces and tabs
// around the comma. Parameter names are matched case-insensitively and may
// come in any order; id and username are alternatives. Every value must be
// double-quoted, without whitespace around "=", and may not contain a
// backslash (no escapes are defined), a control byte or a double quote.
//
// Errors (all *Error):
//   - KindMissingAuthorization: v is blank.
//   - KindInvalidAuthorization: any syntax error, an unterminated quote, an
//     unknown, unquoted or repeated parameter (id and username count as one),
//     a missing algorithm or headers parameter, an id longer than MaxIDLen or
//     not valid UTF-8, a headers list of more than MaxHeaders names or with a
//     name longer than MaxHeaderNameLen, a name that is not an HTTP token,
//     or a pseudo-header other than "@request-target" (any name starting with
//     "@"), a value longer than MaxAuthorizationLen.
//   - KindMissingIDOrSignature: id/username or signature is absent or empty.
//   - KindUnsupportedAlgorithm: algorithm is not one of the four names; the
//     returned Credential is filled in nonetheless.
//
// A signature that is not standard base64 (padded or not) of the MAC size
// is not an error here: Signature is left nil and Verify reports it. The headers list
// is split on runs of spaces and tabs (leading and trailing ones ignored);
// an empty list parses, and Verify then reports the missing date header.
// The work is linear in len(v), and it never panics.
func ParseAuthorization(v string) (Credential, error) {
	var c Credential
	if len(v) > MaxAuthorizationLen {
		return c, NewError(KindInvalidAuthorization)
	}
	v = ows.Trim(v)
	if v == "" {
		return c, NewError(KindMissingAuthorization)
	}
	if !hasHMACScheme(v) {
		return c, NewError(KindInvalidAuthorization)
	}
	rest := ows.Trim(v[len(scheme):])
	if rest == "" {
		return c, NewError(KindInvalidAuthorization)
	}

	var seen [numParams]bool
	var headers string
	for {
		i := 0
		for i < len(rest) && isTchar(rest[i]) {
			i++
		}
		if i == 0 || i == len(rest) || rest[i] != '=' {
			return c, NewError(KindInvalidAuthorization)
		}
		name := rest[:i]
		rest = rest[i+1:]
		if rest == "" || rest[0] != '"' {
			return c, NewError(KindInvalidAuthorization) // unquoted value
		}
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			return c, NewError(KindInvalidAuthorization) // unterminated quote
		}
		val := rest[1 : 1+end]
		rest = rest[end+2:]
		for j := 0; j < len(val); j++ {
			if b := val[j]; b < 0x20 || b == 0x7f || b == '\\' {
				return c, NewError(KindInvalidAuthorization)
			}
		}

		var p int
		switch {
		case strings.EqualFold(name, "id"), strings.EqualFold(name, "username"):
			p = paramID
			c.ID = val
		case strings.EqualFold(name, "algorithm"):
			p = paramAlgorithm
			c.AlgorithmName = val
		case strings.EqualFold(name, "headers"):
			p = paramHeaders
			headers = val
		case strings.EqualFold(name, "signature"):
			p = paramSignature
			c.SignatureB64 = val
		default:
			return c, NewError(KindInvalidAuthorization) // unknown or misspelt
		}
		if seen[p] {
			return c, NewError(KindInvalidAuthorization) // repeated
		}
		seen[p] = true

		rest = ows.Trim(rest)
		if rest == "" {
			break
		}
		if rest[0] != ',' {
			return c, NewError(KindInvalidAuthorization)
		}
		rest = ows.Trim(rest[1:])
		if rest == "" {
			return c, NewError(KindInvalidAuthorization) // trailing comma
		}
	}

	if !seen[paramAlgorithm] || !seen[paramHeaders] {
		return c, NewError(KindInvalidAuthorization)
	}
	if len(c.ID) > MaxIDLen || !utf8.ValidString(c.ID) {
		return c, NewError(KindInvalidAuthorization)
	}
	hs, ok := splitHeaders(headers)
	if !ok {
		return c, NewError(KindInvalidAuthorization)
	}
	c.Headers = hs
	if c.ID == "" || c.SignatureB64 == "" {
		return c, NewError(KindMissingIDOrSignature)
	}
	alg, ok := ParseAlgorithm(c.AlgorithmName)
	if !ok {
		return c, UnsupportedAlgorithmError(c.AlgorithmName)
	}
	c.Algorithm = alg
	c.Signature = decodeSignature(nil, c.SignatureB64, alg)
	return c, nil
}

// rawStrict decodes unpadded standard base64 with zero padding bits.
var rawStrict = base64.RawStdEncoding.Strict()

// decodeSignature appends to dst the decoded signature when s is standard
// base64 (with zero padding bits), padded or not, of exactly alg.Size()
// bytes, and returns nil otherwise. dst nil allocates.
func decodeSignature(dst []byte, s string, alg Algorithm) []byte {
	size := alg.Size()
	if size == 0 {
		return nil
	}
	if len(s) != base64.StdEncoding.EncodedLen(size) {
		if len(s) != base64.RawStdEncoding.EncodedLen(size) {
			return nil
		}
		// Unpadded (some clients strip the "="; every MAC size here
		// needs padding, so the two lengths differ).
		var src [(maxMACSize + 2) / 3 * 4]byte
		var out [maxMACSize + 3]byte
		n, err := rawStrict.Decode(out[:], src[:copy(src[:], s)])
		if err != nil || n != size {
			return nil
		}
		if dst == nil {
			dst = make([]byte, 0, size)
		}
		return append(dst, out[:n]...)
	}
	var buf [maxMACSize + 3]byte
	n, ok := decodeBase64(buf[:], s)
	if !ok || n != size {
		return nil
	}
	if dst == nil {
		dst = make([]byte, 0, size)
	}
	return append(dst, buf[:n]...)
}

// b64Index maps a standard base64 character to its value, others to 0xff.
var b64Index = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// decodeBase64 decodes padded standard base64 strictly, like
// base64.StdEncoding.Strict() but without skipping CR/LF and without
// converting s to a []byte: len(s) must be a multiple of 4, "=" may only
// pad the last quantum and the padding bits must be zero. dst must have
// room for len(s)/4*3 bytes.
func decodeBase64(dst []byte, s string) (int, bool) {
	if len(s)%4 != 0 || len(dst) < len(s)/4*3 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i += 4 {
		a, b := b64Index[s[i]], b64Index[s[i+1]]
		if a|b == 0xff {
			return 0, false
		}
		last := i+4 == len(s)
		if last && s[i+2] == '=' {
			if s[i+3] != '=' || b&0x0f != 0 {
				return 0, false
			}
			dst[n] = a<<2 | b>>4
			return n + 1, true
		}
		c := b64Index[s[i+2]]
		if c == 0xff {
			return 0, false
		}
		if last && s[i+3] == '=' {
			if c&0x03 != 0 {
				return 0, false
			}
			dst[n], dst[n+1] = a<<2|b>>4, b<<4|c>>2
			return n + 2, true
		}
		d := b64Index[s[i+3]]
		if d == 0xff {
			return 0, false
		}
		dst[n], dst[n+1], dst[n+2] = a<<2|b>>4, b<<4|c>>2, c<<6|d
		n += 3
	}
	return n, true
}

// splitHeaders splits the headers="..." list on runs of spaces and tabs,
// lower-cases the names and checks them (see validHeaderName).
func splitHeaders(s string) ([]string, bool) {
	n := 0
	for i := 0; i < len(s); {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i == len(s) {
			break
		}
		n++
		for i < len(s) && s[i] != ' ' && s[i] != '\t' {
			i++
		}
	}
	if n == 0 {
		return nil, true
	}
	if n > MaxHeaders {
		return nil, false
	}
	out := make([]string, 0, n)
	for i := 0; i < len(s); {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i == len(s) {
			break
		}
		start := i
		for i < len(s) && s[i] != ' ' && s[i] != '\t' {
			i++
		}
		name := lower(s[start:i])
		if !validHeaderName(name) {
			return nil, false
		}
		out = append(out, name)
	}
	return out, true
}

// validHeaderName reports whether name (already lower case) may appear in
// the signed list: a lower-case HTTP token of at most MaxHeaderNameLen bytes
// (request-line included) or the pseudo-header "@request-target".
func validHeaderName(name string) bool {
	if name == "" || len(name) > MaxHeaderNameLen {
		return false
	}
	if name[0] == '@' {
		return name == RequestTarget
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isTchar(c) || ('A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// lower returns s in ASCII lower case, without allocating when it already is.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// isTchar reports whether c is an RFC 9110 token character.
func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}
