package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	rlcommon "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/apigwio/apigw/authz/signing"
	"github.com/apigwio/apigw/internal/envoycheck"
	"github.com/apigwio/apigw/internal/redistest"
)

const replicaCfg = `
server: {grpc_address: "127.0.0.1:0", admin_address: "127.0.0.1:0"}
settings: {lockout: {max_failures: 2, duration: 1m}}
groups:
  - name: g
    apis:
      - {name: a, path: /a, auth: iam, backend: {url: "http://10.0.0.1"}}
throttle_policies:
  - {name: t, unit: day, api_limit: 7, bindings: [{api: g/a}]}
iam_users:
  - {account: acme, user: alice, access_keys: [{id: SHAREDAK, secret: {value: shared-secret-1}}]}
`

// startReplica starts a service on the configuration at path with the
// options o (a shared store, interceptors), no polling and a silent log,
// and a gRPC client of it; both end with the test.
func startReplica(t *testing.T, path string, o Options) (*Server, *grpc.ClientConn) {
	t.Helper()
	o.ConfigPath, o.WatchInterval, o.Logger = path, -1, slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	conn, err := grpc.NewClient(s.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return s, conn
}

func signedCheck(t *testing.T, secret string) *authv3.CheckRequest {
	r, _ := http.NewRequest("GET", "http://gw.example.com/a", nil)
	if err := signing.SignRequest(r, nil, signing.SignOptions{Access: "SHAREDAK", Secret: secret}); err != nil {
		t.Fatal(err)
	}
	return envoycheck.FromHTTP(r, nil, "g/a", "RELEASE")
}

// TestReplicasShareRedis runs two service instances on one real Redis: a key
// locked through instance A is refused by instance B, and a limit of N
// across both lets exactly N through.
func TestReplicasShareRedis(t *testing.T) {
	testReplicasShare(t, Options{RedisAddress: redistest.Start(t).Addr})
}

// TestReplicasShareRedisCluster is TestReplicasShareRedis on a three-master
// Redis Cluster.
func TestReplicasShareRedisCluster(t *testing.T) {
	testReplicasShare(t, Options{RedisCluster: redistest.StartCluster(t).Addrs})
}

func testReplicasShare(t *testing.T, o Options) {
	path := filepath.Join(t.TempDir(), "gw.yaml")
	if err := os.WriteFile(path, []byte(replicaCfg), 0o600); err != nil {
		t.Fatal(err)
	}
	sa, connA := startReplica(t, path, o)
	sb, connB := startReplica(t, path, o)
	a, b := authv3.NewAuthorizationClient(connA), authv3.NewAuthorizationClient(connB)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Three failures through A lock the key (max_failures 2).
	for i := 0; i < 3; i++ {
		if _, err := a.Check(ctx, signedCheck(t, "wrong-secret-9")); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := b.Check(ctx, signedCheck(t, "shared-secret-1"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(resp.GetDeniedResponse().GetBody(), "AK access failed to reach the limit,forbidden") {
		t.Fatalf("key locked via A is not locked on B: %v", resp)
	}

	// A limit of 7 per day (no window boundary mid-test) across both replicas lets exactly 7 through.
	la, lb := rlsv3.NewRateLimitServiceClient(connA), rlsv3.NewRateLimitServiceClient(connB)
	req := &rlsv3.RateLimitRequest{Domain: "apigw", Descriptors: []*rlcommon.RateLimitDescriptor{
		{Entries: []*rlcommon.RateLimitDescriptor_Entry{{Key: "api", Value: "g/a@RELEASE"}}}}}
	// Sequential calls alternating between the replicas: the count is
	// shared, so exactly 7 pass. (Concurrent first calls could exceed the
	// 50 ms store timeout while the Redis pools dial, under -race, and fail
	// open — a different property, covered in the ratelimit package.)
	var ok atomic.Int32
	for i := 0; i < 20; i++ {
		c := la
		if i%2 == 1 {
			c = lb
		}
		r, err := c.ShouldRateLimit(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if r.GetOverallCode() == rlsv3.RateLimitResponse_OK {
			ok.Add(1)
		}
	}
	for _, s := range []*Server{sa, sb} {
		if st := s.Limiter().Stats(); st.BackendErrors != 0 || s.authz.Stats().LockoutStoreErrors != 0 {
			t.Fatalf("Redis errors during the test (%d, lockout %d): the count would not be exact", st.BackendErrors, s.authz.Stats().LockoutStoreErrors)
		}
	}
	if got := ok.Load(); got != 7 {
		t.Fatalf("%d requests allowed across replicas, want exactly 7", got)
	}
}
