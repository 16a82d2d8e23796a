package token

import (
	"errors"
	"strconv"

	"github.com/apigwio/apigw/internal/echo"
)

// Kind classifies a verification failure. The zero Kind means no error.
type Kind uint8

// Failure kinds.
const (
	// KindInvalid: the token cannot be decoded or verified: malformed, too
	// long, an algorithm that is not allowed, an unknown issuer or key id, a
	// bad signature, a wrong audience, a missing exp, or no keys loaded yet
	// for its issuer. Gateway answer: APIG.0301 "Incorrect IAM
	// authentication information: decrypt token fail" ([MsgDecryptFail]).
	KindInvalid Kind = iota + 1
	// KindExpired: a genuine token whose exp is further in the past than the
	// allowed clock skew. Gateway answer: APIG.0307 "The token must be
	// updated.".
	KindExpired
	// KindNotYetValid: a genuine token whose nbf (or iat) is further in the
	// future than the allowed clock skew. The gateway treats it as
	// KindInvalid ("decrypt token fail"): the platform has no message of its
	// own for it, and asking the client to renew would not help.
	KindNotYetValid
)

// MsgDecryptFail is the detail the gateway appends to its authentication
// failure message for KindInvalid and KindNotYetValid. [Error.Detail] is for
// logs and is never meant for the client.
const MsgDecryptFail = "decrypt token fail"

var kindNames = [...]string{
	0:               "none",
	KindInvalid:     "invalid",
	KindExpired:     "expired",
	KindNotYetValid: "not_yet_valid",
}

// String returns a short snake_case name for the kind, suitable as a metric
// label.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Error is a verification failure.
type Error struct {
	// Kind is the machine-readable class.
	Kind Kind
	// Detail says what failed, for logs. It echoes at most 64 bytes of any
	// token-supplied value and never contains key material.
	Detail string
}

// Error returns Detail.
func (e *Error) Error() string { return e.Detail }

// KindOf returns the Kind of err when it is (or wraps) an *Error, and 0
// otherwise.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

func invalid(detail string) *Error { return &Error{Kind: KindInvalid, Detail: detail} }

// maxEcho is the most of a token-supplied value repeated in a Detail.
const maxEcho = 64

// clip makes s safe to echo in a Detail: at most maxEcho bytes, bytes other
// than printable ASCII as '?'.
func clip(s string) string { return echo.Clip(s, maxEcho, "...") }

func quote(s string) string { return strconv.Quote(clip(s)) }
