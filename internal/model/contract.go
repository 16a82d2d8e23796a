package model

// The contract between the two faces: what the xDS side writes into Envoy's
// configuration and the Check side reads back from Envoy's CheckRequest, and
// the headers both sides agree the gateway owns. A change here changes both
// sides at once; keep it in this one file.

// Context extension keys that the xDS side sets on every route
// (ExtAuthzPerRoute.check_settings.context_extensions) and the Check side
// reads to know which API and environment a request matched.
const (
	// ContextKeyAPI carries the API id ("<group>/<api>").
	ContextKeyAPI = "apigw.api"
	// ContextKeyEnv carries the environment name.
	ContextKeyEnv = "apigw.env"
	// ContextKeyDialect carries the group's error dialect ("tencent") on
	// routes whose answers must use it even when no API matched.
	ContextKeyDialect = "apigw.dialect"
)

// Headers exchanged with Envoy and the backend.
const (
	// StageHeader selects a non-default environment.
	StageHeader = "x-stage"
	// HeaderAppID names the authenticated app to the backend.
	HeaderAppID = "x-apig-app-id"
	// HeaderAppKey carries the authenticated app's key to the backend.
	HeaderAppKey = "x-apig-app-key"
	// HeaderUserID names the authenticated IAM user to the backend.
	HeaderUserID = "x-apig-user-id"
	// HeaderAccount names the authenticated IAM user's account to the backend.
	HeaderAccount = "x-apig-account"
	// HeaderAccessKey carries the authenticated IAM access key id to the backend.
	HeaderAccessKey = "x-apig-access-key"
	// HeaderProjectID names the project of a token caller to the backend.
	HeaderProjectID = "x-apig-project-id"
	// HeaderKeyID names the authenticated HMAC key pair to the backend.
	HeaderKeyID = "x-apig-key-id"
	// HeaderAPIID names the matched API to the backend.
	HeaderAPIID = "x-apig-api-id"
	// HeaderStage names the matched environment to the backend.
	HeaderStage = "x-apig-stage"
	// MetadataNamespace is where Envoy stores the Check response's dynamic metadata.
	MetadataNamespace = "envoy.filters.http.ext_authz"
)

// GatewayHeaderPrefix is the header namespace the gateway owns: Check
// removes every header under it that a client sent and Check does not set
// itself, and backend-policy conditions may not match on it.
const GatewayHeaderPrefix = "x-apig-"

// IdentityHeaders are the headers the gateway sets upstream on an allowed
// request. A client may not send them: they are removed or overwritten.
var IdentityHeaders = []string{
	HeaderAppID, HeaderAppKey, HeaderUserID, HeaderAccount, HeaderAccessKey, HeaderProjectID, HeaderKeyID, HeaderAPIID, HeaderStage,
}
