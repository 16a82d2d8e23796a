package openapi

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/proto"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/apigwio/apigw/internal/bodyschema"
	"github.com/apigwio/apigw/internal/config"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

func importFile(t *testing.T, file string, opts Options) *Result {
	t.Helper()
	data, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(data)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if opts.Group == "" {
		opts.Group = "g"
	}
	r, err := Import(d, opts)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return r
}

func apiByName(t *testing.T, g *configv1.Group, name string) *configv1.Api {
	t.Helper()
	for _, a := range g.GetApis() {
		if a.GetName() == name {
			return a
		}
	}
	t.Fatalf("no API %q in %v", name, g)
	return nil
}

// validates checks the imported group against internal/config, as a
// configuration with a channel and what else it needs.
func validates(t *testing.T, r *Result, extra string) {
	t.Helper()
	text, err := Merge([]byte(extra), r, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load("merged.yaml", text, config.Options{}); err != nil {
		t.Fatalf("merged configuration refused: %v\n%s", err, text)
	}
}

func TestPetstore(t *testing.T) {
	for _, file := range []string{"petstore-swagger2.json", "petstore-openapi3.json"} {
		t.Run(file, func(t *testing.T) {
			r := importFile(t, file, Options{})
			// 20 operations, each its own route (templates are exact
			// paths with path parameters). The 3.0 fixture has 5 more
			// operations than the 2.0 one.
			if n, want := len(r.Group.Apis), map[string]int{"petstore-swagger2.json": 20, "petstore-openapi3.json": 25}[file]; n != want {
				t.Errorf("%d APIs, want %d", n, want)
			}
			get := apiByName(t, r.Group, "getPetById")
			want := &configv1.Api{Name: "getPetById", Method: "GET", Path: "/pet/{petId}", Description: get.Description,
				Request: &configv1.ApiRequest{Parameters: []*configv1.RequestParameter{{Name: "petId", In: "path", Type: "number", Required: true, Description: "ID of pet to return"}}},
				Backend: &configv1.Backend{Url: "https://petstore.swagger.io/v2/pet/{petId}", Parameters: []*configv1.BackendParameter{{Name: "petId", In: "path", From: "petId"}}}}
			if !proto.Equal(get, want) {
				t.Errorf("getPetById = %v, want %v", get, want)
			}
			if a := apiByName(t, r.Group, "uploadFile"); a.Match != "" || a.Path != "/pet/{petId}/uploadImage" || a.Backend.Url != "https://petstore.swagger.io/v2/pet/{petId}/uploadImage" {
				t.Errorf("uploadFile = %v", a)
			}
			// An array: a string, required (its items not checked).
			want = &configv1.Api{Name: "findPetsByStatus", Method: "GET", Path: "/pet/findByStatus", Backend: &configv1.Backend{Url: "https://petstore.swagger.io/v2/pet/findByStatus"}}
			if a := apiByName(t, r.Group, "findPetsByStatus"); a.Path != want.Path || a.Match != "" || len(a.Request.GetParameters()) != 1 || a.Request.Parameters[0].Name != "status" || a.Request.Parameters[0].Type != "" || !a.Request.Parameters[0].Required {
				t.Errorf("findPetsByStatus = %v", a)
			}
			if a := apiByName(t, r.Group, "loginUser"); len(a.Request.GetParameters()) != 2 || !a.Request.Parameters[0].Required || a.Request.Parameters[0].In != "query" {
				t.Errorf("loginUser = %v", a)
			}
			if a := apiByName(t, r.Group, "deletePet"); len(a.Request.GetParameters()) != 2 || a.Request.Parameters[0].In != "header" || a.Request.Parameters[0].Name != "api_key" {
				t.Errorf("deletePet = %v", a)
			}
			noted := false
			for _, w := range r.Warnings {
				noted = noted || strings.Contains(w.Message, `path parameter "petId": integer imported as number`)
			}
			if !noted {
				t.Errorf("no note about integer as number: %v", r.Warnings)
			}
			// POST /pet's requestBody: Pet, its Category and Tag inlined.
			add := apiByName(t, r.Group, "addPet")
			if strings.Contains(add.GetRequest().GetBodySchema(), "$ref") || !add.GetRequest().GetBodyRequired() {
				t.Errorf("addPet request = %v, want a self-contained required body schema", add.GetRequest())
			}
			checkBody(t, add, map[string]string{
				`{"name":"doggie","photoUrls":["u"],"category":{"id":1,"name":"dogs"},"tags":[{"id":2,"name":"t"}]}`: "",
				`{"photoUrls":[]}`: `body field "/name" is required`,
				`{"name":"d","photoUrls":[],"category":{"id":"x"}}`: `body field "/category/id" is invalid: value must be an integer`,
				`{"name":"d","photoUrls":[],"tags":[{"name":1}]}`:   `body field "/tags/0/name" is invalid: value must be a string`,
			})
			validates(t, r, "")
		})
	}
}

// checkBody compiles a's body schema as the configuration does and
// checks each body: "" valid, else the failure's message.
func checkBody(t *testing.T, a *configv1.Api, bodies map[string]string) {
	t.Helper()
	s, err := bodyschema.Compile(a.GetRequest().GetBodySchema())
	if err != nil {
		t.Fatalf("%s: body schema: %v", a.Name, err)
	}
	for body, want := range bodies {
		got := ""
		if f := s.Validate([]byte(body)); f != nil {
			got = f.Message()
		}
		if got != want {
			t.Errorf("%s: %s: %q, want %q", a.Name, body, got, want)
		}
	}
}

func TestLargerDocumentWithRefs(t *testing.T) {
	// Relative server /api: the backend comes from Options.Backend.
	data, _ := os.ReadFile("testdata/lxkns.yaml")
	d, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Import(d, Options{Group: "lx"}); err == nil || !strings.Contains(err.Error(), "--backend") {
		t.Fatalf("relative server without --backend: %v", err)
	}
	r := importFile(t, "lxkns.yaml", Options{Group: "lx", Backend: "http://10.0.0.1:5010"})
	if len(r.Group.Apis) != 3 {
		t.Fatalf("%d APIs: %v", len(r.Group.Apis), r.Group.Apis)
	}
	for _, a := range r.Group.Apis {
		if a.Auth != "none" || !strings.HasPrefix(a.Backend.Url, "http://10.0.0.1:5010/api/") {
			t.Errorf("%v", a)
		}
	}
	validates(t, r, "")
}

func TestExtensionsAllOfOneOf(t *testing.T) {
	r := importFile(t, "shapes-allof-oneof.yaml", Options{Group: "shapes"})
	create := apiByName(t, r.Group, "create_shape")
	if create.Auth != "iam" || create.Backend.Url != "https://shapes.example.com/v1/shapes" || create.Method != "POST" {
		t.Errorf("create = %v", create)
	}
	// Shape: oneOf of two allOf (Circle, Square), each with Base, all
	// inlined. Neither requires its own property, so a body must break
	// the other alternative to match exactly one.
	checkBody(t, create, map[string]string{
		`{"id":"c","radius":1,"side":"x"}`:   "",
		`{"id":"s","radius":"x","side":2}`:   "",
		`{"id":"c","radius":1,"side":2}`:     `body is invalid: value matches more than one schema from "oneOf" (matches schemas at indices [0 1])`,
		`{"radius":1}`:                       `body field "/id" is required`,
		`{"id":"c","radius":"1","side":"2"}`: `body field "/radius" is invalid: value must be a number`,
	})
	get := apiByName(t, r.Group, "getShape")
	if get.Match != "" || get.Path != "/shapes/{id}" || get.Request != nil || len(get.Backend.Parameters) != 1 {
		t.Errorf("getShape: want exact /shapes/{id} ({id} a plain string, not declared), passed to the backend: %v", get)
	}
	del := apiByName(t, r.Group, "delete_shapes_id")
	want := &configv1.Backend{Channel: "shapes-channel", Path: "/internal/shapes/{id}", Timeout: "1.5s", Parameters: []*configv1.BackendParameter{{Name: "id", In: "path", From: "id"}}}
	if del.Auth != "none" || !proto.Equal(del.Backend, want) || del.Cors == nil || del.Cors.AllowOrigins[0] != "*" {
		t.Errorf("delete = %v", del)
	}
	if len(r.Policies) != 1 || r.Policies[0].Unit != "second" || r.Policies[0].AppLimit != 10 || len(r.Policies[0].Bindings) != 1 || r.Policies[0].Bindings[0].Api != "shapes/getShape" || r.Policies[0].Special[0].Name != "big-app" {
		t.Errorf("policies = %v", r.Policies)
	}
	unknown := false
	for _, w := range r.Warnings {
		unknown = unknown || strings.Contains(w.Pointer, "x-apigateway-unknown-thing")
	}
	if !unknown {
		t.Errorf("unknown extension not warned: %v", r.Warnings)
	}
	validates(t, r, "channels:\n  - name: shapes-channel\n    members: [{address: 10.0.0.2:80}]\n")
}

func TestRefused(t *testing.T) {
	const head = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\nservers: [{url: 'http://b.example.com'}]\n"
	for _, c := range []struct {
		name, doc, want string
	}{
		{"yaml syntax", head + "paths:\n  /a:\n    get: {responses: {'200': {description: x}}\n  bad: [", "line "},
		{"json syntax", `{"openapi": "3.0.3", "paths": {,}}`, "line 1"},
		{"bad parameter", head + "paths:\n  /orders/{id}:\n    get:\n      parameters:\n        - {name: id, in: path, required: true, schema: {type: string}}\n        - {name: 'bad header', in: header, schema: {type: string}}\n      responses: {'200': {description: x}}\n", "#/paths/~1orders~1{id}/get/parameters/1"},
		{"IAM X-Auth-Token", head + "components:\n  securitySchemes:\n    apig-auth-iam: {type: apiKey, in: header, name: unused, x-apigateway-auth-type: IAM}\npaths:\n  /a:\n    get:\n      security: [{apig-auth-iam: []}]\n      parameters: [{name: X-Auth-Token, in: header, schema: {type: string}}]\n      responses: {'200': {description: x}}\n", "#/paths/~1a/get/parameters/0: request header X-Auth-Token is reserved"},
		{"ref loop", head + "components:\n  schemas:\n    A: {$ref: '#/components/schemas/B'}\n    B: {$ref: '#/components/schemas/A'}\npaths:\n  /a:\n    get: {responses: {'200': {description: x}}}\n", "$ref loop"},
		{"remote ref", head + "paths:\n  /a:\n    get:\n      responses: {'200': {$ref: 'http://example.com/r.yaml#/R'}}\n", "remote $ref"},
		{"operation without a method", head + "paths:\n  /a:\n    responses: {'200': {description: x}}\n", "an operation without a method"},
		{"template on the first segment", head + "paths:\n  /{tenant-id}/orders:\n    get:\n      parameters: [{name: tenant-id, in: path, required: true, schema: {type: string}}]\n      responses: {'200': {description: x}}\n", "starts with a parameter"},
		{"FUNCTION backend", head + "paths:\n  /a:\n    get:\n      x-apigateway-backend: {type: FUNCTION, functionEndpoints: {}}\n      responses: {'200': {description: x}}\n", "FUNCTION backends are not supported"},
		{"swagger 1.2", "swaggerVersion: '1.2'\n", "not an OpenAPI document"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := Parse([]byte(c.doc))
			if err == nil {
				_, err = Import(d, Options{Group: "g"})
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
	t.Run("50 MB", func(t *testing.T) {
		big := make([]byte, 50<<20)
		_, err := Parse(big)
		if err == nil || !strings.Contains(err.Error(), "10 MiB") {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestRoundTrip exports a group using every feature the mapping covers,
// imports the document back and compares the groups, in both formats.
func TestRoundTrip(t *testing.T) {
	const cfg = `
environments:
  - name: RELEASE
    variables: {backend: 127.0.0.1:18080}
  - name: BETA
    variables: {backend: 127.0.0.1:18081}
channels:
  - name: ch
    members: [{address: 10.0.0.9:8080}]
authorizers:
  - name: az
    url: http://10.0.0.7/auth
    identity_headers: [X-Token]
token_issuers:
  - name: iss
    issuer: https://issuer.example.com
    jwks_file: testdata/jwks.json
groups:
  - name: all
    domains: [all.example.com]
    error_dialect: tencent
    hide_credentials: true
    apis:
      - {name: app, method: GET, path: /app, backend: {url: "http://#{backend}#/x", timeout: 1500ms, retries: 2, host_header: h.example.com}, environments: [RELEASE, BETA], description: an app API}
      - {name: appcode, method: POST, path: /appcode, app_code: true, backend: {url: "https://b.example.com/p"}}
      - {name: iam, method: ANY, path: /iam/, match: prefix, auth: iam, backend: {channel: ch, path: /in/}, websocket: true}
      - {name: none, method: PUT, path: /none, auth: none, cors: {allow_origins: [https://a.example.com], allow_credentials: true, max_age: 1m}, backend: {mock: {status: 201, body: hi, headers: {x-a: b}}}}
      - {name: cors, method: DELETE, path: /cors, auth: none, cors: {allow_origins: ["*"], allow_methods: [GET, POST, PUT, DELETE, HEAD, OPTIONS, PATCH], allow_headers: [X-Sdk-Date, X-Sdk-Nonce, X-Proxy-Signed-Headers, X-Sdk-Content-Sha256, X-Forwarded-For, Authorization, Content-Type, Accept, Accept-Ranges, Cache-Control, Range], max_age: 24h}, backend: {url: "http://b.example.com"}}
      - {name: hmac, method: PATCH, path: /hmac, auth: hmac, hmac: {validate_body: true}, backend: {url: "http://b.example.com/h"}}
      - {name: tok, method: HEAD, path: /tok, auth: token, token_issuers: [iss], backend: {url: "http://b.example.com/t"}}
      - {name: authz, method: OPTIONS, path: /authz, auth: authorizer, authorizer: az, hide_credentials: false, backend: {url: "http://b.example.com/z"}}
      - {name: code, method: GET, path: /code, auth: app_code, backend: {url: "http://b.example.com/c"}}
      - {name: body, method: POST, path: /body, auth: none, validate_request: true, request: {body_required: true, body_schema: '{"type":"object","required":["id"],"properties":{"id":{"type":"string","minLength":1,"pattern":"^[a-z]+$"},"n":{"type":"integer","minimum":1,"maximum":9},"tags":{"type":"array","items":{"type":"string","enum":["a","b"]}},"shape":{"allOf":[{"type":"object","required":["r"],"properties":{"r":{"type":"number"}}},{"type":"object","properties":{"s":{"type":"boolean"}}}]}}}'}, backend: {url: "http://b.example.com/b"}}
      - {name: bodyyaml, method: PUT, path: /body, auth: none, request: {body_schema: "type: object\nproperties: {a: {type: string}}\n"}, backend: {url: "http://b.example.com/b"}}
      - name: params
        method: GET
        path: /orders/{id}/items/{item}
        auth: none
        request:
          parameters:
            - {name: id, in: path, type: number, min_value: 1, max_value: 1e6, description: the order}
            - {name: user, in: query, required: true, pattern: "[a-z]+|x(y)", min_length: 2, max_length: 8}
            - {name: page, in: query, type: number, default: 1, enum: ["1", "2", "3.5"]}
            - {name: X-Mode, in: header, enum: [fast, slow], default: fast}
            - {name: dry, in: query, type: boolean, default: false}
        backend:
          url: http://b.example.com/v2/o/{oid}/{item}
          parameters:
            - {name: oid, in: path, from: id}
            - {name: item, in: path, from: item}
            - {name: x-user, in: header, from: user}
            - {name: mode, in: query, from: X-Mode}
            - {name: x-tenant, in: header, constant: acme}
            - {name: x-ip, in: header, system: source_ip, description: the client}
      - {name: anyparams, method: ANY, path: "/any/{k}", auth: none, request: {parameters: [{name: q, in: query, required: true}, {name: k, in: path}]}, backend: {url: "http://b.example.com/any"}}
      - {name: passthrough, method: GET, path: "/p/{k}", auth: none, request: {parameters: [{name: k, in: path, type: number}]}, backend: {url: "http://b.example.com"}}
      - {name: policy, method: GET, path: /policy, backend: {url: "http://b.example.com/d"}, backend_policies: [{name: p1, conditions: [{type: query, name: v, values: ["2"]}], backend: {url: "http://b2.example.com/d"}}]}
throttle_policies:
  - name: tp
    unit: minute
    api_limit: 100
    user_limit: 10
    app_limit: 20
    ip_limit: 30
    special: [{type: app, name: big, limit: 50}]
    bindings: [{api: all/app}, {api: all/iam}]
`
	dir := t.TempDir()
	jwks := `{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"k"}]}`
	if err := os.MkdirAll(dir+"/testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(dir+"/testdata/jwks.json", []byte(jwks), 0o644)
	wd, _ := os.Getwd()
	_ = os.Chdir(dir)
	defer func() { _ = os.Chdir(wd) }()
	roundTrip(t, []byte(cfg), "all")
	quick, err := os.ReadFile(wd + "/../../examples/quickstart/gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, quick, "demo")
}

func roundTrip(t *testing.T, cfg []byte, group string) {
	t.Helper()
	if _, err := config.Load("gw.yaml", cfg, config.Options{}); err != nil {
		t.Fatalf("the test configuration is invalid: %v", err)
	}
	gw, err := config.Parse(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var orig *configv1.Group
	for _, g := range gw.Groups {
		if g.Name == group {
			orig = g
		}
	}
	for _, format := range []string{"openapi3", "swagger2"} {
		for _, output := range []string{"yaml", "json"} {
			t.Run(group+"/"+format+"/"+output, func(t *testing.T) {
				doc, warns, err := Export(gw, ExportOptions{Group: group, Format: format, Output: output})
				if err != nil {
					t.Fatal(err)
				}
				d, err := Parse(doc)
				if err != nil {
					t.Fatalf("%v\n%s", err, doc)
				}
				r, err := Import(d, Options{Group: group})
				if err != nil {
					t.Fatalf("%v\n%s", err, doc)
				}
				for _, w := range r.Warnings {
					t.Errorf("import warning: %v", w)
				}
				if len(warns) > 0 {
					t.Errorf("export warnings: %v", warns)
				}
				want := normalise(orig)
				got := normalise(r.Group)
				if !proto.Equal(got, want) {
					t.Errorf("round trip differs:\n got %v\nwant %v\n%s", got, want, doc)
				}
				// The policies come back with their bindings.
				for _, p := range gw.ThrottlePolicies {
					found := false
					for _, q := range r.Policies {
						found = found || proto.Equal(q, p)
					}
					if !found {
						t.Errorf("policy %v not given back: %v", p, r.Policies)
					}
				}
				// And merged into the original file (--replace), it validates.
				text, err := Merge(cfg, r, true)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := config.Load("merged.yaml", text, config.Options{}); err != nil {
					t.Fatalf("merged: %v", err)
				}
			})
		}
	}
}

// normalise writes defaults the way the import writes them: auth app is
// the default (unset), durations as Go prints them.
func normalise(g *configv1.Group) *configv1.Group {
	g = proto.Clone(g).(*configv1.Group)
	for _, a := range g.Apis {
		if a.Auth == "app" {
			a.Auth = ""
		}
		if a.Method == "" {
			a.Method = "ANY"
		}
		if b := a.Backend; b != nil && b.Timeout != "" {
			d, _ := time.ParseDuration(b.Timeout)
			b.Timeout = d.String()
		}
		if a.Auth == "app_code" {
			a.AppCode = false
		}
		// Path parameters are required; a plain string one is what its
		// {name} segment alone declares (the import leaves it out).
		if r := a.Request; r != nil {
			var ps []*configv1.RequestParameter
			for _, p := range r.Parameters {
				if p.In == "path" {
					p.Required = true
					if (p.Type == "" || p.Type == "string") && proto.Equal(p, &configv1.RequestParameter{Name: p.Name, In: "path", Type: p.Type, Required: true}) {
						continue
					}
				}
				ps = append(ps, p)
			}
			// kin-openapi's conversion to Swagger 2.0 sorts them.
			sort.Slice(ps, func(i, j int) bool { return ps[i].In+ps[i].Name < ps[j].In+ps[j].Name })
			r.Parameters = ps
			if proto.Size(r) == 0 {
				a.Request = nil
			}
		}
		// Body schemas come back as compact JSON, keys sorted.
		if r := a.Request; r != nil && r.BodySchema != "" {
			js, _ := sigsyaml.YAMLToJSON([]byte(r.BodySchema))
			var v any
			_ = json.Unmarshal(js, &v)
			b, _ := json.Marshal(v)
			r.BodySchema = string(b)
		}
	}
	// The document's order is its paths' (sorted): compare by name.
	sort.Slice(g.Apis, func(i, j int) bool { return g.Apis[i].Name < g.Apis[j].Name })
	return g
}

func TestMergeRefusesClash(t *testing.T) {
	r := &Result{Group: &configv1.Group{Name: "demo"}}
	quick, _ := os.ReadFile("../../examples/quickstart/gateway.yaml")
	if _, err := Merge(quick, r, false); err == nil || !strings.Contains(err.Error(), "--replace") {
		t.Fatalf("err = %v", err)
	}
	diff := UnifiedDiff("a", "b", []byte("1\n2\n3\n4\n5\n"), []byte("1\n2\n3\nx\n4\n5\n"))
	if !strings.Contains(diff, "@@ -1,5 +1,6 @@\n 1\n 2\n 3\n+x\n 4\n 5\n") {
		t.Errorf("diff:\n%s", diff)
	}
}

// generated is a document of n operations (n/2 paths, GET and POST each).
func generated(n int) []byte {
	var b strings.Builder
	b.WriteString("openapi: 3.0.3\ninfo: {title: gen, version: '1'}\nservers: [{url: 'https://backend.example.com/v1'}]\ncomponents:\n  schemas:\n    Item: {type: object, required: [id], properties: {id: {type: string}, n: {type: integer}}}\npaths:\n")
	for i := 0; i < n/2; i++ {
		fmt.Fprintf(&b, "  /r%d/{id}:\n    parameters: [{name: id, in: path, required: true, schema: {type: string}}]\n    get:\n      operationId: get%d\n      security: []\n      responses: {'200': {description: ok, content: {application/json: {schema: {$ref: '#/components/schemas/Item'}}}}}\n    post:\n      operationId: post%d\n      requestBody: {content: {application/json: {schema: {$ref: '#/components/schemas/Item'}}}}\n      x-apigateway-backend: {type: HTTP, httpEndpoints: {address: 'b%d.example.com', scheme: https, method: POST, path: '/x/{id}', timeout: 3000}}\n      responses: {'200': {description: ok}}\n", i, i, i, i)
	}
	return []byte(b.String())
}

func TestImport1000Operations(t *testing.T) {
	doc := generated(1000)
	start := time.Now()
	d, err := Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Import(d, Options{Group: "gen"})
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	t.Logf("1,000 operations (%d bytes): parsed and imported in %v", len(doc), el)
	if len(r.Group.Apis) != 1000 {
		t.Fatalf("%d APIs", len(r.Group.Apis))
	}
	// Its speed is BenchmarkImport1000's to measure (a timed assertion
	// failed on a loaded machine).
}

func BenchmarkImport1000(b *testing.B) {
	doc := generated(1000)
	for b.Loop() {
		d, err := Parse(doc)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Import(d, Options{Group: "gen"}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestParameters imports the platform's parameters: request parameters
// from the operation's, backend parameters from x-apigateway-backend's,
// templates as exact paths where the configuration's rules allow.
func TestParameters(t *testing.T) {
	const doc = `swagger: "2.0"
info: {title: p, version: "1"}
host: b.example.com
schemes: [https]
paths:
  /users/{userId}:
    parameters:
      - {name: userId, in: path, required: true, type: string, pattern: "^[a-z]{3,}$", description: the user}
    get:
      security: []
      parameters:
        - {name: X-Auth-Token, in: header, required: true, type: string}
        - {name: page, in: query, type: integer, minimum: 1, maximum: 99, default: 1, exclusiveMinimum: true}
        - {name: q, in: query, type: string, pattern: "ab", maxLength: 5, enum: [ab, xab, toolong]}
        - {name: flag, in: query, type: boolean, default: true}
        - {name: tags, in: query, type: array, items: {type: string}, required: true}
      responses: {"200": {description: ok}}
      x-apigateway-backend:
        type: HTTP
        httpEndpoints: {address: users.internal:8080, scheme: http, method: GET, path: "/v1/users/{uid}"}
        parameters:
          - {name: uid, value: userId, in: path, origin: REQUEST, description: Username}
          - {name: X-Invoke-User, value: apigateway, in: header, origin: CONSTANT}
          - {name: X-Client, value: sourceIp, in: header, origin: SYSTEM}
          - {name: token, value: X-Auth-Token, in: query, origin: REQUEST}
  /files/{name}.json:
    get:
      security: []
      parameters: [{name: name, in: path, required: true, type: string}]
      responses: {"200": {description: ok}}
  /swa/{id}:
    get:
      security: []
      x-apigateway-match-mode: SWA
      parameters: [{name: id, in: path, required: true, type: string}, {name: v, in: query, type: number, maximum: 3}]
      responses: {"200": {description: ok}}
`
	d, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Import(d, Options{Group: "p"})
	if err != nil {
		t.Fatal(err)
	}
	s := func(v string) *string { return &v }
	f := func(v float64) *float64 { return &v }
	u := func(v uint32) *uint32 { return &v }
	want := &configv1.Api{Name: "get_users_userId", Method: "GET", Path: "/users/{userId}", Auth: "none",
		Request: &configv1.ApiRequest{Parameters: []*configv1.RequestParameter{
			{Name: "userId", In: "path", Required: true, Pattern: "^[a-z]{3,}$", Description: "the user"},
			{Name: "X-Auth-Token", In: "header", Required: true},
			{Name: "page", In: "query", Type: "number", MinValue: f(1), MaxValue: f(99), Default: s("1")},
			{Name: "q", In: "query", Pattern: "(?s:.*)(?:ab)(?s:.*)", MaxLength: u(5), Enum: []string{"ab", "xab", "toolong"}},
			{Name: "flag", In: "query", Type: "boolean", Default: s("true")},
			{Name: "tags", In: "query", Required: true},
		}},
		Backend: &configv1.Backend{Url: "http://users.internal:8080/v1/users/{uid}", Parameters: []*configv1.BackendParameter{
			{Name: "uid", In: "path", From: "userId", Description: "Username"},
			{Name: "X-Invoke-User", In: "header", Constant: s("apigateway")},
			{Name: "X-Client", In: "header", System: "source_ip"},
			{Name: "token", In: "query", From: "X-Auth-Token"},
		}}}
	if got := apiByName(t, r.Group, want.Name); !proto.Equal(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	files := apiByName(t, r.Group, "get_files_name_.json")
	if files.Path != "/files/" || files.Match != "prefix" || files.Request != nil || files.Backend.Url != "https://b.example.com/files/" {
		t.Errorf("files = %v", files)
	}
	swa := apiByName(t, r.Group, "get_swa_id")
	if swa.Path != "/swa/" || swa.Match != "prefix" || len(swa.Request.GetParameters()) != 1 || swa.Request.Parameters[0].Name != "v" {
		t.Errorf("swa = %v", swa)
	}
	var msgs []string
	for _, w := range r.Warnings {
		msgs = append(msgs, w.Message)
	}
	all := strings.Join(msgs, "\n")
	for _, w := range []string{
		`"/files/{name}.json" imported as the prefix "/files/" (match prefix, its path parameters not checked): as an exact path with parameters it breaks the rule: a path parameter is a whole segment {name} ("{name}.json")`,
		`query parameter "page": integer imported as number`,
		`query parameter "page": exclusiveMinimum not imported (the gateway's bounds are inclusive)`,
		`query parameter "tags": array imported as a string`,
	} {
		if !strings.Contains(all, w) {
			t.Errorf("no warning %q in\n%s", w, all)
		}
	}
	validates(t, r, "")
}

// TestMergeQuotesYAML11Booleans: a string the gateway's YAML 1.1 loader
// would read as a boolean or a number (an API or parameter named "on",
// "yes", "1e3") is written quoted by the merge, so the result loads.
func TestMergeQuotesYAML11Booleans(t *testing.T) {
	for _, v := range []string{"on", "Off", "yes", "n", "1e3", "007", "null", ""} {
		if !yaml11NonString(v) {
			t.Errorf("%q: not recognised as a YAML 1.1 non-string", v)
		}
	}
	for _, v := range []string{"orders", "online", "v1", "/on"} {
		if yaml11NonString(v) {
			t.Errorf("%q: quoted needlessly", v)
		}
	}
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{
		{Kind: yaml.ScalarNode, Tag: "!!str", Value: "name"}, {Kind: yaml.ScalarNode, Tag: "!!str", Value: "on"}}}
	plain(n)
	out, err := yaml.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := sigsyaml.Unmarshal(out, &back); err != nil || back["name"] != "on" {
		t.Fatalf("written %q, read back by the YAML 1.1 loader as %#v (%v)", out, back["name"], err)
	}
}
