package e2e

// Throttling through Envoy's rate-limit filter against apigw's rate-limit
// service: the answer a client sees, and counters shared by two replicas
// through Redis.

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	rlcommonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/apigwio/apigw/internal/envoybin"
	"github.com/apigwio/apigw/internal/redistest"
	"github.com/apigwio/apigw/internal/server"
	"github.com/apigwio/apigw/ratelimit/throttle"
)

// limitedPerSecond is the suite's throttle policy on e2e/limited.
const limitedPerSecond = 2

// nextSecond sleeps until just after the next whole second: the rate
// limiter counts in fixed windows aligned to the Unix epoch.
func nextSecond() time.Time {
	now := time.Now()
	start := now.Truncate(time.Second).Add(time.Second + 20*time.Millisecond)
	time.Sleep(start.Sub(now))
	return start
}

// inWindow runs f at the start of a one-second window and retries (at most
// 3 times) when f took so long that its requests may have straddled two
// windows.
func inWindow(t *testing.T, f func() error) {
	t.Helper()
	var err error
	for range 3 {
		start := nextSecond()
		err = f()
		if time.Since(start) < 900*time.Millisecond {
			if err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Logf("requests straddled a window (%v); again", time.Since(start))
	}
	t.Fatalf("no attempt fit in one window: %v", err)
}

// testThrottleAnswer: in one window, the first limitedPerSecond requests
// pass and the next gets 429 APIG.0308, with the X-RateLimit-* headers of
// Envoy's rate-limit filter (draft 03) on both.
func testThrottleAnswer(t *testing.T, g *gateway) {
	inWindow(t, func() error {
		for i := range limitedPerSecond + 1 {
			code, hdr, body, err := g.do(g.request(t, "GET", "/limited", nil))
			if err != nil {
				return err
			}
			limit, remaining, reset := hdr.Get("X-RateLimit-Limit"), hdr.Get("X-RateLimit-Remaining"), hdr.Get("X-RateLimit-Reset")
			t.Logf("request %d: %d X-RateLimit-Limit %q Remaining %q Reset %q", i+1, code, limit, remaining, reset)
			if i < limitedPerSecond {
				if code != http.StatusOK {
					return fmt.Errorf("request %d of %d/s = %d %s, want 200", i+1, limitedPerSecond, code, body)
				}
				if want := fmt.Sprint(limitedPerSecond - 1 - i); remaining != want || limit == "" {
					t.Errorf("request %d: X-RateLimit-Limit %q, Remaining %q; want a limit and %s remaining", i+1, limit, remaining, want)
				}
				continue
			}
			if code != http.StatusTooManyRequests {
				return fmt.Errorf("request %d of %d/s = %d %s, want 429", i+1, limitedPerSecond, code, body)
			}
			expectErrorBody(t, body, "APIG.0308")
			// The window ends in under a second: Reset reads 1 (the
			// service rounds up; Envoy drops fractions, "0" before).
			if remaining != "0" || limit != `2, 2;w=1;name="api tight"` || reset != "1" {
				t.Errorf("429: X-RateLimit-Limit %q, Remaining %q, Reset %q; want 2, 2;w=1;name=\"api tight\", 0 and 1", limit, remaining, reset)
			}
		}
		return nil
	})
}

// TestEndToEndSharedLimits: two apigw replicas on one Redis share the
// rate-limit counters. Envoy's rate-limit filter calls replica A; a gRPC
// client calls replica B's rate-limit service with the descriptor Envoy
// sends for e2e/limited. Hits through either count for both.
func TestEndToEndSharedLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end suite skipped in -short mode")
	}
	bin := envoybin.Require(t)
	rds := redistest.Start(t)
	withRedis := func(o *server.Options) { o.RedisAddress = rds.Addr }
	g := startGateway(t, withRedis)
	g.startEnvoy(t, bin)

	// Replica B: the same file and Redis, its own ports, no xDS.
	logFile, err := os.Create(filepath.Join(g.dir, "apigw-b.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := server.Start(ctx, server.Options{
		ConfigPath: g.configPath, GRPCAddress: "127.0.0.1:0", AdminAddress: "127.0.0.1:0",
		RedisAddress: rds.Addr, ShutdownTimeout: 5 * time.Second, WatchInterval: -1,
		Logger: slog.New(slog.NewTextHandler(logFile, nil)),
	})
	if err != nil {
		t.Fatalf("starting replica B: %v", err)
	}
	t.Cleanup(b.Shutdown)
	conn, err := grpc.NewClient(b.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	rls := rlsv3.NewRateLimitServiceClient(conn)
	atB := func() (rlsv3.RateLimitResponse_Code, error) {
		resp, err := rls.ShouldRateLimit(context.Background(), &rlsv3.RateLimitRequest{
			Domain: throttle.Domain,
			Descriptors: []*rlcommonv3.RateLimitDescriptor{{Entries: []*rlcommonv3.RateLimitDescriptor_Entry{
				{Key: throttle.KeyAPI, Value: throttle.APIValue("e2e/limited", "RELEASE")},
			}}},
			HitsAddend: 1,
		})
		return resp.GetOverallCode(), err
	}
	viaEnvoy := func() (int, string, error) {
		code, _, body, err := g.do(g.request(t, "GET", "/limited", nil))
		return code, body, err
	}

	t.Run("hits through Envoy at A count at B", func(t *testing.T) {
		inWindow(t, func() error {
			for i := range limitedPerSecond {
				if code, body, err := viaEnvoy(); err != nil || code != http.StatusOK {
					return fmt.Errorf("request %d through Envoy = %d %s %v, want 200", i+1, code, body, err)
				}
			}
			code, err := atB()
			if err != nil {
				return err
			}
			if code != rlsv3.RateLimitResponse_OVER_LIMIT {
				t.Errorf("replica B after %d hits at A: %v, want OVER_LIMIT", limitedPerSecond, code)
			}
			return nil
		})
	})
	t.Run("hits at B count through Envoy at A", func(t *testing.T) {
		inWindow(t, func() error {
			for i := range limitedPerSecond {
				code, err := atB()
				if err != nil {
					return err
				}
				if code != rlsv3.RateLimitResponse_OK {
					return fmt.Errorf("hit %d at B: %v, want OK", i+1, code)
				}
			}
			code, body, err := viaEnvoy()
			if err != nil {
				return err
			}
			if code != http.StatusTooManyRequests {
				t.Errorf("through Envoy after %d hits at B = %d %s, want 429", limitedPerSecond, code, body)
			} else {
				expectErrorBody(t, body, "APIG.0308")
			}
			return nil
		})
	})
}
