package xds

import (
	"context"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/stream/v3"
)

// TestRelayKeepsTypeOrder: with ADS, go-control-plane answers a stream's
// delta watches by type — clusters before listeners and routes — so that
// Envoy has a new cluster before the route naming it; the relay that
// rebuilds the responses with the preset versions must keep that order
// (with one goroutine per watch it did not: the route configuration could
// overtake its cluster). Each round opens a stream's watches (routes and
// listeners first, to make the order of creation useless), publishes a
// snapshot and reads the responses in the order the stream gets them;
// once the stream's watches are cancelled, its relay is gone.
func TestRelayKeepsTypeOrder(t *testing.T) {
	ctx := context.Background()
	snap := &cachev3.Snapshot{}
	snap.Resources[types.Cluster] = cachev3.NewResources("1", []types.Resource{&clusterv3.Cluster{Name: "c"}})
	snap.Resources[types.Listener] = cachev3.NewResources("1", []types.Resource{&listenerv3.Listener{Name: "l"}})
	snap.Resources[types.Route] = cachev3.NewResources("1", []types.Resource{&routev3.RouteConfiguration{Name: "r"}})
	snap.VersionMap = map[string]map[string]string{
		resourcev3.ClusterType:  {"c": "c1"},
		resourcev3.ListenerType: {"l": "l1"},
		resourcev3.RouteType:    {"r": "r1"},
	}
	want := []string{resourcev3.ClusterType, resourcev3.ListenerType, resourcev3.RouteType}
	for round := range 300 {
		cache := cachev3.NewSnapshotCache(true, oneNode{}, nil)
		relay := newPresetVersions(cache, nil)
		out := make(chan cachev3.DeltaResponse, 2*int(types.UnknownType))
		var cancels []func()
		for _, typ := range []string{resourcev3.RouteType, resourcev3.ListenerType, resourcev3.ClusterType} {
			req := &discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: "n"}, TypeUrl: typ}
			cancel, err := relay.CreateDeltaWatch(req, stream.NewDeltaSubscription(nil, nil, nil, true), out)
			if err != nil {
				t.Fatal(err)
			}
			cancels = append(cancels, cancel)
		}
		if err := cache.SetSnapshot(ctx, nodeKey, snap); err != nil {
			t.Fatal(err)
		}
		for i, typ := range want {
			select {
			case r := <-out:
				got := r.GetDeltaRequest().GetTypeUrl()
				resp, err := r.GetDeltaDiscoveryResponse()
				if err != nil {
					t.Fatal(err)
				}
				if got != typ {
					t.Fatalf("round %d: response %d is %s, want %s (the order %v)", round, i, got, typ, want)
				}
				name, version := onlyResource(t, resp)
				if version != snap.VersionMap[typ][name] {
					t.Fatalf("round %d: %s %q sent with version %q, not the preset %q", round, typ, name, version, snap.VersionMap[typ][name])
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("round %d: response %d (%s) not relayed", round, i, typ)
			}
		}
		for _, cancel := range cancels {
			cancel()
		}
		relay.relays.mu.Lock()
		left := len(relay.relays.m)
		relay.relays.mu.Unlock()
		if left != 0 {
			t.Fatalf("round %d: %d relays left after every watch was cancelled", round, left)
		}
	}
}

// onlyResource returns the name and version of resp's one resource.
func onlyResource(t *testing.T, resp *discoveryv3.DeltaDiscoveryResponse) (name, version string) {
	t.Helper()
	if len(resp.Resources) != 1 {
		t.Fatalf("%d resources sent, want 1", len(resp.Resources))
	}
	return resp.Resources[0].Name, resp.Resources[0].Version
}
