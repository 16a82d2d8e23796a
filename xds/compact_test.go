package xds

import (
	"bytes"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
)

// TestCompactedClustersShared checks, through a series of changes, that
// every API output of the memo holds the group's own copy of each of its
// clusters (the copy compactClusters made, not the original it replaced:
// a later translation reusing the API would otherwise serve, and keep,
// the original), that the served clusters are that copy, and that the
// clusters equal a fresh translation's.
func TestCompactedClustersShared(t *testing.T) {
	const base = `
groups:
  - name: g0
    domains: [a.example.com]
    apis:
      - {name: a, path: /a, auth: none, backend: {url: "http://10.0.0.1"}}
      - {name: b, path: /b, auth: none, backend: {url: "http://10.0.0.2"}}
      - {name: c, path: /c, auth: none, backend: {url: "http://10.0.0.1:8080"}}
  - name: g1
    domains: [b.example.com]
    apis:
      - {name: d, path: /d, auth: none, backend: {url: "https://api.example.net"}}
`
	edits := []struct {
		name string
		edit func(string) string
	}{
		{"first", func(s string) string { return s }},
		{"a changes backend", func(s string) string { return strings.Replace(s, `"http://10.0.0.1"}`, `"http://10.0.0.7"}`, 1) }},
		{"b takes c's backend", func(s string) string {
			return strings.Replace(strings.Replace(s, `"http://10.0.0.1"}`, `"http://10.0.0.7"}`, 1), `"http://10.0.0.2"}`, `"http://10.0.0.1:8080"}`, 1)
		}},
		{"g1 changes", func(s string) string { return strings.Replace(s, "/d,", "/d2,", 1) }},
		{"base again", func(s string) string { return s }},
	}
	var last *prepared
	for _, e := range edits {
		snap := loadYAML(t, e.name, e.edit(base))
		last = prepareStep(t, snap, Options{}, 1, last)
		served := map[string]*clusterv3.Cluster{}
		for _, c := range last.res.Clusters {
			served[c.GetName()] = c
		}
		for _, o := range last.memo.groups {
			for _, a := range o.apis {
				for _, c := range a.clusters {
					if have := o.part.clusters[c.GetName()]; have != c {
						t.Errorf("%s: an API output holds a cluster %s that is not its group's", e.name, c.GetName())
					}
					if served[c.GetName()] != c {
						t.Errorf("%s: cluster %s served is not the API output's", e.name, c.GetName())
					}
				}
			}
		}
		fresh, err := Translate(snap, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := clusterBytes(t, last.res), clusterBytes(t, fresh); !bytes.Equal(got, want) {
			t.Errorf("%s: clusters differ from a fresh translation's", e.name)
		}
	}
}
