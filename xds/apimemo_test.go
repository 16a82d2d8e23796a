package xds

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/apigwio/apigw/internal/model"
)

// prepared is what a Prepare of the server keeps for the next one (the
// lean memo and the validation), and what it serves.
type prepared struct {
	res  *Resources
	v    *validation
	memo *groupMemo
	// served is every resource as served, marshalled (the route
	// configuration in its wire form, decoded).
	served []byte
	// reused counts, per virtual host of the translation, the APIs taken
	// from the previous translation's encoding.
	reused map[string]int
	// fields are the encodings of the virtual hosts, in order.
	fields [][]byte
}

// prepareStep translates and validates snap as Server.Prepare does,
// reusing last (nil: the first).
func prepareStep(t *testing.T, snap *model.Snapshot, opts Options, workers int, last *prepared) *prepared {
	t.Helper()
	var memo *groupMemo
	known, done, hashed, lists := &validSet{}, map[*routev3.VirtualHost]*vhostWire(nil), (*resourceHashes)(nil), map[string]*resourceList(nil)
	if last != nil {
		memo, known, done, hashed, lists = last.memo, last.v.valid, last.v.vhosts, last.v.resources, last.v.lists
	}
	res, memo, err := translateReusing(snap, opts, workers, memo)
	if err != nil {
		t.Fatal(err)
	}
	p := &prepared{res: res, reused: map[string]int{}}
	for vh, plan := range memo.plans() {
		for _, sg := range plan.segs {
			if sg.out != nil && sg.routes == nil && sg.out.encoded() {
				p.reused[vh.GetName()]++
			}
		}
	}
	if p.v, err = res.validatePlans(known, done, hashed, memo.plans(), lists); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, g := range res.groups() {
		for _, m := range g.list {
			if rc, ok := m.(*routev3.RouteConfiguration); ok {
				b, err := cachev3.MarshalResource(p.v.wire(rc))
				if err != nil {
					t.Fatal(err)
				}
				got := &routev3.RouteConfiguration{}
				if err := proto.Unmarshal(b, got); err != nil {
					t.Fatal(err)
				}
				m = got
			}
			b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			buf.Write(b)
		}
	}
	p.served = buf.Bytes()
	for _, vh := range res.Routes[0].GetVirtualHosts() {
		p.fields = append(p.fields, p.v.vhosts[vh].field)
	}
	p.memo = memo.lean(p.v)
	return p
}

// TestAssembledVirtualHosts: the encoding of a virtual host assembled
// from its own fields and its routes' encodings is byte for byte the
// deterministic encoding of the whole virtual host, and what is served
// is the translation.
func TestAssembledVirtualHosts(t *testing.T) {
	inputs, _ := filepath.Glob(filepath.Join("testdata", "*.input.yaml"))
	inputs = append(inputs, filepath.Join("..", "examples", "quickstart", "gateway.yaml"))
	snaps := map[string]*model.Snapshot{"synthetic": syntheticSnapshot(t, 1500, 0)}
	for _, in := range inputs {
		snaps[filepath.Base(in)] = load(t, in)
	}
	for name, snap := range snaps {
		t.Run(name, func(t *testing.T) {
			fresh := translate(t, snap)
			p := prepareStep(t, snap, Options{}, 0, nil)
			if !bytes.Equal(p.served, marshalAll(t, fresh)) {
				t.Error("the served resources are not the translation")
			}
			for i, field := range p.fields {
				vh := fresh.Routes[0].VirtualHosts[i]
				b, err := proto.MarshalOptions{Deterministic: true}.Marshal(fresh.Routes[0].VirtualHosts[i])
				if err != nil {
					t.Fatal(err)
				}
				want := protowire.AppendBytes(protowire.AppendTag(nil, virtualHostsField, protowire.BytesType), b)
				if !bytes.Equal(field, want) {
					t.Errorf("virtual host %s: the assembled encoding is not the deterministic encoding", vh.GetName())
				}
			}
		})
	}
}

// TestAPIReuse: in a changed group, the routes of every API whose digest
// is unchanged are taken from the previous encoding; the changed API's
// new routes and clusters are served, and the result is always what a
// fresh translation gives. A change to a group's own fields or to
// definitions outside the groups reuses none of the group's APIs.
func TestAPIReuse(t *testing.T) {
	const base = `
environments: [{name: RELEASE, variables: {h: 10.0.0.4}}, {name: BETA, variables: {h: 10.0.0.2}}]
groups:
  - name: g0
    domains: [a.example.com]
    apis:
      - {name: a, path: /a, auth: none, backend: {url: "http://10.0.0.1"}}
      - {name: b, path: /b, auth: none, environments: [RELEASE, BETA], backend: {url: "http://#{h}#:81"}}
      - {name: c, path: /c/, match: prefix, auth: none, backend: {url: "http://10.0.0.3"}, cors: {allow_origins: ["https://x.example.com"]}}
      - {name: v, path: /v, auth: none, environments: [RELEASE], backend: {url: "http://10.0.0.5"}}
      - {name: v, path: /v, auth: none, environments: [BETA], backend: {url: "http://10.0.0.6"}}
      - name: p
        path: /p
        auth: none
        backend: {url: "http://10.0.0.7"}
        backend_policies: [{name: canary, conditions: [{type: header, name: x-canary, values: ["1"]}], backend: {url: "http://10.0.0.8"}}]
  - name: g1
    domains: [b.example.com]
    error_dialect: tencent
    path_environments: {enabled: true}
    apis: [{name: d, path: /d, auth: none, backend: {url: "http://10.0.0.9"}}]
`
	tests := []struct {
		name    string
		edit    func(string) string
		reused  int      // APIs of g0 reused
		cluster string   // a cluster the edit brings (checked served)
		gone    string   // a cluster the edit removes
		route   []string // route name the edit brings
	}{
		{"one API's backend", func(s string) string { return strings.Replace(s, `"http://10.0.0.1"`, `"http://10.0.0.11"`, 1) },
			5, "url.http.10.0.0.11.80", "url.http.10.0.0.1.80", nil},
		{"one API's path", func(s string) string { return strings.Replace(s, "path: /a,", "path: /a2,", 1) },
			5, "", "", nil},
		{"an API added", func(s string) string {
			return strings.Replace(s, "      - {name: b,", "      - {name: added, path: /added, auth: none, backend: {url: \"http://10.0.0.12\"}}\n      - {name: b,", 1)
		}, 6, "url.http.10.0.0.12.80", "", []string{"g0/added|RELEASE"}},
		{"an API removed", func(s string) string {
			return strings.Replace(s, "      - {name: a, path: /a, auth: none, backend: {url: \"http://10.0.0.1\"}}\n", "", 1)
		}, 5, "", "url.http.10.0.0.1.80", nil},
		{"an API renamed", func(s string) string { return strings.Replace(s, "name: a,", "name: a2,", 1) },
			5, "", "", []string{"g0/a2|RELEASE"}},
		{"the first variant removed", func(s string) string {
			return strings.Replace(s, "      - {name: v, path: /v, auth: none, environments: [RELEASE], backend: {url: \"http://10.0.0.5\"}}\n", "", 1)
		}, 4, "", "url.http.10.0.0.5.80", []string{"g0/v|BETA"}},
		{"a variant's backend", func(s string) string { return strings.Replace(s, `"http://10.0.0.6"`, `"http://10.0.0.13"`, 1) },
			5, "url.http.10.0.0.13.80", "url.http.10.0.0.6.80", nil},
		{"a policy's backend", func(s string) string { return strings.Replace(s, `"http://10.0.0.8"`, `"http://10.0.0.14"`, 1) },
			5, "url.http.10.0.0.14.80", "url.http.10.0.0.8.80", nil},
		{"a group's own field", func(s string) string {
			return strings.Replace(s, "[a.example.com]", "[a.example.com, a2.example.com]", 1)
		},
			0, "", "", nil},
		{"a variable (outside the groups)", func(s string) string { return strings.Replace(s, "h: 10.0.0.4", "h: 10.0.0.10", 1) },
			0, "url.http.10.0.0.10.81", "url.http.10.0.0.4.81", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, workers := range []int{1, 2} {
				first := prepareStep(t, loadYAML(t, "base", base), Options{}, workers, nil)
				snap := loadYAML(t, "edited", tt.edit(base))
				fresh := translate(t, snap)
				p := prepareStep(t, snap, Options{}, workers, first)
				if !bytes.Equal(p.served, marshalAll(t, fresh)) {
					t.Fatalf("%d workers: reusing APIs serves other resources than translating afresh", workers)
				}
				if p.reused["g0"] != tt.reused {
					t.Errorf("%d workers: %d APIs of g0 reused, want %d", workers, p.reused["g0"], tt.reused)
				}
				var clusters []string
				for _, c := range p.res.Clusters {
					clusters = append(clusters, c.GetName())
				}
				if tt.cluster != "" && !slices.Contains(clusters, tt.cluster) {
					t.Errorf("cluster %s not served: %v", tt.cluster, clusters)
				}
				if tt.gone != "" && slices.Contains(clusters, tt.gone) {
					t.Errorf("cluster %s still served", tt.gone)
				}
				for _, r := range tt.route {
					if !bytes.Contains(p.served, []byte(r)) {
						t.Errorf("route %s not served", r)
					}
				}
				// And once more from the edited state: back to base.
				again := prepareStep(t, loadYAML(t, "base", base), Options{}, workers, p)
				if !bytes.Equal(again.served, first.served) {
					t.Errorf("%d workers: back to the first configuration, other resources served", workers)
				}
			}
		})
	}
	t.Run("other options", func(t *testing.T) {
		first := prepareStep(t, loadYAML(t, "base", base), Options{}, 0, nil)
		p := prepareStep(t, loadYAML(t, "edited", strings.Replace(base, "path: /a,", "path: /a2,", 1)), Options{CheckTimeout: 3e9}, 0, first)
		if p.reused["g0"] != 0 {
			t.Errorf("%d APIs reused across different options", p.reused["g0"])
		}
	})
}
