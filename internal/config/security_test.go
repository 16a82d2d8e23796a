package config

import (
	"strings"
	"testing"
)

// TestSecurityValidation: configurations that would open a hole are
// refused with a message saying why.
func TestSecurityValidation(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"backend policy on a gateway header", `
groups:
  - name: g
    apis:
      - name: a
        path: /a
        backend: {url: "http://10.0.0.1"}
        backend_policies: [{name: p, conditions: [{type: header, name: X-Apig-Context-Role, values: [admin]}], backend: {url: "http://10.0.0.2"}}]
`, `groups[0].apis[0].backend_policies[0].conditions[0].name: "X-Apig-Context-Role" is in the x-apig- namespace the gateway owns`},
		{"lockout scope", `
settings: {lockout: {scope: ip}}
groups: [{name: g, apis: [{name: a, path: /a, auth: none, backend: {url: "http://10.0.0.1"}}]}]
`, `settings.lockout.scope: "ip" is not key or key_and_ip`},
		{"CORS any origin with credentials", `
groups: [{name: g, apis: [{name: a, path: /a, auth: none, backend: {url: "http://10.0.0.1"}, cors: {allow_origins: ["https://a.example.com", "*"], allow_credentials: true}}]}]
`, `groups[0].apis[0].cors.allow_credentials: allow_credentials cannot be combined with allow_origins "*": browsers refuse credentialed responses to any origin, and echoing the caller's origin instead would let every site make authenticated calls; list the origins`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load("gateway.yaml", []byte(tt.in), Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v\nwant %q", err, tt.want)
			}
		})
	}
}
