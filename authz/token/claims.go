package token

import (
	"github.com/go-jose/go-jose/v4/json"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/apigwio/apigw/internal/echo"
)

// claims are the decoded, not yet trusted, claims of a token: the
// registered ones, and every member as raw JSON for the mapped identity
// claims.
type claims struct {
	jwt.Claims
	raw map[string]json.RawMessage
}

// decodeClaims decodes the payload of tok with go-jose's JSON decoder,
// which refuses a repeated member name (RFC 7519, Section 4 allows either
// that or keeping the last one) and matches names case-sensitively. It
// returns "" or a reason.
func decodeClaims(tok *jwt.JSONWebToken) (c claims, why string) {
	if err := tok.UnsafeClaimsWithoutVerification(&c.Claims, &c.raw); err != nil {
		return c, "malformed payload: " + echo.Clip(err.Error(), 128, "...")
	}
	return c, ""
}

// text returns the mapped identity claim name: a string as is, a number as
// its JSON text; anything else (absent, null, booleans, objects, arrays) as
// "".
func (c *claims) text(name string) string {
	v := c.raw[name]
	if len(v) == 0 {
		return ""
	}
	switch ch := v[0]; {
	case ch == '"':
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s
		}
	case ch == '-' || ch >= '0' && ch <= '9':
		return string(v)
	}
	return ""
}
