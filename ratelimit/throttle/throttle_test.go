package throttle

import (
	"fmt"
	"strings"
	"testing"

	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/ratelimit"
)

const cfg = `
settings: {throttling: {default_api_rps: 300}}
groups:
  - name: g
    domains: [g.example.com]
    apis:
      - {name: plain, path: /plain, auth: none, backend: {url: "http://10.0.0.1"}}
      - {name: limited, path: /limited, auth: app, environments: [RELEASE], backend: {url: "http://10.0.0.1"}}
      - {name: keyed, path: /keyed, auth: hmac, backend: {url: "http://10.0.0.1"}}
key_pairs: [{id: k1, secret: {value: key-secret-1}}]
usage_plans: [{name: gold, key_pairs: [k1], apis: [g/keyed], rate_per_second: 5, quota: {requests: 1000, period: day}}]
throttle_policies:
  - name: std
    unit: minute
    api_limit: 100
    user_limit: 10
    app_limit: 20
    ip_limit: 30
    special: [{type: app, name: vip, limit: 50}]
    bindings: [{api: g/limited}]
`

func entries(ds [][]Entry) string {
	var parts []string
	for _, d := range ds {
		var e []string
		for _, x := range d {
			e = append(e, x.Key+"="+x.Value)
		}
		parts = append(parts, "["+strings.Join(e, ",")+"]")
	}
	return strings.Join(parts, " ")
}

func TestDescriptorsAndConfigAgree(t *testing.T) {
	snap, err := config.Load("t", []byte(cfg), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ api, want string }{
		{"g/plain", "[api=g/plain@RELEASE]"},
		{"g/limited", "[api=g/limited@RELEASE] [api=g/limited@RELEASE,user=user] [api=g/limited@RELEASE,app=app] [api=g/limited@RELEASE,remote_address=]"},
		{"g/keyed", "[api=g/keyed@RELEASE] [plan=plan,key=key] [quota=plan,key=key]"},
	}
	for _, tt := range tests {
		if got := entries(Descriptors(snap, snap.APIs[tt.api], "RELEASE")); got != tt.want {
			t.Errorf("%s: %s\nwant %s", tt.api, got, tt.want)
		}
	}
	rc := Config(snap)
	if errs := rc.Validate(); len(errs) > 0 {
		t.Fatalf("generated config invalid: %v", errs)
	}
	// Every descriptor a route can send, with concrete values, finds its limit.
	match := []struct {
		entries []ratelimit.Entry
		want    uint32
		unit    ratelimit.Unit
	}{
		{[]ratelimit.Entry{{Key: "api", Value: "g/plain@RELEASE"}}, 300, ratelimit.Second},
		{[]ratelimit.Entry{{Key: "api", Value: "g/limited@RELEASE"}}, 100, ratelimit.Minute},
		{[]ratelimit.Entry{{Key: "api", Value: "g/limited@RELEASE"}, {Key: "user", Value: "acme/alice"}}, 10, ratelimit.Minute},
		{[]ratelimit.Entry{{Key: "api", Value: "g/limited@RELEASE"}, {Key: "app", Value: "someone"}}, 20, ratelimit.Minute},
		{[]ratelimit.Entry{{Key: "api", Value: "g/limited@RELEASE"}, {Key: "app", Value: "vip"}}, 50, ratelimit.Minute},
		{[]ratelimit.Entry{{Key: "api", Value: "g/limited@RELEASE"}, {Key: "remote_address", Value: "192.0.2.1"}}, 30, ratelimit.Minute},
		{[]ratelimit.Entry{{Key: "plan", Value: "gold"}, {Key: "key", Value: "k1"}}, 5, ratelimit.Second},
		{[]ratelimit.Entry{{Key: "quota", Value: "gold"}, {Key: "key", Value: "k1"}}, 1000, ratelimit.Day},
	}
	for _, m := range match {
		l, _ := rc.Match(m.entries)
		if l == nil || l.Requests != m.want || l.Unit != m.unit {
			t.Errorf("%v matched %+v, want %d/%v", m.entries, l, m.want, m.unit)
		}
	}
}

func TestDefaultDisabled(t *testing.T) {
	snap, err := config.Load("t", []byte(`
settings: {throttling: {default_disabled: true}}
groups: [{name: g, apis: [{name: a, path: /a, auth: none, backend: {url: "http://10.0.0.1"}}]}]
`), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d := Descriptors(snap, snap.APIs["g/a"], "RELEASE"); len(d) != 0 {
		t.Errorf("descriptors with the default off: %v", d)
	}
	if c := Config(snap); len(c.Descriptors) != 0 {
		t.Errorf("config with the default off: %v", c.Descriptors)
	}
}

// TestReadsMetadataFollowsDescriptors: ReadsMetadata is true exactly for
// the deployments with a descriptor entry from the metadata, for policies
// limiting per user, per app (or special users, apps), per address only,
// and usage plans with a rate, a quota or neither.
func TestReadsMetadataFollowsDescriptors(t *testing.T) {
	const policies = `
key_pairs: [{id: k1, secret: {value: key-secret-1}}]
usage_plans:
  - {name: rate, key_pairs: [k1], apis: [g/rate], rate_per_second: 5}
  - {name: quota, key_pairs: [k1], apis: [g/quota], quota: {requests: 1000, period: day}}
throttle_policies:
  - {name: users, unit: minute, user_limit: 10, bindings: [{api: g/users}]}
  - {name: apps, unit: minute, app_limit: 10, bindings: [{api: g/apps}]}
  - {name: vip, unit: minute, api_limit: 100, special: [{type: app, name: vip, limit: 50}], bindings: [{api: g/vip}]}
  - {name: ips, unit: minute, api_limit: 100, ip_limit: 30, bindings: [{api: g/ips}]}
`
	var apis strings.Builder
	names := []string{"plain", "users", "apps", "vip", "ips", "rate", "quota"}
	for _, n := range names {
		auth := "app"
		if n == "rate" || n == "quota" {
			auth = "hmac"
		}
		fmt.Fprintf(&apis, "      - {name: %s, path: /%s, auth: %s, environments: [RELEASE, BETA], backend: {url: \"http://10.0.0.1\"}}\n", n, n, auth)
	}
	snap, err := config.Load("t", []byte("environments: [{name: BETA}]\ngroups:\n  - name: g\n    apis:\n"+apis.String()+policies), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"users": true, "apps": true, "vip": true, "rate": true, "quota": true}
	for _, n := range names {
		api := snap.APIs["g/"+n]
		for _, env := range []string{"RELEASE", "BETA", "NONE"} {
			fromDescriptors := false
			for _, d := range Descriptors(snap, api, env) {
				for _, e := range d {
					fromDescriptors = fromDescriptors || e.Source == Metadata
				}
			}
			got := ReadsMetadata(snap, api, env)
			if got != fromDescriptors || (env != "NONE" && got != want[n]) {
				t.Errorf("g/%s in %s: ReadsMetadata %v, a descriptor from the metadata %v, want %v", n, env, got, fromDescriptors, want[n] && env != "NONE")
			}
		}
	}
}
