package config

import (
	"strings"
	"testing"

	"github.com/apigwio/apigw/internal/model"
)

// TestGrantsAsExpanded checks that apps' grants, kept as written, answer
// Granted and GrantCount as the expansion into (API, environment) pairs
// (the previous representation) does, for every API and environment.
func TestGrantsAsExpanded(t *testing.T) {
	const cfg = `
environments: [{name: BETA}, {name: TEST}]
groups:
  - name: g
    apis:
      - {name: a, path: /a, auth: app, environments: [RELEASE, BETA, TEST], backend: {url: "http://10.0.0.1"}}
      - {name: b, path: /b, auth: app, environments: [BETA], backend: {url: "http://10.0.0.1"}}
      - {name: c, path: /c, auth: app, backend: {url: "http://10.0.0.1"}}
  - name: h
    domains: [h.example.com]
    apis:
      - {name: a, path: /a, auth: app, environments: [RELEASE, TEST], backend: {url: "http://10.0.0.1"}}
  - name: empty
    domains: [e.example.com]
    apis: []
apps:
  - {name: all, key: k-all, secret: {value: secret-all-0001}, grants: [{api: "g/*"}]}
  - {name: beta, key: k-beta, secret: {value: secret-beta-001}, grants: [{api: "g/*", environments: [BETA]}, {api: "h/*", environments: [BETA, TEST]}]}
  - {name: named, key: k-named, secret: {value: secret-named-01}, grants: [{api: g/a, environments: [TEST]}, {api: g/b}, {api: h/a}]}
  - {name: mixed, key: k-mixed, secret: {value: secret-mixed-01}, grants: [{api: g/a}, {api: "g/*", environments: [RELEASE]}, {api: g/b}, {api: "g/*", environments: [RELEASE, TEST]}, {api: "empty/*"}]}
  - {name: none, key: k-none, secret: {value: secret-none-001}}
`
	snap, err := Load("test", []byte(cfg), Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The grants above, expanded as the builder used to.
	type grant struct {
		ref  string
		envs []string
	}
	written := map[string][]grant{
		"k-all":   {{"g/*", nil}},
		"k-beta":  {{"g/*", []string{"BETA"}}, {"h/*", []string{"BETA", "TEST"}}},
		"k-named": {{"g/a", []string{"TEST"}}, {"g/b", nil}, {"h/a", nil}},
		"k-mixed": {{"g/a", nil}, {"g/*", []string{"RELEASE"}}, {"g/b", nil}, {"g/*", []string{"RELEASE", "TEST"}}, {"empty/*", nil}},
		"k-none":  nil,
	}
	// The same snapshot's apps counted all at once (as /debug/config
	// does), in a copy of each app so GrantCount below counts alone.
	counted := map[string]int{}
	{
		again, err := Load("test", []byte(cfg), Options{})
		if err != nil {
			t.Fatal(err)
		}
		var apps []*model.App
		for _, a := range again.Apps {
			apps = append(apps, a)
		}
		model.CountGrants(apps)
		for key, a := range again.Apps {
			counted[key] = a.GrantCount()
		}
	}
	envs := []string{"RELEASE", "BETA", "TEST", "NOPE", ""}
	for key, grants := range written {
		want := map[[2]string]bool{}
		for _, g := range grants {
			var apis []*model.API
			if grp, ok := strings.CutSuffix(g.ref, "/*"); ok {
				for _, group := range snap.Groups {
					if group.Name == grp {
						apis = group.APIs
					}
				}
			} else {
				apis = []*model.API{snap.APIs[g.ref]}
			}
			for _, api := range apis {
				list := g.envs
				if len(list) == 0 {
					list = api.Environments
				}
				for _, e := range list {
					if api.Deployments[e] != nil {
						want[[2]string{api.ID, e}] = true
					}
				}
			}
		}
		app := snap.Apps[key]
		if got := app.GrantCount(); got != len(want) {
			t.Errorf("%s: GrantCount = %d, want %d", key, got, len(want))
		}
		if got := counted[key]; got != len(want) {
			t.Errorf("%s: CountGrants counted %d, want %d", key, got, len(want))
		}
		for _, api := range snap.APIs {
			for _, e := range envs {
				if got := app.Granted(api, e); got != want[[2]string{api.ID, e}] {
					t.Errorf("%s: Granted(%s, %q) = %v, want %v", key, api.ID, e, got, !got)
				}
			}
		}
	}
}

// BenchmarkGranted is the grant lookup of a Check, for an app granted a
// named API and for one granted the API's group.
func BenchmarkGranted(b *testing.B) {
	snap, err := Load("bench", []byte(`
environments: [{name: BETA}]
groups:
  - name: g
    apis:
      - {name: a, path: /a, auth: app, environments: [RELEASE, BETA], backend: {url: "http://10.0.0.1"}}
apps:
  - {name: named, key: k-named, secret: {value: secret-named-01}, grants: [{api: g/a}]}
  - {name: group, key: k-group, secret: {value: secret-group-01}, grants: [{api: "g/*"}]}
`), Options{})
	if err != nil {
		b.Fatal(err)
	}
	api := snap.APIs["g/a"]
	for _, key := range []string{"k-named", "k-group"} {
		app := snap.Apps[key]
		b.Run(app.Name, func(b *testing.B) {
			for b.Loop() {
				if !app.Granted(api, "BETA") {
					b.Fatal("not granted")
				}
			}
		})
	}
}
