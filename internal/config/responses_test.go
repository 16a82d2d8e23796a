package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/apigwio/apigw/internal/apigerr"
)

func TestGatewayResponses(t *testing.T) {
	cfg := `
gateway_responses:
  - name: brand
    responses:
      NOT_FOUND: {status: 410, body: '{"c":"$context.error.code","r":"$context.requestId"}', headers: {X-Brand: "$context.error.type"}}
      DEFAULT_5XX: {status: 500}
groups:
  - name: g
    gateway_response: brand
    apis: [{name: a, path: /a, auth: none, backend: {url: "http://10.0.0.1"}}]
  - name: h
    domains: [h.example.com]
    apis: [{name: a, path: /a, auth: none, backend: {url: "http://10.0.0.1"}}]
`
	snap, err := Load("s", []byte(cfg), Options{})
	if err != nil {
		t.Fatal(err)
	}
	set := snap.GatewayResponses["brand"]
	if set == nil || snap.Groups[0].Responses != set || snap.APIs["g/a"].Responses != set || snap.Groups[1].Responses != nil || snap.APIs["h/a"].Responses != nil {
		t.Fatalf("bindings: set %v, groups %v %v", set, snap.Groups[0].Responses, snap.Groups[1].Responses)
	}
	nf := set.Responses[apigerr.TypeNotFound]
	if nf.Status != 410 || nf.Body == nil || len(nf.Headers) != 1 || nf.Headers[0].Name != "x-brand" {
		t.Errorf("NOT_FOUND %+v", nf)
	}
	if d := set.Responses[apigerr.TypeDefault5XX]; d == nil || d.Status != 500 || d.Body != nil {
		t.Errorf("DEFAULT_5XX %+v", d)
	}
}

// TestGatewayResponseProblems: every bad input is refused with its path and
// reason.
func TestGatewayResponseProblems(t *testing.T) {
	for _, tt := range []struct {
		name, responses, group, want string
	}{
		{"unknown set", `{NOT_FOUND: {status: 404}}`, "gateway_response: nope",
			`groups[0].gateway_response: gateway response "nope" is not defined`},
		{"unknown type", `{NOT_FOUNDS: {status: 404}}`, "",
			`gateway_responses[0].responses.NOT_FOUNDS: "NOT_FOUNDS" is not a gateway response type (AUTH_FAILURE, `},
		{"unknown variable", `{NOT_FOUND: {body: '{"x":"$context.error.codes"}'}}`, "",
			`gateway_responses[0].responses.NOT_FOUND.body: unknown variable $context.error.codes (known: `},
		{"unknown variable in a header", `{NOT_FOUND: {headers: {x-a: "$context.apiId"}}}`, "",
			`gateway_responses[0].responses.NOT_FOUND.headers.x-a: unknown variable $context.apiId`},
		{"status too low", `{NOT_FOUND: {status: 199}}`, "",
			`gateway_responses[0].responses.NOT_FOUND.status: 199 is not an HTTP status between 200 and 599`},
		{"status too high", `{DEFAULT_5XX: {status: 600}}`, "",
			`gateway_responses[0].responses.DEFAULT_5XX.status: 600 is not an HTTP status between 200 and 599`},
		{"503 from Check", `{AUTH_FAILURE: {status: 503}}`, "",
			`gateway_responses[0].responses.AUTH_FAILURE.status: 503 is reserved for BACKEND_UNAVAILABLE and BACKEND_TIMEOUT`},
		{"body not JSON", `{NOT_FOUND: {body: 'not found'}}`, "",
			`gateway_responses[0].responses.NOT_FOUND.body: not a JSON object`},
		{"variable outside a string", `{NOT_FOUND: {body: '{"c":$context.error.code}'}}`, "",
			`gateway_responses[0].responses.NOT_FOUND.body: not a JSON object (variables stand inside JSON strings)`},
		{"variable in a key", `{NOT_FOUND: {body: '{"$context.error.code":"x"}'}}`, "",
			`gateway_responses[0].responses.NOT_FOUND.body: key "$context.error.code": variables may only stand in string values`},
		{"array", `{NOT_FOUND: {body: '{"a":{"b":[1]}}'}}`, "",
			`gateway_responses[0].responses.NOT_FOUND.body: a.b: arrays are not supported`},
		{"reserved header", `{NOT_FOUND: {headers: {Content-Type: text/plain}}}`, "",
			`gateway_responses[0].responses.NOT_FOUND.headers.Content-Type: header "Content-Type" is the gateway's`},
		{"bad header name", `{NOT_FOUND: {headers: {"x a": v}}}`, "",
			`gateway_responses[0].responses.NOT_FOUND.headers.x a: "x a" is not a header name`},
		{"no responses", `{}`, "",
			`gateway_responses[0].responses: no responses`},
		{"tencent group", `{NOT_FOUND: {status: 404}}`, "gateway_response: brand\n    error_dialect: tencent",
			`groups[0].gateway_response: a group with error_dialect tencent cannot also use a gateway response`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := "gateway_responses:\n  - name: brand\n    responses: " + tt.responses + "\ngroups:\n  - name: g\n"
			if tt.group != "" {
				cfg += "    " + tt.group + "\n"
			}
			cfg += "    apis: [{name: a, path: /a, auth: none, backend: {url: \"http://10.0.0.1\"}}]\n"
			_, err := Load("s", []byte(cfg), Options{})
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("want problems, got %v", err)
			}
			if len(cerr.Problems) != 1 || !strings.Contains(cerr.Error(), tt.want) {
				t.Errorf("got %v\nwant one problem containing %q", cerr, tt.want)
			}
		})
	}
	// A name defined twice.
	cfg := `
gateway_responses:
  - {name: b, responses: {NOT_FOUND: {status: 404}}}
  - {name: b, responses: {NOT_FOUND: {status: 404}}}
groups: [{name: g, apis: [{name: a, path: /a, auth: none, backend: {url: "http://10.0.0.1"}}]}]
`
	if _, err := Load("s", []byte(cfg), Options{}); err == nil || !strings.Contains(err.Error(), `gateway_responses[1].name: gateway response "b" is defined twice`) {
		t.Errorf("duplicate: %v", err)
	}
}
