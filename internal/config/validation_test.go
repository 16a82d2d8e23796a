package config

import (
	"errors"
	"strings"
	"testing"
)

func TestBodyValidationLoad(t *testing.T) {
	snap, err := Load("v.yaml", []byte(`groups: [{name: g, apis: [
  {name: checked, path: /checked, auth: none, validate_request: true, request: {body_required: true, body_schema: '{"type":"object","required":["a"]}'}, backend: {url: "http://x"}},
  {name: kept, path: /kept, auth: none, request: {body_schema: "type: object"}, backend: {url: "http://x"}}]}]
`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if v := snap.APIs["g/checked"].Body; v == nil || v.Schema == nil || !v.Required {
		t.Errorf("g/checked: body validation %+v, want the compiled schema, required", v)
	}
	if v := snap.APIs["g/kept"].Body; v != nil {
		t.Errorf("g/kept: body validation %+v without validate_request, want nil", v)
	}
}

func TestBodyValidationRefused(t *testing.T) {
	api := func(body string) string {
		return "groups: [{name: g, apis: [" + body + "]}]\n"
	}
	for _, c := range []struct{ name, cfg, want string }{
		{"schema does not compile", api(`{name: a, path: /a, auth: none, validate_request: true, request: {body_schema: '{"type":"strin"}'}, backend: {url: "http://x"}}`),
			`groups[0].apis[0].request.body_schema: unsupported 'type' value "strin"`},
		{"refused even when off", api(`{name: a, path: /a, auth: none, request: {body_schema: '{"properties":{"a":{"type":"string","pattern":"(?<=x)"}}}'}, backend: {url: "http://x"}}`),
			`groups[0].apis[0].request.body_schema: cannot compile pattern "(?<=x)"`},
		{"$ref", api(`{name: a, path: /a, auth: none, validate_request: true, request: {body_schema: '{"items":{"$ref":"#/components/schemas/A"}}'}, backend: {url: "http://x"}}`),
			`groups[0].apis[0].request.body_schema: $ref at "#/items/$ref"`},
		{"not JSON", api(`{name: a, path: /a, auth: none, validate_request: true, request: {body_schema: '{"type":'}, backend: {url: "http://x"}}`),
			`groups[0].apis[0].request.body_schema: not JSON or YAML`},
		{"nothing to validate", api(`{name: a, path: /a, auth: none, validate_request: true, backend: {url: "http://x"}}`),
			`groups[0].apis[0].validate_request: validate_request needs request.body_schema`},
		{"websocket", api(`{name: a, path: /a, auth: none, websocket: true, validate_request: true, request: {body_schema: "type: object"}, backend: {url: "http://x"}}`),
			`groups[0].apis[0].validate_request: validate_request does not apply to a websocket API`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load("v.yaml", []byte(c.cfg), Options{})
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("accepted (%v)", err)
			}
			for _, p := range cerr.Problems {
				if strings.HasPrefix(p.Path+": "+p.Message, c.want) {
					return
				}
			}
			t.Errorf("want a problem %q, got %v", c.want, cerr.Problems)
		})
	}
}
