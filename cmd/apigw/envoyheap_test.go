package main

import (
	"strings"
	"testing"

	"github.com/apigwio/apigw/xds"
)

// TestEnvoyHeapWarning: validate warns when Envoy would need 95% or more
// of apigw bootstrap's default heap limit (where its overload manager
// starts refusing connections), and not below.
func TestEnvoyHeapWarning(t *testing.T) {
	for _, tt := range []struct {
		bytes uint64
		warn  bool
	}{
		{6 << 20, false},
		{xds.DefaultMaxHeapBytes / 100 * 94, false},
		{xds.DefaultMaxHeapBytes / 100 * 96, true},
		{4413 << 20, true},
	} {
		w := envoyHeapWarning(xds.EnvoyMemory{Routes: 230020, Clusters: 110001, Bytes: tt.bytes, PerWorkerBytes: 286 << 20})
		if (w != "") != tt.warn {
			t.Errorf("%d bytes: warning %q, want one: %v", tt.bytes, w, tt.warn)
		}
		if tt.warn && !(strings.Contains(w, "--max-heap-bytes (1024 MiB)") && strings.Contains(w, "230020 routes and 110001 clusters") && strings.Contains(w, "+286 MiB per further worker")) {
			t.Errorf("warning %q", w)
		}
	}
	for n, want := range map[uint64]string{0: "0 MiB", 6_600_000: "6 MiB", 1 << 30: "1024 MiB", 10 << 30: "10 GiB"} {
		if got := mebibytes(n); got != want {
			t.Errorf("mebibytes(%d) = %q, want %q", n, got, want)
		}
	}
}
