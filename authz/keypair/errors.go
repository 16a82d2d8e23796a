package keypair

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/apigwio/apigw/internal/echo"
)

// Client-facing messages, in the Tencent wording (response body
// {"message":"..."}). MsgMissingHeaderFormat and MsgUnsupportedAlgorithmFormat
// contain a placeholder ($header, $alg) that [Error.Message] has replaced.
const (
	MsgMissingAuthorization       = "HMAC signature cannot be verified, a validate authorization header is required"
	MsgInvalidAuthorization       = "authorization headers is invalidate"
	MsgMissingIDOrSignature       = "id or signature missing"
	MsgMissingHeaderFormat        = "HMAC signature cannot be verified, a valid $header header is required"
	MsgMissingDate                = "HMAC signature cannot be verified, a valid date header is required"
	MsgUnsupportedAlgorithmFormat = "HMAC algorithm $alg not supported."
	MsgNoUsagePlan                = "Found no validate usage plan"
	MsgUnknownKey                 = "HMAC signature cannot be verified"
	MsgSignatureMismatch          = "HMAC signature does not match"
	MsgDateOutOfRange             = "HMAC signature cannot be verified, the x-date header is out of date for HMAC Authentication."
	MsgRateLimitExceeded          = "API rate limit exceeded."
	MsgQuotaExceeded              = "API quota exceeded."
)

// Kind classifies a failure. The zero Kind means no error.
type Kind uint8

// Failure kinds. The comment gives the message and status of each.
const (
	// KindMissingAuthorization: neither Proxy-Authorization nor
	// Authorization is present (MsgMissingAuthorization, 401).
	KindMissingAuthorization Kind = iota + 1
	// KindInvalidAuthorization: the value cannot be parsed, or a parsed
	// Credential is not well formed (MsgInvalidAuthorization, 403).
	KindInvalidAuthorization
	// KindMissingIDOrSignature: id/username or signature is absent or empty
	// (MsgMissingIDOrSignature, 403).
	KindMissingIDOrSignature
	// KindMissingHeader: a header in the signed list is absent from the
	// request (MsgMissingHeaderFormat, 403).
	KindMissingHeader
	// KindEnforcedHeaderNotSigned: a header of Policy.EnforceHeaders is not
	// in the signed list (MsgMissingHeaderFormat with that name, 403).
	KindEnforcedHeaderNotSigned
	// KindMissingDate: neither X-Date nor Date is both present and signed
	// (MsgMissingDate, 403).
	KindMissingDate
	// KindInvalidDate: a signed X-Date or Date is not an HTTP-date
	// (MsgMissingDate, 403).
	KindInvalidDate
	// KindUnsupportedAlgorithm: unknown algorithm, or not in
	// Policy.AllowedAlgorithms (MsgUnsupportedAlgorithmFormat, 403).
	KindUnsupportedAlgorithm
	// KindDateOutOfRange: a signed X-Date or Date is further from the server
	// time than Policy.ClockSkew (MsgDateOutOfRange, 403).
	KindDateOutOfRange
	// KindSignatureMismatch: the signature does not match
	// (MsgSignatureMismatch, 403).
	KindSignatureMismatch
	// KindMalformedSignature: the signature is not padded standard base64
	// of exactly the algorithm's MAC size (MsgSignatureMismatch, 403).
	KindMalformedSignature
	// KindDigestRequired: body validation is on, the body is not empty and
	// there is no Digest header, or it has no SHA-256 entry
	// (MsgMissingHeaderFormat with "digest", 403).
	KindDigestRequired
	// KindDigestNotSigned: body validation is on and a Digest header is
	// present but not among the signed headers (MsgMissingHeaderFormat with
	// "digest", 403).
	KindDigestNotSigned
	// KindDigestMismatch: the SHA-256 Digest does not match the body
	// (MsgSignatureMismatch, 403).
	KindDigestMismatch
	// KindBodyUnavailable: body validation is on but the request body was not
	// forwarded to the verifier (Request.HasBody false); fails closed
	// (MsgSignatureMismatch, 403).
	KindBodyUnavailable
	// KindUnknownKey: the key is unknown, disabled or not bound; reported by
	// the caller (MsgUnknownKey, 403).
	KindUnknownKey
	// KindNoUsagePlan: no usage plan binds the key to the environment or
	// API; reported by the caller (MsgNoUsagePlan, 403).
	KindNoUsagePlan
	// KindRateLimited: usage plan rate limit exceeded; reported by the
	// caller (MsgRateLimitExceeded, 429).
	KindRateLimited
	// KindQuotaExceeded: usage plan quota exceeded; reported by the caller
	// (MsgQuotaExceeded, 429).
	KindQuotaExceeded

	numKinds = iota + 1
)

var kindNames = [numKinds]string{
	0:                           "none",
	KindMissingAuthorization:    "missing_authorization",
	KindInvalidAuthorization:    "invalid_authorization",
	KindMissingIDOrSignature:    "missing_id_or_signature",
	KindMissingHeader:           "missing_header",
	KindEnforcedHeaderNotSigned: "enforced_header_not_signed",
	KindMissingDate:             "missing_date",
	KindInvalidDate:             "invalid_date",
	KindUnsupportedAlgorithm:    "unsupported_algorithm",
	KindDateOutOfRange:          "date_out_of_range",
	KindSignatureMismatch:       "signature_mismatch",
	KindMalformedSignature:      "malformed_signature",
	KindDigestRequired:          "digest_required",
	KindDigestNotSigned:         "digest_not_signed",
	KindDigestMismatch:          "digest_mismatch",
	KindBodyUnavailable:         "body_unavailable",
	KindUnknownKey:              "unknown_key",
	KindNoUsagePlan:             "no_usage_plan",
	KindRateLimited:             "rate_limited",
	KindQuotaExceeded:           "quota_exceeded",
}

// String returns a short snake_case name for the kind, suitable as a metric
// label or log field.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Status returns the HTTP status the table of the spec gives the kind: 401
// for KindMissingAuthorization, 429 for KindRateLimited and
// KindQuotaExceeded, 403 otherwise (0 for the zero Kind).
func (k Kind) Status() int {
	switch k {
	case 0:
		return 0
	case KindMissingAuthorization:
		return http.StatusUnauthorized
	case KindRateLimited, KindQuotaExceeded:
		return http.StatusTooManyRequests
	}
	return http.StatusForbidden
}

// Error is a key-pair authentication failure.
type Error struct {
	// Kind is the machine-readable cause.
	Kind Kind
	// Message is the client-facing text, exactly in the Tencent wording
	// (placeholders substituted). It never contains the secret and echoes at
	// most 64 bytes of any input, with bytes outside printable ASCII
	// replaced by '?'.
	Message string
	// Status is the HTTP status to answer with.
	Status int
}

// Error returns Message.
func (e *Error) Error() string { return e.Message }

// NewError returns the *Error of kind k with its fixed message and status.
// It is how the caller reports KindUnknownKey, KindNoUsagePlan,
// KindRateLimited and KindQuotaExceeded. For KindMissingHeader,
// KindEnforcedHeaderNotSigned and KindUnsupportedAlgorithm the message keeps
// its placeholder; use [MissingHeaderError] and [UnsupportedAlgorithmError]
// instead. An unknown kind gets MsgInvalidAuthorization.
func NewError(k Kind) *Error {
	var msg string
	switch k {
	case KindMissingAuthorization:
		msg = MsgMissingAuthorization
	case KindInvalidAuthorization:
		msg = MsgInvalidAuthorization
	case KindMissingIDOrSignature:
		msg = MsgMissingIDOrSignature
	case KindMissingHeader, KindEnforcedHeaderNotSigned:
		msg = MsgMissingHeaderFormat
	case KindDigestRequired, KindDigestNotSigned:
		msg = missingHeaderMessage("digest")
	case KindMissingDate, KindInvalidDate:
		msg = MsgMissingDate
	case KindUnsupportedAlgorithm:
		msg = MsgUnsupportedAlgorithmFormat
	case KindDateOutOfRange:
		msg = MsgDateOutOfRange
	case KindSignatureMismatch, KindMalformedSignature, KindDigestMismatch, KindBodyUnavailable:
		msg = MsgSignatureMismatch
	case KindUnknownKey:
		msg = MsgUnknownKey
	case KindNoUsagePlan:
		msg = MsgNoUsagePlan
	case KindRateLimited:
		msg = MsgRateLimitExceeded
	case KindQuotaExceeded:
		msg = MsgQuotaExceeded
	default:
		msg = MsgInvalidAuthorization
	}
	return &Error{Kind: k, Message: msg, Status: k.Status()}
}

// MissingHeaderError returns the KindMissingHeader error for the header
// called name: "HMAC signature cannot be verified, a valid <name> header is
// required", with name clipped to 64 bytes.
func MissingHeaderError(name string) *Error {
	return &Error{Kind: KindMissingHeader, Message: missingHeaderMessage(name), Status: http.StatusForbidden}
}

// UnsupportedAlgorithmError returns the KindUnsupportedAlgorithm error for
// the algorithm name alg: "HMAC algorithm <alg> not supported.", with alg
// clipped to 64 bytes.
func UnsupportedAlgorithmError(alg string) *Error {
	return &Error{
		Kind:    KindUnsupportedAlgorithm,
		Message: "HMAC algorithm " + clip(alg) + " not supported.",
		Status:  http.StatusForbidden,
	}
}

func missingHeaderMessage(name string) string {
	return "HMAC signature cannot be verified, a valid " + clip(name) + " header is required"
}

// KindOf returns the Kind of err when it is (or wraps) an *Error, and 0
// otherwise.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

// maxEcho caps the input echoed in messages.
const maxEcho = 64

// clip returns s for inclusion in a message: at most maxEcho bytes, with
// bytes outside printable ASCII replaced by '?'. Nothing is appended when s
// is cut, so that the message keeps the documented shape.
func clip(s string) string { return echo.Clip(s, maxEcho, "") }
