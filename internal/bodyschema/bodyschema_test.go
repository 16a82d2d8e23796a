package bodyschema

import (
	"strings"
	"testing"
)

const pet = `{"type":"object","required":["name","photoUrls"],"properties":{
"id":{"type":"integer","format":"int64"},
"name":{"type":"string","minLength":1,"maxLength":100},
"category":{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"}}},
"photoUrls":{"type":"array","items":{"type":"string","maxLength":200}},
"tags":{"type":"array","items":{"type":"object","required":["name"],"properties":{"id":{"type":"integer"},"name":{"type":"string","pattern":"^[a-z0-9-]+$"}}}},
"status":{"type":"string","enum":["available","pending","sold"]},
"price":{"type":"number","minimum":0},
"notes":{"type":"string"}}}`

// shape is internal/openapi/testdata/shapes-allof-oneof.yaml's Shape, as
// the import inlines it (YAML accepted).
const shape = `
oneOf:
  - allOf:
      - {type: object, required: [id], properties: {id: {type: string}}}
      - {type: object, required: [radius], properties: {radius: {type: number, minimum: 0}}}
  - allOf:
      - {type: object, required: [id], properties: {id: {type: string}}}
      - {type: object, required: [side], properties: {side: {type: number}}}
`

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		name, schema, body string
		want               string // "" valid
	}{
		{"valid", pet, `{"name":"doggie","photoUrls":["a"],"tags":[{"name":"x-1"}],"status":"sold","price":1}`, ""},
		{"missing required field", pet, `{"photoUrls":[]}`, `body field "/name" is required`},
		{"missing required nested field", pet, `{"name":"a","photoUrls":[],"tags":[{"id":1}]}`, `body field "/tags/0/name" is required`},
		{"wrong type", pet, `{"name":7,"photoUrls":[]}`, `body field "/name" is invalid: value must be a string`},
		{"wrong type nested", pet, `{"name":"a","photoUrls":[1]}`, `body field "/photoUrls/0" is invalid: value must be a string`},
		{"integer", pet, `{"name":"a","photoUrls":[],"id":1.5}`, `body field "/id" is invalid: value must be an integer`},
		{"enum", pet, `{"name":"a","photoUrls":[],"status":"eaten"}`, `body field "/status" is invalid: value is not one of the allowed values ["available","pending","sold"]`},
		{"minimum", pet, `{"name":"a","photoUrls":[],"price":-1}`, `body field "/price" is invalid: number must be at least 0`},
		{"pattern", pet, `{"name":"a","photoUrls":[],"tags":[{"name":"UP"}]}`, `body field "/tags/0/name" is invalid: string doesn't match the regular expression "^[a-z0-9-]+$"`},
		{"not an object", pet, `[]`, `body is invalid: value must be an object`},
		{"not JSON", pet, `{"name":`, `body is invalid: not valid JSON`},
		{"two values", pet, `{} {}`, `body is invalid: not valid JSON`},
		{"oneOf first", shape, `{"id":"c","radius":2}`, ""},
		{"oneOf second", shape, `{"id":"s","side":2}`, ""},
		{"oneOf: allOf's missing id", shape, `{"radius":2}`, `body field "/id" is required`},
		{"oneOf: nested wrong type", shape, `{"id":"c","radius":"big"}`, `body field "/radius" is invalid: value must be a number`},
		{"oneOf: none", shape, `{"id":"c"}`, `body field "/radius" is required`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Compile(tt.schema)
			if err != nil {
				t.Fatal(err)
			}
			f := s.Validate([]byte(tt.body))
			got := ""
			if f != nil {
				got = f.Message()
			}
			if got != tt.want {
				t.Errorf("Validate(%s) = %q, want %q", tt.body, got, tt.want)
			}
		})
	}
}

func TestCompileRefused(t *testing.T) {
	for _, tt := range []struct{ schema, want string }{
		{`{"type":"object","properties":{"a":{"$ref":"#/components/schemas/A"}}}`, `$ref at "#/properties/a/$ref"`},
		{`{"type":"strin"}`, `strin`},
		{`{"type":"string","pattern":"(?<=a)b"}`, `pattern`},
		{`[1]`, `not a schema object`},
		{`{"type": "object",`, `not JSON`},
		{`{"properties":{"a":{"minLength":"x"}}}`, `not an OpenAPI schema`},
	} {
		_, err := Compile(tt.schema)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Compile(%s) = %v, want an error with %q", tt.schema, err, tt.want)
		}
	}
}
