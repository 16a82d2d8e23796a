package model

import "regexp"

// Name rules shared by the configuration's validation and the OpenAPI
// import (which must produce only what validation accepts).
var (
	// HeaderName is an HTTP header name (an RFC 9110 token), at most 128
	// characters.
	HeaderName = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$")
	// PathVarName is a path variable name as Envoy's URI templates accept
	// it.
	PathVarName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,15}$`)
	// QueryParamName is a query parameter name sent as is.
	QueryParamName = regexp.MustCompile(`^[A-Za-z0-9._~!$'()*,;:@/?-]{1,128}$`)
	// PathLiteral is a path segment Envoy's URI templates accept as a
	// literal (RFC 3986 pchar without percent-encoding).
	PathLiteral = regexp.MustCompile(`^[A-Za-z0-9._~!$&'()*+,;=:@-]*$`)
)
