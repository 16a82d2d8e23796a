package xds

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apigwio/apigw/model"
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

func TestSplitGroups(t *testing.T) {
	groups := func(sizes ...int) *translator {
		s := &model.Snapshot{}
		for i, n := range sizes {
			if n < 0 {
				s.Groups = append(s.Groups, nil)
				continue
			}
			s.Groups = append(s.Groups, &model.Group{Name: fmt.Sprint(i), APIs: make([]*model.API, n)})
		}
		return &translator{snap: s}
	}
	tests := []struct {
		name    string
		sizes   []int
		workers int
		want    [][2]int
	}{
		{"no groups", nil, 2, [][2]int{{0, 0}}},
		{"one worker", []int{5, 5, 5}, 1, [][2]int{{0, 3}}},
		{"even", []int{9, 9, 9, 9}, 2, [][2]int{{0, 2}, {2, 4}}},
		{"one large group first", []int{99, 1, 1, 1}, 2, [][2]int{{0, 1}, {1, 4}}},
		{"more workers than groups", []int{3, 3}, 8, [][2]int{{0, 1}, {1, 2}}},
		{"nil group", []int{4, -1, 4}, 2, [][2]int{{0, 1}, {1, 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := splitGroups(groups(tt.sizes...), tt.workers); !slices.Equal(got, tt.want) {
				t.Errorf("splitGroups = %v, want %v", got, tt.want)
			}
		})
	}
}
