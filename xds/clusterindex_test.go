package xds

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/proto"
)

// freshMerge is the clusters of parts as merge puts them together: the
// first part's message for each name, sorted by name.
func freshMerge(parts []*translator) []*clusterv3.Cluster {
	all := map[string]*clusterv3.Cluster{}
	for _, p := range parts {
		if p == nil {
			continue
		}
		for name, c := range p.clusters {
			if all[name] == nil {
				all[name] = c
			}
		}
	}
	var out []*clusterv3.Cluster
	for _, name := range slices.Sorted(maps.Keys(all)) {
		out = append(out, all[name])
	}
	return out
}

// testPart is a group translation's part defining clusters of names.
func testPart(names ...string) *translator {
	p := &translator{clusters: map[string]*clusterv3.Cluster{}}
	for _, n := range names {
		p.clusters[n] = &clusterv3.Cluster{Name: n}
	}
	p.clusterList = sortedClusters(p.clusters)
	return p
}

// TestMergeClustersFollowsChanges patches an index through a sequence of
// group sets and compares each with a fresh merge: the same names, each
// once, each a message of a part that defines it, and the first part's
// wherever the index had to pick one (a part gone or entering). A stale
// index (a name kept after its last group went, or missing a new one)
// fails.
func TestMergeClustersFollowsChanges(t *testing.T) {
	a, b, c := testPart("a1", "s", "z"), testPart("b1", "s"), testPart("c1", "c2")
	b2 := testPart("b1", "b2") // b changed: s no longer shared
	a2 := testPart("a1", "z", "y")
	d := testPart("s", "a1") // defines names of a and b
	steps := []struct {
		name  string
		parts []*translator
	}{
		{"first", []*translator{a, b, c}},
		{"unchanged", []*translator{a, b, c}},
		{"a group changed, a shared name left by it", []*translator{a, b2, c}},
		{"a group removed", []*translator{a, b2}},
		{"the shared name's first group changed", []*translator{a2, b, c}},
		{"groups reordered", []*translator{c, b, a2}},
		{"a group added defining others' names", []*translator{c, d, b, a2}},
		{"the first of three defining a name removed", []*translator{c, b, a2}},
		{"all groups replaced", []*translator{testPart("q"), testPart("q", "r")}},
		{"none", nil},
		{"back", []*translator{a, nil, b, c}},
		{"a group twice", []*translator{a, a, b}},
		{"one of the twice removed", []*translator{a, b}},
	}
	var idx *clusterIndex
	for _, st := range steps {
		idx = mergeClusters(idx, st.parts)
		want := freshMerge(st.parts)
		var got, wantNames []string
		for i, cl := range idx.list {
			got = append(got, cl.GetName())
			var n int32
			ok := false
			for _, p := range st.parts {
				if p != nil && p.clusters[cl.GetName()] != nil {
					n++
					ok = ok || p.clusters[cl.GetName()] == cl
				}
			}
			if !ok {
				t.Errorf("%s: %s is no part's message", st.name, cl.GetName())
			}
			if idx.counts[i] != n {
				t.Errorf("%s: %s counted %d times, defined %d", st.name, cl.GetName(), idx.counts[i], n)
			}
		}
		for _, cl := range want {
			wantNames = append(wantNames, cl.GetName())
		}
		if !slices.Equal(got, wantNames) {
			t.Errorf("%s: clusters %v, want %v", st.name, got, wantNames)
		}
	}
	// A part entering takes precedence as in a fresh merge: the first
	// group in order gives the message.
	x, y := testPart("n"), testPart("n")
	idx = mergeClusters(nil, []*translator{x, y})
	if idx.list[0] != x.clusters["n"] {
		t.Errorf("fresh: the second group's message")
	}
	idx = mergeClusters(idx, []*translator{y})
	if idx.list[0] != y.clusters["n"] {
		t.Errorf("first group gone: its message kept")
	}
}

// TestWithClusters puts the translation's own clusters among the groups'.
func TestWithClusters(t *testing.T) {
	list := testPart("b", "d", "f").clusterList
	own := &clusterv3.Cluster{Name: "d", ConnectTimeout: nil, AltStatName: "own"}
	tests := []struct {
		extra []*clusterv3.Cluster
		want  string
	}{
		{nil, "b d f"},
		{[]*clusterv3.Cluster{{Name: "a"}}, "a b d f"},
		{[]*clusterv3.Cluster{{Name: "g"}, {Name: "c"}}, "b c d f g"},
		{[]*clusterv3.Cluster{own}, "b d f"},
	}
	for _, tt := range tests {
		extra := map[string]*clusterv3.Cluster{}
		for _, c := range tt.extra {
			extra[c.GetName()] = c
		}
		got := withClusters(list, extra)
		var names []string
		for _, c := range got {
			names = append(names, c.GetName())
			if e := extra[c.GetName()]; e != nil && c != e {
				t.Errorf("%v: %s is the group's, not the translation's own", tt.want, c.GetName())
			}
		}
		if strings.Join(names, " ") != tt.want {
			t.Errorf("got %v, want %s", names, tt.want)
		}
	}
	if len(list) != 3 || list[1].GetAltStatName() != "" {
		t.Error("withClusters changed its list")
	}
}

// TestClustersFollowTranslations translates a chain of configurations,
// each reusing the last, and compares every cluster list with a fresh
// translation's: clusters shared by groups, moved, dropped by one group
// and then by the other, a group removed and added again.
func TestClustersFollowTranslations(t *testing.T) {
	const base = `
channels: [{name: ch, members: [{address: "10.0.1.1:80"}]}]
groups:
  - name: g0
    domains: [a.example.com]
    apis:
      - {name: a, path: /a, auth: none, backend: {url: "http://10.0.0.1"}}
      - {name: b, path: /b, auth: none, backend: {url: "http://10.0.0.2"}}
  - name: g1
    domains: [b.example.com]
    apis: [{name: c, path: /c, auth: none, backend: {channel: ch}}]
  - name: g2
    domains: [c.example.com]
    apis:
      - {name: d, path: /d, auth: none, backend: {url: "http://10.0.0.9"}}
`
	edits := []struct {
		name string
		edit func(string) string
	}{
		{"unchanged", func(s string) string { return s }},
		{"g2 shares g0's cluster", func(s string) string { return strings.Replace(s, "10.0.0.9", "10.0.0.1", 1) }},
		{"g0 drops the shared cluster", func(s string) string {
			return strings.Replace(strings.Replace(s, "10.0.0.9", "10.0.0.1", 1), `"http://10.0.0.1"}}
      - {name: b`, `"http://10.0.0.3"}}
      - {name: b`, 1)
		}},
		{"g2 drops it too", func(s string) string {
			return strings.Replace(s, `"http://10.0.0.1"}}
      - {name: b`, `"http://10.0.0.3"}}
      - {name: b`, 1)
		}},
		{"g1 removed", func(s string) string {
			return s[:strings.Index(s, "  - name: g1")] + s[strings.Index(s, "  - name: g2"):]
		}},
		{"g1 back, with g0's other cluster", func(s string) string { return strings.Replace(s, "{channel: ch}", `{url: "http://10.0.0.2"}`, 1) }},
		{"base again", func(s string) string { return s }},
	}
	var last *prepared
	for _, e := range edits {
		snap := loadYAML(t, e.name, e.edit(base))
		last = prepareStep(t, snap, Options{}, 1, last)
		fresh, err := Translate(snap, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := clusterBytes(t, last.res), clusterBytes(t, fresh); !bytes.Equal(got, want) {
			t.Errorf("%s: clusters differ from a fresh translation's", e.name)
		}
		if !bytes.Equal(last.served, marshalAll(t, fresh)) {
			t.Errorf("%s: resources differ from a fresh translation's", e.name)
		}
	}
}

// clusterBytes is the deterministic encoding of res's clusters in order.
func clusterBytes(t *testing.T, res *Resources) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, c := range res.Clusters {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&buf, "%s %d\n", c.GetName(), len(b))
		buf.Write(b)
	}
	return buf.Bytes()
}
