package release

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/apigwio/apigw/internal/config"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

var allEnvs = []string{"RELEASE", "BETA", "TEST"}

// TestComposeEveryEnvironment: the releases of every environment of one
// configuration compose into a configuration that serves what the whole
// one does, in every environment (golden: APIs equal in several
// environments are one API again).
func TestComposeEveryEnvironment(t *testing.T) {
	gw := readConfig(t, "gateway.yaml")
	cur := map[string]*Release{}
	for i, env := range allEnvs {
		cur[env] = rel(env, uint64(i+1), mustRestrict(t, gw, env))
	}
	before := map[string]proto.Message{}
	for env, r := range cur {
		before[env] = proto.Clone(r.Config)
	}
	out, err := Compose(gw, cur)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "compose_all.golden.yaml", yamlOf(t, out))
	snap, whole := build(t, out), build(t, gw)
	for _, env := range allEnvs {
		sameDecisions(t, env, decisions(t, snap, env), decisions(t, whole, env))
	}
	for env, r := range cur {
		if !proto.Equal(r.Config, before[env]) {
			t.Errorf("Compose modified the release of %s", env)
		}
	}
}

// TestComposeRoundTrip: Restrict then Compose of one environment serves
// what the original serves in that environment.
func TestComposeRoundTrip(t *testing.T) {
	gw := readConfig(t, "gateway.yaml")
	whole := build(t, gw)
	for _, env := range allEnvs {
		t.Run(env, func(t *testing.T) {
			out, err := Compose(gw, map[string]*Release{env: rel(env, 7, mustRestrict(t, gw, env))})
			if err != nil {
				t.Fatal(err)
			}
			snap := build(t, out)
			sameDecisions(t, env, decisions(t, snap, env), decisions(t, whole, env))
			for _, api := range snap.APIs {
				for e := range api.Deployments {
					if e != env {
						t.Errorf("api %s published in %s, which has no release", api.ID, e)
					}
				}
			}
		})
	}
}

// TestComposeLocal: server, listener, settings and allow_empty come from
// the replica's own configuration, never from a release.
func TestComposeLocal(t *testing.T) {
	gw := readConfig(t, "gateway.yaml")
	r := mustRestrict(t, gw, "BETA")
	local := parse(t, `
server: {grpc_address: "127.0.0.1:28000"}
listener: {port: 20080}
settings: {throttling: {default_disabled: true}, max_body_size: 2MB}
allow_empty: true
environments: [{name: BETA, variables: {backend: 192.0.2.9}}, {name: LOCAL}]`)
	out, err := Compose(local, map[string]*Release{"BETA": rel("BETA", 3, r)})
	if err != nil {
		t.Fatal(err)
	}
	for what, pair := range map[string][2]proto.Message{
		"server":   {out.GetServer(), local.GetServer()},
		"listener": {out.GetListener(), local.GetListener()},
		"settings": {out.GetSettings(), local.GetSettings()},
	} {
		if !proto.Equal(pair[0], pair[1]) {
			t.Errorf("%s = %v, want local's %v", what, pair[0], pair[1])
		}
	}
	if !out.GetAllowEmpty() {
		t.Error("allow_empty not taken from local")
	}
	var got []string
	for _, e := range out.GetEnvironments() {
		got = append(got, e.GetName()+"="+e.GetVariables()["backend"])
	}
	// BETA's entry is its release's; LOCAL is local's; TEST the release's.
	if want := "BETA=10.0.0.2 LOCAL= TEST=10.0.0.3"; strings.Join(got, " ") != want {
		t.Errorf("environments %q, want %q", strings.Join(got, " "), want)
	}
	snap := build(t, out)
	if snap.Settings.Throttling.DefaultAPIRPS != 0 || snap.Listener.Port != 20080 {
		t.Errorf("settings not local's: %+v %+v", snap.Settings.Throttling, snap.Listener)
	}
}

// TestComposeImplicitDefault: a release of the default environment that
// has no entry for it still defines it when the replica's default
// environment is another one.
func TestComposeImplicitDefault(t *testing.T) {
	gw := readConfig(t, "gateway.yaml")
	r := mustRestrict(t, gw, "RELEASE")
	local := parse(t, `settings: {default_environment: PROD}`)
	out, err := Compose(local, map[string]*Release{"RELEASE": rel("RELEASE", 1, r)})
	if err != nil {
		t.Fatal(err)
	}
	snap := build(t, out)
	if api := snap.APIs["shop/getUser"]; api == nil || api.Deployments["RELEASE"] == nil {
		t.Fatalf("shop/getUser not published in RELEASE: %+v", api)
	}
}

// TestComposeDifferences: releases that disagree on a shared object are
// refused with every difference listed (golden), secrets named, never
// shown.
func TestComposeDifferences(t *testing.T) {
	v1 := readConfig(t, "gateway.yaml")
	v2 := proto.Clone(v1).(*configv1.Gateway)
	v2.Groups[0].Domains = []string{"shop.example.com", "shop.example.org"}
	v2.Apps[0].Secret = &configv1.Secret{Source: &configv1.Secret_Value{Value: "a-new-secret-value-0002"}}
	v2.Apps[0].TrustedIps = []string{"10.0.0.0/8"}
	v2.AclPolicies[0].Values = []string{"10.9.0.0/16"}
	v2.ThrottlePolicies[0].ApiLimit = 50
	v2.IamUsers[0].AccessKeys[0].Disabled = true
	cur := map[string]*Release{
		"RELEASE": rel("RELEASE", 2, mustRestrict(t, v1, "RELEASE")),
		"BETA":    rel("BETA", 4, mustRestrict(t, v2, "BETA")),
		"TEST":    rel("TEST", 1, mustRestrict(t, v1, "TEST")),
	}
	out, err := Compose(v1, cur)
	if err == nil {
		t.Fatalf("composed:\n%s", yamlOf(t, out))
	}
	var ce *ComposeError
	if !errors.As(err, &ce) {
		t.Fatalf("error %T, want *ComposeError", err)
	}
	for _, s := range []string{"a-new-secret-value-0002", "web-secret-0001-abcdef"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("the error shows a secret: %v", err)
		}
	}
	golden(t, "compose_differences.golden", err.Error()+"\n")
}

// TestComposeUsagePlanAPIs: a usage plan's apis apply in every environment
// the API is published in, so a plan that binds an API by name in one
// release only is refused when another release publishes the API.
func TestComposeUsagePlanAPIs(t *testing.T) {
	const base = `
environments: [{name: BETA}]
key_pairs: [{id: kp1, secret: {value: kp1-secret-0001}}]
groups: [{name: g, apis: [
  {name: a, path: /a, auth: hmac, environments: [RELEASE, BETA], backend: {url: "http://10.0.0.1"}},
  {name: b, path: /b, auth: hmac, environments: [RELEASE, BETA], backend: {url: "http://10.0.0.1"}}]}]
`
	old := parse(t, base+`usage_plans: [{name: p, key_pairs: [kp1], apis: [g/b], rate_per_second: 5}]`)
	next := parse(t, base+`usage_plans: [{name: p, key_pairs: [kp1], apis: [g/a, g/b], rate_per_second: 5}]`)
	envBound := parse(t, base+`usage_plans: [{name: p, key_pairs: [kp1], environments: [RELEASE], rate_per_second: 5}]`)
	for _, tt := range []struct {
		name    string
		release *configv1.Gateway
		want    string // "" : composed
	}{
		{"same plan", next, ""},
		{"plan bound to the environment", envBound, ""},
		{"plan bound to fewer APIs", old, `usage plan "p": binds g/a in BETA but not in RELEASE`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Compose(next, map[string]*Release{
				"BETA":    rel("BETA", 2, mustRestrict(t, next, "BETA")),
				"RELEASE": rel("RELEASE", 1, mustRestrict(t, tt.release, "RELEASE")),
			})
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				build(t, out)
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestComposeNoConfiguration: a release without a configuration is a
// difference, not a panic.
func TestComposeNoConfiguration(t *testing.T) {
	for _, cur := range []map[string]*Release{{"BETA": nil}, {"BETA": {Env: "BETA", Number: 1}}} {
		if _, err := Compose(nil, cur); err == nil || !strings.Contains(err.Error(), "BETA") {
			t.Errorf("err = %v", err)
		}
	}
	out, err := Compose(nil, nil)
	if err != nil || len(out.GetGroups()) != 0 {
		t.Errorf("Compose(nil, nil) = %v, %v", out, err)
	}
}

// TestComposeVariants: BETA publishes v2 of an API while RELEASE stays on
// v1. The composition holds both definitions (API variants): each
// environment's deployment has its own definition, and Check decides in
// each environment as the configuration its release came from does.
func TestComposeVariants(t *testing.T) {
	v1 := readConfig(t, "gateway.yaml")
	v2 := proto.Clone(v1).(*configv1.Gateway)
	getUser := v2.Groups[0].Apis[0]
	getUser.Auth = "none"
	getUser.Backend.Url = "http://10.0.0.1:8080/v2/users"
	cur := map[string]*Release{
		"RELEASE": rel("RELEASE", 1, mustRestrict(t, v1, "RELEASE")),
		"BETA":    rel("BETA", 2, mustRestrict(t, v2, "BETA")),
		"TEST":    rel("TEST", 1, mustRestrict(t, v1, "TEST")),
	}
	out, err := Compose(v2, cur)
	if err != nil {
		t.Fatal(err)
	}
	var defs []string
	for _, a := range out.GetGroups()[0].GetApis() {
		if a.GetName() == "getUser" {
			defs = append(defs, a.GetBackend().GetUrl()+" "+strings.Join(a.GetEnvironments(), ","))
		}
	}
	if want := []string{"http://10.0.0.1:8080/v2/users BETA", "http://10.0.0.1:8080/v1/users RELEASE"}; strings.Join(defs, "|") != strings.Join(want, "|") {
		t.Errorf("getUser definitions %q, want %q", defs, want)
	}
	snap := build(t, out)
	for env, want := range map[string]string{"BETA": "/v2/users", "RELEASE": "/v1/users"} {
		api := snap.LookupAPI("shop/getUser", env)
		if api == nil || api.Deployments[env] == nil || api.ID != "shop/getUser" {
			t.Fatalf("%s: %+v", env, api)
		}
		if got := api.Deployments[env].Backend.Path; got != want {
			t.Errorf("%s: backend path %s, want %s", env, got, want)
		}
	}
	if n := snap.APICount(); n != len(build(t, v1).APIs) {
		t.Errorf("APICount %d", n)
	}
	sameDecisions(t, "BETA (v2)", decisions(t, snap, "BETA"), decisions(t, build(t, v2), "BETA"))
	sameDecisions(t, "RELEASE (v1)", decisions(t, snap, "RELEASE"), decisions(t, build(t, v1), "RELEASE"))
	sameDecisions(t, "TEST (v1)", decisions(t, snap, "TEST"), decisions(t, build(t, v1), "TEST"))
	// v2 is open in BETA, v1 still wants a signature in RELEASE.
	for env, want := range map[string]string{"BETA": "200 shop/getUser", "RELEASE": "401 APIG.0303"} {
		line := "shop/getUser anonymous 10.1.2.3 -> " + want
		if !slices.Contains(decisions(t, snap, env), line) {
			t.Errorf("%s: no %q", env, line)
		}
	}
}

// TestComposeVariantsCORS: variants of one path must share their CORS
// policy; the composition is built (and refused) like any configuration.
func TestComposeVariantsCORS(t *testing.T) {
	v1 := readConfig(t, "gateway.yaml")
	v1.Groups[0].Apis[0].Cors = &configv1.Cors{AllowOrigins: []string{"https://v1.example.com"}}
	v2 := proto.Clone(v1).(*configv1.Gateway)
	v2.Groups[0].Apis[0].Cors.AllowOrigins = []string{"https://v2.example.com"}
	out, err := Compose(v2, map[string]*Release{
		"RELEASE": rel("RELEASE", 1, mustRestrict(t, v1, "RELEASE")),
		"BETA":    rel("BETA", 2, mustRestrict(t, v2, "BETA")),
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = config.Build("composed", out, config.Options{})
	if err == nil || !strings.Contains(err.Error(), "variants with the same method and path must have the same cors") {
		t.Fatalf("err = %v", err)
	}
}
