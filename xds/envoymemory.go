package xds

import (
	"math"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/apigwio/apigw/internal/model"
)

// What a configuration costs an Envoy's heap (server.memory_allocated),
// measured on Envoy 1.40.0 started on "apigw bootstrap" (deferred cluster
// stats) with apigw's configurations of 20 to 100,000 APIs, realistic and
// auth-none ones (docs/performance.md, "Session 12"): a fixed part, a part
// per route, and a part per cluster of which some is per worker thread
// (each worker has its own copy of a cluster's load balancer and hosts).
// Per route it was 6.2-6.7 KB whatever the features; the figure below is
// the upper one.
const (
	envoyBaseBytes          = 6_600_000
	envoyRouteBytes         = 6_700
	envoyClusterBytes       = 25_400
	envoyClusterWorkerBytes = 2_600
)

// Heap thresholds of the overload manager in "apigw bootstrap"
// (bootstrapTemplate): at 95% of max_heap_size_bytes Envoy shrinks its
// heap and stops accepting connections, at 98% it answers every request
// 503.
const envoyHeapShortFraction = 0.95

// NodeMetadataKey is the node metadata field (a struct) of an "apigw
// bootstrap" Envoy; its NodeMaxHeapField is the overload manager's heap
// size, which Status compares with the configuration's EnvoyMemory.
const (
	NodeMetadataKey  = "apigw"
	NodeMaxHeapField = "max_heap_bytes"
)

// EnvoyMemory is what the configuration served is expected to cost each
// Envoy in memory: an estimate from its size (see envoyRouteBytes), to
// size Envoy's --max-heap-bytes and memory limit before Envoy finds out.
type EnvoyMemory struct {
	// Routes and Clusters are the configuration's routes (every virtual
	// host's) and clusters.
	Routes   int `json:"routes"`
	Clusters int `json:"clusters"`
	// Bytes is the estimate for an Envoy with one worker thread
	// (--concurrency 1); PerWorkerBytes is what each further worker adds.
	Bytes          uint64 `json:"bytes"`
	PerWorkerBytes uint64 `json:"per_worker_bytes"`
}

// estimateEnvoyMemory is the EnvoyMemory of routes and clusters.
func estimateEnvoyMemory(routes, clusters int) EnvoyMemory {
	return EnvoyMemory{
		Routes:         routes,
		Clusters:       clusters,
		Bytes:          envoyBaseBytes + uint64(routes)*envoyRouteBytes + uint64(clusters)*(envoyClusterBytes+envoyClusterWorkerBytes),
		PerWorkerBytes: uint64(clusters) * envoyClusterWorkerBytes,
	}
}

// WithWorkers is the estimate for an Envoy with workers worker threads
// (Envoy's --concurrency; at least 1).
func (m EnvoyMemory) WithWorkers(workers int) uint64 {
	return m.Bytes + uint64(max(workers, 1)-1)*m.PerWorkerBytes
}

// HeapShort reports whether an Envoy whose overload manager measures a
// heap of maxHeap bytes cannot hold m, even with one worker thread: it
// would reach the threshold at which it stops accepting connections. A
// maxHeap of 0 (not known) is never short.
func (m EnvoyMemory) HeapShort(maxHeap uint64) bool {
	return maxHeap > 0 && float64(m.Bytes) >= envoyHeapShortFraction*float64(maxHeap)
}

// nodeMaxHeap returns the max_heap_bytes an "apigw bootstrap" Envoy states
// in its node metadata (see NodeMetadataKey), 0 when absent or not a whole
// number of bytes in (0, 2^53].
func nodeMaxHeap(node *corev3.Node) uint64 {
	v := node.GetMetadata().GetFields()[NodeMetadataKey].GetStructValue().GetFields()[NodeMaxHeapField].GetNumberValue()
	if !(v > 0 && v <= 1<<53) || v != math.Trunc(v) {
		return 0
	}
	return uint64(v)
}

// EstimateEnvoyMemory translates snap and returns the EnvoyMemory of the
// result: what serving it would cost each Envoy (see Status.EnvoyMemory).
// It fails where Publish would (a configuration the translator refuses).
func EstimateEnvoyMemory(snap *model.Snapshot, opts Options) (EnvoyMemory, error) {
	res, err := Translate(snap, opts)
	if err != nil {
		return EnvoyMemory{}, err
	}
	routes := 0
	for _, rc := range res.Routes {
		for _, vh := range rc.GetVirtualHosts() {
			routes += len(vh.GetRoutes())
		}
	}
	return estimateEnvoyMemory(routes, len(res.Clusters)), nil
}
