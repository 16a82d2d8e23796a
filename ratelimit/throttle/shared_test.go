package throttle

import (
	"testing"

	"github.com/apigwio/apigw/internal/config"
)

// TestSharedAPILimits checks that the API limits apiDescriptors shares
// (one per policy, one default) are each deployment's own: every API
// descriptor's limit equals apiLimit of its deployment, with several
// policies and APIs on the default interleaved.
func TestSharedAPILimits(t *testing.T) {
	const yaml = `
settings: {throttling: {default_api_rps: 300}}
groups:
  - name: g
    domains: [g.example.com]
    apis:
      - {name: a, path: /a, auth: none, backend: {url: "http://10.0.0.1"}}
      - {name: b, path: /b, auth: none, backend: {url: "http://10.0.0.1"}}
      - {name: c, path: /c, auth: none, backend: {url: "http://10.0.0.1"}}
      - {name: d, path: /d, auth: none, backend: {url: "http://10.0.0.1"}}
      - {name: e, path: /e, auth: none, backend: {url: "http://10.0.0.1"}}
throttle_policies:
  - {name: slow, unit: minute, api_limit: 100, bindings: [{api: g/a}, {api: g/d}]}
  - {name: fast, unit: second, api_limit: 7, bindings: [{api: g/b}]}
  - {name: users, unit: second, user_limit: 3, bindings: [{api: g/e}]}
`
	snap, err := config.Load("t", []byte(yaml), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config(snap)
	seen := 0
	for _, api := range snap.APIs {
		for _, env := range api.Environments {
			want := apiLimit(snap, api.Deployments[env])
			value := APIValue(api.ID, env)
			for _, d := range cfg.Descriptors {
				if d.Key != KeyAPI || d.Value != value {
					continue
				}
				seen++
				switch {
				case (d.Limit == nil) != (want == nil):
					t.Errorf("%s: limit %v, want %v", value, d.Limit, want)
				case want != nil && *d.Limit != *want:
					t.Errorf("%s: limit %+v, want %+v", value, *d.Limit, *want)
				}
			}
		}
	}
	if seen != 5 {
		t.Errorf("%d API descriptors, want 5", seen)
	}
}
