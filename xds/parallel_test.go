package xds

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/apigwio/apigw/internal/model"
)

// TestParallelTranslationIsSequential: translating the virtual hosts with
// several workers gives byte for byte what one worker gives.
func TestParallelTranslationIsSequential(t *testing.T) {
	inputs, _ := filepath.Glob(filepath.Join("testdata", "*.input.yaml"))
	inputs = append(inputs, filepath.Join("..", "examples", "quickstart", "gateway.yaml"))
	snaps := map[string]*model.Snapshot{"synthetic": syntheticSnapshot(t, 1500, 0)}
	for _, in := range inputs {
		snaps[filepath.Base(in)] = load(t, in)
	}
	for name, snap := range snaps {
		t.Run(name, func(t *testing.T) {
			one, err := translateWorkers(snap, Options{}, 1)
			if err != nil {
				t.Fatal(err)
			}
			want := marshalAll(t, one)
			for _, workers := range []int{0, 2, 3, 7, 64} {
				res, err := translateWorkers(snap, Options{}, workers)
				if err != nil {
					t.Fatalf("%d workers: %v", workers, err)
				}
				if !bytes.Equal(marshalAll(t, res), want) {
					t.Errorf("%d workers: different resources", workers)
				}
			}
		})
	}
}

// TestParallelTranslationErrors: with several workers, the error reported
// is the one the sequential translation meets first.
func TestParallelTranslationErrors(t *testing.T) {
	base := `
groups:
  - {name: g0, domains: [a.example.com], apis: [{name: a, path: /a, backend: {url: "http://10.0.0.1"}}]}
  - {name: g1, domains: [b.example.com], apis: [{name: a, path: /a, backend: {url: "http://10.0.0.1"}}]}
  - {name: g2, domains: [c.example.com], apis: [{name: a, path: /a, backend: {url: "http://10.0.0.1"}}]}
  - {name: g3, domains: [d.example.com], apis: [{name: a, path: /a, backend: {url: "http://10.0.0.1"}}]}
`
	badPath := func(s *model.Snapshot, g int) { s.Groups[g].APIs[0].Path = "nope" }
	dupDomain := func(s *model.Snapshot, g int) { s.Groups[g].Domains = []string{"A.example.com"} }
	tests := []struct {
		name   string
		mutate func(s *model.Snapshot)
		want   string
	}{
		{"a later group's domain after an earlier group's API", func(s *model.Snapshot) { badPath(s, 1); dupDomain(s, 3) }, `group "g1" API "a": path "nope"`},
		{"a group's domain before its API", func(s *model.Snapshot) { badPath(s, 2); dupDomain(s, 2) }, `group "g2": domain "A.example.com" is already used by group "g0"`},
		{"first of two API errors", func(s *model.Snapshot) { badPath(s, 3); badPath(s, 2) }, `group "g2" API "a"`},
		{"nil group", func(s *model.Snapshot) { s.Groups[1] = nil; badPath(s, 2) }, "groups[1] is nil"},
		{"last group", func(s *model.Snapshot) { badPath(s, 3) }, `group "g3" API "a"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var errs []string
			for _, workers := range []int{1, 2, 3, 4} {
				snap := loadYAML(t, "base", base)
				tt.mutate(snap)
				_, err := translateWorkers(snap, Options{}, workers)
				if err == nil {
					t.Fatalf("%d workers: no error", workers)
				}
				errs = append(errs, err.Error())
			}
			for _, e := range errs {
				if e != errs[0] || !bytes.Contains([]byte(e), []byte(tt.want)) {
					t.Fatalf("errors %q, want all equal and containing %q", errs, tt.want)
				}
			}
		})
	}
}

// TestReuseIsTranslation: translating a configuration while reusing the
// groups of a previous translation serves byte for byte what a fresh
// translation gives, and reuses exactly the groups whose digest did not
// change.
func TestReuseIsTranslation(t *testing.T) {
	const base = `
environments: [{name: RELEASE, variables: {h: 10.0.0.4}}, {name: BETA, variables: {h: 10.0.0.2}}]
channels: [{name: ch, members: [{address: "10.0.1.1:80"}]}]
groups:
  - name: g0
    domains: [a.example.com]
    apis:
      - {name: a, path: /a, auth: none, backend: {url: "http://10.0.0.1"}}
      - {name: b, path: /b, auth: none, environments: [RELEASE, BETA], backend: {url: "http://#{h}#:81"}}
  - name: g1
    domains: [b.example.com]
    error_dialect: tencent
    path_environments: {enabled: true}
    apis: [{name: c, path: /c, auth: none, backend: {channel: ch}}]
  - name: g2
    domains: [c.example.com]
    apis:
      - {name: d, path: /d, auth: none, backend: {url: "http://10.0.0.9"}, cors: {allow_origins: ["https://x.example.com"]}}
      - {name: e, path: /e, auth: none, backend: {mock: {status: 200, body: "{}"}}}
`
	tests := []struct {
		name   string
		edit   func(string) string
		reused []bool // per group of the edited configuration
	}{
		{"unchanged", func(s string) string { return s }, []bool{true, true, true}},
		{"one API path", func(s string) string { return strings.Replace(s, "path: /d,", "path: /d2,", 1) }, []bool{true, true, false}},
		{"an API added", func(s string) string {
			return strings.Replace(s, "apis: [{name: c,", "apis: [{name: c2, path: /c2, auth: none, backend: {url: \"http://10.7.7.7\"}}, {name: c,", 1)
		}, []bool{true, false, true}},
		{"a cluster moves to another group", func(s string) string {
			return strings.Replace(strings.Replace(s, `"http://10.0.0.1"`, `"http://10.0.0.8"`, 1), `"http://10.0.0.9"`, `"http://10.0.0.1"`, 1)
		}, []bool{false, true, false}},
		{"a group removed", func(s string) string { return s[:strings.Index(s, "  - name: g2")] }, []bool{true, true}},
		{"groups reordered", func(s string) string {
			i, j := strings.Index(s, "  - name: g1"), strings.Index(s, "  - name: g2")
			return s[:strings.Index(s, "  - name: g0")] + s[i:j] + s[j:] + s[strings.Index(s, "  - name: g0"):i]
		}, []bool{true, true, true}},
		{"a variable (outside the groups)", func(s string) string { return strings.Replace(s, "h: 10.0.0.2", "h: 10.0.0.3", 1) }, []bool{false, false, false}},
		{"a channel (outside the groups)", func(s string) string { return strings.Replace(s, "10.0.1.1:80", "10.0.1.1:8080", 1) }, []bool{false, false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := prepareStep(t, loadYAML(t, "base", base), Options{}, 0, nil)
			before := map[*routev3.VirtualHost]bool{}
			for _, o := range first.memo.groups {
				before[o.vh] = true
			}
			snap := loadYAML(t, "edited", tt.edit(base))
			fresh, err := Translate(snap, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, workers := range []int{1, 2} {
				p := prepareStep(t, snap, Options{}, workers, first)
				if !bytes.Equal(p.served, marshalAll(t, fresh)) {
					t.Errorf("%d workers: reusing gives other resources than translating afresh", workers)
				}
				var reused []bool
				for _, vh := range p.res.Routes[0].GetVirtualHosts() {
					reused = append(reused, before[vh])
				}
				if !slices.Equal(reused, tt.reused) {
					t.Errorf("%d workers: reused groups %v, want %v", workers, reused, tt.reused)
				}
			}
			memo := first.memo
			// Other options: nothing may be reused.
			res, _, err := translateReusing(snap, Options{CheckTimeout: 3 * time.Second}, 0, memo)
			if err != nil {
				t.Fatal(err)
			}
			for _, vh := range res.Routes[0].GetVirtualHosts() {
				if before[vh] {
					t.Errorf("group %s reused across different options", vh.GetName())
				}
			}
		})
	}
}
