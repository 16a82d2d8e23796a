package model

import "regexp"

// Request and backend parameters (docs/configuration.md, "Parameters").

// ParamLocation is where a parameter is: the path, the query or a header.
type ParamLocation uint8

// Parameter locations.
const (
	InPath ParamLocation = iota + 1
	InQuery
	InHeader
)

// String returns the configuration spelling of l.
func (l ParamLocation) String() string {
	switch l {
	case InPath:
		return "path"
	case InQuery:
		return "query"
	case InHeader:
		return "header"
	}
	return "unknown"
}

// ParamType is the declared type of a request parameter.
type ParamType uint8

// Request parameter types.
const (
	ParamString ParamType = iota + 1
	ParamNumber
	ParamBoolean
)

// String returns the configuration spelling of t.
func (t ParamType) String() string {
	switch t {
	case ParamNumber:
		return "number"
	case ParamBoolean:
		return "boolean"
	}
	return "string"
}

// MaxParameters bounds the request parameters and the backend parameters
// of one API (each).
const MaxParameters = 50

// RequestParameter is a declared input of an API.
type RequestParameter struct {
	// Name as declared; header names lower case.
	Name string
	// In is the location.
	In ParamLocation
	// Type of the value.
	Type ParamType
	// Required refuses a request without it (always true for path
	// parameters).
	Required bool
	// HasDefault says Default is used when the request lacks it.
	HasDefault bool
	Default    string
	// Enum lists the only values accepted (nil: any).
	Enum []string
	// MinLength and MaxLength bound the length in characters (-1: none).
	MinLength, MaxLength int
	// MinValue and MaxValue bound a number (nil: none).
	MinValue, MaxValue *float64
	// Pattern must match the whole value (nil: none).
	Pattern *regexp.Regexp
}

// ParamSource is where a backend parameter's value comes from.
type ParamSource uint8

// Backend parameter sources.
const (
	FromRequest ParamSource = iota + 1
	FromConstant
	FromSystem
)

// System parameter names (backend parameters' system:). Authorizer context
// values are SystemAuthorizerPrefix + the context key.
const (
	SystemSourceIP   = "source_ip"
	SystemRequestID  = "request_id"
	SystemAPIID      = "api_id"
	SystemAPIName    = "api_name"
	SystemGroup      = "group"
	SystemStage      = "stage"
	SystemAppID      = "app_id"
	SystemAppKey     = "app_key"
	SystemUserID     = "user_id"
	SystemAccount    = "account"
	SystemAccessKey  = "access_key"
	SystemKeyID      = "key_id"
	SystemProjectID  = "project_id"
	SystemServerTime = "server_time"
	SystemMethod     = "method"

	SystemAuthorizerPrefix = "authorizer."
)

// SystemParameters lists the system names (but authorizer.<key>).
var SystemParameters = []string{
	SystemSourceIP, SystemRequestID, SystemAPIID, SystemAPIName, SystemGroup, SystemStage, SystemMethod,
	SystemAppID, SystemAppKey, SystemUserID, SystemAccount, SystemAccessKey, SystemKeyID, SystemProjectID,
	SystemServerTime,
}

// BackendParameter is a parameter the backend receives.
type BackendParameter struct {
	// Name in its location; header names lower case.
	Name string
	// In is the location.
	In ParamLocation
	// Source of the value.
	Source ParamSource
	// From names the request parameter (FromRequest).
	From string
	// Value is the constant (FromConstant).
	Value string
	// System is the system name (FromSystem).
	System string
}

// Parameters are an API's declared request and backend parameters.
type Parameters struct {
	// Request parameters in declaration order (the path's {name}
	// segments included).
	Request []RequestParameter
	// Backend parameters in declaration order.
	Backend []BackendParameter
}

// Empty reports whether p declares nothing.
func (p *Parameters) Empty() bool { return p == nil || len(p.Request) == 0 && len(p.Backend) == 0 }

// PathVariables returns the {name} variables of a path template, in
// order; nil when path has none.
func PathVariables(path string) []string {
	var out []string
	for i := 0; i < len(path); i++ {
		if path[i] != '{' {
			continue
		}
		j := i + 1
		for j < len(path) && path[j] != '}' {
			j++
		}
		if j == len(path) {
			break
		}
		out = append(out, path[i+1:j])
		i = j
	}
	return out
}

// SetByEnvoy reports whether Envoy sets p from the route configuration
// (what is known per route or formatted by Envoy: path parameters,
// header constants, and header system values of the request and route),
// rather than Check (docs/xds.md, "Parameters").
func (p *BackendParameter) SetByEnvoy() bool {
	switch {
	case p.In == InPath:
		return true
	case p.In != InHeader:
		return false
	case p.Source == FromConstant:
		return true
	case p.Source == FromSystem:
		switch p.System {
		case SystemSourceIP, SystemRequestID, SystemAPIID, SystemAPIName, SystemGroup, SystemStage, SystemMethod, SystemServerTime:
			return true
		}
	}
	return false
}
