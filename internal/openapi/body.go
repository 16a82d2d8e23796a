package openapi

// Request body schemas: an operation's requestBody application/json schema
// becomes the API's request.body_schema (self-contained: references to
// #/components/schemas are inlined), request.required its body_required;
// export writes them back as a requestBody. Validation itself is turned
// on by the API's validate_request (x-apigw-api in a document).

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/apigwio/apigw/internal/bodyschema"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// jsonMedia returns the requestBody's JSON media type: application/json,
// else the first */*+json.
func jsonMedia(rb *openapi3.RequestBody) *openapi3.MediaType {
	var plusJSON *openapi3.MediaType
	for name, mt := range rb.Content {
		t, _, err := mime.ParseMediaType(name)
		if err != nil {
			continue
		}
		if t == "application/json" {
			return mt
		}
		if strings.HasSuffix(t, "+json") && (plusJSON == nil) {
			plusJSON = mt
		}
	}
	return plusJSON
}

// requestBody sets api.request.body_schema and body_required from op's
// JSON request body; a schema that cannot be made self-contained (a
// recursive one) or that the gateway's validator refuses is a warning.
func (im *importer) requestBody(op *openapi3.Operation, at string, line int, api *configv1.Api) {
	if op == nil || op.RequestBody == nil || op.RequestBody.Value == nil {
		return
	}
	rb := op.RequestBody.Value
	mt := jsonMedia(rb)
	if mt == nil || mt.Schema == nil {
		return
	}
	text, err := im.inlineSchema(mt.Schema)
	if err == nil {
		_, err = bodyschema.Compile(text)
	}
	if err != nil {
		im.warn(at+"/requestBody", line, "request body schema not imported: %v", err)
		return
	}
	if api.Request == nil {
		api.Request = &configv1.ApiRequest{}
	}
	api.Request.BodySchema = text
	api.Request.BodyRequired = rb.Required
}

// inlineSchema is s as compact JSON (keys sorted) with every
// #/components/schemas reference replaced by its target.
func (im *importer) inlineSchema(s *openapi3.SchemaRef) (string, error) {
	if im.components == nil {
		im.components = map[string]any{}
		if im.d.T.Components != nil {
			for name, c := range im.d.T.Components.Schemas {
				v, err := jsonTree(c)
				if err != nil {
					return "", err
				}
				im.components[name] = v
			}
		}
	}
	root, err := jsonTree(s)
	if err != nil {
		return "", err
	}
	out, err := im.inline(root, nil)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(out)
	return string(b), err
}

func jsonTree(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var t any
	return t, json.Unmarshal(b, &t)
}

const componentSchemas = "#/components/schemas/"

func (im *importer) inline(n any, stack []string) (any, error) {
	switch v := n.(type) {
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok {
			name, ok := strings.CutPrefix(ref, componentSchemas)
			if !ok {
				return nil, fmt.Errorf("$ref %q is not a component schema", ref)
			}
			name = strings.ReplaceAll(strings.ReplaceAll(name, "~1", "/"), "~0", "~")
			for _, s := range stack {
				if s == name {
					return nil, fmt.Errorf("schema %q is recursive (a body schema is self-contained)", name)
				}
			}
			target, ok := im.components[name]
			if !ok {
				return nil, errors.New("$ref " + ref + " names no schema")
			}
			return im.inline(target, append(stack, name))
		}
		out := make(map[string]any, len(v))
		for k, e := range v {
			r, err := im.inline(e, stack)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			r, err := im.inline(e, stack)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return n, nil
}

// exportRequestBody writes a's body schema as op's application/json
// requestBody, and clears it from rest (what goes in x-apigw-api).
func exportRequestBody(a, rest *configv1.Api, op *openapi3.Operation) error {
	text := a.GetRequest().GetBodySchema()
	if text == "" {
		return nil
	}
	s := &openapi3.Schema{}
	if err := json.Unmarshal([]byte(text), s); err != nil {
		// YAML text: the configuration accepts it.
		c, cerr := bodyschema.Compile(text)
		if cerr != nil {
			return fmt.Errorf("API %s: request.body_schema: %v", a.GetName(), cerr)
		}
		s = c.OpenAPI()
	}
	rb := openapi3.NewRequestBody().WithJSONSchema(s).WithRequired(a.GetRequest().GetBodyRequired())
	op.RequestBody = &openapi3.RequestBodyRef{Value: rb}
	if r := rest.Request; r != nil {
		r.BodySchema, r.BodyRequired = "", false
	}
	return nil
}
