package openapi

// The extensions read and written, by name. docs/openapi.md says how each
// maps to the configuration.
const (
	extBackend     = "x-apigateway-backend"
	extAuthType    = "x-apigateway-auth-type"
	extAuthOpt     = "x-apigateway-auth-opt"
	extMatchMode   = "x-apigateway-match-mode"
	extRequestType = "x-apigateway-request-type"
	extCors        = "x-apigateway-cors"
	extRatelimit   = "x-apigateway-ratelimit"
	extRatelimits  = "x-apigateway-ratelimits"
	extAnyMethod   = "x-apigateway-any-method"

	// apigw's own, for what the platform's extensions cannot say: the
	// protojson form of the configuration's Api (fields the document has
	// no place for) and Group (domains, error dialect...).
	extAPI   = "x-apigw-api"
	extGroup = "x-apigw-group"

	// The security schemes the platform exports for app and IAM
	// authentication, and apigw's for its other auth types.
	schemeApp       = "apig-auth-app"
	schemeAppHeader = "apig-auth-app-header" // app with AppCode in a header
	schemeIAM       = "apig-auth-iam"
	schemeToken     = "apigw-auth-token"
	schemeHMAC      = "apigw-auth-hmac"
	schemeAuthz     = "apigw-auth-authorizer"
	schemeAppCode   = "apigw-auth-app-code"
)

// platformAuthCORSHeaders are the headers the platform allows for
// x-apigateway-cors: true.
var platformCORSHeaders = []string{"X-Sdk-Date", "X-Sdk-Nonce", "X-Proxy-Signed-Headers", "X-Sdk-Content-Sha256", "X-Forwarded-For", "Authorization", "Content-Type", "Accept", "Accept-Ranges", "Cache-Control", "Range"}

var platformCORSMethods = []string{"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"}

// platformCORSMaxAge is the platform's 172800 s capped to the 24 h the
// configuration allows.
const platformCORSMaxAge = "24h"
