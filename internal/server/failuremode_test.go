package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rlcommon "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"

	"github.com/apigwio/apigw/internal/redistest"
	"github.com/apigwio/apigw/ratelimit"
)

// TestFailureModeFollowsReload: settings.throttling.failure_mode is one
// setting applied on reload to the rate-limit service and to lockout alike.
// With Redis down, fail-open lets a signed request and a rate-limited one
// through; after a reload to closed both are refused (500 APIG.0601 from
// Check, OVER_LIMIT from the rate-limit service); after a reload back to
// open both pass again.
func TestFailureModeFollowsReload(t *testing.T) {
	rdb := redistest.Start(t)
	path := filepath.Join(t.TempDir(), "gw.yaml")
	config := func(mode string) string {
		return strings.Replace(replicaCfg, "settings: {lockout:", "settings: {throttling: {failure_mode: "+mode+"}, lockout:", 1)
	}
	if err := os.WriteFile(path, []byte(config("open")), 0o600); err != nil {
		t.Fatal(err)
	}
	s, conn := startReplica(t, path, Options{RedisAddress: rdb.Addr})
	check, limit := authv3.NewAuthorizationClient(conn), rlsv3.NewRateLimitServiceClient(conn)
	rdb.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rlReq := &rlsv3.RateLimitRequest{Domain: "apigw", Descriptors: []*rlcommon.RateLimitDescriptor{
		{Entries: []*rlcommon.RateLimitDescriptor_Entry{{Key: "api", Value: "g/a@RELEASE"}}}}}

	for i, mode := range []string{"open", "closed", "open"} {
		if i > 0 {
			before := s.Reloader().Status().Version
			write(t, path, config(mode))
			s.Reload()
			waitFor(t, func() bool { return s.Reloader().Status().Version != before })
		}
		wantLimiter := ratelimit.FailOpen
		if mode == "closed" {
			wantLimiter = ratelimit.FailClosed
		}
		if got := s.Limiter().Config().FailureMode; got != wantLimiter {
			t.Fatalf("%s: the rate-limit service's failure mode is %v", mode, got)
		}
		errsBefore := s.Limiter().Stats().BackendErrors + s.authz.Stats().LockoutStoreErrors
		resp, err := check.Check(ctx, signedCheck(t, "shared-secret-1"))
		if err != nil {
			t.Fatal(err)
		}
		rl, err := limit.ShouldRateLimit(ctx, rlReq)
		if err != nil {
			t.Fatal(err)
		}
		if n := s.Limiter().Stats().BackendErrors + s.authz.Stats().LockoutStoreErrors - errsBefore; n != 2 {
			t.Fatalf("%s: %d store errors, want 2 (Redis is down)", mode, n)
		}
		switch mode {
		case "open":
			if resp.GetOkResponse() == nil {
				t.Fatalf("fail-open: lockout refused a signed request: %v", resp)
			}
			if rl.GetOverallCode() != rlsv3.RateLimitResponse_OK {
				t.Fatalf("fail-open: rate limit answered %v", rl.GetOverallCode())
			}
		case "closed":
			if d := resp.GetDeniedResponse(); d.GetStatus().GetCode() != 500 || !strings.Contains(d.GetBody(), "APIG.0601") {
				t.Fatalf("fail-closed: lockout did not refuse with 500 APIG.0601: %v", resp)
			}
			if rl.GetOverallCode() != rlsv3.RateLimitResponse_OVER_LIMIT {
				t.Fatalf("fail-closed: rate limit answered %v", rl.GetOverallCode())
			}
		}
	}
}
