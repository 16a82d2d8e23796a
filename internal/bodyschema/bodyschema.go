// Package bodyschema validates JSON request bodies against an API's
// request.body_schema (docs/configuration.md, "Request validation"). A
// schema is an OpenAPI 3.0 Schema Object without $ref, compiled once when
// the configuration is loaded (Compile) and shared read-only by every
// request (Validate), with kin-openapi's validator (openapi3.Schema.VisitJSON).
package bodyschema

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	gojson "github.com/goccy/go-json"
	"sigs.k8s.io/yaml"
)

// Schema is a compiled body schema.
type Schema struct {
	s *openapi3.Schema
}

// Compile parses text (JSON, or YAML) as an OpenAPI 3.0 Schema Object and
// checks it. The error names the JSON pointer of the offending keyword
// when it can.
func Compile(text string) (*Schema, error) {
	js, err := yaml.YAMLToJSON([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("not JSON or YAML: %v", err)
	}
	var tree any
	if err := json.Unmarshal(js, &tree); err != nil {
		return nil, fmt.Errorf("not JSON: %v", err)
	}
	if _, ok := tree.(map[string]any); !ok {
		return nil, errors.New("not a schema object")
	}
	if ptr, ok := findRef(tree, ""); ok {
		return nil, fmt.Errorf("$ref at %q: a body schema is self-contained (apigw import inlines references)", "#"+ptr)
	}
	s := &openapi3.Schema{}
	if err := json.Unmarshal(js, s); err != nil {
		return nil, fmt.Errorf("not an OpenAPI schema: %v", err)
	}
	if err := s.Validate(context.Background()); err != nil {
		return nil, errors.New(schemaProblem(err))
	}
	return &Schema{s: s}, nil
}

// schemaProblem is err of Schema.Validate with its pointer when it has one.
func schemaProblem(err error) string {
	var se *openapi3.SchemaError
	if errors.As(err, &se) {
		if p := se.JSONPointer(); len(p) > 0 {
			return fmt.Sprintf("at %q: %s", "#"+pointer(p), se.Reason)
		}
		return se.Reason
	}
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	return msg
}

// findRef returns the pointer of the first $ref in tree (keys sorted).
func findRef(tree any, at string) (string, bool) {
	switch v := tree.(type) {
	case map[string]any:
		if _, ok := v["$ref"]; ok {
			return at + "/$ref", true
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if p, ok := findRef(v[k], at+"/"+escape(k)); ok {
				return p, true
			}
		}
	case []any:
		for i, e := range v {
			if p, ok := findRef(e, at+"/"+strconv.Itoa(i)); ok {
				return p, true
			}
		}
	}
	return "", false
}

// Failure is why a body does not match: the JSON pointer of the failing
// value (or, for a missing required property, of the property) and the
// reason, which never contains the client's value.
type Failure struct {
	Pointer string // "" for the whole body
	Reason  string
	// Missing: a required property is absent (Pointer names it).
	Missing bool
}

// Message is the APIG.0201 detail: "body field \"/a/b\" is required",
// "body field \"/n\" is invalid: number must be at least 0", "body is not
// valid JSON".
// Member names in the pointer come from the client (an unknown property,
// a missing one): the pointer and the reason are each clipped to 128
// bytes.
func (f *Failure) Message() string {
	what := "body"
	if f.Pointer != "" {
		what = "body field " + strconv.Quote(clip(f.Pointer))
	}
	if f.Missing {
		return what + " is required"
	}
	return what + " is invalid: " + clip(f.Reason)
}

func clip(s string) string {
	if len(s) <= 128 {
		return s
	}
	return strings.ToValidUTF8(s[:125], "") + "..."
}

var notJSON = &Failure{Reason: "not valid JSON"}

// Validate checks body, one JSON value, against s: nil when it matches.
func (s *Schema) Validate(body []byte) *Failure {
	// goccy/go-json decodes into any about twice as fast as encoding/json,
	// accepting and refusing the same documents (decode_test.go).
	var v any
	if err := gojson.Unmarshal(body, &v); err != nil {
		return notJSON
	}
	err := s.s.VisitJSON(v)
	if err == nil {
		return nil
	}
	var se *openapi3.SchemaError
	if !errors.As(err, &se) {
		return &Failure{Reason: "does not match the schema"}
	}
	se = deepest(se)
	return &Failure{Pointer: pointer(se.JSONPointer()), Reason: se.Reason, Missing: se.SchemaField == "required"}
}

// deepest follows an allOf, anyOf or oneOf failure into the failures of
// its alternatives, to the one deepest in the body (the first on a tie):
// that is the field to name ("/shape/radius" rather than "/shape").
func deepest(se *openapi3.SchemaError) *openapi3.SchemaError {
	for range 64 {
		switch se.SchemaField {
		case "allOf", "anyOf", "oneOf":
		default:
			return se
		}
		var list openapi3.MultiError
		for u := se.Origin; u != nil; u = errors.Unwrap(u) {
			if me, ok := u.(openapi3.MultiError); ok {
				list = me
				break
			}
		}
		var best *openapi3.SchemaError
		for _, e := range list {
			var c *openapi3.SchemaError
			if errors.As(e, &c) && (best == nil || len(c.JSONPointer()) > len(best.JSONPointer())) {
				best = c
			}
		}
		if best == nil || len(best.JSONPointer()) < len(se.JSONPointer()) {
			return se
		}
		se = best
	}
	return se
}

// pointer is the RFC 6901 JSON pointer of path.
func pointer(path []string) string {
	var b strings.Builder
	for _, p := range path {
		b.WriteByte('/')
		b.WriteString(escape(p))
	}
	return b.String()
}

func escape(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// OpenAPI returns the schema as kin-openapi's (read-only).
func (s *Schema) OpenAPI() *openapi3.Schema { return s.s }
