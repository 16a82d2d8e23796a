package openapi

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

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
			// 20 operations; POST /pet/{petId}/uploadImage is served by
			// POST /pet/{petId}'s prefix route.
			// The 3.0 fixture has 5 more operations than the 2.0 one.
			if n, want := len(r.Group.Apis), map[string]int{"petstore-swagger2.json": 19, "petstore-openapi3.json": 24}[file]; n != want {
				t.Errorf("%d APIs, want %d", n, want)
			}
			get := apiByName(t, r.Group, "getPetById")
			want := &configv1.Api{Name: "getPetById", Method: "GET", Path: "/pet/", Match: "prefix", Backend: &configv1.Backend{Url: "https://petstore.swagger.io/v2/pet/"}, Description: get.Description}
			if !proto.Equal(get, want) {
				t.Errorf("getPetById = %v, want %v", get, want)
			}
			if a := apiByName(t, r.Group, "findPetsByStatus"); a.Match != "" || a.Path != "/pet/findByStatus" {
				t.Errorf("findPetsByStatus = %v", a)
			}
			warned := false
			for _, w := range r.Warnings {
				warned = warned || strings.Contains(w.Message, "uploadImage") || strings.Contains(w.Pointer, "uploadImage")
			}
			if !warned {
				t.Errorf("no warning about uploadImage: %v", r.Warnings)
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
	if get.Match != "prefix" || get.Path != "/shapes/" {
		t.Errorf("NORMAL with a template is still a prefix: %v", get)
	}
	del := apiByName(t, r.Group, "delete_shapes_id")
	want := &configv1.Backend{Channel: "shapes-channel", Path: "/internal/shapes/", Timeout: "1.5s"}
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
		{"template on the first segment", head + "paths:\n  /{tenant}/orders:\n    get:\n      parameters: [{name: tenant, in: path, required: true, schema: {type: string}}]\n      responses: {'200': {description: x}}\n", "starts with a parameter"},
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
	if el > 2*time.Second && !raceEnabled {
		t.Errorf("import took %v, more than 2 s", el)
	}
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
