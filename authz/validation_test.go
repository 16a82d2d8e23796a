package authz

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apigwio/apigw/internal/config"
)

// validationConfig: the shapes API's body schema is Shape of
// internal/openapi/testdata/shapes-allof-oneof.yaml as apigw import
// inlines it (oneOf of two allOf); pets is a plain object schema behind
// an app signature.
const validationConfig = `
groups:
  - name: v
    apis:
      - name: shapes
        method: POST
        path: /shapes
        auth: none
        validate_request: true
        request:
          body_required: true
          body_schema: |
            oneOf:
              - allOf:
                  - {type: object, required: [id], properties: {id: {type: string}}}
                  - {type: object, properties: {radius: {type: number, minimum: 0}}, required: [radius]}
              - allOf:
                  - {type: object, required: [id], properties: {id: {type: string}}}
                  - {type: object, properties: {side: {type: number}}, required: [side]}
        backend: {url: "http://10.0.0.1:8080"}
      - name: pets
        method: POST
        path: /pets
        validate_request: true
        request:
          body_schema: '{"type":"object","required":["name"],"properties":{"name":{"type":"string"},"tags":{"type":"array","items":{"type":"string"}}}}'
        backend: {url: "http://10.0.0.1:8080"}
      - name: unchecked
        method: POST
        path: /unchecked
        auth: none
        request:
          body_schema: '{"type":"object","required":["name"]}'
        backend: {url: "http://10.0.0.1:8080"}
apps:
  - name: shopper
    key: shopper-key-0001
    secret: {value: shopper-secret-0001}
    grants: [{api: v/pets}]
`

func newValidationFixture(t testing.TB) *fixture {
	snap, err := config.Load("validation", []byte(validationConfig), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{now: testNow, snap: snap}
	f.svc = mustNew(t, snap, Options{Now: func() time.Time { return f.now }})
	return f
}

func TestRequestBodyValidation(t *testing.T) {
	f := newValidationFixture(t)
	for _, tt := range []struct {
		name, api, body string
		detail          string // "" allowed
	}{
		{"valid circle", "v/shapes", `{"id":"c1","radius":2}`, ""},
		{"valid square", "v/shapes", `{"id":"s1","side":3}`, ""},
		{"missing required field", "v/shapes", `{"radius":2}`, `body field "/id" is required`},
		{"missing the alternative's field", "v/shapes", `{"id":"c1"}`, `body field "/radius" is required`},
		{"wrong type", "v/shapes", `{"id":7,"radius":2}`, `body field "/id" is invalid: value must be a string`},
		{"nested bound", "v/shapes", `{"id":"c1","radius":-1}`, `body field "/radius" is invalid: number must be at least 0`},
		{"not JSON", "v/shapes", `id=c1`, `body is invalid: not valid JSON`},
		{"required body missing", "v/shapes", ``, `body is required`},
		{"validation off: schema kept, not enforced", "v/unchecked", `{}`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hr, _ := http.NewRequest("POST", "http://gw"+strings.TrimPrefix(tt.api, "v"), strings.NewReader(tt.body))
			hr.Header.Set("Content-Type", "application/json")
			st, body, _ := f.check(t, envoyCheck(hr, []byte(tt.body), tt.api, "RELEASE"))
			if tt.detail == "" {
				if st != 200 {
					t.Fatalf("status %d %+v, want 200", st, body)
				}
				return
			}
			want := "API request error: " + tt.detail
			if st != 400 || body.Code != "APIG.0201" || body.Msg != want {
				t.Errorf("got %d %s %q, want 400 APIG.0201 %q", st, body.Code, body.Msg, want)
			}
		})
	}
}

// The body is validated after authentication: an unsigned request with an
// invalid body is a 401, a signed one a 400, a signed valid one passes.
func TestRequestBodyValidationAfterAuthentication(t *testing.T) {
	f := newValidationFixture(t)
	hr, _ := http.NewRequest("POST", "http://gw/pets", strings.NewReader(`{}`))
	if st, body, _ := f.check(t, envoyCheck(hr, []byte(`{}`), "v/pets", "RELEASE")); st != 401 || body.Code != "APIG.0303" {
		t.Errorf("unsigned: %d %+v, want 401 APIG.0303", st, body)
	}
	for _, tt := range []struct {
		body   any
		status int
		msg    string
	}{
		{map[string]any{"name": "rex", "tags": []string{"a"}}, 200, ""},
		{map[string]any{"tags": []string{"a"}}, 400, `API request error: body field "/name" is required`},
		{map[string]any{"name": "rex", "tags": []any{1}}, 400, `API request error: body field "/tags/0" is invalid: value must be a string`},
	} {
		hr, raw := signWithSDK(t, sdkRequest{method: "POST", path: "/pets", headers: map[string]string{"Content-Type": "application/json"}, body: tt.body}, "shopper-key-0001", "shopper-secret-0001")
		st, body, _ := f.check(t, envoyCheck(hr, raw, "v/pets", "RELEASE"))
		if st != tt.status || (tt.msg != "" && body.Msg != tt.msg) {
			t.Errorf("signed %s: %d %+v, want %d %q", raw, st, body, tt.status, tt.msg)
		}
	}
}
