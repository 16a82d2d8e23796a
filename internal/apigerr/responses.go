package apigerr

// Gateway response types: every catalogue entry belongs to exactly one type,
// and a group's gateway response set (model.ResponseSet) customises the
// answers by type. The names are the platform's (Huawei APIG "gateway
// responses"), plus a few finer ones of our own, each with a parent it falls
// back to.

// ResponseType is a gateway response type, e.g. "AUTH_FAILURE".
type ResponseType string

// The response types.
const (
	TypeAuthFailure           ResponseType = "AUTH_FAILURE"
	TypeAuthHeaderMissing     ResponseType = "AUTH_HEADER_MISSING"
	TypeUnauthorized          ResponseType = "UNAUTHORIZED"
	TypeAccessDenied          ResponseType = "ACCESS_DENIED"
	TypeIPDenied              ResponseType = "IP_DENIED"
	TypeNotFound              ResponseType = "NOT_FOUND"
	TypeThrottled             ResponseType = "THROTTLED"
	TypeAppQuotaExceeded      ResponseType = "APP_QUOTA_EXCEEDED"
	TypeBackendTimeout        ResponseType = "BACKEND_TIMEOUT"
	TypeBackendUnavailable    ResponseType = "BACKEND_UNAVAILABLE"
	TypeRequestParameters     ResponseType = "REQUEST_PARAMETERS_FAILURE"
	TypeRequestEntityTooLarge ResponseType = "REQUEST_ENTITY_TOO_LARGE"
	TypeURITooLong            ResponseType = "URI_TOO_LONG"
	TypeDefault4XX            ResponseType = "DEFAULT_4XX"
	TypeDefault5XX            ResponseType = "DEFAULT_5XX"
)

// ResponseTypes lists every type, for validation and documentation.
var ResponseTypes = []ResponseType{
	TypeAuthFailure, TypeAuthHeaderMissing, TypeUnauthorized, TypeAccessDenied, TypeIPDenied,
	TypeNotFound, TypeThrottled, TypeAppQuotaExceeded, TypeBackendTimeout, TypeBackendUnavailable,
	TypeRequestParameters, TypeRequestEntityTooLarge, TypeURITooLong, TypeDefault4XX, TypeDefault5XX,
}

// parents are the types a finer type falls back to before DEFAULT_4XX or
// DEFAULT_5XX.
var parents = map[ResponseType]ResponseType{
	TypeAuthHeaderMissing: TypeAuthFailure,
	TypeIPDenied:          TypeAccessDenied,
	TypeAppQuotaExceeded:  TypeThrottled,
}

// Parent returns the type t falls back to before the DEFAULT types, or "".
func (t ResponseType) Parent() ResponseType { return parents[t] }

// Valid reports whether t is a known type.
func (t ResponseType) Valid() bool {
	for _, k := range ResponseTypes {
		if k == t {
			return true
		}
	}
	return false
}

// typeOf maps each catalogue entry (code and status) to its type.
var typeOf = map[Code]ResponseType{
	APINotFound:             TypeNotFound,
	BackendNotFound:         TypeDefault5XX,
	OrchestrationError:      TypeDefault4XX,
	RequestError:            TypeRequestParameters,
	RequestEntityTooLarge:   TypeRequestEntityTooLarge,
	RequestURITooLarge:      TypeURITooLong,
	RequestHeadersTooLarge:  TypeDefault4XX,
	BackendUnavailable:      TypeBackendUnavailable,
	BackendTimeout:          TypeBackendTimeout,
	ClientCertificateFailed: TypeDefault4XX,
	IAMAuthFailed:           TypeAuthFailure,
	IAMUserNotAuthorized:    TypeUnauthorized,
	AppAuthFailed:           TypeAuthFailure,
	AppNotAuthorized:        TypeUnauthorized,
	AuthFailed:              TypeAuthFailure,
	AccessDenied:            TypeAccessDenied,
	TokenMustBeUpdated:      TypeAuthFailure,
	Throttled:               TypeThrottled,
	UnknownClientIP:         TypeIPDenied,
	IPNotAuthorized:         TypeIPDenied,
	BackendIPDenied:         TypeAccessDenied,
	AppUntrustedIP:          TypeIPDenied,
	AppQuotaUsedUp:          TypeAppQuotaExceeded,
	AppFrozen:               TypeDefault4XX,
	InternalError:           TypeDefault5XX,
	DomainResolutionFailed:  TypeBackendUnavailable,
	NoBackendAvailable:      TypeBackendUnavailable,
	BackendSignatureFailed:  TypeDefault5XX,
}

// codeStatus is a catalogue entry without its message.
type codeStatus struct {
	id     string
	status int
}

// typeByIDStatus is typeOf by error code and status alone, for codes that
// carry a message of their own (an entry with a detail built into the
// message, as Envoy's local replies need it).
var typeByIDStatus = func() map[codeStatus]ResponseType {
	m := make(map[codeStatus]ResponseType, len(typeOf))
	for c, t := range typeOf {
		m[codeStatus{c.ID, c.Status}] = t
	}
	return m
}()

// TypeOf returns the response type of a catalogue entry, matched by code
// and status when the message differs (a detail in the message); any other
// code is DEFAULT_4XX or DEFAULT_5XX by its status.
func TypeOf(c Code) ResponseType {
	if t, ok := typeOf[c]; ok {
		return t
	}
	if t, ok := typeByIDStatus[codeStatus{c.ID, c.Status}]; ok {
		return t
	}
	if c.Status >= 500 {
		return TypeDefault5XX
	}
	return TypeDefault4XX
}

// Type returns the response type of e: its code's, but AUTH_HEADER_MISSING
// for an authentication failure whose credential was absent.
func (e *Error) Type() ResponseType {
	t := TypeOf(e.Code)
	if e.CredentialMissing && t == TypeAuthFailure {
		return TypeAuthHeaderMissing
	}
	return t
}
