package xds

import (
	"maps"
	"slices"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestDiffLists(t *testing.T) {
	c := func(name string) proto.Message { return &clusterv3.Cluster{Name: name} }
	a, b, cc, d := c("a"), c("b"), c("c"), c("d")
	b2 := c("b")
	tests := []struct {
		name       string
		prev, next []proto.Message
		ok         bool
		kept       []int
		gone       []proto.Message
		goneNames  []string
	}{
		{"same", []proto.Message{a, b, cc}, []proto.Message{a, b, cc}, true, []int{0, 1, 2}, nil, nil},
		{"replaced", []proto.Message{a, b, cc}, []proto.Message{a, b2, cc}, true, []int{0, -1, 2}, []proto.Message{b}, nil},
		{"added in the middle", []proto.Message{a, cc}, []proto.Message{a, b, cc}, true, []int{0, -1, 1}, nil, nil},
		{"added at the ends", []proto.Message{b, cc}, []proto.Message{a, b, cc, d}, true, []int{-1, 0, 1, -1}, nil, nil},
		{"removed", []proto.Message{a, b, cc, d}, []proto.Message{b, d}, true, []int{1, 3}, []proto.Message{a, cc}, []string{"a", "c"}},
		{"all removed", []proto.Message{a, b}, nil, true, []int{}, []proto.Message{a, b}, []string{"a", "b"}},
		{"from nothing", nil, []proto.Message{a, b}, true, []int{-1, -1}, nil, nil},
		{"unsorted", []proto.Message{a, cc}, []proto.Message{a, cc, b}, false, nil, nil, nil},
		{"duplicate", []proto.Message{a, b}, []proto.Message{a, b, b2}, false, nil, nil, nil},
		{"duplicate kept", []proto.Message{a, b}, []proto.Message{a, b, b}, false, nil, nil, nil},
		{"empty name", []proto.Message{a}, []proto.Message{c(""), a}, false, nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := diffLists(tt.prev, tt.next)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			if !slices.Equal(d.kept, tt.kept) || !slices.Equal(d.gone, tt.gone) || !slices.Equal(d.goneNames, tt.goneNames) {
				t.Errorf("diff = %v %v %v, want %v %v %v", d.kept, d.gone, d.goneNames, tt.kept, tt.gone, tt.goneNames)
			}
		})
	}
}

// TestListsFollowChanges validates a sequence of resource sets, each
// after the last (with its lists, as Prepare does), where clusters are
// replaced by other messages of the same name, removed and added: the
// versions, the version of the whole, the resources and the lists must
// be what a validation from scratch gives, or the delta clients would
// be served stale versions (a replaced cluster keeping its version is
// never sent).
func TestListsFollowChanges(t *testing.T) {
	base := translate(t, syntheticSnapshot(t, 300, 0))
	if len(base.Clusters) < 10 {
		t.Fatalf("%d clusters, want 10 or more", len(base.Clusters))
	}
	with := func(clusters []*clusterv3.Cluster) *Resources {
		r := *base
		r.Clusters = clusters
		return &r
	}
	retimed := func(c *clusterv3.Cluster, d time.Duration) *clusterv3.Cluster {
		c = proto.Clone(c).(*clusterv3.Cluster)
		c.ConnectTimeout = durationpb.New(d)
		return c
	}
	renamed := func(c *clusterv3.Cluster, name string) *clusterv3.Cluster {
		c = proto.Clone(c).(*clusterv3.Cluster)
		c.Name = name
		return c
	}
	cl := base.Clusters
	steps := []struct {
		name     string
		clusters []*clusterv3.Cluster
	}{
		{"unchanged", cl},
		{"one replaced", append(append(slices.Clone(cl[:3:3]), retimed(cl[3], 7*time.Second)), cl[4:]...)},
		{"back", cl},
		{"one removed", append(slices.Clone(cl[:5:5]), cl[6:]...)},
		{"one added", slices.Insert(slices.Clone(cl), 2, renamed(cl[2], cachev3.GetResourceName(cl[2])+"-x"))},
		{"first and last replaced", append(append([]*clusterv3.Cluster{retimed(cl[0], 9*time.Second)}, cl[1:len(cl)-1]...), retimed(cl[len(cl)-1], 9*time.Second))},
		{"unsorted", append([]*clusterv3.Cluster{cl[1], cl[0]}, cl[2:]...)},
		{"sorted again", cl}, // the last list was not sorted: made again
		{"last replaced", append(slices.Clone(cl[:len(cl)-1:len(cl)-1]), retimed(cl[len(cl)-1], 5*time.Second))},
		{"all removed", nil},
		{"all back", cl},
	}
	last, err := base.validatePlans(&validSet{}, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	lastVersions, lastResources := cloneVersions(last.versions), allEntries(last.resources)
	for _, st := range steps {
		res := with(st.clusters)
		v, err := res.validatePlans(last.valid, last.vhosts, last.resources, nil, last.lists)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		scratch, err := res.validatePlans(&validSet{}, nil, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !maps.EqualFunc(scratch.versions, v.versions, maps.Equal) {
			t.Errorf("%s: the versions are not those of a validation from scratch", st.name)
		}
		if scratch.version() != v.version() || !slices.Equal(scratch.hashes, v.hashes) {
			t.Errorf("%s: the hashes are not those of a validation from scratch", st.name)
		}
		if got, want := inUse(v), allEntries(scratch.resources); !maps.Equal(got, want) {
			t.Errorf("%s: the resources are not those of a validation from scratch (%d, want %d)", st.name, len(got), len(want))
		}
		if v.resources.depth > maxHashLayers {
			t.Errorf("%s: the resources have %d layers, more than %d", st.name, v.resources.depth, maxHashLayers)
		}
		for typeURL, want := range scratch.lists {
			got := v.lists[typeURL]
			if got == nil || !slices.Equal(got.msgs, want.msgs) || !slices.Equal(got.hashes, want.hashes) || !maps.Equal(got.versions, want.versions) || got.sorted != want.sorted {
				t.Errorf("%s: the list of %s is not that of a validation from scratch", st.name, typeURL)
			}
		}
		if len(v.lists) != len(scratch.lists) {
			t.Errorf("%s: %d lists, want %d", st.name, len(v.lists), len(scratch.lists))
		}
		// The last validation's maps are not changed: they may still be
		// served.
		if !maps.EqualFunc(lastVersions, last.versions, maps.Equal) || !maps.Equal(lastResources, allEntries(last.resources)) {
			t.Errorf("%s: the last validation's versions or resources changed", st.name)
		}
		last = v
		lastVersions, lastResources = cloneVersions(v.versions), allEntries(v.resources)
	}
}

func cloneVersions(v map[string]map[string]string) map[string]map[string]string {
	out := map[string]map[string]string{}
	for k, m := range v {
		out[k] = maps.Clone(m)
	}
	return out
}

// TestSnapshotsFollowChanges makes the snapshot of a sequence of resource
// sets, each validated after the last one that made a snapshot (as
// Prepare does): the index of each type must be the resources listed, and
// the consistency check (EDS assignments and route configurations named
// exactly by the clusters and listeners) must decide as go-control-plane's
// Snapshot.Consistent on a snapshot made from scratch, through EDS
// clusters and assignments removed, added back and renamed.
func TestSnapshotsFollowChanges(t *testing.T) {
	base := translate(t, load(t, "testdata/channels.input.yaml"))
	eds := -1
	for i, c := range base.Clusters {
		if _, ok := edsName(c); ok {
			eds = i
			break
		}
	}
	if eds < 0 || len(base.Endpoints) == 0 {
		t.Fatal("no EDS cluster in channels.input.yaml")
	}
	edsCluster := base.Clusters[eds]
	assignment := -1
	for i, e := range base.Endpoints {
		if name, _ := edsName(edsCluster); e.GetClusterName() == name {
			assignment = i
		}
	}
	if assignment < 0 {
		t.Fatal("no assignment for the EDS cluster")
	}
	cl, ep := base.Clusters, base.Endpoints
	renamed := proto.Clone(edsCluster).(*clusterv3.Cluster)
	renamed.EdsClusterConfig.ServiceName = "zz-not-assigned"
	steps := []struct {
		name      string
		clusters  []*clusterv3.Cluster
		endpoints []*endpointv3.ClusterLoadAssignment
	}{
		{"unchanged", cl, ep},
		{"EDS cluster removed, assignment kept", slices.Delete(slices.Clone(cl), eds, eds+1), ep},
		{"both removed", slices.Delete(slices.Clone(cl), eds, eds+1), slices.Delete(slices.Clone(ep), assignment, assignment+1)},
		{"assignment back alone", slices.Delete(slices.Clone(cl), eds, eds+1), ep},
		{"both back", cl, ep},
		{"EDS cluster names another assignment", slices.Replace(slices.Clone(cl), eds, eds+1, renamed), ep},
		{"back again", cl, ep},
		{"no clusters", nil, nil},
		{"all back", cl, ep},
	}
	last, err := base.validatePlans(&validSet{}, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := base.snapshot("v0", last); err != nil {
		t.Fatal(err)
	}
	for _, st := range steps {
		r := *base
		r.Clusters, r.Endpoints = st.clusters, st.endpoints
		v, err := r.validatePlans(last.valid, last.vhosts, last.resources, nil, last.lists)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got, gotErr := r.snapshot("v", v)
		want, wantErr := r.snapshot("v", nil)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%s: error %v, want %v", st.name, gotErr, wantErr)
		}
		if gotErr != nil {
			continue // not served: the next step follows the last one
		}
		for typ, res := range want.Resources {
			if got.Resources[typ].Version != res.Version || len(got.Resources[typ].Items) != len(res.Items) {
				t.Fatalf("%s: type %d: %d resources (version %q), want %d (%q)", st.name, typ, len(got.Resources[typ].Items), got.Resources[typ].Version, len(res.Items), res.Version)
			}
			for name, item := range res.Items {
				g, ok := got.Resources[typ].Items[name]
				if _, route := item.Resource.(*routev3.RouteConfiguration); !ok || (!route && g.Resource != item.Resource) {
					t.Errorf("%s: type %d: %q is not the resource listed", st.name, typ, name)
				}
			}
		}
		// The indexes served without TTLs are the snapshot's.
		ix := &indexedSnapshot{Snapshot: got, plain: plainIndexes(v)}
		if len(ix.plain) == 0 {
			t.Fatalf("%s: no index without TTLs", st.name)
		}
		for _, typeURL := range []string{resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.ListenerType, resourcev3.RouteType} {
			if !maps.Equal(ix.GetResources(typeURL), got.GetResources(typeURL)) {
				t.Errorf("%s: %s: the index without TTLs is not the snapshot's", st.name, typeURL)
			}
		}
		last = v
	}
}
