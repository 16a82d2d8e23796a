package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apigwio/apigw/internal/benchconfig"
	"github.com/apigwio/apigw/internal/envoybin"
	"github.com/apigwio/apigw/internal/server"
	"github.com/apigwio/apigw/xds"
)

// envoyMemoryAPIs is the size of TestEnvoyMemoryEstimate's configuration
// (the realistic generator of the reload benchmarks): 4,620 routes and
// 2,201 clusters, about 100 MB of Envoy heap.
const envoyMemoryAPIs = 2000

// TestEnvoyMemoryEstimate: apigw's estimate of what a configuration costs
// each Envoy (/debug/xds envoy_memory) against a real Envoy on "apigw
// bootstrap": the heap Envoy allocates is within 20% of it, so a new
// Envoy version whose costs moved fails here. An Envoy whose bootstrap
// states a heap limit below the estimate is flagged heap_short with a
// warning in the log, and Envoy's own overload manager agrees: its
// shrink_heap action (95% of the limit) is active.
func TestEnvoyMemoryEstimate(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end suite skipped in -short mode")
	}
	bin := envoybin.Require(t)
	ports := freePorts(t, 4)
	dir := t.TempDir()
	var cfg bytes.Buffer
	if err := benchconfig.Write(&cfg, benchconfig.Options{
		APIs:        envoyMemoryAPIs,
		GRPCAddress: fmt.Sprintf("127.0.0.1:%d", ports[0]), AdminAddress: fmt.Sprintf("127.0.0.1:%d", ports[1]),
	}); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&cfg, "listener: {address: 127.0.0.1, port: %d}\n", ports[2])
	configPath := filepath.Join(dir, "gateway.yaml")
	writeFileAtomic(t, configPath, cfg.Bytes())
	logPath := filepath.Join(dir, "apigw.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	x := xds.NewServer(slog.New(slog.NewTextHandler(logFile, nil)), xds.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := server.Start(ctx, server.Options{ConfigPath: configPath, WatchInterval: -1, Logger: slog.New(slog.NewTextHandler(logFile, nil)), XDS: x})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	est := x.Status().EnvoyMemory
	if est == nil || est.Routes < 4000 || est.Clusters < 2000 {
		t.Fatalf("status envoy_memory %+v, want the estimate of %d APIs", est, envoyMemoryAPIs)
	}

	// envoy starts Envoy (--concurrency 2, newEnvoyCmd) with a bootstrap
	// stating maxHeap, waits until it is LIVE with the whole configuration
	// (3 s more for its heap to settle) and returns its stats.
	envoy := func(t *testing.T, node string, maxHeap uint64) map[string]string {
		t.Helper()
		adminPort := ports[3]
		boot, err := xds.Bootstrap(xds.BootstrapOptions{NodeID: node, XDSAddress: srv.GRPCAddr().String(), AdminPort: uint32(adminPort), MaxHeapBytes: maxHeap})
		if err != nil {
			t.Fatal(err)
		}
		bootPath := filepath.Join(dir, node+".yaml")
		writeFileAtomic(t, bootPath, boot)
		p := runEnvoy(t, bin, bootPath, filepath.Join(dir, node+".log"))
		if !p.waitLive(t, adminPort) {
			t.Fatalf("Envoy exited during start-up: %v", p.err)
		}
		time.Sleep(3 * time.Second)
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/stats", adminPort))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		stats := map[string]string{}
		for _, line := range strings.Split(string(body), "\n") {
			if k, v, ok := strings.Cut(line, ": "); ok {
				stats[k] = v
			}
		}
		// The configuration's clusters and the bootstrap's xds_cluster.
		if stats["cluster_manager.active_clusters"] != strconv.Itoa(est.Clusters+1) {
			t.Fatalf("Envoy has %s clusters, want the configuration's %d and xds_cluster", stats["cluster_manager.active_clusters"], est.Clusters)
		}
		return stats
	}
	node := func(id string) xds.NodeStatus {
		for _, n := range x.Status().Nodes {
			if n.ID == id {
				return n
			}
		}
		t.Fatalf("node %s not in /debug/xds", id)
		return xds.NodeStatus{}
	}

	t.Run("the estimate is within 20% of what Envoy allocates", func(t *testing.T) {
		stats := envoy(t, "roomy", 0)
		allocated, err := strconv.ParseUint(stats["server.memory_allocated"], 10, 64)
		if err != nil {
			t.Fatalf("server.memory_allocated %q", stats["server.memory_allocated"])
		}
		want := est.WithWorkers(2)
		if r := float64(allocated) / float64(want); r < 0.8 || r > 1.2 {
			t.Errorf("Envoy allocated %d bytes, apigw estimated %d for 2 workers (%.2f×; %d routes, %d clusters)", allocated, want, r, est.Routes, est.Clusters)
		} else {
			t.Logf("Envoy allocated %d bytes, estimate %d (%.3f×)", allocated, want, r)
		}
		if n := node("roomy"); n.HeapShort || n.MaxHeapBytes != xds.DefaultMaxHeapBytes {
			t.Errorf("roomy node %+v: want max_heap_bytes %d, not heap_short", n, xds.DefaultMaxHeapBytes)
		}
	})
	t.Run("an Envoy whose heap limit is below it is flagged, and its overload manager agrees", func(t *testing.T) {
		maxHeap := est.Bytes * 3 / 4
		stats := envoy(t, "short", maxHeap)
		if n := node("short"); !n.HeapShort || n.MaxHeapBytes != maxHeap {
			t.Errorf("short node %+v: want heap_short with max_heap_bytes %d", n, maxHeap)
		}
		if got := stats["overload.envoy.overload_actions.shrink_heap.active"]; got != "1" {
			t.Errorf("Envoy's shrink_heap action active = %q, want 1 (the estimate says the heap is short)", got)
		}
		log, _ := os.ReadFile(logPath)
		if c := strings.Count(string(log), "needs more memory than this Envoy's heap limit"); c != 1 || !strings.Contains(string(log), "node=short") {
			t.Errorf("%d heap warnings in the log (want 1, node short):\n%s", c, log)
		}
	})
}
