package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/apigwio/apigw/internal/model"
)

const paramsGood = `
groups:
  - name: g
    apis:
      - name: orders
        method: GET
        path: /orders/{id}
        auth: none
        request:
          parameters:
            - {name: id, in: path, type: number, min_value: 1}
            - {name: page, in: query, type: number, default: 1, max_value: 100}
            - {name: X-Mode, in: header, enum: [fast, slow], default: fast}
            - {name: flag, in: query, type: boolean, default: false}
            - {name: q, in: query, min_length: 2, max_length: 8, pattern: "[a-z]+"}
        backend:
          url: http://backend:8080/v1/items/{item}
          parameters:
            - {name: item, in: path, from: id}
            - {name: x-page, in: header, from: page}
            - {name: mode, in: query, from: x-mode}
            - {name: x-const, in: header, constant: 42}
            - {name: x-ip, in: header, system: source_ip}
            - {name: rid, in: query, system: request_id}
`

func TestParametersLoad(t *testing.T) {
	snap, err := Load("p.yaml", []byte(paramsGood), Options{})
	if err != nil {
		t.Fatal(err)
	}
	api := snap.APIs["g/orders"]
	ps := api.Parameters
	if ps == nil || len(ps.Request) != 5 || len(ps.Backend) != 6 {
		t.Fatalf("parameters = %+v", ps)
	}
	if r := ps.Request[2]; r.Name != "x-mode" || r.In != model.InHeader || !r.HasDefault || r.Default != "fast" {
		t.Errorf("header parameter = %+v", r)
	}
	if r := ps.Request[1]; r.Type != model.ParamNumber || r.Default != "1" || *r.MaxValue != 100 {
		t.Errorf("page = %+v", r)
	}
	if b := ps.Backend[2]; b.Source != model.FromRequest || b.From != "x-mode" {
		t.Errorf("mode = %+v", b)
	}
	if b := ps.Backend[3]; b.Source != model.FromConstant || b.Value != "42" {
		t.Errorf("constant = %+v", b)
	}
	if got := api.Deployments["RELEASE"].Backend.Path; got != "/v1/items/{item}" {
		t.Errorf("backend path = %q", got)
	}
	// An API without parameters has none.
	snap, err = Load("p.yaml", []byte("groups: [{name: g, apis: [{name: a, path: /a, auth: none, backend: {url: 'http://x'}}]}]"), Options{})
	if err != nil || snap.APIs["g/a"].Parameters != nil {
		t.Fatalf("err %v, parameters %+v", err, snap.APIs["g/a"].Parameters)
	}
	// Undeclared {name} segments are required strings.
	snap, err = Load("p.yaml", []byte("groups: [{name: g, apis: [{name: a, path: '/a/{x}/b/{y}', auth: none, backend: {url: 'http://x'}}]}]"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ps := snap.APIs["g/a"].Parameters; len(ps.Request) != 2 || ps.Request[1].Name != "y" || !ps.Request[1].Required || ps.Request[1].In != model.InPath {
		t.Errorf("implicit path parameters = %+v", ps)
	}
}

func TestParametersRefused(t *testing.T) {
	api := func(body string) string {
		return "groups: [{name: g, apis: [" + body + "]}]\n"
	}
	many := make([]string, model.MaxParameters+1)
	for i := range many {
		many[i] = fmt.Sprintf("{name: x-%d, in: header, constant: c}", i)
	}
	cases := []struct {
		name, cfg, want string
	}{
		{"undeclared from", api(`{name: a, path: /a, auth: none, backend: {url: "http://x", parameters: [{name: h, in: header, from: nope}]}}`),
			`groups[0].apis[0].backend.parameters[0].from: request parameter "nope" is not declared`},
		{"same name and location", api(`{name: a, path: /a, auth: none, request: {parameters: [{name: p, in: query}, {name: p, in: query}]}, backend: {url: "http://x"}}`),
			`groups[0].apis[0].request.parameters[1].name: query parameter "p" is declared twice`},
		{"same backend name and location", api(`{name: a, path: /a, auth: none, backend: {url: "http://x", parameters: [{name: X-A, in: header, constant: "1"}, {name: x-a, in: header, constant: "2"}]}}`),
			`groups[0].apis[0].backend.parameters[1].name: header parameter "x-a" is declared twice`},
		{"unknown system", api(`{name: a, path: /a, auth: none, backend: {url: "http://x", parameters: [{name: h, in: header, system: moon_phase}]}}`),
			`groups[0].apis[0].backend.parameters[0].system: "moon_phase" is not a system parameter`},
		{"authorizer without auth authorizer", api(`{name: a, path: /a, auth: none, backend: {url: "http://x", parameters: [{name: h, in: header, system: authorizer.uid}]}}`),
			`groups[0].apis[0].backend.parameters[0].system: "authorizer.uid" needs auth authorizer`},
		{"template names undeclared", api(`{name: a, path: "/a/{id}", auth: none, backend: {url: "http://x/v1/{nope}"}}`),
			`groups[0].apis[0].backend.url: "/v1/{nope}" names {nope}, which is not a backend path parameter`},
		{"template misses declared", api(`{name: a, path: "/a/{id}", auth: none, backend: {url: "http://x/v1", parameters: [{name: i, in: path, from: id}]}}`),
			`groups[0].apis[0].backend.url: "/v1" does not use backend path parameter {i}`},
		{"too many", api(`{name: a, path: /a, auth: none, backend: {url: "http://x", parameters: [` + strings.Join(many, ",") + `]}}`),
			`groups[0].apis[0].backend.parameters: 51 backend parameters: at most 50`},
		{"two sources", api(`{name: a, path: /a, auth: none, backend: {url: "http://x", parameters: [{name: h, in: header, constant: c, system: stage}]}}`),
			`groups[0].apis[0].backend.parameters[0]: set exactly one of from, constant, system`},
		{"bad default", api(`{name: a, path: /a, auth: none, request: {parameters: [{name: num, in: query, type: number, default: abc}]}, backend: {url: "http://x"}}`),
			`groups[0].apis[0].request.parameters[0].default: "abc" is not a number`},
		{"path parameter not in path", api(`{name: a, path: /a, auth: none, request: {parameters: [{name: id, in: path}]}, backend: {url: "http://x"}}`),
			`groups[0].apis[0].request.parameters[0].name: path parameter "id" is not a {id} segment of the API path`},
		{"prefix with template", api(`{name: a, path: "/a/{id}", match: prefix, auth: none, backend: {url: "http://x"}}`),
			`groups[0].apis[0].path: "/a/{id}": path parameters ({name} segments) need match exact`},
		{"header to path", api(`{name: a, path: "/a", auth: none, request: {parameters: [{name: h, in: header}]}, backend: {url: "http://x/{p}", parameters: [{name: p, in: path, from: h}]}}`),
			`groups[0].apis[0].backend.parameters[0].from: a backend path parameter comes from a path parameter or a constant`},
		{"bad pattern", api(`{name: a, path: /a, auth: none, request: {parameters: [{name: q, in: query, pattern: "(("}]}, backend: {url: "http://x"}}`),
			`groups[0].apis[0].request.parameters[0].pattern: "((" is not an RE2 regular expression`},
		{"constraint of another type", api(`{name: a, path: /a, auth: none, request: {parameters: [{name: q, in: query, type: number, max_length: 3}]}, backend: {url: "http://x"}}`),
			`groups[0].apis[0].request.parameters[0].max_length: max_length applies to string parameters only`},
		{"reserved header", api(`{name: a, path: /a, auth: none, backend: {url: "http://x", parameters: [{name: Host, in: header, constant: h}]}}`),
			`groups[0].apis[0].backend.parameters[0].name: header "Host" is the gateway's or Envoy's to set`},
		{"policy parameters", api(`{name: a, path: /a, auth: none, backend: {url: "http://x"}, backend_policies: [{name: p, conditions: [{type: header, name: x, values: [y]}], backend: {url: "http://y", parameters: [{name: h, in: header, constant: c}]}}]}`),
			`groups[0].apis[0].backend_policies[0].backend.parameters: backend parameters are declared on the API's backend only`},
		{"same template, other names", api(`{name: a, path: "/a/{id}", auth: none, backend: {url: "http://x"}}, {name: b, path: "/a/{oid}", auth: none, backend: {url: "http://x"}}`),
			`groups[0].apis[1]: duplicate route: ANY /a/{oid} (exact match) in environment RELEASE is already defined at groups[0].apis[0]`},
		{"signature key", api(`{name: a, path: "/a/{id}", auth: none, backend: {url: "http://x"}}`) +
			"signature_keys: [{name: k, type: hmac, key: k, secret: {value: signing-secret}, bindings: [{api: g/a}]}]\n",
			`signature_keys[0].bindings[0]: API g/a has parameters that change the backend path or query`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load("p.yaml", []byte(c.cfg), Options{})
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
