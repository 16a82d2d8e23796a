package model

import (
	"fmt"
	"strconv"

	"github.com/apigwio/apigw/internal/apigerr"
)

// ResponseSet is a named gateway response set (gateway_responses[]): the
// status, body and headers of the gateway's own answers by response type,
// for the groups bound to it.
type ResponseSet struct {
	// Name of the set.
	Name string
	// Responses by type; a type not present falls back (Lookup).
	Responses map[apigerr.ResponseType]*Response
}

// Response is the customised answer of one response type.
type Response struct {
	// Status overrides the error's status when not 0.
	Status int
	// Body is the body template (a JSON object); nil for the built-in APIG
	// body.
	Body *Template
	// Headers are added to the answer, sorted by name.
	Headers []ResponseHeader
}

// ResponseHeader is an extra header of a customised answer.
type ResponseHeader struct {
	// Name, lower case.
	Name string
	// Value template.
	Value *Template
}

// Variable is a template variable.
type Variable uint8

// The template variables, in the platform's syntax.
const (
	VarNone Variable = iota
	// VarErrorCode is $context.error.code (e.g. APIG.0303).
	VarErrorCode
	// VarErrorMessage is $context.error.message.
	VarErrorMessage
	// VarErrorType is $context.error.type (e.g. AUTH_FAILURE).
	VarErrorType
	// VarRequestID is $context.requestId (X-Request-Id).
	VarRequestID
)

// Variables maps each variable's spelling to it.
var Variables = map[string]Variable{
	"$context.error.code":    VarErrorCode,
	"$context.error.message": VarErrorMessage,
	"$context.error.type":    VarErrorType,
	"$context.requestId":     VarRequestID,
}

// DefaultResponseBody is the built-in APIG body as a template.
const DefaultResponseBody = `{"error_code":"$context.error.code","error_msg":"$context.error.message","request_id":"$context.requestId"}`

// Template is text with variables.
type Template struct {
	// Raw is the template as written.
	Raw string
	// Parts alternate literal text (Var == VarNone) and variables.
	Parts []TemplatePart
}

// TemplatePart is a literal or a variable.
type TemplatePart struct {
	Text string
	Var  Variable
}

// ParseTemplate splits s into literals and variables. A "$context." not
// followed by a known variable is an error naming it.
func ParseTemplate(s string) (*Template, error) {
	t := &Template{Raw: s}
	const prefix = "$context."
	lit := 0
	for i := 0; i < len(s); {
		if s[i] != '$' || len(s)-i < len(prefix) || s[i:i+len(prefix)] != prefix {
			i++
			continue
		}
		j := i + len(prefix)
		for j < len(s) && isVarChar(s[j]) {
			j++
		}
		// The longest known variable that ends at a name boundary.
		name, v := "", VarNone
		for k := j; k > i+len(prefix); k-- {
			if vv, ok := Variables[s[i:k]]; ok && (k == len(s) || !isIdentChar(s[k])) {
				name, v = s[i:k], vv
				break
			}
		}
		if v == VarNone {
			return nil, fmt.Errorf("unknown variable %s (known: $context.error.code, $context.error.message, $context.error.type, $context.requestId)", trimDots(s[i:j]))
		}
		if i > lit {
			t.Parts = append(t.Parts, TemplatePart{Text: s[lit:i]})
		}
		t.Parts = append(t.Parts, TemplatePart{Var: v})
		i += len(name)
		lit = i
	}
	if lit < len(s) {
		t.Parts = append(t.Parts, TemplatePart{Text: s[lit:]})
	}
	return t, nil
}

func isIdentChar(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func isVarChar(c byte) bool { return c == '.' || isIdentChar(c) }

func trimDots(s string) string {
	for len(s) > 0 && s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s
}

// ErrorValues are the values of the variables for one answer.
type ErrorValues struct {
	Code, Message, Type, RequestID string
}

func (v *ErrorValues) get(x Variable) string {
	switch x {
	case VarErrorCode:
		return v.Code
	case VarErrorMessage:
		return v.Message
	case VarErrorType:
		return v.Type
	case VarRequestID:
		return v.RequestID
	}
	return ""
}

// AppendJSON appends the template with each value JSON-escaped (without
// quotes: variables stand inside the body's JSON strings).
func (t *Template) AppendJSON(b []byte, v *ErrorValues) []byte {
	for _, p := range t.Parts {
		if p.Var == VarNone {
			b = append(b, p.Text...)
			continue
		}
		q := apigerr.AppendJSONString(b, v.get(p.Var))
		// Drop the quotes AppendJSONString added.
		n := copy(q[len(b):], q[len(b)+1:len(q)-1])
		b = q[:len(b)+n]
	}
	return b
}

// HeaderValue renders the template as a header value: control characters
// in values become spaces.
func (t *Template) HeaderValue(v *ErrorValues) string {
	var b []byte
	for _, p := range t.Parts {
		s := p.Text
		if p.Var != VarNone {
			s = v.get(p.Var)
		}
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c < 0x20 || c == 0x7f {
				c = ' '
			}
			b = append(b, c)
		}
	}
	return string(b)
}

// Lookup returns the answer of type t for an error of the given status:
// t's own, else its parent's, else DEFAULT_5XX or DEFAULT_4XX by status;
// nil when the set customises none of them (the built-in answer).
func (s *ResponseSet) Lookup(t apigerr.ResponseType, status int) *Response {
	if s == nil {
		return nil
	}
	for k := t; k != ""; k = k.Parent() {
		if r := s.Responses[k]; r != nil {
			return r
		}
	}
	if status >= 500 {
		return s.Responses[apigerr.TypeDefault5XX]
	}
	return s.Responses[apigerr.TypeDefault4XX]
}

// Rendered is a customised answer.
type Rendered struct {
	Status  int
	Body    []byte
	Headers [][2]string
}

// Render returns e's answer from the set, or false when the set does not
// customise e's type (nor its fallbacks).
func (s *ResponseSet) Render(e *apigerr.Error, requestID string) (Rendered, bool) {
	typ := e.Type()
	r := s.Lookup(typ, e.Status)
	if r == nil {
		return Rendered{}, false
	}
	v := ErrorValues{Code: e.ID, Message: e.Msg(), Type: string(typ), RequestID: requestID}
	out := Rendered{Status: e.Status}
	if r.Status != 0 {
		out.Status = r.Status
	}
	if r.Body == nil {
		out.Body = e.JSON(requestID)
	} else {
		out.Body = r.Body.AppendJSON(make([]byte, 0, len(r.Body.Raw)+len(v.Message)+len(requestID)), &v)
	}
	for _, h := range r.Headers {
		out.Headers = append(out.Headers, [2]string{h.Name, h.Value.HeaderValue(&v)})
	}
	return out, true
}

// String is for debugging.
func (t *Template) String() string { return strconv.Quote(t.Raw) }
