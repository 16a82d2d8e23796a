// Package apigerr is the catalogue of errors the gateway itself answers with,
// in the APIG dialect that users of the cloud API gateways already know:
//
//	{"error_code":"APIG.0303","error_msg":"Incorrect app authentication information: ...","request_id":"..."}
//
// The codes, statuses and messages are those of ../shared/specs/errors.md and
// are listed in docs/errors.md.
package apigerr

import (
	"strings"
	"unicode/utf8"
)

// Code is one entry of the catalogue.
type Code struct {
	// ID is the error_code, e.g. "APIG.0303".
	ID string
	// Status is the HTTP status.
	Status int
	// Message is the documented error_msg without detail.
	Message string
}

// The catalogue. Messages are exactly as documented; WithDetail appends a
// detail after ": ".
var (
	APINotFound             = Code{"APIG.0101", 404, "The API does not exist or has not been published in the environment."}
	BackendNotFound         = Code{"APIG.0103", 500, "The backend does not exist."}
	OrchestrationError      = Code{"APIG.0106", 400, "Orchestration error."}
	RequestError            = Code{"APIG.0201", 400, "API request error."}
	RequestEntityTooLarge   = Code{"APIG.0201", 413, "Request entity too large."}
	RequestURITooLarge      = Code{"APIG.0201", 414, "Request URI too large."}
	RequestHeadersTooLarge  = Code{"APIG.0201", 494, "Request headers too large."}
	BackendUnavailable      = Code{"APIG.0202", 502, "Backend unavailable"}
	BackendTimeout          = Code{"APIG.0203", 504, "Backend timeout"}
	ClientCertificateFailed = Code{"APIG.0205", 400, "Verify client certificate failed"}
	IAMAuthFailed           = Code{"APIG.0301", 401, "Incorrect IAM authentication information."}
	IAMUserNotAuthorized    = Code{"APIG.0302", 403, "The IAM user is not authorized to access the API."}
	AppAuthFailed           = Code{"APIG.0303", 401, "Incorrect app authentication information."}
	AppNotAuthorized        = Code{"APIG.0304", 403, "The app is not authorized to access the API."}
	AuthFailed              = Code{"APIG.0305", 401, "Incorrect authentication information."}
	AccessDenied            = Code{"APIG.0306", 403, "API access denied."}
	TokenMustBeUpdated      = Code{"APIG.0307", 401, "The token must be updated."}
	Throttled               = Code{"APIG.0308", 429, "The throttling threshold has been reached."}
	UnknownClientIP         = Code{"APIG.0401", 403, "Unknown client IP address."}
	IPNotAuthorized         = Code{"APIG.0402", 403, "The IP address is not authorized to access the API."}
	BackendIPDenied         = Code{"APIG.0404", 403, "Access to the backend IP address has been denied."}
	AppUntrustedIP          = Code{"APIG.0405", 403, "The app is not accessed from a trusted IP address."}
	AppQuotaUsedUp          = Code{"APIG.0501", 405, "The app quota has been used up."}
	AppFrozen               = Code{"APIG.0502", 405, "The app has been frozen."}
	InternalError           = Code{"APIG.0601", 500, "Internal server error."}
	DomainResolutionFailed  = Code{"APIG.0605", 500, "Domain name resolution failed."}
	NoBackendAvailable      = Code{"APIG.0610", 502, "No backend available."}
	BackendSignatureFailed  = Code{"APIG.0705", 500, "Backend signature calculation failed."}
)

// Catalogue lists every code, in catalogue order (for docs and tests).
var Catalogue = []Code{
	APINotFound, BackendNotFound, OrchestrationError, RequestError, RequestEntityTooLarge,
	RequestURITooLarge, RequestHeadersTooLarge, BackendUnavailable, BackendTimeout,
	ClientCertificateFailed, IAMAuthFailed, IAMUserNotAuthorized, AppAuthFailed, AppNotAuthorized,
	AuthFailed, AccessDenied, TokenMustBeUpdated, Throttled, UnknownClientIP, IPNotAuthorized,
	BackendIPDenied, AppUntrustedIP, AppQuotaUsedUp, AppFrozen, InternalError,
	DomainResolutionFailed, NoBackendAvailable, BackendSignatureFailed,
}

// Error is a gateway error answer: a catalogue entry and an optional detail.
type Error struct {
	Code
	// Detail is appended to the message after ": ". It must not contain secrets.
	Detail string
	// TencentMessage and TencentStatus are the answer in the tencent
	// dialect; when empty, the APIG message and status are used.
	TencentMessage string
	TencentStatus  int
	// Headers are sent with the answer (name, value), e.g. the
	// X-RateLimit-* headers of a quota.
	Headers [][2]string
	// CredentialMissing marks an authentication failure whose credential
	// (Authorization, app code, token) was absent: its response type is
	// AUTH_HEADER_MISSING rather than AUTH_FAILURE.
	CredentialMissing bool
}

// Dialect is the format of error answers, chosen per API group.
type Dialect uint8

// Error dialects.
const (
	// APIG answers {"error_code","error_msg","request_id"} (the default).
	APIG Dialect = iota
	// Tencent answers {"message"} with the statuses Tencent documents.
	Tencent
)

// WithTencent returns an Error for c whose detail is message, answered in the
// tencent dialect as {"message": message} with status.
func WithTencent(c Code, message string, status int) *Error {
	return &Error{Code: c, Detail: message, TencentMessage: message, TencentStatus: status}
}

// Render returns the status and body of the answer in dialect d.
func (e *Error) Render(d Dialect, requestID string) (int, []byte) {
	if d != Tencent {
		return e.Status, e.JSON(requestID)
	}
	msg, status := e.TencentMessage, e.TencentStatus
	if msg == "" {
		msg = e.Msg()
	}
	if status == 0 {
		status = e.Status
	}
	b := make([]byte, 0, 16+len(msg))
	b = append(b, `{"message":`...)
	b = AppendJSONString(b, msg)
	return status, append(b, '}')
}

// New returns an Error for c without detail.
func New(c Code) *Error { return &Error{Code: c} }

// WithDetail returns an Error for c whose message is
// "<message without its final period>: <detail>".
func WithDetail(c Code, detail string) *Error { return &Error{Code: c, Detail: detail} }

// Msg returns the error_msg.
func (e *Error) Msg() string {
	if e.Detail == "" {
		return e.Message
	}
	return strings.TrimSuffix(e.Message, ".") + ": " + e.Detail
}

// Error implements error.
func (e *Error) Error() string { return e.ID + " " + e.Msg() }

// JSON renders the APIG response body for the request id.
func (e *Error) JSON(requestID string) []byte {
	msg := e.Msg()
	b := make([]byte, 0, 64+len(msg)+len(requestID))
	b = append(b, `{"error_code":`...)
	b = AppendJSONString(b, e.ID)
	b = append(b, `,"error_msg":`...)
	b = AppendJSONString(b, msg)
	b = append(b, `,"request_id":`...)
	b = AppendJSONString(b, requestID)
	return append(b, '}')
}

// AppendJSONString appends s as a JSON string literal. Invalid UTF-8 becomes
// U+FFFD; control characters and <, >, & are escaped, so client-supplied text
// echoed in a message cannot break the body.
func AppendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == '<' || c == '>' || c == '&' || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
