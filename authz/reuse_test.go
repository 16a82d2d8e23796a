package authz

import (
	"context"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apigwio/apigw/authz/signing"
	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/model"
)

// reuseConfig has groups of every kind the tables compile: variants (one
// API defined for RELEASE and for BETA), signature keys with a secret from
// a variable, key pairs with usage plans, ACLs, parameters.
const reuseConfig = `
environments: [{name: BETA}, {name: TEST}]
groups:
  - name: shop
    domains: [shop.example.com]
    apis:
      - {name: items, method: ANY, path: /items/, match: prefix, auth: app, environments: [RELEASE, BETA], backend: {url: "http://10.0.0.1:8080"}}
      - {name: orders, method: POST, path: /orders, auth: iam, backend: {url: "http://10.0.0.1:8080"}}
      - {name: open, method: GET, path: /open, auth: none, backend: {url: "http://10.0.0.1:8080"}}
      - {name: getUser, method: GET, path: /users, auth: app, environments: [RELEASE], backend: {url: "http://10.0.0.1:8080"}}
      - name: getUser
        method: GET
        path: /users
        auth: none
        environments: [BETA]
        request: {parameters: [{name: id, in: query, required: true}]}
        backend: {url: "http://10.0.0.2:8080"}
  - name: sig
    domains: [sig.example.com]
    apis:
      - {name: signed, method: GET, path: /signed, auth: none, backend: {url: "http://10.0.0.3:8080/up"}}
      - {name: plain, method: GET, path: /plain, auth: none, backend: {url: "http://10.0.0.3:8080"}}
  - name: tc
    domains: [tc.example.com]
    error_dialect: tencent
    apis:
      - {name: k, method: GET, path: /k, auth: hmac, backend: {url: "http://10.0.0.4:8080"}}
      - {name: strict, method: GET, path: /strict, auth: hmac, environments: [RELEASE, BETA], backend: {url: "http://10.0.0.4:8080"}}
apps:
  - {name: shopper, key: ` + appKey + `, secret: {value: ` + appSecret + `}, grants: [{api: shop/items}, {api: shop/open}, {api: shop/getUser}]}
iam_users:
  - account: acme
    user: alice
    access_keys:
      - {id: ` + iamAK + `, secret: {value: ` + iamSK + `}}
key_pairs:
  - {id: AKIDgold, secret: {value: gold-secret-key}}
usage_plans:
  - {name: gold, key_pairs: [AKIDgold], environments: [RELEASE]}
  - {name: strict, key_pairs: [AKIDgold], apis: [tc/strict]}
acl_policies:
  - {name: office, type: ip, action: allow, values: [10.0.0.0/8], bindings: [{api: shop/getUser, environments: [BETA]}]}
signature_keys:
  - {name: gw, type: hmac, key: gw-key, secret: {env: SIG_SECRET}, bindings: [{api: sig/signed}]}
`

// TestCompileReusing loads a configuration, then a second one differing
// in one place, as a reload does (config.Parser reuses unchanged groups'
// models), and checks that the tables compiled reusing the first ones
// equal tables compiled from scratch, and that exactly the groups whose
// digest (and signature keys) are unchanged were reused.
func TestCompileReusing(t *testing.T) {
	env := func(secret string) config.Options {
		return config.Options{LookupEnv: func(k string) (string, bool) {
			if k == "SIG_SECRET" {
				return secret, true
			}
			return "", false
		}}
	}
	addGroup := "  - name: extra\n    domains: [extra.example.com]\n    apis:\n      - {name: e, method: GET, path: /e, auth: none, backend: {url: \"http://10.0.0.5:8080\"}}\napps:\n"
	for _, tt := range []struct {
		name   string
		edit   func(string) string
		secret string
		// reused: the groups whose compiled deployments must be those of
		// the first tables.
		reused []string
	}{
		{"unchanged", nil, "", []string{"shop", "sig", "tc"}},
		{"one API changed", func(s string) string {
			return strings.Replace(s, "{name: open, method: GET, path: /open, auth: none,", "{name: open, method: GET, path: /open, auth: app,", 1)
		}, "", []string{"sig", "tc"}},
		{"a variant changed", func(s string) string {
			return strings.Replace(s, "request: {parameters: [{name: id, in: query, required: true}]}", "request: {parameters: [{name: id, in: query, required: false}]}", 1)
		}, "", []string{"sig", "tc"}},
		{"a variant added", func(s string) string {
			return strings.Replace(s, "      - {name: k, method: GET, path: /k, auth: hmac, backend:",
				"      - {name: strict, method: GET, path: /strict, auth: none, environments: [TEST], backend: {url: \"http://10.0.0.9:8080\"}}\n      - {name: k, method: GET, path: /k, auth: hmac, backend:", 1)
		}, "", []string{"shop", "sig"}},
		{"a group field changed", func(s string) string {
			return strings.Replace(s, "error_dialect: tencent", "error_dialect: apig", 1)
		}, "", []string{"shop", "sig"}},
		{"an app changed (outside the groups)", func(s string) string {
			return strings.Replace(s, "{api: shop/open}, ", "", 1)
		}, "", nil},
		{"a credential changed", func(s string) string {
			return strings.Replace(s, "gold-secret-key", "gold-secret-kez", 1)
		}, "", nil},
		{"a policy changed", func(s string) string {
			return strings.Replace(s, "values: [10.0.0.0/8]", "values: [10.0.0.0/16]", 1)
		}, "", nil},
		{"a usage plan changed", func(s string) string {
			return strings.Replace(s, "apis: [tc/strict]", "apis: [tc/strict, tc/k]", 1)
		}, "", nil},
		{"identity_metadata changed (every deployment publishes the identity)", func(s string) string {
			return "settings: {identity_metadata: always}\n" + s
		}, "", nil},
		{"a throttle policy added (its deployments publish the identity)", func(s string) string {
			return s + "throttle_policies:\n  - {name: p, unit: second, app_limit: 5, bindings: [{api: shop/items}]}\n"
		}, "", nil},
		{"a signature key's secret changed (not in the digests)", nil, "other-secret", []string{"shop", "tc"}},
		{"a group removed", func(s string) string {
			i := strings.Index(s, "  - name: tc\n")
			j := strings.Index(s, "apps:\n")
			s = s[:i] + s[j:]
			return strings.Replace(s, "usage_plans:\n  - {name: gold, key_pairs: [AKIDgold], environments: [RELEASE]}\n  - {name: strict, key_pairs: [AKIDgold], apis: [tc/strict]}\n", "", 1)
		}, "", nil},
		{"a group added", func(s string) string {
			return strings.Replace(s, "apps:\n", addGroup, 1)
		}, "", []string{"shop", "sig", "tc"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var p config.Parser
			a, err := p.Load("a", []byte(reuseConfig), env("sig-secret"))
			if err != nil {
				t.Fatal(err)
			}
			cfgB := reuseConfig
			if tt.edit != nil {
				cfgB = tt.edit(cfgB)
			}
			secret := "sig-secret"
			if tt.secret != "" {
				secret = tt.secret
			}
			b, err := p.Load("b", []byte(cfgB), env(secret))
			if err != nil {
				t.Fatal(err)
			}
			ta := compile(a, nil)
			got := compileReusing(b, nil, ta)
			want := compile(b, nil)
			equalTables(t, got, want)
			for _, g := range b.Groups {
				old := ta.groups[g.Name]
				if reused := old != nil && got.groups[g.Name] == old; reused != slices.Contains(tt.reused, g.Name) {
					t.Errorf("group %s: reused = %v, want %v", g.Name, reused, !reused)
				}
			}
			// Tables reusing these reuse them whole.
			again := compileReusing(b, nil, got)
			for i, part := range again.parts {
				if part != got.parts[i] {
					t.Errorf("group %s compiled again from the same snapshot", part.name)
				}
			}
		})
	}
}

// equalTables fails unless got and want answer alike: the same
// deployments, equal (the models they refer to compared by value), and the
// same callers.
func equalTables(t *testing.T, got, want *tables) {
	t.Helper()
	if got.snap != want.snap {
		t.Fatal("tables of different snapshots")
	}
	if len(got.parts) != len(want.parts) || len(got.groups) != len(want.groups) {
		t.Fatalf("%d parts, %d groups; want %d, %d", len(got.parts), len(got.groups), len(want.parts), len(want.groups))
	}
	n := 0
	for i, wp := range want.parts {
		gp := got.parts[i]
		if gp.name != wp.name || gp.digest != wp.digest || got.groups[gp.name] != gp {
			t.Errorf("part %d: %s (%s), want %s (%s)", i, gp.name, gp.digest, wp.name, wp.digest)
		}
		if !reflect.DeepEqual(gp.signed, wp.signed) {
			t.Errorf("group %s: signed deployments differ", wp.name)
		}
		for k, wd := range wp.deployments {
			n++
			gd := got.deployment(k)
			if gd == nil {
				t.Errorf("%v missing", k)
				continue
			}
			if !reflect.DeepEqual(comparableDeployment(t, gd), comparableDeployment(t, wd)) {
				t.Errorf("%v differs:\n got %+v\nwant %+v", k, gd, wd)
			}
		}
		if len(gp.deployments) != len(wp.deployments) {
			t.Errorf("group %s: %d deployments, want %d", wp.name, len(gp.deployments), len(wp.deployments))
		}
	}
	if n == 0 {
		t.Error("no deployments compared")
	}
	for name, pair := range map[string][2]any{
		"apps":         {got.apps, want.apps},
		"accessKeys":   {got.accessKeys, want.accessKeys},
		"keyPairs":     {got.keyPairs, want.keyPairs},
		"appCodes":     {got.appCodes, want.appCodes},
		"certSubjects": {got.certSubjects, want.certSubjects},
	} {
		if !reflect.DeepEqual(pair[0], pair[1]) {
			t.Errorf("%s differ", name)
		}
	}
}

// comparableDeployment is d for reflect.DeepEqual: its signer's HMAC
// signer (which holds a function) replaced by a signature it makes.
func comparableDeployment(t *testing.T, d *deployment) any {
	t.Helper()
	type signed struct {
		upstreamSigner
		signature string
	}
	var s *signed
	if d.signer != nil {
		s = &signed{upstreamSigner: *d.signer}
		if h := s.hmac; h != nil {
			sig, err := h.Sign(&signing.Upstream{Method: "GET", Target: "/x", Host: "h", Date: testDate, Unsigned: true})
			if err != nil {
				t.Fatal(err)
			}
			s.hmac, s.signature = nil, sig
		}
	}
	c := *d
	c.signer = nil
	return struct {
		deployment
		signer *signed
	}{c, s}
}

// TestStageReusesGroups: through Stage and Activate, a one-API change is
// decided by the new definition at once, the unchanged groups keep their
// compiled deployments, and a key pair still gets its usage plan's
// metadata on a reused deployment (callers are compiled again).
func TestStageReusesGroups(t *testing.T) {
	ctx := context.Background()
	var p config.Parser
	opts := config.Options{LookupEnv: func(string) (string, bool) { return "sig-secret", true }}
	load := func(cfg string) *model.Snapshot {
		snap, err := p.Load("gw", []byte(cfg), opts)
		if err != nil {
			t.Fatal(err)
		}
		return snap
	}
	a := load(reuseConfig)
	f := &fixture{now: testNow, snap: a}
	f.svc = mustNew(t, a, Options{Now: func() time.Time { return f.now }})
	before := f.svc.tables.Load()
	anonymous := func(path string) *http.Request {
		hr, _ := http.NewRequest("GET", "http://"+testHost+path, nil)
		return hr
	}
	if st, _, _ := f.check(t, envoyCheck(anonymous("/open"), nil, "shop/open", "RELEASE")); st != 200 {
		t.Fatalf("before: status %d, want 200", st)
	}
	b := load(strings.Replace(reuseConfig, "{name: open, method: GET, path: /open, auth: none,", "{name: open, method: GET, path: /open, auth: app,", 1))
	if err := f.svc.Update(ctx, b); err != nil {
		t.Fatal(err)
	}
	f.snap = b
	if st, _, _ := f.check(t, envoyCheck(anonymous("/open"), nil, "shop/open", "RELEASE")); st != 401 {
		t.Fatalf("after: status %d, want 401 (the change is not served)", st)
	}
	after := f.svc.tables.Load()
	if after.groups["tc"] != before.groups["tc"] || after.groups["shop"] == before.groups["shop"] {
		t.Fatal("not reused as expected: tc must be, shop must not")
	}
	// A key pair's caller on a reused deployment: the plan (an object of
	// the first snapshot there) is found by name.
	dep := after.deployment(deploymentKey{"tc/strict", "BETA"})
	c := after.keyPairs["AKIDgold"]
	pc := c.withPlan(planFor(dep.plans, "AKIDgold"))
	if pc == c || pc.metadata.GetFields()["plan"].GetStringValue() != "strict" {
		t.Fatalf("key pair on a reused deployment: metadata %v, want plan strict", pc.metadata)
	}
}
