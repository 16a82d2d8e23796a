package xds

import (
	"context"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// TestEnvoyMemoryModel: the estimate against what Envoy 1.40.0 allocated
// (server.memory_allocated, 3 s after LIVE, on "apigw bootstrap") for the
// configurations of docs/performance.md "Session 12"; the real-Envoy test
// TestEnvoyMemoryEstimateMatchesEnvoy measures it again on every run.
func TestEnvoyMemoryModel(t *testing.T) {
	for _, tt := range []struct {
		name                      string
		routes, clusters, workers int
		measured                  uint64
	}{
		{"genconfig 20 APIs", 48, 23, 2, 7_570_128},
		{"genconfig 2,000 APIs", 4620, 2201, 2, 102_473_160},
		{"2,000 APIs auth none, one environment, no CORS", 2220, 2201, 2, 88_867_392},
		{"genconfig 10,000 APIs, 4 backends", 23020, 3, 2, 149_379_032},
		{"genconfig 10,000 APIs, --concurrency 1", 23020, 11001, 1, 457_117_464},
		{"genconfig 10,000 APIs, --concurrency 2", 23020, 11001, 2, 485_938_200},
		{"genconfig 10,000 APIs, --concurrency 4", 23020, 11001, 4, 542_820_712},
	} {
		got := estimateEnvoyMemory(tt.routes, tt.clusters).WithWorkers(tt.workers)
		if r := float64(got) / float64(tt.measured); r < 0.97 || r > 1.10 {
			t.Errorf("%s: estimate %d, Envoy allocated %d (%.3f×), want within -3%%..+10%% (the per-route figure is the upper one measured)", tt.name, got, tt.measured, r)
		}
	}
	m := estimateEnvoyMemory(10, 3)
	if m.WithWorkers(0) != m.Bytes || m.WithWorkers(1) != m.Bytes || m.WithWorkers(3) != m.Bytes+2*m.PerWorkerBytes {
		t.Errorf("WithWorkers: %d %d %d for %+v", m.WithWorkers(0), m.WithWorkers(1), m.WithWorkers(3), m)
	}
}

func TestHeapShort(t *testing.T) {
	m := EnvoyMemory{Bytes: 950}
	for _, tt := range []struct {
		maxHeap uint64
		short   bool
	}{
		{0, false}, // not stated
		{999, true},
		{1000, true}, // 95%: the overload manager stops accepting connections
		{1001, false},
		{1 << 30, false},
	} {
		if got := m.HeapShort(tt.maxHeap); got != tt.short {
			t.Errorf("HeapShort(%d) with %d bytes = %v, want %v", tt.maxHeap, m.Bytes, got, tt.short)
		}
	}
}

func TestNodeMaxHeap(t *testing.T) {
	for _, tt := range []struct {
		name string
		meta map[string]any
		want uint64
	}{
		{"apigw bootstrap", map[string]any{"apigw": map[string]any{"max_heap_bytes": 1 << 30}}, 1 << 30},
		{"16 GiB", map[string]any{"apigw": map[string]any{"max_heap_bytes": float64(16 << 30)}}, 16 << 30},
		{"no metadata", nil, 0},
		{"other keys", map[string]any{"istio": "x"}, 0},
		{"not a struct", map[string]any{"apigw": "1073741824"}, 0},
		{"a string", map[string]any{"apigw": map[string]any{"max_heap_bytes": "1073741824"}}, 0},
		{"negative", map[string]any{"apigw": map[string]any{"max_heap_bytes": -1}}, 0},
		{"zero", map[string]any{"apigw": map[string]any{"max_heap_bytes": 0}}, 0},
		{"fraction", map[string]any{"apigw": map[string]any{"max_heap_bytes": 1.5}}, 0},
		{"over 2^53", map[string]any{"apigw": map[string]any{"max_heap_bytes": 1e300}}, 0},
	} {
		node := &corev3.Node{Id: "n"}
		if tt.meta != nil {
			s, err := structpb.NewStruct(tt.meta)
			if err != nil {
				t.Fatal(err)
			}
			node.Metadata = s
		}
		if got := nodeMaxHeap(node); got != tt.want {
			t.Errorf("%s: nodeMaxHeap = %d, want %d", tt.name, got, tt.want)
		}
	}
	if nodeMaxHeap(nil) != 0 {
		t.Error("nil node")
	}
}

// TestHeapShortNodes: through a real gRPC client, a node whose metadata
// states a heap limit below the configuration's estimate is marked
// heap_short and logged once per version (when it connects, and again
// when a new version is published); a node with room, and one that
// states nothing, are not.
func TestHeapShortNodes(t *testing.T) {
	s, conn, logs := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Publish(ctx, loadYAML(t, "a", serverConfig)); err != nil {
		t.Fatal(err)
	}
	est := s.Status().EnvoyMemory
	if est == nil || est.Routes == 0 || est.Clusters == 0 || est.Bytes != estimateEnvoyMemory(est.Routes, est.Clusters).Bytes {
		t.Fatalf("status envoy_memory %+v", est)
	}
	ads := discoveryv3.NewAggregatedDiscoveryServiceClient(conn)
	connect := func(id string, maxHeap float64) {
		t.Helper()
		node := &corev3.Node{Id: id}
		if maxHeap != 0 {
			node.Metadata, _ = structpb.NewStruct(map[string]any{"apigw": map[string]any{"max_heap_bytes": maxHeap}})
		}
		stream, err := ads.DeltaAggregatedResources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: resourcev3.ClusterType}); err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	connect("short", float64(est.Bytes/2))
	connect("roomy", 1<<30)
	connect("unstated", 0)
	warnings := func() int { return strings.Count(logs.String(), "needs more memory than this Envoy's heap limit") }
	byID := func() map[string]NodeStatus {
		out := map[string]NodeStatus{}
		for _, n := range s.Status().Nodes {
			out[n.ID] = n
		}
		return out
	}
	nodes := byID()
	if n := nodes["short"]; !n.HeapShort || n.MaxHeapBytes != est.Bytes/2 {
		t.Errorf("short node: %+v", n)
	}
	if n := nodes["roomy"]; n.HeapShort || n.MaxHeapBytes != 1<<30 {
		t.Errorf("roomy node: %+v", n)
	}
	if n := nodes["unstated"]; n.HeapShort || n.MaxHeapBytes != 0 {
		t.Errorf("node without metadata: %+v", n)
	}
	if w := warnings(); w != 1 || !strings.Contains(logs.String(), "node=short") {
		t.Errorf("%d warnings after the connections, want 1 (node short):\n%s", w, logs.String())
	}
	// The same version again: no new warning. A new one: warned again.
	if err := s.Publish(ctx, loadYAML(t, "a", serverConfig)); err != nil {
		t.Fatal(err)
	}
	if w := warnings(); w != 1 {
		t.Errorf("%d warnings after republishing the same version, want 1", w)
	}
	if err := s.Publish(ctx, loadYAML(t, "b", serverConfig+"      - {name: d, method: GET, path: /d, backend: {url: \"http://10.0.0.10:80\"}}\n")); err != nil {
		t.Fatal(err)
	}
	if w := warnings(); w != 2 {
		t.Errorf("%d warnings after a new version, want 2", w)
	}
	if st := s.Status(); st.EnvoyMemory.Routes <= est.Routes || st.EnvoyMemory.Clusters != est.Clusters+1 {
		t.Errorf("after adding an API with its own backend: %+v, before %+v", st.EnvoyMemory, est)
	}
}

// TestEstimateEnvoyMemoryMatchesPublish: the estimate of a snapshot
// (apigw validate's) is the one Publish reports for it, and a snapshot
// the translator refuses is refused.
func TestEstimateEnvoyMemoryMatchesPublish(t *testing.T) {
	snap := loadYAML(t, "a", serverConfig)
	got, err := EstimateEnvoyMemory(snap, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, _, _ := startServer(t)
	if err := s.Publish(context.Background(), snap); err != nil {
		t.Fatal(err)
	}
	if want := s.Status().EnvoyMemory; want == nil || got != *want {
		t.Errorf("EstimateEnvoyMemory %+v, Publish's %+v", got, want)
	}
	if _, err := EstimateEnvoyMemory(nil, Options{}); err == nil {
		t.Error("nil snapshot: no error")
	}
}
