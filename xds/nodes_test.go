package xds

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestOversizedNodeIDRefused: a stream whose node id (or cluster) is over
// MaxNodeIDBytes is refused with InvalidArgument, over both protocols,
// through a real gRPC client; the node is not tracked and the log shows
// the id cut.
func TestOversizedNodeIDRefused(t *testing.T) {
	s, conn, logs := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Publish(ctx, loadYAML(t, "a", serverConfig)); err != nil {
		t.Fatal(err)
	}
	huge := strings.Repeat("n", 1<<20)
	ads := discoveryv3.NewAggregatedDiscoveryServiceClient(conn)
	for _, tt := range []struct {
		name string
		node *corev3.Node
	}{
		{"id", &corev3.Node{Id: huge, Cluster: "edge"}},
		{"id just over", &corev3.Node{Id: strings.Repeat("x", MaxNodeIDBytes+1)}},
		{"cluster", &corev3.Node{Id: "ok", Cluster: huge}},
	} {
		t.Run("delta "+tt.name, func(t *testing.T) {
			stream, err := ads.DeltaAggregatedResources(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{Node: tt.node, TypeUrl: resourcev3.ClusterType}); err != nil {
				t.Fatal(err)
			}
			if _, err := stream.Recv(); status.Code(err) != codes.InvalidArgument {
				t.Errorf("Recv: %v, want InvalidArgument", err)
			}
		})
		t.Run("sotw "+tt.name, func(t *testing.T) {
			stream, err := ads.StreamAggregatedResources(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: tt.node, TypeUrl: resourcev3.ClusterType}); err != nil {
				t.Fatal(err)
			}
			if _, err := stream.Recv(); status.Code(err) != codes.InvalidArgument {
				t.Errorf("Recv: %v, want InvalidArgument", err)
			}
		})
	}
	// A node id of exactly MaxNodeIDBytes is served.
	stream, err := ads.DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	okID := strings.Repeat("y", MaxNodeIDBytes)
	if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: okID}, TypeUrl: resourcev3.ClusterType}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatalf("node id of %d bytes: %v", MaxNodeIDBytes, err)
	}
	st := s.Status()
	if len(st.Nodes) != 1 || st.Nodes[0].ID != okID || st.NodesTotal != 1 {
		b, _ := json.Marshal(st)
		t.Errorf("status lists %d nodes (total %d), want only the %d-byte one: %.300s", len(st.Nodes), st.NodesTotal, MaxNodeIDBytes, b)
	}
	if l := logs.String(); len(l) > 64<<10 || !strings.Contains(l, "xds stream refused") || !strings.Contains(l, fmt.Sprintf("...(%d bytes)", 1<<20)) {
		t.Errorf("log is %d bytes, want the refusals with the id cut:\n%.2000s", len(l), l)
	}
}

// TestTrackerForgetsDisconnectedNodes: a disconnected node is forgotten
// NodeRetention after its last stream closed, and at most MaxTrackedNodes
// disconnected nodes are kept (the longest disconnected go first);
// connected nodes stay; Status lists at most MaxStatusNodes.
func TestTrackerForgetsDisconnectedNodes(t *testing.T) {
	tr := newTracker(discardLogger())
	now := time.Unix(1_000_000, 0)
	tr.now = func() time.Time { return now }
	ctx := context.Background()
	stream := int64(0)
	connect := func(id string) int64 {
		stream++
		_ = tr.OnDeltaStreamOpen(ctx, stream, "")
		if err := tr.OnStreamDeltaRequest(stream, &discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: id}, TypeUrl: resourcev3.ClusterType}); err != nil {
			t.Fatal(err)
		}
		return stream
	}
	idle := connect("idle") // connected, silent for hours: kept
	_ = idle
	gone := connect("gone")
	now = now.Add(time.Hour)
	tr.OnDeltaStreamClosed(gone, nil)
	now = now.Add(NodeRetention - time.Second)
	if ns, _ := tr.snapshot(); len(ns) != 2 {
		t.Fatalf("%d nodes before the retention ends, want 2", len(ns))
	}
	now = now.Add(2 * time.Second)
	ns, total := tr.snapshot()
	if len(ns) != 1 || ns[0].ID != "idle" || total != 1 {
		t.Fatalf("nodes %+v (total %d) after the retention, want only the connected one", ns, total)
	}

	// Many short-lived nodes: at most MaxTrackedNodes disconnected ones.
	for i := range MaxTrackedNodes + 50 {
		now = now.Add(time.Millisecond)
		tr.OnDeltaStreamClosed(connect(fmt.Sprintf("n%05d", i)), nil)
	}
	ns, total = tr.snapshot()
	if total != MaxTrackedNodes+1 || len(ns) != min(total, MaxStatusNodes) {
		t.Fatalf("%d nodes listed of %d, want %d tracked", len(ns), total, MaxTrackedNodes+1)
	}
	listed := map[string]bool{}
	for _, n := range ns {
		listed[n.ID] = true
	}
	if !listed["idle"] || listed["n00000"] || listed["n00049"] {
		t.Errorf("the connected node must stay and the longest disconnected go: idle %v n00000 %v n00049 %v", listed["idle"], listed["n00000"], listed["n00049"])
	}
}

func TestLogID(t *testing.T) {
	if got := logID("envoy-1"); got != "envoy-1" {
		t.Errorf("logID(short) = %q", got)
	}
	long := strings.Repeat("é", 100) // 200 bytes
	got := logID(long)
	if !strings.HasSuffix(got, "...(200 bytes)") || len(got) > logIDBytes+20 || !strings.HasPrefix(long, strings.TrimSuffix(got, "...(200 bytes)")) {
		t.Errorf("logID(long) = %q", got)
	}
}
