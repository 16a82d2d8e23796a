package xds

import (
	"context"
	"fmt"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// edsSnapshot is a snapshot of one EDS cluster and its endpoints per
// name, with its version map.
func edsSnapshot(t *testing.T, names ...string) *cachev3.Snapshot {
	t.Helper()
	var clusters, endpoints []types.Resource
	for _, name := range names {
		clusters = append(clusters, &clusterv3.Cluster{Name: name, ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}})
		endpoints = append(endpoints, &endpointv3.ClusterLoadAssignment{ClusterName: name})
	}
	snap, err := cachev3.NewSnapshot(fmt.Sprint(len(names)), map[resourcev3.Type][]types.Resource{
		resourcev3.ClusterType: clusters, resourcev3.EndpointType: endpoints})
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.ConstructVersionMap(); err != nil {
		t.Fatal(err)
	}
	return snap
}

// recvDelta returns the next response on out and applies it to its side.
func recvDelta(t *testing.T, out chan cachev3.DeltaResponse, sides map[string]*aheadSide) cachev3.DeltaResponse {
	t.Helper()
	select {
	case r := <-out:
		sides[r.GetDeltaRequest().GetTypeUrl()].sub.SetReturnedResources(r.GetReturnedResources())
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no response")
	}
	return nil
}

// parkedWatches counts c's parked watches (without forgetting the idle
// streams' maps, as parked does).
func parkedWatches(c presetVersions) int {
	c.ahead.mu.Lock()
	defer c.ahead.mu.Unlock()
	c.relays.mu.Lock()
	defer c.relays.mu.Unlock()
	n := 0
	for _, r := range c.relays.m {
		for _, w := range r.watches {
			if w.parked {
				n++
			}
		}
	}
	return n
}

// TestAheadClustersHandedBackFirst: when a stream's parked clusters watch
// cannot be answered ahead (the clusters' changes are not known) and is
// handed back to go-control-plane, its parked endpoints watch is handed
// back too, even though the endpoints' changes are known: answered ahead,
// the endpoints would reach the client before the clusters that
// SetSnapshot answers after.
func TestAheadClustersHandedBackFirst(t *testing.T) {
	ctx := context.Background()
	c := newPresetVersions(cachev3.NewSnapshotCache(true, oneNode{}, nil), nil)
	gen, err := c.setSnapshot(ctx, edsSnapshot(t, "a"), nil)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan cachev3.DeltaResponse, 16)
	sides := map[string]*aheadSide{
		resourcev3.ClusterType:  {cache: c, out: out},
		resourcev3.EndpointType: {cache: c, out: out},
	}
	order := []string{resourcev3.ClusterType, resourcev3.EndpointType}
	request := func(nonce string) {
		for _, typeURL := range order {
			sides[typeURL].request(t, &discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: "n"}, TypeUrl: typeURL, ResponseNonce: nonce}, true)
		}
	}
	request("")
	recvDelta(t, out, sides)
	recvDelta(t, out, sides)
	request("1") // the maps were adopted before the responses were sent
	if parked := parkedWatches(c); parked != 2 {
		t.Fatalf("%d watches parked, want 2", parked)
	}
	// The clusters' changes are not known; the endpoints' are.
	if _, err := c.setSnapshot(ctx, edsSnapshot(t, "a", "b"), &aheadChanges{from: gen, names: map[string][]string{resourcev3.EndpointType: {"b"}}}); err != nil {
		t.Fatal(err)
	}
	for i, want := range order {
		if got := recvDelta(t, out, sides).GetDeltaRequest().GetTypeUrl(); got != want {
			t.Fatalf("response %d: %s, want %s", i, got, want)
		}
	}
	for _, typeURL := range order {
		sides[typeURL].cancel()
	}
}

// TestAheadClosedStreamsForgotten: the version maps remembered for a
// stream whose watches are all cancelled (kept for its next watch) do not
// pile up when streams close and no snapshot is served: a stream's maps
// are a copy of every cluster's version (110,001 at 100,000 APIs), and
// Envoys that reconnect while the configuration does not change must not
// grow the server without bound.
func TestAheadClosedStreamsForgotten(t *testing.T) {
	ctx := context.Background()
	c := newPresetVersions(cachev3.NewSnapshotCache(true, oneNode{}, nil), nil)
	if _, err := c.setSnapshot(ctx, edsSnapshot(t, "a", "b"), nil); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		out := make(chan cachev3.DeltaResponse, 16)
		side := &aheadSide{cache: c, out: out}
		sides := map[string]*aheadSide{resourcev3.ClusterType: side}
		side.request(t, &discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: "n"}, TypeUrl: resourcev3.ClusterType}, true)
		recvDelta(t, out, sides)
		// Between the two watches the stream has none: its map is kept
		// in idle, and the second watch, taking it back, is parked.
		side.request(t, &discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: "n"}, TypeUrl: resourcev3.ClusterType, ResponseNonce: fmt.Sprint(i)}, true)
		if parked := parkedWatches(c); parked != 1 {
			t.Fatalf("stream %d: %d watches parked, want 1", i, parked)
		}
		side.cancel() // the stream closes
	}
	c.relays.mu.Lock()
	idle := len(c.relays.idle)
	c.relays.mu.Unlock()
	if idle > maxIdleRelays {
		t.Errorf("%d closed streams remembered, want at most %d", idle, maxIdleRelays)
	}
}

// TestRelayCancelWhileBuilding: the delta server changes a subscription's
// maps in place right after cancelling its watch (the next request's
// subscribe and unsubscribe), while the stream's relay may still be
// building the cancelled watch's response from them (withPresetVersions
// reads the client's versions and subscriptions): cancel must wait for
// that, or the maps are read and written at once (a data race, and the
// runtime's fatal "concurrent map read and map write"). Run with -race.
func TestRelayCancelWhileBuilding(t *testing.T) {
	ctx := context.Background()
	names := make([]string, 10000)
	for i := range names {
		names[i] = fmt.Sprintf("e%05d", i)
	}
	first, next := edsSnapshot(t, names...), edsSnapshot(t, names[1:]...)
	for round := range 3 {
		c := newPresetVersions(cachev3.NewSnapshotCache(true, oneNode{}, nil), nil)
		if _, err := c.setSnapshot(ctx, first, nil); err != nil {
			t.Fatal(err)
		}
		out := make(chan cachev3.DeltaResponse, 16)
		side := &aheadSide{cache: c, out: out}
		sides := map[string]*aheadSide{resourcev3.EndpointType: side}
		side.request(t, &discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: "n"}, TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: names}, false)
		recvDelta(t, out, sides)
		side.request(t, &discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: "n"}, TypeUrl: resourcev3.EndpointType, ResponseNonce: "1"}, false)
		// One name gone: go-control-plane answers the waiting watch.
		if _, err := c.setSnapshot(ctx, next, nil); err != nil {
			t.Fatal(err)
		}
		// The next request, at once: cancel, then the subscription
		// changed in place.
		side.request(t, &discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: "n"}, TypeUrl: resourcev3.EndpointType, ResponseNonce: "2",
			ResourceNamesSubscribe: []string{"zz", fmt.Sprint("new", round)}, ResourceNamesUnsubscribe: names[:100]}, false)
		side.cancel()
	}
}

// TestAheadAnswersOncePerWatch: a parked watch is answered once (its
// stream then waits for the client's next request): a client that stops
// reading gets one response per watch however many snapshots are served,
// so setSnapshot, which hands the answers to the stream's relay without a
// deadline, never waits on it; and a stream closed while its watches are
// parked gets nothing and leaves no relay behind.
func TestAheadAnswersOncePerWatch(t *testing.T) {
	ctx := context.Background()
	c := newPresetVersions(cachev3.NewSnapshotCache(true, oneNode{}, nil), nil)
	gen, err := c.setSnapshot(ctx, edsSnapshot(t, "a", "b0"), nil)
	if err != nil {
		t.Fatal(err)
	}
	stuck := make(chan cachev3.DeltaResponse, 16)
	closed := make(chan cachev3.DeltaResponse, 16)
	var all []map[string]*aheadSide
	for _, out := range []chan cachev3.DeltaResponse{stuck, closed} {
		sides := map[string]*aheadSide{
			resourcev3.ClusterType:  {cache: c, out: out},
			resourcev3.EndpointType: {cache: c, out: out},
		}
		all = append(all, sides)
		for _, nonce := range []string{"", "1"} {
			for _, typeURL := range []string{resourcev3.ClusterType, resourcev3.EndpointType} {
				sides[typeURL].request(t, &discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: "n"}, TypeUrl: typeURL, ResponseNonce: nonce}, true)
			}
			if nonce == "" {
				recvDelta(t, out, sides)
				recvDelta(t, out, sides)
			}
		}
	}
	if parked := parkedWatches(c); parked != 4 {
		t.Fatalf("%d watches parked, want 4", parked)
	}
	for _, side := range all[1] {
		side.cancel() // the second stream closes
	}
	for i := 1; i <= 8; i++ { // fewer than the channels hold: a second answer shows, and does not block
		names := []string{fmt.Sprint("b", i-1), fmt.Sprint("b", i)}
		if gen, err = c.setSnapshot(ctx, edsSnapshot(t, "a", names[1]), &aheadChanges{from: gen,
			names: map[string][]string{resourcev3.ClusterType: names, resourcev3.EndpointType: names}}); err != nil {
			t.Fatal(err)
		}
	}
	// The first stream's two answers, ahead, and nothing more.
	for range 2 {
		if _, ok := recvDelta(t, stuck, all[0]).(*aheadResponse); !ok {
			t.Error("not answered ahead")
		}
	}
	select {
	case r := <-stuck:
		t.Errorf("a second answer for a watch: %s", r.GetDeltaRequest().GetTypeUrl())
	case r := <-closed:
		t.Errorf("an answer for a closed stream: %s", r.GetDeltaRequest().GetTypeUrl())
	case <-time.After(50 * time.Millisecond):
	}
	c.relays.mu.Lock()
	relays := len(c.relays.m)
	c.relays.mu.Unlock()
	if relays != 1 {
		t.Errorf("%d relays, want 1 (the closed stream's gone)", relays)
	}
	for _, side := range all[0] {
		side.cancel()
	}
}
