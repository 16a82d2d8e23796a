package release

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/apigwio/apigw/internal/config"
)

// TestRestrict: a release holds what its environment serves, the other
// environments dropped (golden), and serves it exactly as the whole
// configuration does in that environment.
func TestRestrict(t *testing.T) {
	gw := readConfig(t, "gateway.yaml")
	orig := proto.Clone(gw)
	whole := build(t, gw)
	for _, env := range []string{"RELEASE", "BETA", "TEST"} {
		t.Run(env, func(t *testing.T) {
			r := mustRestrict(t, gw, env)
			golden(t, "restrict_"+env+".golden.yaml", yamlOf(t, r))
			for _, g := range r.GetGroups() {
				for _, a := range g.GetApis() {
					if len(a.GetEnvironments()) != 1 || a.GetEnvironments()[0] != env {
						t.Errorf("api %s/%s: environments %v, want [%s]", g.GetName(), a.GetName(), a.GetEnvironments(), env)
					}
				}
			}
			snap := build(t, r)
			for _, api := range snap.APIs {
				for e := range api.Deployments {
					if e != env {
						t.Errorf("api %s published in %s", api.ID, e)
					}
				}
			}
			sameDecisions(t, env, decisions(t, snap, env), decisions(t, whole, env))
		})
	}
	if !proto.Equal(gw, orig) {
		t.Error("Restrict modified its input")
	}
}

func TestRestrictRefuses(t *testing.T) {
	for _, tt := range []struct {
		name, config, env string
		want              []string // substrings of the error, in order
	}{
		{
			name:   "unknown environment",
			config: `groups: [{name: g, apis: [{name: a, path: /a, auth: none, backend: {url: "http://10.0.0.1"}}]}]`,
			env:    "BETA",
			want:   []string{`environment "BETA" is not defined (defined: RELEASE)`},
		},
		{
			name: "every problem of the configuration",
			config: `
environments: [{name: BETA}]
groups: [{name: g, apis: [{name: a, path: /a, auth: none, environments: [BETA], backend: {url: "http://10.0.0.1"}}]}]
apps: [{name: w, key: k1, secret: {value: "0123456789"}, grants: [{api: g/nope}, {api: g/a, environments: [RELEASE]}]}]`,
			env:  "BETA",
			want: []string{"2 problem(s)", `API "g/nope" is not defined`, `API "g/a" is not published in environment RELEASE`},
		},
		{
			name: "an environment without APIs",
			config: `
environments: [{name: BETA}]
groups: [{name: g, apis: [{name: a, path: /a, auth: none, backend: {url: "http://10.0.0.1"}}]}]`,
			env:  "BETA",
			want: []string{"release BETA refused", "no groups"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Restrict(parse(t, tt.config), tt.env)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			for _, w := range tt.want {
				i := strings.Index(msg, w)
				if i < 0 {
					t.Fatalf("error %q does not say %q", msg, w)
				}
				msg = msg[i+len(w):]
			}
		})
	}
}

// TestRestrictAllowEmpty: with allow_empty an environment without APIs
// gets an empty release.
func TestRestrictAllowEmpty(t *testing.T) {
	gw := parse(t, `
allow_empty: true
environments: [{name: BETA}]
groups: [{name: g, apis: [{name: a, path: /a, auth: none, backend: {url: "http://10.0.0.1"}}]}]`)
	r := mustRestrict(t, gw, "BETA")
	if len(r.GetGroups()) != 0 {
		t.Errorf("groups %v", r.GetGroups())
	}
}

// TestRestrictSecretsNotInErrors: a refused secret is named, not shown.
func TestRestrictSecretsNotInErrors(t *testing.T) {
	gw := parse(t, `
groups: [{name: g, apis: [{name: a, path: /a, backend: {url: "http://10.0.0.1"}}]}]
apps: [{name: w, key: k1, secret: {value: "short!"}, grants: [{api: g/a}]}]`)
	_, err := Restrict(gw, config.DefaultEnvironment)
	if err == nil || strings.Contains(err.Error(), "short!") {
		t.Fatalf("err = %v", err)
	}
}

// TestRestrictReferences: the shared objects a release keeps are the ones
// its APIs reference (and every credential).
func TestRestrictReferences(t *testing.T) {
	gw := parse(t, `
environments: [{name: BETA}]
token_issuers: [{name: t1, issuer: "https://issuer.example.com", jwks_file: /etc/jwks.json}]
authorizers: [{name: az, url: "http://10.0.0.9/auth", identity_headers: [x-token]}]
channels: [{name: c1, members: [{address: "10.0.1.1:80"}]}]
groups:
  - name: g
    apis:
      - {name: a, path: /a, auth: app, token_issuers: [t1], backend: {url: "http://10.0.0.1"}}
      - {name: b, path: /b, auth: authorizer, authorizer: az, environments: [BETA], backend: {channel: c1}}
apps: [{name: w, key: k1, secret: {value: "0123456789"}, grants: [{api: g/b}]}]
`)
	for _, tt := range []struct {
		env  string
		want string
	}{
		{"RELEASE", "apps=1 grants=0 issuers=1 authorizers=0 channels=0"},
		{"BETA", "apps=1 grants=1 issuers=0 authorizers=1 channels=1"},
	} {
		r := mustRestrict(t, gw, tt.env)
		grants := 0
		for _, a := range r.GetApps() {
			grants += len(a.GetGrants())
		}
		got := fmt.Sprintf("apps=%d grants=%d issuers=%d authorizers=%d channels=%d", len(r.GetApps()), grants, len(r.GetTokenIssuers()), len(r.GetAuthorizers()), len(r.GetChannels()))
		if got != tt.want {
			t.Errorf("%s: %s, want %s", tt.env, got, tt.want)
		}
	}
}
