package config

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/apigwio/apigw/internal/model"
)

// variantsBase defines BETA and TEST besides RELEASE, an app, policies and
// a group to which each case adds its APIs.
const variantsBase = `
environments: [{name: BETA}, {name: TEST}]
apps:
  - {name: web, key: web-key, secret: {value: web-secret-0001}, grants: [{api: g/a}]}
  - {name: beta, key: beta-key, secret: {value: beta-secret-0001}, grants: [{api: g/a, environments: [BETA]}]}
acl_policies:
  - {name: office, type: ip, action: allow, values: [10.0.0.0/8], bindings: [{api: g/a}]}
throttle_policies:
  - {name: slow, unit: second, api_limit: 5, bindings: [{api: g/a}]}
groups:
  - name: g
    apis:
`

// TestVariants: an API may be defined more than once in its group when
// the definitions are published in different environments; overlapping
// environments are refused, naming them.
func TestVariants(t *testing.T) {
	for _, tt := range []struct {
		name string
		apis string
		// want: environment -> the backend host of the definition
		// published there; nil when refused.
		want map[string]string
		// refused: substrings of the problems.
		refused []string
	}{
		{
			name: "disjoint",
			apis: `
      - {name: a, path: /a, auth: app, environments: [RELEASE], backend: {url: "http://v1.example.com"}}
      - {name: a, path: /a, auth: app, environments: [BETA], backend: {url: "http://v2.example.com"}}`,
			want: map[string]string{"RELEASE": "v1.example.com", "BETA": "v2.example.com"},
		},
		{
			name: "disjoint, default environment implied, other paths",
			apis: `
      - {name: a, path: /a, auth: app, backend: {url: "http://v1.example.com"}}
      - {name: a, path: /v2/a, auth: app, environments: [BETA, TEST], backend: {url: "http://v2.example.com"}}`,
			want: map[string]string{"RELEASE": "v1.example.com", "BETA": "v2.example.com", "TEST": "v2.example.com"},
		},
		{
			name: "three variants",
			apis: `
      - {name: a, path: /a, auth: app, environments: [RELEASE], backend: {url: "http://v1.example.com"}}
      - {name: a, path: /a, auth: app, environments: [BETA], backend: {url: "http://v2.example.com"}}
      - {name: a, path: /a, auth: app, environments: [TEST], backend: {url: "http://v3.example.com"}}`,
			want: map[string]string{"RELEASE": "v1.example.com", "BETA": "v2.example.com", "TEST": "v3.example.com"},
		},
		{
			name: "overlapping",
			apis: `
      - {name: a, path: /a, auth: app, environments: [RELEASE, BETA], backend: {url: "http://v1.example.com"}}
      - {name: a, path: /b, auth: app, environments: [TEST, BETA], backend: {url: "http://v2.example.com"}}`,
			refused: []string{`groups[0].apis[1].name: API "a" is defined twice in group "g", both published in BETA (definitions of one API must be published in different environments)`},
		},
		{
			name: "overlapping through the default environment",
			apis: `
      - {name: a, path: /a, auth: app, backend: {url: "http://v1.example.com"}}
      - {name: a, path: /b, auth: app, environments: [BETA, RELEASE], backend: {url: "http://v2.example.com"}}`,
			refused: []string{`API "a" is defined twice in group "g", both published in RELEASE`},
		},
		{
			name: "overlapping a later variant",
			apis: `
      - {name: a, path: /a, auth: app, environments: [RELEASE], backend: {url: "http://v1.example.com"}}
      - {name: a, path: /a, auth: app, environments: [BETA], backend: {url: "http://v2.example.com"}}
      - {name: a, path: /c, auth: app, environments: [TEST, BETA, RELEASE], backend: {url: "http://v3.example.com"}}`,
			refused: []string{`groups[0].apis[2].name: API "a" is defined twice in group "g", both published in RELEASE and BETA`},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			snap, err := Load("variants.yaml", []byte(variantsBase+tt.apis+"\n"), Options{})
			if tt.refused != nil {
				var ce *Error
				if !errors.As(err, &ce) {
					t.Fatalf("err = %v, want refused", err)
				}
				for _, w := range tt.refused {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error does not say %q:\n%v", w, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n := snap.APICount(); n != 1 {
				t.Errorf("APICount = %d, want 1", n)
			}
			hosts := mapValues(tt.want)
			slices.Sort(hosts)
			if len(snap.APIs) != len(slices.Compact(hosts)) {
				t.Errorf("%d entries in APIs, want one per definition", len(snap.APIs))
			}
			web, beta := snap.Apps["web-key"], snap.Apps["beta-key"]
			for env, host := range tt.want {
				api := snap.LookupAPI("g/a", env)
				if api == nil || api.Deployments[env] == nil {
					t.Fatalf("LookupAPI(g/a, %s) = %v", env, api)
				}
				if api.ID != "g/a" || snap.APIs[api.Key()] != api {
					t.Errorf("%s: ID %q key %q", env, api.ID, api.Key())
				}
				d := api.Deployments[env]
				if d.Backend.URL.Host != host {
					t.Errorf("%s: backend %s, want %s", env, d.Backend.URL.Host, host)
				}
				// Grants, ACL and throttle bindings naming g/a apply to
				// every variant.
				if !web.Granted(api, env) {
					t.Errorf("%s: app web not granted", env)
				}
				if got := beta.Granted(api, env); got != (env == "BETA") {
					t.Errorf("%s: app beta granted %v", env, got)
				}
				if len(d.ACLs) != 1 || d.Throttle == nil {
					t.Errorf("%s: ACLs %v throttle %v", env, d.ACLs, d.Throttle)
				}
			}
		})
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// TestVariantReferences: a grant or binding naming an API with variants
// may name any environment one of them is published in, and no other.
func TestVariantReferences(t *testing.T) {
	const apis = `
      - {name: a, path: /a, auth: app, environments: [RELEASE], backend: {url: "http://v1.example.com"}}
      - {name: a, path: /a, auth: app, environments: [BETA], backend: {url: "http://v2.example.com"}}
`
	base := strings.Replace(variantsBase, "grants: [{api: g/a, environments: [BETA]}]", "grants: [{api: g/a, environments: [BETA, TEST]}]", 1)
	base = strings.Replace(base, "bindings: [{api: g/a}]}\nthrottle", "bindings: [{api: g/a, environments: [RELEASE, TEST]}]}\nthrottle", 1)
	_, err := Load("refs.yaml", []byte(base+apis), Options{})
	for _, w := range []string{
		`apps[1].grants[0].environments[1]: API "g/a" is not published in environment TEST`,
		`acl_policies[0].bindings[0].environments[1]: API "g/a" is not published in environment TEST`,
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error does not say %q:\n%v", w, err)
		}
	}
	if err != nil && strings.Contains(err.Error(), "environment BETA") {
		t.Errorf("BETA refused:\n%v", err)
	}
}

// TestVariantsReuse: a reload that reuses the models of unchanged groups
// keeps the variants apart.
func TestVariantsReuse(t *testing.T) {
	src := []byte(variantsBase + `
      - {name: a, path: /a, auth: app, environments: [RELEASE], backend: {url: "http://v1.example.com"}}
      - {name: a, path: /a, auth: app, environments: [BETA], backend: {url: "http://v2.example.com"}}
`)
	p := &Parser{}
	var snaps []*model.Snapshot
	for range 2 {
		snap, err := p.Load("reuse.yaml", src, Options{})
		if err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, snap)
	}
	for _, snap := range snaps {
		keys := slices.Sorted(maps.Keys(snap.APIs))
		if !slices.Equal(keys, []string{"g/a", "g/a@BETA"}) {
			t.Errorf("keys %v", keys)
		}
		if d := snap.LookupAPI("g/a", "BETA").Deployments["BETA"]; d == nil || d.Throttle == nil || len(d.ACLs) != 1 {
			t.Errorf("BETA deployment %+v: bindings lost", d)
		}
	}
}
