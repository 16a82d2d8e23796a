package xds

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/stream/v3"
)

// TestPresetVersionsAsCache follows delta CDS clients through a sequence of
// snapshots (clusters added, removed, renamed, changed; a client that
// unsubscribes by name, one that subscribes by name, one that joins
// mid-way) and checks that the relayed response names the resources and
// the removals of go-control-plane's own response, with the snapshot's
// versions: the short cut for removals (none when the client has nothing
// the snapshot lacks) must give the same answer as looking up every name.
func TestPresetVersionsAsCache(t *testing.T) {
	snapshot := func(v string, names ...string) *cachev3.Snapshot {
		var list []types.Resource
		versions := map[string]string{}
		for _, n := range names {
			list = append(list, &clusterv3.Cluster{Name: n, AltStatName: v})
			versions[n] = n + "@" + v
		}
		s := &cachev3.Snapshot{}
		s.Resources[types.Cluster] = cachev3.NewResources(v, list)
		s.VersionMap = map[string]map[string]string{resourcev3.ClusterType: versions}
		return s
	}
	type client struct {
		name       string
		sub        stream.Subscription
		subscribe  []string // on the first request
		wildcard   bool
		unsubAfter map[int][]string // step -> names unsubscribed before it
		joinAt     int
	}
	clients := []*client{
		{name: "wildcard", wildcard: true},
		{name: "wildcard, unsubscribes", wildcard: true, subscribe: []string{"*", "b"}, unsubAfter: map[int][]string{2: {"b"}, 4: {"zz"}}},
		{name: "by name", subscribe: []string{"a", "c", "gone"}},
		{name: "joins mid-way", wildcard: true, joinAt: 3},
	}
	steps := []*cachev3.Snapshot{
		snapshot("1", "a", "b", "c"),
		snapshot("2", "a", "b", "c", "d"),      // added
		snapshot("3", "a", "c", "d"),           // removed
		snapshot("4", "a", "c", "e"),           // renamed d -> e
		snapshot("5", "a", "c", "e"),           // every version changed
		snapshot("6", "a", "b", "c", "e", "f"), // b back, f added
		snapshot("7"),                          // all gone
	}
	ctx := context.Background()
	for i, snap := range steps {
		for _, c := range clients {
			if i < c.joinAt {
				continue
			}
			req := &discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: "n"}, TypeUrl: resourcev3.ClusterType, ResponseNonce: "1"}
			if i == c.joinAt {
				req.ResponseNonce = ""
				req.ResourceNamesSubscribe = c.subscribe
				c.sub = stream.NewDeltaSubscription(c.subscribe, nil, nil, c.wildcard && len(c.subscribe) == 0)
			}
			if un := c.unsubAfter[i]; un != nil {
				req.ResourceNamesUnsubscribe = un
				c.sub.UpdateResourceSubscriptions(nil, un)
			}
			cache := cachev3.NewSnapshotCache(true, oneNode{}, nil)
			if err := cache.SetSnapshot(ctx, nodeKey, snap); err != nil {
				t.Fatal(err)
			}
			ch := make(chan cachev3.DeltaResponse, 1)
			cancel, err := cache.CreateDeltaWatch(req, c.sub, ch)
			if err != nil {
				t.Fatal(err)
			}
			var r cachev3.DeltaResponse
			select {
			case r = <-ch:
			default:
			}
			if cancel != nil {
				cancel()
			}
			if r == nil {
				continue // nothing to send: the client is up to date
			}
			want, err := r.GetDeltaDiscoveryResponse()
			if err != nil {
				t.Fatal(err)
			}
			got, err := withPresetVersions(r, c.sub, nil).GetDeltaDiscoveryResponse()
			if err != nil {
				t.Fatal(err)
			}
			at := fmt.Sprintf("step %d, %s", i+1, c.name)
			names := func(rs []*discoveryv3.Resource) (out []string) {
				for _, x := range rs {
					out = append(out, x.GetName())
				}
				slices.Sort(out)
				return out
			}
			if g, w := names(got.GetResources()), names(want.GetResources()); !slices.Equal(g, w) {
				t.Errorf("%s: sent %v, go-control-plane %v", at, g, w)
			}
			for _, x := range got.GetResources() {
				if v := snap.VersionMap[resourcev3.ClusterType][x.GetName()]; x.GetVersion() != v {
					t.Errorf("%s: %s version %q, want %q", at, x.GetName(), x.GetVersion(), v)
				}
			}
			g, w := slices.Sorted(slices.Values(got.GetRemovedResources())), slices.Sorted(slices.Values(want.GetRemovedResources()))
			if !slices.Equal(g, w) {
				t.Errorf("%s: removed %v, go-control-plane %v", at, g, w)
			}
			// What the stream keeps: a map of this client's own.
			c.sub.SetReturnedResources(r.GetNextVersionMap())
		}
	}
}

// BenchmarkPresetVersionsWildcard relays go-control-plane's delta CDS
// response for a wildcard client of 110,001 clusters after one changed:
// the relay's own cost (the cache's createDeltaResponse runs before the
// timer starts).
func BenchmarkPresetVersionsWildcard(b *testing.B) {
	const n = 110001
	mk := func(v string) *cachev3.Snapshot {
		list := make([]types.Resource, 0, n)
		versions := make(map[string]string, n)
		for i := range n {
			name := fmt.Sprintf("cluster-%06d", i)
			ver := "1"
			if i == 7 {
				ver = v
			}
			list = append(list, &clusterv3.Cluster{Name: name})
			versions[name] = ver
		}
		s := &cachev3.Snapshot{}
		s.Resources[types.Cluster] = cachev3.NewResources(v, list)
		s.VersionMap = map[string]map[string]string{resourcev3.ClusterType: versions}
		return s
	}
	before, after := mk("a"), mk("b")
	sub := stream.NewDeltaSubscription(nil, nil, nil, true)
	sub.SetReturnedResources(maps.Clone(before.VersionMap[resourcev3.ClusterType]))
	cache := cachev3.NewSnapshotCache(true, oneNode{}, nil)
	if err := cache.SetSnapshot(context.Background(), nodeKey, after); err != nil {
		b.Fatal(err)
	}
	req := &discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: "n"}, TypeUrl: resourcev3.ClusterType, ResponseNonce: "1"}
	ch := make(chan cachev3.DeltaResponse, 1)
	if _, err := cache.CreateDeltaWatch(req, sub, ch); err != nil {
		b.Fatal(err)
	}
	r := <-ch
	b.ReportAllocs()
	for b.Loop() {
		got, err := withPresetVersions(r, sub, nil).GetDeltaDiscoveryResponse()
		if err != nil || len(got.GetResources()) != 1 {
			b.Fatal(err, len(got.GetResources()))
		}
	}
}
