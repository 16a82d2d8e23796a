package throttle

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/model"
	"github.com/apigwio/apigw/ratelimit"
)

// builderConfig has groups whose names order differently with and without
// the "/" of the API ids ("a" and "a.b", "a-b"), variants (users in
// RELEASE and in BETA), throttle policies and usage plans.
const builderConfig = `
settings: {throttling: {default_api_rps: 300}}
environments: [{name: BETA}]
groups:
  - name: a
    domains: [a.example.com]
    apis:
      - {name: users, path: /users, auth: app, environments: [RELEASE], backend: {url: "http://10.0.0.1"}}
      - {name: users, path: /users, auth: none, environments: [BETA], backend: {url: "http://10.0.0.2"}}
      - {name: z, path: /z, auth: none, environments: [RELEASE, BETA], backend: {url: "http://10.0.0.1"}}
  - name: a.b
    domains: [ab.example.com]
    apis:
      - {name: plain, path: /plain, auth: none, backend: {url: "http://10.0.0.1"}}
      - {name: limited, path: /limited, auth: app, backend: {url: "http://10.0.0.1"}}
  - name: a-b
    domains: [a-b.example.com]
    apis:
      - {name: keyed, path: /keyed, auth: hmac, backend: {url: "http://10.0.0.1"}}
  - name: B
    domains: [b.example.com]
    apis:
      - {name: x, path: /x, auth: none, backend: {url: "http://10.0.0.1"}}
key_pairs: [{id: k1, secret: {value: key-secret-1}}]
usage_plans: [{name: gold, key_pairs: [k1], apis: [a-b/keyed], rate_per_second: 5, quota: {requests: 1000, period: day}}]
throttle_policies:
  - name: std
    unit: minute
    api_limit: 100
    user_limit: 10
    app_limit: 20
    special: [{type: app, name: vip, limit: 50}]
    bindings: [{api: a.b/limited}, {api: a/users, environments: [BETA]}]
`

// TestBuilder loads a configuration, then one differing in one place (as
// a reload: config.Parser reuses the unchanged groups' models), and checks
// that the Builder's configuration equals Config's, reuses the descriptors
// of exactly the unchanged groups, and that a Service prepared with it
// after the first one matches as the whole configuration does.
func TestBuilder(t *testing.T) {
	for _, tt := range []struct {
		name   string
		edit   func(string) string
		reused []string // groups whose descriptors are those of the first configuration
	}{
		{"unchanged", nil, []string{"a", "a.b", "a-b", "B"}},
		{"one API changed", func(s string) string {
			return strings.Replace(s, "{name: plain, path: /plain, auth: none,", "{name: plain, path: /plain, auth: none, environments: [RELEASE, BETA],", 1)
		}, []string{"a", "a-b", "B"}},
		{"a variant changed", func(s string) string {
			return strings.Replace(s, "auth: none, environments: [BETA], backend: {url: \"http://10.0.0.2\"}", "auth: none, environments: [BETA], backend: {url: \"http://10.0.0.3\"}", 1)
		}, []string{"a.b", "a-b", "B"}},
		{"a group field changed", func(s string) string {
			return strings.Replace(s, "domains: [b.example.com]", "domains: [b2.example.com]", 1)
		}, []string{"a", "a.b", "a-b"}},
		{"a throttle policy changed", func(s string) string {
			return strings.Replace(s, "api_limit: 100", "api_limit: 101", 1)
		}, nil},
		{"the default limit changed", func(s string) string {
			return strings.Replace(s, "default_api_rps: 300", "default_api_rps: 301", 1)
		}, nil},
		{"a usage plan changed", func(s string) string {
			return strings.Replace(s, "rate_per_second: 5", "rate_per_second: 6", 1)
		}, nil},
		{"a group removed", func(s string) string {
			i := strings.Index(s, "  - name: B\n")
			return s[:i] + s[strings.Index(s, "key_pairs:"):]
		}, []string{"a", "a.b", "a-b"}},
		{"a group added", func(s string) string {
			return strings.Replace(s, "key_pairs:", "  - name: a0\n    domains: [a0.example.com]\n    apis:\n      - {name: nn, path: /n, auth: none, backend: {url: \"http://10.0.0.1\"}}\nkey_pairs:", 1)
		}, []string{"a", "a.b", "a-b", "B"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var p config.Parser
			load := func(s string) *model.Snapshot {
				snap, err := p.Load("t", []byte(s), config.Options{})
				if err != nil {
					t.Fatal(err)
				}
				return snap
			}
			a := load(builderConfig)
			next := builderConfig
			if tt.edit != nil {
				next = tt.edit(next)
			}
			var b Builder
			svc := ratelimit.New(ratelimit.Options{})
			ca := b.Config(a)
			if !reflect.DeepEqual(ca.Descriptors, Config(a).Descriptors) {
				t.Fatal("first configuration: descriptors differ from Config's")
			}
			if err := svc.Update(ca); err != nil {
				t.Fatal(err)
			}
			snapB := load(next)
			cb, want := b.Config(snapB), Config(snapB)
			if !reflect.DeepEqual(cb.Descriptors, want.Descriptors) || cb.Domain != want.Domain || cb.FailureMode != want.FailureMode {
				t.Fatalf("descriptors differ from Config's:\n got %v\nwant %v", values(cb.Descriptors), values(want.Descriptors))
			}
			first := map[*ratelimit.Descriptor]bool{}
			for _, d := range ca.Descriptors {
				first[d] = true
			}
			for _, d := range cb.Descriptors {
				if d.Key != KeyAPI {
					continue
				}
				group := d.Value[:strings.IndexByte(d.Value, '/')]
				if first[d] != slices.Contains(tt.reused, group) {
					t.Errorf("%s: reused = %v", d.Value, first[d])
				}
			}
			if err := svc.Update(cb); err != nil {
				t.Fatal(err)
			}
			// Every descriptor of the whole configuration, with values
			// for its wildcards, finds the same limit in the one served.
			for _, d := range want.Descriptors {
				for _, e := range requestsOf(d) {
					wl, wk := want.Match(e)
					gl, gk := svc.Config().Match(e)
					if !reflect.DeepEqual(gl, wl) || gk != wk {
						t.Errorf("%v: matched %+v %q, want %+v %q", e, gl, gk, wl, wk)
					}
				}
			}
		})
	}
}

// requestsOf lists request descriptors reaching every node under d, with
// "v" for wildcard values.
func requestsOf(d *ratelimit.Descriptor) [][]ratelimit.Entry {
	v := d.Value
	if v == "" {
		v = "v"
	}
	self := []ratelimit.Entry{{Key: d.Key, Value: v}}
	out := [][]ratelimit.Entry{self}
	for _, c := range d.Children {
		for _, r := range requestsOf(c) {
			out = append(out, append(slices.Clone(self), r...))
		}
	}
	return out
}

func values(ds []*ratelimit.Descriptor) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Key+"="+d.Value)
	}
	return out
}

// TestBuilderOtherSnapshots: a snapshot not built by config (groups
// without digests, ids not under their group's name) gets Config's
// configuration.
func TestBuilderOtherSnapshots(t *testing.T) {
	snap, err := config.Load("t", []byte(builderConfig), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	noDigest := *snap
	noDigest.Groups = nil
	for _, g := range snap.Groups {
		c := *g
		c.Digest = ""
		noDigest.Groups = append(noDigest.Groups, &c)
	}
	otherIDs := *snap
	otherIDs.Groups = slices.Clone(snap.Groups)
	g := *otherIDs.Groups[0]
	otherIDs.Groups[0] = &g
	g.Name = "renamed"
	for _, s := range []*model.Snapshot{&noDigest, &otherIDs} {
		var b Builder
		if got, want := b.Config(s), Config(s); !reflect.DeepEqual(got.Descriptors, want.Descriptors) {
			t.Errorf("descriptors differ from Config's:\n got %v\nwant %v", values(got.Descriptors), values(want.Descriptors))
		}
	}
}
