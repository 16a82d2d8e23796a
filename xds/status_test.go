package xds

import (
	"context"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// TestTrackerSotWAndDeltaStreamsWithTheSameID: the SotW and the delta
// servers both number their streams from 1. Found with two real Envoys
// (TestEnvoyEndToEnd/state-of-the-world_ADS): when the SotW Envoy's stream 1
// closed, the delta Envoy's stream 1 was forgotten with it, and its ACKs
// were no longer recorded.
func TestTrackerSotWAndDeltaStreamsWithTheSameID(t *testing.T) {
	tr := newTracker(discardLogger())
	ctx := context.Background()
	if err := tr.OnDeltaStreamOpen(ctx, 1, ""); err != nil {
		t.Fatal(err)
	}
	if err := tr.OnStreamOpen(ctx, 1, ""); err != nil {
		t.Fatal(err)
	}
	_ = tr.OnStreamDeltaRequest(1, &discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: "delta"}, TypeUrl: resourcev3.ListenerType})
	_ = tr.OnStreamRequest(1, &discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "sotw"}, TypeUrl: resourcev3.ListenerType})
	tr.OnStreamDeltaResponse(1, nil, &discoveryv3.DeltaDiscoveryResponse{TypeUrl: resourcev3.ListenerType, Nonce: "d1", SystemVersionInfo: "v1"})
	tr.OnStreamResponse(ctx, 1, nil, &discoveryv3.DiscoveryResponse{TypeUrl: resourcev3.ListenerType, Nonce: "s1", VersionInfo: "v1"})
	_ = tr.OnStreamRequest(1, &discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ListenerType, ResponseNonce: "s1", VersionInfo: "v1"})
	tr.OnStreamClosed(1, nil)

	_ = tr.OnStreamDeltaRequest(1, &discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ListenerType, ResponseNonce: "d1"})
	nodes := map[string]NodeStatus{}
	ns, _ := tr.snapshot()
	for _, n := range ns {
		nodes[n.ID] = n
	}
	if d := nodes["delta"]; !d.Connected || d.Streams != 1 || d.Acked["listener"] != "v1" {
		t.Errorf("delta node %+v: want connected with one stream and listener v1 acknowledged", d)
	}
	if s := nodes["sotw"]; s.Connected || s.Streams != 0 || s.Acked["listener"] != "v1" {
		t.Errorf("sotw node %+v: want disconnected with listener v1 acknowledged", s)
	}
}
