package e2e

// Request body validation through a real Envoy (TestEndToEnd calls
// testValidation): the route of a validate_request API forwards the body
// to Check even with auth none, Check validates it against the API's
// body schema, a valid body reaches the backend whole and an invalid one
// gets 400 APIG.0201 naming the failing field. The same path's PUT, its
// schema kept but validation off, is not checked.

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"text/template"
)

var _ = template.Must(configTemplate.New("validationAPIs").Parse(strings.TrimSuffix(`      - name: validated
        method: POST
        path: /validated/orders
        auth: none
        validate_request: true
        request:
          body_required: true
          body_schema: |
            type: object
            required: [item, quantity]
            properties:
              item: {type: string, minLength: 1}
              quantity: {type: integer, minimum: 1}
              lines:
                type: array
                items: {type: object, required: [sku], properties: {sku: {type: string}}}
        backend: {url: "http://#{backend}#/echo"}
      - name: unvalidated
        method: PUT
        path: /validated/orders
        auth: none
        request:
          body_schema: '{"type":"object","required":["item"]}'
        backend: {url: "http://#{backend}#/echo"}
`, "\n")))

func testValidation(t *testing.T, g *gateway) {
	t.Run("a valid JSON body passes whole", func(t *testing.T) {
		body := `{"item":"apple","quantity":3,"lines":[{"sku":"a-1"}]}`
		req := g.request(t, "POST", "/validated/orders", []byte(body))
		req.Header.Set("Content-Type", "application/json")
		if r := g.echoed(t, req); r.Body != body {
			t.Errorf("backend got body %q, want %q", r.Body, body)
		}
	})
	t.Run("an invalid body gets 400 APIG.0201 naming the field", func(t *testing.T) {
		for _, tt := range []struct{ body, msg string }{
			{`{"quantity":3}`, `API request error: body field "/item" is required`},
			{`{"item":"apple","quantity":"3"}`, `API request error: body field "/quantity" is invalid: value must be an integer`},
			{`{"item":"apple","quantity":1,"lines":[{}]}`, `API request error: body field "/lines/0/sku" is required`},
			{`{"item":`, `API request error: body is invalid: not valid JSON`},
			{``, `API request error: body is required`},
		} {
			req := g.request(t, "POST", "/validated/orders", []byte(tt.body))
			req.Header.Set("Content-Type", "application/json")
			code, _, body, err := g.do(req)
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Code string `json:"error_code"`
				Msg  string `json:"error_msg"`
			}
			if code != http.StatusBadRequest || json.Unmarshal([]byte(body), &got) != nil || got.Code != "APIG.0201" || got.Msg != tt.msg {
				t.Errorf("POST %s = %d %s, want 400 APIG.0201 %q", tt.body, code, body, tt.msg)
			}
		}
	})
	t.Run("without validate_request the body is not checked", func(t *testing.T) {
		g.echoed(t, g.request(t, "PUT", "/validated/orders", []byte(`{}`)))
	})
}
